import type { FastifyInstance } from "fastify";

/**
 * Health for load balancers and orchestrators, without a token and revealing nothing else:
 * `/healthz` answers while the process serves; `/readyz` also asks the store (reachable and
 * migrated), and is 503 while it is not (PostgreSQL down).
 */
export function healthRoutes(app: FastifyInstance, storeReady: () => Promise<void>): void {
  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/readyz", async (_req, reply) => {
    try {
      await storeReady();
      return { status: "ready" };
    } catch {
      return reply.code(503).send({ status: "unavailable" });
    }
  });
}

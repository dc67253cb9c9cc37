import type { FastifyInstance } from "fastify";

/**
 * Health for load balancers and orchestrators, without a token and revealing nothing else:
 * `/healthz` answers while the process serves; `/readyz` also asks the store (reachable and
 * migrated), and is 503 while it is not (PostgreSQL down).
 */
export function healthRoutes(app: FastifyInstance, storeReady: () => Promise<void>): void {
  // What a person (or a probe) who opens the server's address in a browser finds: what this
  // is, and where to look next. No token, nothing about the vaults.
  app.get("/", async () => ({
    service: "Lockbox, a self-hosted Azure Key Vault",
    vaults: "https://{vault}.{dns-suffix}:{port}/secrets, /keys, /certificates (Azure Key Vault's data-plane API)",
    endpoints: {
      console: "/console/",
      health: "/healthz",
      ready: "/readyz",
      metrics: "/metrics",
      ca: "/lockbox/v1/ca.pem",
      admin: "/lockbox/v1",
    },
  }));
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

/**
 * Prometheus metrics, without a token as health is: counts and latencies by operation and
 * status, store, scheduler, delivery and process figures; no vault, object or caller is a
 * label, so nothing is revealed beyond the traffic's shape. `scrape` gives the text format.
 */
export function metricsRoute(app: FastifyInstance, scrape: () => Promise<{ contentType: string; body: string }>): void {
  app.get("/metrics", async (_req, reply) => {
    const { contentType, body } = await scrape();
    return reply.type(contentType).send(body);
  });
}

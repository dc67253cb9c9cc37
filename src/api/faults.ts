import type { FastifyInstance } from "fastify";
import type { FaultRules } from "../faults/faults.ts";
import { notFound } from "../kernel/errors.ts";

/**
 * The fault-injection rules of this server (faults/faults.ts; one set for all its workers), under the admin API:
 * POST adds one, GET lists them (fired, remaining, state), DELETE clears all or one.
 */
export function faultRoutes(app: FastifyInstance, faults: FaultRules): void {
  app.post("/lockbox/v1/faults", { config: { adminOperation: "FaultRuleCreate" } }, async (req, reply) =>
    reply.code(201).send(await faults.add(req.body)),
  );
  app.get("/lockbox/v1/faults", { config: { adminOperation: "FaultRuleList" } }, async () => ({ value: await faults.list() }));
  app.delete("/lockbox/v1/faults", { config: { adminOperation: "FaultRuleClear" } }, async () => ({ cleared: await faults.clear() }));
  app.delete("/lockbox/v1/faults/:id", { config: { adminOperation: "FaultRuleDelete" } }, async (req, reply) => {
    const { id } = req.params as { id: string };
    if (!(await faults.remove(id)))
      throw notFound("FaultRuleNotFound", `There is no fault rule '${id}' on this server (GET /lockbox/v1/faults lists them).`);
    return reply.code(204).send();
  });
}

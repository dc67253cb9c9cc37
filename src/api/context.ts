import type { FastifyInstance, FastifyReply, FastifySchema, HTTPMethods } from "fastify";
import { operation as operationNamed } from "../authz/operations.ts";
import type { VaultRequest } from "../http/pipeline.ts";

/**
 * Registers a data-plane route. A `{version}` segment stands for a version, an empty
 * segment, or no segment: the SDKs send all three for "latest" (`/secrets/n/`,
 * `/keys/n//encrypt`, and keys 4.10.2's `/keys/n/release`).
 */
export function vaultRoute(
  app: FastifyInstance,
  method: HTTPMethods,
  path: string,
  operation: string,
  schema: FastifySchema,
  handler: (req: VaultRequest, reply: FastifyReply) => Promise<unknown>,
): void {
  operationNamed(operation); // an unknown operation fails at start, not at the first request
  const paths = path.includes("{version}")
    ? [path.replace("{version}", ":version"), path.replace("{version}", ""), path.replace("/{version}", "")]
    : [path];
  for (const url of paths) {
    app.route({
      method,
      url,
      schema,
      config: { operation },
      handler: (req, reply) => handler(req as VaultRequest, reply),
    });
  }
}

import type { FastifyInstance, FastifyReply, FastifyRequest, FastifySchema, HTTPMethods } from "fastify";
import { operation as operationNamed } from "../authz/operations.ts";
import type { Caller } from "../authz/access.ts";
import type { Vault } from "../vault/vaults.ts";

/** What the vault pipeline (http/, run in onRequest) has established before a handler runs. */
export interface VaultContext {
  vault: Vault;
  principal: Caller;
  apiVersion: string;
  origin: string;
}

export type VaultRequest = FastifyRequest & VaultContext;

declare module "fastify" {
  interface FastifyContextConfig {
    /**
     * "vault": Key Vault data plane (vault routing, token, api-version); "admin": the
     * /lockbox/v1 API (token); "public": token and discovery endpoints.
     */
    access?: "vault" | "admin" | "public";
    /** The operation (authz/operations.ts) a data-plane route performs: what it needs, what the audit log calls it. */
    operation?: string;
  }
  interface FastifyReply {
    /** The error message of a failed request, for the audit log. */
    kvErrorMessage: string | null;
  }
  interface FastifyRequest {
    vault: Vault;
    principal: Caller;
    apiVersion: string;
    origin: string;
  }
}

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
      config: { access: "vault", operation },
      handler: (req, reply) => handler(req as VaultRequest, reply),
    });
  }
}

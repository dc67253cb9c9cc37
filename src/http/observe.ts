import type { FastifyInstance, FastifyRequest } from "fastify";

/**
 * What the audit log, the request log line and the metrics call a request: the route's
 * operation (authz/operations.ts) on the vault plane, the admin route's name (`adminOperation`), else `Lockbox{METHOD}{route pattern}`
 * (e.g. `LockboxGET/healthz`, `LockboxPOST/lockbox/v1/vaults`). A route pattern, never the
 * URL, so the names are few.
 */
export function operationNameOf(req: FastifyRequest): string {
  const config = req.routeOptions.config;
  return config.operation ?? config.adminOperation ?? `Lockbox${req.method}${req.routeOptions.url ?? ""}`;
}

/**
 * The vault a request was for, as the audit log, the request log line and the metrics name
 * it: the vault plane's (by Host), else the path's `:vault`, else the one a handler named
 * (`auditVault`: VaultCreate names its vault in the body); "" when none.
 */
export function vaultNameOfRequest(req: FastifyRequest): string {
  const params = (req.params ?? {}) as { vault?: string };
  return req.vault?.name ?? params.vault ?? req.auditVault ?? "";
}

/** A request once answered, as much of it as logs and metrics may see: nothing of its headers, query or body. */
export interface RequestOutcome {
  operation: string;
  /** The vault the request was for, "" when none. */
  vault: string;
  /** The object it named (a secret, key or certificate), if any. */
  name?: string;
  status: number;
  durationMs: number;
  /** The authenticated caller's object id, if the request got that far. */
  callerObjectId?: string;
  requestId: string;
}

/** Calls `observer` once per request of the whole server, after the answer was sent. */
export function observeRequests(app: FastifyInstance, observer: (outcome: RequestOutcome) => void): void {
  // fastify's callback form: no promise per request.
  app.addHook("onResponse", (req, reply, done) => {
    const params = (req.params ?? {}) as { name?: string };
    observer({
      operation: operationNameOf(req),
      vault: vaultNameOfRequest(req),
      name: params.name,
      status: reply.statusCode,
      durationMs: reply.elapsedTime,
      callerObjectId: req.principal?.objectId,
      requestId: req.id,
    });
    done();
  });
}

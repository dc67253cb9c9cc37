import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { requestEvent, withheldEvent, WITHHELD, type AuditLog, type FinishedRequest } from "../audit/audit.ts";
import { operation } from "../authz/operations.ts";
import type { Clock } from "../kernel/clock.ts";
import { KvError } from "../kernel/errors.ts";
import { operationNameOf, vaultNameOfRequest } from "./observe.ts";
import { originOf } from "./routing.ts";

export interface RequestAuditDeps {
  audit: AuditLog;
  clock: Clock;
  /** Stands for the subscription in resource ids. */
  tenantId: string;
}

const UNAUDITABLE = "The request was not carried out: Lockbox cannot write its audit log at the moment. Try again later.";

/** What the audit line needs of a request, read off fastify's request and reply. */
function finished(req: FastifyRequest, reply: FastifyReply, { clock, tenantId }: RequestAuditDeps): FinishedRequest {
  const config = req.routeOptions.config;
  const params = req.params as { name?: string; version?: string };
  const rawVersion = (req.query as Record<string, unknown>)["api-version"];
  const collection = config.operation ? operation(config.operation).permission.kind : undefined;
  const origin = req.origin || originOf(req);
  const correlation = req.headers["x-ms-client-request-id"];
  return {
    timeMs: clock.nowMs(),
    subscription: tenantId,
    vault: vaultNameOfRequest(req),
    operationName: operationNameOf(req),
    operationVersion: req.apiVersion || (typeof rawVersion === "string" ? rawVersion : "lockbox-v1"),
    status: reply.statusCode,
    errorMessage: reply.kvErrorMessage ?? "",
    durationMs: Math.round(reply.elapsedTime),
    callerIp: req.ip,
    correlationId: typeof correlation === "string" ? correlation : "",
    caller: req.principal ?? undefined,
    requestUri: `${origin}${req.url}`,
    objectId: params.name && collection ? `${origin}/${collection}/${params.name}${params.version ? `/${params.version}` : ""}` : undefined,
    userAgent: req.headers["user-agent"] ?? "",
  };
}

/** Writes the line of a request whose connection was dropped without an answer (an injected fault): a Failure, status 0. */
export function auditDropped(req: FastifyRequest, reply: FastifyReply, deps: RequestAuditDeps, message: string): boolean {
  const line = requestEvent({ ...finished(req, reply, deps), status: 0, errorMessage: message });
  return deps.audit.record({ ...line, resultType: "Failure", resultSignature: "ConnectionDropped" });
}

/**
 * Fail-closed auditing of every request in the scope it is added to (the vault and admin
 * planes): its AuditEvent line is handed to the OS before the answer is sent. While the log
 * cannot be written, requests are refused (503) before anything is done; a request that was
 * carried out and then could not be audited gets 503 with nothing of its result, and its
 * line is written as soon as the log can be. Added before the plane's other hooks, so the
 * refusal comes first.
 */
export function auditRequests(scope: FastifyInstance, deps: RequestAuditDeps): void {
  const { audit } = deps;
  // Refused before anything was done: there is no result to audit, and no line is kept for them.
  const refused = new WeakSet<FastifyRequest>();

  // Both hooks take fastify's callback form (they do not wait): no promise per request.
  scope.addHook("onRequest", (req, _reply, done) => {
    if (audit.ready()) return done();
    refused.add(req);
    done(new KvError(503, "ServiceUnavailable", UNAUDITABLE));
  });

  scope.addHook("onSend", (req, reply, payload, done) => {
    if (refused.has(req) || audit.record(requestEvent(finished(req, reply, deps)), withheldEvent)) return done(null, payload);
    reply.kvErrorMessage = WITHHELD;
    void reply.code(503).header("retry-after", "1").header("content-type", "application/json; charset=utf-8");
    done(null, JSON.stringify(new KvError(503, "ServiceUnavailable", WITHHELD).toBody()));
  });
}

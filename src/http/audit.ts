import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { STATUS_CODES } from "node:http";
import { claimsOf, vaultResourceId, type AuditEvent, type AuditLog } from "../audit/audit.ts";
import { operation } from "../authz/operations.ts";
import type { Clock } from "../vault/clock.ts";
import { KvError } from "../vault/errors.ts";
import { originOf } from "./routing.ts";

export interface RequestAuditDeps {
  audit: AuditLog;
  clock: Clock;
  /** Stands for the subscription in resource ids. */
  tenantId: string;
}

const UNAUDITABLE = "The request was not carried out: Lockbox cannot write its audit log at the moment. Try again later.";
const WITHHELD = "The request was carried out, but its answer was withheld: Lockbox could not write its audit log at the moment.";

const isAudited = (req: FastifyRequest): boolean => {
  const access = req.routeOptions.config?.access;
  return access === "vault" || access === "admin";
};

/** The AuditEvent line of a data-plane or admin request, as its answer leaves. */
function requestEvent(req: FastifyRequest, reply: FastifyReply, { clock, tenantId }: RequestAuditDeps): AuditEvent {
  const config = req.routeOptions.config;
  const vault = req.vault?.name ?? (req.params as { vault?: string }).vault ?? "";
  const status = reply.statusCode;
  const params = req.params as { name?: string; version?: string };
  const rawVersion = (req.query as Record<string, unknown>)["api-version"];
  const kind = config.operation ? operation(config.operation).permission.kind : undefined;
  const origin = req.origin || originOf(req);
  return {
    time: new Date(clock.nowMs()).toISOString(),
    resourceId: vaultResourceId(tenantId, vault),
    operationName: config.operation ?? `Lockbox${req.method}${req.routeOptions.url ?? ""}`,
    operationVersion: req.apiVersion || (typeof rawVersion === "string" ? rawVersion : "lockbox-v1"),
    category: "AuditEvent",
    resultType: status < 400 ? "Success" : "Failure",
    resultSignature: STATUS_CODES[status] ?? String(status),
    resultDescription: reply.kvErrorMessage ?? "",
    durationMs: Math.round(reply.elapsedTime),
    callerIpAddress: req.ip,
    correlationId: typeof req.headers["x-ms-client-request-id"] === "string" ? req.headers["x-ms-client-request-id"] : "",
    identity: req.principal ? claimsOf(req.principal) : null,
    properties: {
      requestUri: `${origin}${req.url}`,
      ...(params.name && kind ? { id: `${origin}/${kind}/${params.name}${params.version ? `/${params.version}` : ""}` } : {}),
      httpStatusCode: status,
      clientInfo: req.headers["user-agent"] ?? "",
    },
  };
}

/** The line of a request whose answer was replaced by 503 because the line could not be written in time. */
const withheld = (event: AuditEvent): AuditEvent => ({
  ...event,
  resultType: "Failure",
  resultSignature: STATUS_CODES[503]!,
  resultDescription: `${WITHHELD} (It would have been ${event.properties.httpStatusCode} ${event.resultSignature}.)`,
  properties: { ...event.properties, httpStatusCode: 503 },
});

/**
 * Fail-closed auditing of every data-plane and admin request: its AuditEvent line is handed
 * to the OS before the answer is sent. While the log cannot be written, requests are refused
 * (503) before anything is done; a request that was carried out and then could not be
 * audited gets 503 with nothing of its result, and its line is written as soon as the log
 * can be. Registered before the rest of the pipeline, so the refusal comes first.
 */
export function auditRequests(app: FastifyInstance, deps: RequestAuditDeps): void {
  const { audit } = deps;
  // Refused before anything was done: there is no result to audit, and no line is kept for them.
  const refused = new WeakSet<FastifyRequest>();

  app.addHook("onRequest", async (req) => {
    if (isAudited(req) && !audit.ready()) {
      refused.add(req);
      throw new KvError(503, "ServiceUnavailable", UNAUDITABLE);
    }
  });

  app.addHook("onSend", async (req, reply, payload) => {
    if (!isAudited(req) || refused.has(req)) return payload;
    if (audit.record(requestEvent(req, reply, deps), withheld)) return payload;
    reply.kvErrorMessage = WITHHELD;
    void reply.code(503).header("retry-after", "1").header("content-type", "application/json; charset=utf-8");
    return JSON.stringify(new KvError(503, "ServiceUnavailable", WITHHELD).toBody());
  });
}

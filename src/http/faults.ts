import type { FastifyReply, FastifyRequest } from "fastify";
import { faultError, type Injection } from "../faults/faults.ts";
import { KvError } from "../kernel/errors.ts";
import { auditDropped, type RequestAuditDeps } from "./audit.ts";

/**
 * Answers a vault-plane request with an injected fault (faults/faults.ts) instead of its
 * handler: after `delayMs` (real time, not the dev clock), Azure's error body with the
 * rule's status and Retry-After, audited as any answer is; or, for `drop`, the connection
 * destroyed without an answer, audited here as a Failure since no answer is sent.
 */
export async function injectFault(
  req: FastifyRequest,
  reply: FastifyReply,
  fault: Injection,
  deps: RequestAuditDeps,
): Promise<FastifyReply> {
  if (fault.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
  if (fault.status === "drop") {
    reply.hijack();
    auditDropped(req, reply, deps, `Lockbox dropped the connection without an answer: a fault injected by rule ${fault.ruleId}.`);
    // The response destroys its socket (and, under fastify.inject, ends the injected request with an error).
    reply.raw.destroy();
    return reply;
  }
  const { code, message } = faultError(fault.status, fault.ruleId);
  reply.kvErrorMessage = message;
  if (fault.retryAfter !== undefined) void reply.header("retry-after", String(fault.retryAfter));
  return reply.code(fault.status).send(new KvError(fault.status, code, message).toBody());
}

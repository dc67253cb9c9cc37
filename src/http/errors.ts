import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { badParameter, KvError } from "../kernel/errors.ts";
import { StoreUnavailable } from "../store/store.ts";

/**
 * Maps anything thrown while serving a request to Azure's error body. Messages are ours and
 * fixed: a parser's message can quote the request body, which may hold a secret value.
 */
export function toKvError(error: FastifyError | Error): KvError {
  if (error instanceof KvError) return error;
  const e = error as FastifyError;
  if (e.validation) {
    const first = e.validation[0];
    const where = first?.instancePath ? first.instancePath.slice(1).replaceAll("/", ".") : "body";
    const what =
      first?.keyword === "required" ? `is missing the required property '${String(first.params.missingProperty)}'` : first?.message;
    return badParameter(`The request ${e.validationContext ?? "body"} is invalid: ${where} ${what ?? "is invalid"}.`);
  }
  switch (e.code) {
    case "FST_ERR_CTP_INVALID_JSON_BODY":
    case "FST_ERR_CTP_INVALID_JSON":
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return badParameter("The request body is not valid JSON.");
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return badParameter("The request body must be application/json.");
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new KvError(413, "RequestEntityTooLarge", "The request body is too large.");
  }
  if (error instanceof StoreUnavailable) {
    return new KvError(
      503,
      "ServiceUnavailable",
      error.reason === "full"
        ? "The vault's storage is full at the moment; try again later."
        : "The vault's storage is unavailable at the moment; try again.",
    );
  }
  if (typeof e.statusCode === "number" && e.statusCode >= 400 && e.statusCode < 500) {
    return new KvError(e.statusCode, "BadParameter", "The request is invalid.");
  }
  return new KvError(500, "InternalServerError", "Lockbox could not complete the request because of an internal error.");
}

/** When each kind of store trouble was last logged: one line a minute per kind, not one per request. */
const storeTroubleLogged = new Map<string, number>();
const STORE_TROUBLE_EVERY_MS = 60_000;

export function renderError(error: FastifyError | Error, req: FastifyRequest, reply: FastifyReply): void {
  const kv = toKvError(error);
  if (error instanceof StoreUnavailable) {
    const last = storeTroubleLogged.get(error.reason);
    if (last === undefined || Date.now() - last >= STORE_TROUBLE_EVERY_MS) {
      storeTroubleLogged.set(error.reason, Date.now());
      req.log.error({ err: error }, `${error.message}: requests that need it are answered 503 until it is back`);
    }
  } else if (kv.status >= 500 && kv.status !== 503) {
    req.log.error({ err: error }, "request failed");
  }
  reply.kvErrorMessage = kv.message;
  if (kv.status === 503) void reply.header("retry-after", "1");
  void reply.code(kv.status).send(kv.toBody());
}

import { pino, type DestinationStream, type Logger } from "pino";
import { StoreUnavailable } from "../store/store.ts";
import { KvError } from "../kernel/errors.ts";
import type { RequestOutcome } from "../http/observe.ts";
import type { LogFormat } from "./config.ts";

/**
 * Codes whose messages are the system's or OpenSSL's fixed texts (a refused connection, an
 * unknown host, a certificate that does not verify), never a value Lockbox was handed: a
 * webhook failing on TLS is logged with "unable to verify the first certificate", not only
 * "fetch failed". Node's ERR_* argument errors are left out: their messages quote values.
 */
const SYSTEM_CODE =
  /^(E[A-Z]+|ERR_TLS_[A-Z_]+|ERR_SSL_[A-Z0-9_]+|UND_ERR_[A-Z_]+|UNABLE_TO_[A-Z_]+|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|CERT_[A-Z_]+|HOSTNAME_MISMATCH)$/;

/**
 * An error as the log shows it: its type, code and where it was thrown, and the message
 * only when Lockbox wrote it or it is a system or TLS error's fixed text. Other messages
 * can quote what they choke on (V8's JSON.parse quotes its input, node's argument errors the
 * value received), and that may be a secret. Causes follow, three deep.
 */
export function safeError(e: unknown, depth = 0): Record<string, unknown> {
  if (!(e instanceof Error)) return { type: typeof e };
  const code = (e as { code?: unknown }).code;
  const own = e instanceof KvError || e instanceof StoreUnavailable || (typeof code === "string" && SYSTEM_CODE.test(code));
  return {
    type: e.name,
    ...(typeof code === "string" ? { code } : {}),
    ...(own ? { message: e.message } : {}),
    stack: (e.stack ?? "")
      .split("\n")
      .filter((line) => line.startsWith("    at "))
      .map((line) => line.trim()),
    ...(e.cause !== undefined && depth < 3 ? { cause: safeError(e.cause, depth + 1) } : {}),
  };
}

/** What a request looks like in the log: never its headers (tokens, identity headers) or body. */
const safeRequest = (req: { method?: string; url?: string; ip?: string; socket?: { remotePort?: number } }) => ({
  method: req.method,
  url: req.url,
  remoteAddress: req.ip,
  remotePort: req.socket?.remotePort,
});

/**
 * What fastify is told to say when it starts listening (listenTextResolver): the logger
 * drops it, since `lockbox serve` prints its own banner, and one "listening" line is enough.
 */
export const FASTIFY_LISTENING = "fastify listening (not logged)";

/** The message of the one line per request (server/app.ts); its fields are those of logRequest. */
export const REQUEST_MESSAGE = "request";

/** Health probes and scrapes come every few seconds: their lines are at debug, not info. */
const QUIET_OPERATIONS = new Set(["LockboxGET/healthz", "LockboxGET/readyz", "LockboxGET/metrics"]);

/**
 * The one line a request gets at info (debug for probes and scrapes): operation, vault,
 * object name, status, duration and caller, from fields the pipeline picked. Never a URL,
 * query string, header, token or body.
 */
export function logRequest(log: Logger, r: RequestOutcome): void {
  const fields = {
    operation: r.operation,
    vault: r.vault || undefined,
    name: r.name,
    status: r.status,
    durationMs: Math.round(r.durationMs * 10) / 10,
    caller: r.callerObjectId,
    reqId: r.requestId,
  };
  if (QUIET_OPERATIONS.has(r.operation)) log.debug(fields, REQUEST_MESSAGE);
  else log.info(fields, REQUEST_MESSAGE);
}

/**
 * The server's one logger (fastify, the scheduler, deliveries, the audit log's trouble).
 * At every level it holds no credential, token, secret value or key material: requests are
 * logged by the fields logRequest picks (and at debug fastify's own lines, by method and URL
 * only), errors through safeError, and fastify's client-error logging (which carries the raw
 * packet) is replaced (see server/connections.ts). `pretty` writes one human line per event.
 */
export function createLogger(level: string, format: LogFormat = "json", destination: NodeJS.WritableStream = process.stdout): Logger {
  const options = {
    level,
    // ISO 8601 times ("2026-01-01T12:00:00.000Z"), not epoch milliseconds.
    timestamp: pino.stdTimeFunctions.isoTime,
    serializers: { err: (e: unknown) => safeError(e), error: (e: unknown) => safeError(e), req: safeRequest },
    // Belt and braces: should any code log a request's headers, these are not shown.
    redact: {
      paths: ["req.headers.authorization", 'req.headers["x-identity-header"]', "headers.authorization", 'headers["x-identity-header"]'],
      censor: "[redacted]",
    },
    hooks: {
      logMethod(this: Logger, args: Parameters<Logger["info"]>, method: (...a: Parameters<Logger["info"]>) => void): void {
        if (args[0] === FASTIFY_LISTENING) return;
        method.apply(this, args);
      },
    },
  };
  if (format === "pretty") return pino(options, prettyStream(destination));
  return destination === process.stdout ? pino(options) : pino(options, destination as DestinationStream);
}

const LEVELS: Record<number, string> = { 10: "TRACE", 20: "DEBUG", 30: "INFO ", 40: "WARN ", 50: "ERROR", 60: "FATAL" };
/** pino's own fields, and fastify's per-request ones the human line does without. */
const LEFT_OUT = new Set(["level", "time", "msg", "pid", "hostname"]);

/** An error from safeError, on one line: type, code and message, then its causes. */
function errorText(e: Record<string, unknown>): string {
  const head = [e.type, e.code].filter(Boolean).join(" ") + (typeof e.message === "string" ? `: ${e.message}` : "");
  const cause = e.cause && typeof e.cause === "object" ? ` <- ${errorText(e.cause as Record<string, unknown>)}` : "";
  return head + cause;
}

function valueText(key: string, v: unknown): string {
  if ((key === "err" || key === "error") && v && typeof v === "object") return JSON.stringify(errorText(v as Record<string, unknown>));
  if (typeof v === "string") return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v);
}

/**
 * One human line for one of pino's JSON lines: `HH:MM:SS.mmm LEVEL message key=value ...`,
 * a request as `operation vault/name status duration caller=...`. A small formatter rather
 * than pino-pretty: one line per event whatever it holds (pino-pretty spreads objects and
 * stacks over many lines unless told otherwise), written synchronously in this process (no
 * worker thread whose last lines can be lost at exit), and no new dependencies.
 */
export function prettyLine(json: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith("\n") ? json : `${json}\n`;
  }
  const time = new Date(typeof o.time === "number" || typeof o.time === "string" ? o.time : Date.now()).toISOString().slice(11, 23);
  const level = LEVELS[o.level as number] ?? String(o.level);
  const skip = new Set(LEFT_OUT);
  let head = String(o.msg ?? "");
  if (o.msg === REQUEST_MESSAGE && typeof o.operation === "string") {
    const where = [o.vault, o.name].filter((x) => typeof x === "string" && x !== "").join("/");
    head = [o.operation, where, o.status, `${String(o.durationMs)} ms`].filter((x) => x !== "" && x !== undefined).join(" ");
    for (const k of ["operation", "vault", "name", "status", "durationMs"]) skip.add(k);
  }
  const rest = Object.entries(o)
    .filter(([k, v]) => !skip.has(k) && v !== undefined)
    .map(([k, v]) => `${k}=${valueText(k, v)}`);
  return `${time} ${level} ${[head, ...rest].filter(Boolean).join(" ")}\n`;
}

/** pino's destination in pretty mode: each JSON line it writes, written on as prettyLine. */
function prettyStream(out: NodeJS.WritableStream): DestinationStream {
  return {
    write(chunk: string): void {
      for (const line of chunk.split("\n")) if (line) out.write(prettyLine(line));
    },
  };
}

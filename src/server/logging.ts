import { pino, type Logger } from "pino";
import { StoreUnavailable } from "../store/store.ts";
import { KvError } from "../kernel/errors.ts";

/**
 * An error as the log shows it: its type, code and where it was thrown, and the message
 * only when Lockbox wrote it. Other messages can quote what they choke on (V8's JSON.parse
 * quotes its input, node's argument errors the value received), and that may be a secret.
 */
export function safeError(e: unknown, depth = 0): Record<string, unknown> {
  if (!(e instanceof Error)) return { type: typeof e };
  const own = e instanceof KvError || e instanceof StoreUnavailable;
  const code = (e as { code?: unknown }).code;
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
 * The server's one logger (fastify, the scheduler, deliveries, the audit log's trouble).
 * At every level it holds no credential, token, secret value or key material: requests are
 * logged by method and URL only, errors through safeError, and fastify's client-error
 * logging (which carries the raw packet) is replaced (see server/connections.ts).
 */
export function createLogger(level: string): Logger {
  return pino({
    level,
    serializers: { err: (e: unknown) => safeError(e), error: (e: unknown) => safeError(e), req: safeRequest },
    // Belt and braces: should any code log a request's headers, these are not shown.
    redact: {
      paths: ["req.headers.authorization", 'req.headers["x-identity-header"]', "headers.authorization", 'headers["x-identity-header"]'],
      censor: "[redacted]",
    },
  });
}

import type { Server as HttpsServer } from "node:https";
import type { Socket } from "node:net";
import { STATUS_CODES } from "node:http";
import type { TLSSocket } from "node:tls";
import type { FastifyBaseLogger } from "fastify";
import type { Config } from "./config.ts";
import type { TlsMaterial } from "./tls.ts";

/**
 * Mozilla's "intermediate" TLS profile without its DHE suites: TLS 1.3, and TLS 1.2 with
 * ECDHE and AES-GCM or ChaCha20-Poly1305 (no CBC, SHA-1, ARIA or CCM suites).
 */
const TLS12_CIPHERS = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
].join(":");

/** Headers must all be in within this long (or the whole request timeout, if shorter). */
const HEADERS_TIMEOUT_MS = 10_000;

export const headersTimeoutMs = (config: Pick<Config, "requestTimeoutMs">): number => Math.min(HEADERS_TIMEOUT_MS, config.requestTimeoutMs);

/**
 * What node's HTTPS server is made with: the TLS material and profile, and the time limits
 * node enforces itself: the TLS handshake and the request headers within headersTimeoutMs,
 * checked (with the whole-request limit, which fastify sets) several times a second.
 */
export function httpsOptions(config: Config, tls: TlsMaterial) {
  const headersTimeout = headersTimeoutMs(config);
  return {
    cert: tls.cert,
    key: tls.key,
    minVersion: "TLSv1.2" as const,
    ciphers: TLS12_CIPHERS,
    handshakeTimeout: headersTimeout,
    headersTimeout,
    connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(headersTimeout / 4))),
  };
}

const CLIENT_ERRORS: Record<string, { status: number; code: string; message: string }> = {
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, code: "RequestTimeout", message: "The request did not arrive in time." },
  HPE_HEADER_OVERFLOW: { status: 431, code: "RequestHeaderFieldsTooLarge", message: "The request's headers are too large." },
};
const MALFORMED = { status: 400, code: "BadParameter", message: "The request is not valid HTTP/1.1." };

/**
 * Instead of fastify's client-error handler, which logs the raw packet (up to 16 KB of
 * request bytes: bearer tokens, secret values) at trace level: the log gets the error code
 * and the peer, the client a short answer, and the connection is closed.
 */
export function clientErrorHandler(log: () => FastifyBaseLogger) {
  return (error: NodeJS.ErrnoException, socket: Socket): void => {
    if (error.code === "ECONNRESET" || socket.destroyed) return;
    const answer = CLIENT_ERRORS[error.code ?? ""] ?? MALFORMED;
    log().debug({ code: error.code, peer: `${socket.remoteAddress}:${socket.remotePort}` }, "client error");
    if (socket.writable) {
      const body = JSON.stringify({ error: { code: answer.code, message: answer.message } });
      socket.write(
        `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  };
}

/**
 * Node 20's HTTP server reads a TLS connection by handing the TLS stream to its parser
 * ("consuming" it). When a request arrives while the previous response on the connection is
 * still draining (a response over 16 KB, an event loop busy for a moment), node pauses the
 * socket and the parser; but TLS records already decrypted keep going to the paused parser,
 * which answers HPE_PAUSED, and node destroys the connection (ECONNRESET for a client that
 * did nothing wrong). Marking the stream as taken makes node read it through 'data' events,
 * which honour the pause.
 */
function readThroughEvents(socket: TLSSocket): void {
  const handle = (socket as unknown as { _handle?: { _consumed?: boolean } })._handle;
  if (handle) handle._consumed = true;
}

/** Connection limits on the listening server: at most maxConnections at once (more are closed at once). */
export function guardConnections(server: HttpsServer, config: Config): void {
  server.maxConnections = config.maxConnections;
  server.prependListener("secureConnection", readThroughEvents);
}

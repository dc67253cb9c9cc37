import type { FastifyRequest } from "fastify";
import { badParameter } from "../kernel/errors.ts";

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]"]);
const HOST_HEADER = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?$/i;

/** The hostname of a Host header, lower-cased and without port; throws on a malformed header. */
export function hostnameOf(host: string | undefined): string {
  if (!host || !HOST_HEADER.test(host)) throw badParameter("The request's Host header is missing or malformed.");
  const h = host.toLowerCase();
  return h.startsWith("[") ? h.slice(0, h.indexOf("]") + 1) : h.split(":")[0]!;
}

/**
 * The vault a host names, as Azure routes by host: `{vault}.{dnsSuffix}`; the loopback
 * names (localhost, 127.0.0.1, [::1]) are the vault `default`. Undefined for other hosts.
 */
export function vaultNameOf(hostname: string, dnsSuffix: string, defaultVault: string): string | undefined {
  if (LOOPBACK.has(hostname)) return defaultVault;
  const suffix = `.${dnsSuffix}`;
  if (!hostname.endsWith(suffix)) return undefined;
  const label = hostname.slice(0, -suffix.length);
  return label && !label.includes(".") ? label : undefined;
}

/**
 * The origin every id, kid and nextLink is built from: the request's own scheme, host and
 * port, since the SDK pins its challenge to the origin it called.
 */
export const originOf = (req: FastifyRequest): string => `https://${req.headers.host}`;

/**
 * Refuses what HTTP allows to be read two ways: a second Host header (RFC 9112 requires
 * 400; node keeps the first, a proxy may route by the other) and a query parameter given
 * twice (`resource=A&resource=B` would be read as a list).
 */
export function checkRequestShape(req: FastifyRequest): void {
  const raw = req.raw.rawHeaders;
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === 4 && raw[i]!.toLowerCase() === "host") hosts++;
  if (hosts > 1) throw badParameter("The request has more than one Host header.");
  const query = req.query as Record<string, unknown> | undefined;
  if (query) {
    for (const [name, value] of Object.entries(query)) {
      if (Array.isArray(value)) throw badParameter(`The query parameter '${name}' is given more than once.`);
    }
  }
}

import type { FastifyRequest } from "fastify";
import { badParameter } from "../vault/errors.ts";

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

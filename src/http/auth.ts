import type { FastifyReply } from "fastify";
import { TokenError, type Principal, type Tokens } from "../identity/tokens.ts";
import { KvError } from "../kernel/errors.ts";

/**
 * The challenge the Key Vault SDK needs to learn where to get a token: comma and space
 * between the pairs, quoted values, the tenant as the only path segment.
 */
export const challengeHeader = (origin: string, tenantId: string, resource: string): string =>
  `Bearer authorization="${origin}/${tenantId}", resource="${resource}"`;

/**
 * The resource a vault's challenge names: the DNS suffix, and the port the client called
 * unless it is 443. The Python SDK requires the vault's host and port to end with the
 * resource's (the JS SDK compares host names only), so a vault at
 * `https://default.vault.localhost:8443` announces `https://vault.localhost:8443`.
 */
export function vaultResource(dnsSuffix: string, origin: string): string {
  const port = /:(\d+)$/.exec(origin)?.[1];
  return `https://${dnsSuffix}${port && port !== "443" ? `:${port}` : ""}`;
}

const MISSING = "AKV10000: Request is missing a Bearer or PoP token.";

/**
 * Key Vault's continuous-access-evaluation challenge: the token is no longer good though
 * it was, so the client must fetch a new one now (the SDK does, with these claims).
 */
export function claimsChallenge(now: number): string {
  const claims = Buffer.from(JSON.stringify({ access_token: { nbf: { essential: true, value: String(now) } } })).toString("base64");
  return `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="${claims}"`;
}

/**
 * The principal of a request's bearer token. Anything else gets 401 with a fresh
 * challenge, before the body is read; a token that is only out of its validity period
 * gets the claims challenge, which makes the SDK replace it at once.
 */
export async function authenticate(
  authorization: string | undefined,
  tokens: Tokens,
  reply: FastifyReply,
  /** The challenge of a 401, made only when one is answered. */
  challenge: () => string,
  now: number,
): Promise<Principal> {
  const deny = (message: string, header = challenge()): KvError => {
    void reply.header("www-authenticate", header);
    return new KvError(401, "Unauthorized", message);
  };
  if (!authorization || !/^bearer /i.test(authorization)) throw deny(MISSING);
  try {
    return await tokens.validate(authorization.slice(7).trim());
  } catch (e) {
    if (e instanceof TokenError) throw deny(`AKV10032: Invalid token. ${e.message}`, e.timing ? claimsChallenge(now) : challenge());
    throw e;
  }
}

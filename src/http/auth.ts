import type { FastifyReply } from "fastify";
import { TokenError, type Principal, type Tokens } from "../identity/tokens.ts";
import { KvError } from "../vault/errors.ts";

/**
 * The challenge the Key Vault SDK needs to learn where to get a token: comma and space
 * between the pairs, quoted values, the tenant as the only path segment.
 */
export const challengeHeader = (origin: string, tenantId: string, resource: string): string =>
  `Bearer authorization="${origin}/${tenantId}", resource="${resource}"`;

const MISSING = "AKV10000: Request is missing a Bearer or PoP token.";

/**
 * The principal of a request's bearer token. Anything else gets 401 with a fresh
 * challenge, before the body is read.
 */
export async function authenticate(
  authorization: string | undefined,
  tokens: Tokens,
  reply: FastifyReply,
  challenge: string,
): Promise<Principal> {
  const deny = (message: string): KvError => {
    void reply.header("www-authenticate", challenge);
    return new KvError(401, "Unauthorized", message);
  };
  if (!authorization || !/^bearer /i.test(authorization)) throw deny(MISSING);
  try {
    return await tokens.validate(authorization.slice(7).trim());
  } catch (e) {
    if (e instanceof TokenError) throw deny(`AKV10032: Invalid token. ${e.message}`);
    throw e;
  }
}

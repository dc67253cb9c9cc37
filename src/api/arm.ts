import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { TokenError, type Tokens } from "../identity/tokens.ts";
import { originOf } from "../http/routing.ts";

/**
 * What the az CLI asks of Azure Resource Manager to take Lockbox as a cloud and log in: the
 * cloud's metadata (the 2015-01-01 shape `az cloud register --endpoint-resource-manager`
 * reads, asked with a double slash), and, with a token this instance issued, the
 * subscriptions (none: `--allow-no-subscriptions` gives a tenant-level account) and tenants.
 * The login endpoint ends in /adfs so that MSAL, inside az, skips online instance discovery.
 */
export function armRoutes(app: FastifyInstance, tokens: Tokens, vaultResource: (origin: string) => string): void {
  const metadata = async (req: FastifyRequest) => {
    const origin = originOf(req);
    return {
      galleryEndpoint: `${origin}/`,
      graphEndpoint: `${origin}/`,
      portalEndpoint: `${origin}/`,
      authentication: { loginEndpoint: `${origin}/adfs`, audiences: [`${origin}/`, vaultResource(origin)] },
    };
  };
  app.get("/metadata/endpoints", metadata);
  app.get("//metadata/endpoints", metadata);

  /** 401 in ARM's shape unless the bearer token is one this instance issued (for any audience). */
  const authenticated = async (req: FastifyRequest, reply: FastifyReply): Promise<boolean> => {
    const authorization = req.headers.authorization;
    const deny = (message: string) => {
      void reply.code(401).send({ error: { code: "InvalidAuthenticationToken", message } });
      return false;
    };
    if (!authorization || !/^bearer /i.test(authorization)) return deny("The request is missing a bearer token.");
    try {
      await tokens.validate(authorization.slice(7).trim(), { anyAudience: true });
      return true;
    } catch (e) {
      if (e instanceof TokenError) return deny(`The access token is invalid. ${e.message}`);
      throw e;
    }
  };

  app.get("/subscriptions", async (req, reply) => ((await authenticated(req, reply)) ? { value: [] } : reply));
  app.get("/tenants", async (req, reply) =>
    (await authenticated(req, reply)) ? { value: [{ id: `/tenants/${tokens.tenantId}`, tenantId: tokens.tenantId }] } : reply,
  );
}

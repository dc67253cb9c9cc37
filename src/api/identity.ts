import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Identities } from "../identity/identities.ts";
import type { Tokens } from "../identity/tokens.ts";
import { TOKEN_LIFETIME_SECONDS } from "../identity/tokens.ts";
import { originOf } from "../http/routing.ts";

function oauthError(reply: FastifyReply, status: number, error: string, description: string): FastifyReply {
  return reply.code(status).send({ error, error_description: description });
}

/** A scope such as `https://vault.localhost/.default` names the resource `https://vault.localhost`. */
function resourceOfScope(scope: string | undefined): string | undefined {
  const first = scope?.split(" ").find((s) => s.endsWith("/.default"));
  return first?.slice(0, -"/.default".length);
}

/** The 2017-09-01 protocol's expires_on: "11/05/2021 15:18:31 +00:00" (UTC). */
function legacyDate(epochSeconds: number): string {
  const d = new Date(epochSeconds * 1000);
  const two = (n: number) => String(n).padStart(2, "0");
  const date = `${two(d.getUTCMonth() + 1)}/${two(d.getUTCDate())}/${d.getUTCFullYear()}`;
  return `${date} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +00:00`;
}

/**
 * Token issuing as Azure's identity endpoints do it, so @azure/identity works offline:
 * the App Service managed identity endpoint, and OAuth2 client credentials with OpenID
 * discovery and JWKS for service principals (tenant `adfs` too, for EnvironmentCredential).
 */
export function identityRoutes(app: FastifyInstance, identities: Identities, tokens: Tokens, caCertificate: string | undefined): void {
  // The local CA's certificate, for clients (in containers, on other machines) that must trust
  // it and cannot read the data directory. Public, as a CA certificate is.
  app.get("/lockbox/v1/ca.pem", async (_req, reply) => {
    if (!caCertificate) {
      return reply
        .code(404)
        .send({ error: { code: "NotFound", message: "This server uses an operator's TLS certificate, not a local CA." } });
    }
    return reply.type("application/x-pem-file").send(caCertificate);
  });

  const knownTenant = (tenant: string): boolean => {
    const t = tenant.toLowerCase();
    return t === tokens.tenantId.toLowerCase() || t === "adfs";
  };
  const tenantOf = (req: FastifyRequest) => (req.params as { tenant: string }).tenant;
  const unknownTenant = (reply: FastifyReply, tenant: string) =>
    oauthError(
      reply,
      400,
      "invalid_tenant",
      `AADSTS90002: Tenant '${tenant}' not found. This Lockbox instance's tenant is ${tokens.tenantId}.`,
    );

  // App Service's managed identity endpoint, in both its protocols: 2019-08-01 (header
  // X-IDENTITY-HEADER, client_id, expires_on in epoch seconds) as the SDKs call it, and
  // 2017-09-01 (header `secret`, clientid, expires_on as a date; MSI_ENDPOINT and MSI_SECRET,
  // with a trailing slash on the path) as az's `login --identity` calls it.
  const managedIdentityToken = async (req: FastifyRequest, reply: FastifyReply) => {
    const q = req.query as { resource?: string; client_id?: string; clientid?: string; "api-version"?: string };
    const legacy = q["api-version"] === "2017-09-01";
    const header = req.headers[legacy ? "secret" : "x-identity-header"];
    const clientId = legacy ? q.clientid : q.client_id;
    if (!q.resource) return oauthError(reply, 400, "invalid_request", "The resource query parameter is required.");
    const identity = typeof header === "string" ? await identities.authenticateManaged(header) : undefined;
    if (!identity) {
      const named = legacy ? "secret" : "X-IDENTITY-HEADER";
      return oauthError(reply, 401, "invalid_client", `The ${named} value does not name an enabled managed identity.`);
    }
    if (clientId && clientId !== identity.clientId) {
      return oauthError(reply, 400, "invalid_request", "The client_id does not belong to the managed identity of this header.");
    }
    const { token, expiresOn } = await tokens.issue(identity, q.resource, originOf(req));
    return {
      access_token: token,
      expires_on: legacy ? legacyDate(expiresOn) : String(expiresOn),
      resource: q.resource,
      token_type: "Bearer",
      client_id: identity.clientId,
    };
  };
  app.get("/msi/token", managedIdentityToken);
  app.get("/msi/token/", managedIdentityToken);

  const openidConfiguration = async (req: FastifyRequest, reply: FastifyReply) => {
    const tenant = tenantOf(req);
    if (!knownTenant(tenant)) return unknownTenant(reply, tenant);
    const origin = originOf(req);
    return {
      issuer: tokens.issuerAt(origin),
      authorization_endpoint: `${origin}/${tenant}/oauth2/v2.0/authorize`,
      token_endpoint: `${origin}/${tenant}/oauth2/v2.0/token`,
      jwks_uri: `${origin}/${tenant}/discovery/v2.0/keys`,
      token_endpoint_auth_methods_supported: ["client_secret_post"],
      grant_types_supported: ["client_credentials"],
      response_types_supported: ["token"],
      id_token_signing_alg_values_supported: ["ES256"],
      tenant_region_scope: null,
    };
  };
  app.get("/:tenant/v2.0/.well-known/openid-configuration", openidConfiguration);
  app.get("/:tenant/.well-known/openid-configuration", openidConfiguration);

  app.get("/:tenant/discovery/v2.0/keys", async (req, reply) => {
    if (!knownTenant(tenantOf(req))) return unknownTenant(reply, tenantOf(req));
    return tokens.jwks;
  });

  app.post("/:tenant/oauth2/v2.0/token", async (req, reply) => {
    if (!knownTenant(tenantOf(req))) return unknownTenant(reply, tenantOf(req));
    const form = (req.body ?? {}) as Record<string, string | undefined>;
    if (form.grant_type !== "client_credentials") {
      return oauthError(reply, 400, "unsupported_grant_type", "Only the client_credentials grant is supported.");
    }
    const resource = resourceOfScope(form.scope);
    if (!resource) return oauthError(reply, 400, "invalid_scope", "The scope must be a resource followed by /.default.");
    const identity =
      form.client_id && form.client_secret ? await identities.authenticateClient(form.client_id, form.client_secret) : undefined;
    if (!identity) return oauthError(reply, 401, "invalid_client", "AADSTS7000215: Invalid client secret provided, or unknown client.");
    const { token } = await tokens.issue(identity, resource, originOf(req));
    return { token_type: "Bearer", expires_in: TOKEN_LIFETIME_SECONDS, ext_expires_in: TOKEN_LIFETIME_SECONDS, access_token: token };
  });
}

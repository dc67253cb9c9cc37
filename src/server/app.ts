import Fastify, { LogController, type FastifyInstance } from "fastify";
import { randomUUID } from "node:crypto";
import { adminRoutes } from "../api/admin.ts";
import { identityRoutes } from "../api/identity.ts";
import { keyRoutes } from "../api/keys.ts";
import { secretRoutes } from "../api/secrets.ts";
import { checkApiVersion } from "../http/apiVersion.ts";
import { authenticate, challengeHeader } from "../http/auth.ts";
import { renderError } from "../http/errors.ts";
import { hostnameOf, originOf, vaultNameOf } from "../http/routing.ts";
import type { Tokens } from "../identity/tokens.ts";
import { KvError } from "../vault/errors.ts";
import { nowSeconds } from "../vault/clock.ts";
import type { Config } from "./config.ts";
import { DEFAULT_VAULT, type Instance } from "./instance.ts";
import type { TlsMaterial } from "./tls.ts";

export interface AppDeps {
  config: Config;
  instance: Instance;
  tokens: Tokens;
  tls: TlsMaterial;
  /** https://{vault}.{dns-suffix}[:port] */
  publicOrigin: (vault: string) => string;
  /** Runs due lifetime actions and deliveries now. */
  runDueWork: () => Promise<void>;
}

/**
 * The HTTPS application. Every data-plane request goes through the same pipeline in
 * onRequest, before its body is read: vault by Host, then bearer token (401 + challenge),
 * then api-version. Handlers only translate between HTTP and the domain services.
 */
export async function buildApp({ config, instance, tokens, tls, publicOrigin, runDueWork }: AppDeps): Promise<FastifyInstance> {
  const resource = `https://${config.dnsSuffix}`;
  const verbose = config.logLevel === "debug" || config.logLevel === "trace";
  const app = Fastify({
    https: { cert: tls.cert, key: tls.key },
    logger: {
      level: config.logLevel,
      redact: ["req.headers.authorization", 'req.headers["x-identity-header"]'],
    },
    logController: new LogController({ disableRequestLogging: !verbose }),
    genReqId: () => randomUUID(),
    bodyLimit: 1024 * 1024,
    // Object names may be 127 characters (Azure's limit); longer ones must reach the
    // domain's name check to get Azure's BadParameter, not the router's 414.
    routerOptions: { maxParamLength: 4096 },
    frameworkErrors: (error, req, reply) => renderError(new KvError(400, "BadParameter", `The request URL is malformed: ${error.message}`), req, reply),
    return503OnClosing: true,
    forceCloseConnections: "idle",
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false } },
  });

  app.decorateRequest("vault", null as never);
  app.decorateRequest("principal", null as never);
  app.decorateRequest("apiVersion", "");
  app.decorateRequest("origin", "");

  // An empty body is no body (the SDK posts recover and backup with none); a body that is
  // not JSON gets a fixed message, never one quoting the body.
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (_req, body, done) => {
    if (body === "") return done(null, undefined);
    try {
      done(null, JSON.parse(body as string));
    } catch {
      done(new KvError(400, "BadParameter", "The request body is not valid JSON."), undefined);
    }
  });
  app.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string" }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  // While closing, a keep-alive connection is released as soon as its request in flight is
  // answered; otherwise shutdown would wait for clients to hang up (keepAliveTimeout).
  let closing = false;
  app.addHook("preClose", async () => {
    closing = true;
  });
  app.addHook("onSend", async (_req, reply) => {
    if (closing) void reply.header("connection", "close");
  });

  app.setErrorHandler(renderError);
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send(new KvError(404, "NotFound", `There is no operation at ${req.method} ${req.url.split("?")[0]}.`).toBody());
  });

  app.addHook("onRequest", async (req, reply) => {
    void reply.header("x-ms-request-id", req.id);
    const correlation = req.headers["x-ms-client-request-id"];
    if (typeof correlation === "string") void reply.header("x-ms-client-request-id", correlation);
    const access = req.routeOptions.config?.access;
    if (access === "admin") {
      req.origin = originOf(req);
      const challenge = challengeHeader(req.origin, tokens.tenantId, resource);
      req.principal = await authenticate(req.headers.authorization, tokens, reply, challenge, nowSeconds(instance.clock));
      return;
    }
    if (access !== "vault") return;

    const hostname = hostnameOf(req.headers.host);
    const vaultName = vaultNameOf(hostname, config.dnsSuffix, DEFAULT_VAULT);
    const vault = vaultName ? await instance.vaults.find(vaultName) : undefined;
    if (!vault) {
      throw new KvError(
        404,
        "VaultNotFound",
        vaultName
          ? `The vault '${vaultName}' does not exist on this Lockbox server. Create it with: lockbox vault create ${vaultName}`
          : `The host '${hostname}' names no vault: use https://{vault}.${config.dnsSuffix}:PORT, or localhost for the vault '${DEFAULT_VAULT}'.`,
      );
    }
    req.origin = originOf(req);
    const challenge = challengeHeader(req.origin, tokens.tenantId, resource);
    req.principal = await authenticate(req.headers.authorization, tokens, reply, challenge, nowSeconds(instance.clock));
    req.apiVersion = checkApiVersion((req.query as Record<string, unknown>)["api-version"]);
    req.vault = vault;
  });

  secretRoutes(app, instance.secrets);
  keyRoutes(app, instance.keys);
  identityRoutes(app, instance.identities, tokens);
  adminRoutes(app, { instance, publicOrigin, runDueWork });
  return app;
}

import Fastify, { LogController, type FastifyInstance, type FastifyReply } from "fastify";
import type { Server as HttpsServer } from "node:https";
import type { Logger } from "pino";
import type { AuditLog } from "../audit/audit.ts";
import type { Caller } from "../authz/access.ts";
import { operation } from "../authz/operations.ts";
import { randomUUID } from "node:crypto";
import { adminRoutes } from "../api/admin.ts";
import { identityRoutes } from "../api/identity.ts";
import { keyRoutes } from "../api/keys.ts";
import { secretRoutes } from "../api/secrets.ts";
import { checkApiVersion } from "../http/apiVersion.ts";
import { auditRequests } from "../http/audit.ts";
import { authenticate, challengeHeader } from "../http/auth.ts";
import { parseJsonBody } from "../http/body.ts";
import { renderError } from "../http/errors.ts";
import { checkRequestShape, hostnameOf, originOf, vaultNameOf } from "../http/routing.ts";
import type { Tokens } from "../identity/tokens.ts";
import { KvError } from "../vault/errors.ts";
import { nowSeconds } from "../vault/clock.ts";
import type { Config } from "./config.ts";
import { clientErrorHandler, guardConnections, httpsOptions } from "./connections.ts";
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
  audit: AuditLog;
  /** The server's logger (server/logging.ts): nothing secret at any level. */
  log: Logger;
}

/**
 * The HTTPS application. Every data-plane request goes through the same pipeline in
 * onRequest, before its body is read: vault by Host, then bearer token (401 + challenge),
 * then api-version. Handlers only translate between HTTP and the domain services.
 */
export async function buildApp({ config, instance, tokens, tls, publicOrigin, runDueWork, audit, log }: AppDeps): Promise<FastifyInstance> {
  const resource = `https://${config.dnsSuffix}`;
  const verbose = config.logLevel === "debug" || config.logLevel === "trace";
  const app: FastifyInstance = Fastify({
    https: httpsOptions(config, tls),
    loggerInstance: log,
    logController: new LogController({ disableRequestLogging: !verbose }),
    clientErrorHandler: clientErrorHandler(() => app.log),
    requestTimeout: config.requestTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    genReqId: () => randomUUID(),
    bodyLimit: 1024 * 1024,
    // Object names may be 127 characters (Azure's limit); longer ones must reach the
    // domain's name check to get Azure's BadParameter, not the router's 414.
    routerOptions: { maxParamLength: 4096 },
    frameworkErrors: (error, req, reply) =>
      renderError(new KvError(400, "BadParameter", `The request URL is malformed: ${error.message}`), req, reply),
    return503OnClosing: true,
    forceCloseConnections: "idle",
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false } },
  }) as unknown as FastifyInstance;
  guardConnections(app.server as HttpsServer, config);

  app.decorateRequest("vault", null as never);
  app.decorateRequest("principal", null as never);
  app.decorateRequest("apiVersion", "");
  app.decorateRequest("origin", "");
  app.decorateReply("kvErrorMessage", null as never);

  /** The caller of a request: a valid token of an identity that still exists and is enabled. */
  const caller = async (authorization: string | undefined, reply: FastifyReply, challenge: string): Promise<Caller> => {
    const principal = await authenticate(authorization, tokens, reply, challenge, nowSeconds(instance.clock));
    const identity = await instance.identities.activeIdentity(principal.objectId);
    if (!identity) {
      void reply.header("www-authenticate", challenge);
      throw new KvError(401, "Unauthorized", "AKV10032: Invalid token. The identity it was issued to is disabled or deleted.");
    }
    return { ...principal, name: identity.name, admin: identity.admin };
  };

  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "buffer" }, (_req, body, done) => {
    try {
      done(null, parseJsonBody(body as Buffer));
    } catch (e) {
      done(e as Error, undefined);
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
  });
  // Before anything is done, so that a request whose result cannot be audited is not served.
  auditRequests(app, { audit, clock: instance.clock, tenantId: instance.tenantId });

  app.addHook("onRequest", async (req, reply) => {
    checkRequestShape(req);
    const access = req.routeOptions.config?.access;
    if (access === "admin") {
      req.origin = originOf(req);
      req.principal = await caller(req.headers.authorization, reply, challengeHeader(req.origin, tokens.tenantId, resource));
      if (!req.principal.admin) {
        throw new KvError(
          403,
          "Forbidden",
          `Caller ${req.principal.name} (oid=${req.principal.objectId}) is not a Lockbox administrator.`,
          "NotLockboxAdministrator",
        );
      }
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
    req.vault = vault;
    req.principal = await caller(req.headers.authorization, reply, challengeHeader(req.origin, tokens.tenantId, resource));
    req.apiVersion = checkApiVersion((req.query as Record<string, unknown>)["api-version"]);
    const op = operation(req.routeOptions.config.operation!);
    await instance.access.authorize(req.principal, vault, op, (req.params as { name?: string }).name);
  });

  secretRoutes(app, instance.secrets);
  keyRoutes(app, instance.keys);
  identityRoutes(app, instance.identities, tokens);
  adminRoutes(app, { instance, publicOrigin, runDueWork });
  return app;
}

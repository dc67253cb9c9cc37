import Fastify, { LogController, type FastifyInstance } from "fastify";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Server as HttpsServer } from "node:https";
import type { Logger } from "pino";
import { adminRoutes } from "../api/admin.ts";
import { faultRoutes } from "../api/faults.ts";
import { armRoutes } from "../api/arm.ts";
import { healthRoutes, metricsRoute } from "../api/health.ts";
import { certificateRoutes } from "../api/certificates.ts";
import { issuerRoutes } from "../api/issuers.ts";
import { identityRoutes } from "../api/identity.ts";
import { keyRoutes } from "../api/keys.ts";
import { secretRoutes } from "../api/secrets.ts";
import { AuditReader, type AuditLog } from "../audit/audit.ts";
import { consoleLinkRoute, consoleRoutes } from "../console/routes.ts";
import { parseJsonBody } from "../http/body.ts";
import { renderError } from "../http/errors.ts";
import { vaultResource } from "../http/auth.ts";
import { adminPlane, decoratePipeline, vaultPlane, type PipelineDeps } from "../http/pipeline.ts";
import { observeRequests } from "../http/observe.ts";
import { checkRequestShape } from "../http/routing.ts";
import type { Tokens } from "../identity/tokens.ts";
import type { FaultRules } from "../faults/faults.ts";
import type { Admission } from "../throttle/rule.ts";
import type { SessionStore } from "../console/sessions.ts";
import { RequestThrottle } from "../throttle/requests.ts";
import { badParameter, notFound } from "../kernel/errors.ts";
import type { Config } from "./config.ts";
import { clientErrorHandler, guardConnections, httpsOptions } from "./connections.ts";
import { endLine } from "./environment.ts";
import type { Instance } from "./instance.ts";
import { logRequest } from "./logging.ts";
import type { Metrics, Scrape } from "./metrics.ts";
import type { TlsMaterial } from "./tls.ts";

/** The console's built page (`npm run build` writes it; from src/server and from dist/server alike). */
const WEB_ROOT = fileURLToPath(new URL("../../dist/web/", import.meta.url));

/** What a server keeps in memory once for all its processes (serve.ts newServerState): fault rules, the throttling count, console sessions. */
export interface ServerState {
  faults: FaultRules;
  admission: Admission;
  sessions: SessionStore;
}

export interface AppDeps {
  config: Config;
  instance: Instance;
  tokens: Tokens;
  tls: TlsMaterial;
  /** https://{vault}.{dns-suffix}[:port] */
  publicOrigin: (vault: string) => string;
  /** Runs due lifetime actions and deliveries now. */
  runDueWork: () => Promise<void>;
  /** How many scheduler runs have ended (for the dev clock's GET). */
  schedulerRuns: () => number | Promise<number>;
  /** Fault rules, throttling count and console sessions: this process's, or those the workers of a server share. */
  state: ServerState;
  /** The server's metrics for GET /metrics (of every process, with --workers). */
  scrape: () => Promise<Scrape>;
  audit: AuditLog;
  /** The server's logger (server/logging.ts): nothing secret at any level. */
  log: Logger;
  /** This server's metrics (server/metrics.ts), served on GET /metrics. */
  metrics: Metrics;
}

/**
 * The HTTPS application: fastify configured, bodies parsed, and three scopes wired: the
 * vault plane (secrets and keys), the admin plane (/lockbox/v1) and the public token and
 * discovery endpoints. The planes (http/pipeline.ts) authenticate, authorize and audit;
 * handlers only translate between HTTP and the domain services.
 */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config, instance, tokens, tls, audit, log, metrics } = deps;
  // fastify's own request lines ("incoming request", "request completed", with the URL) only
  // at debug; at info each request is the one line logRequest writes.
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
    frameworkErrors: (error, req, reply) => renderError(badParameter(`The request URL is malformed: ${error.message}`), req, reply),
    return503OnClosing: true,
    forceCloseConnections: "idle",
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false } },
  }) as unknown as FastifyInstance;
  guardConnections(app.server as HttpsServer, config);
  decoratePipeline(app);

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
  // (Hooks that do not wait take fastify's callback form: no promise per request.)
  app.addHook("onSend", (_req, reply, payload, done) => {
    if (closing) void reply.header("connection", "close");
    done(null, payload);
  });

  app.setErrorHandler(renderError);
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send(notFound("NotFound", `There is no operation at ${req.method} ${req.url.split("?")[0]}.`).toBody());
  });

  // Every request, answered: one log line and the request metrics.
  observeRequests(app, (outcome) => {
    metrics.request(outcome);
    logRequest(log, outcome);
  });

  app.addHook("onRequest", (req, reply, done) => {
    void reply.header("x-ms-request-id", req.id);
    const correlation = req.headers["x-ms-client-request-id"];
    if (typeof correlation === "string") void reply.header("x-ms-client-request-id", correlation);
    checkRequestShape(req);
    done();
  });

  // Changes another process committed (on SQLite: a CLI command, another worker) reach the
  // caches before the request uses them; a wait only when a listener has work under way.
  app.addHook("onRequest", (_req, _reply, done) => {
    const synced = instance.store.syncChanges();
    if (synced) synced.then(() => done(), done);
    else done();
  });

  const { vaults, identities, access, secrets, keys, certificates, certificateSettings, subscriptions, upcoming, devClock } = instance;
  const { faults, admission, sessions } = deps.state;
  const pipeline: PipelineDeps = {
    dnsSuffix: config.dnsSuffix,
    tokens,
    vaults,
    identities,
    access,
    audit,
    clock: instance.clock,
    tenantId: instance.tenantId,
    faults,
    throttle: {
      on: config.throttle.on,
      requests: new RequestThrottle(
        admission,
        async (vault, name) => {
          const found = await vaults.find(vault);
          if (!found) return undefined;
          const { props } = await keys.get(found, name);
          return { kty: props.kty, n: props.pub.n };
        },
        instance.clock,
      ),
      retryAfterSeconds: config.throttle.retryAfterSeconds,
    },
  };
  await app.register(
    vaultPlane(pipeline, (plane) => {
      secretRoutes(plane, secrets);
      keyRoutes(plane, keys);
      certificateRoutes(plane, certificates);
      issuerRoutes(plane, certificateSettings);
    }),
  );
  await app.register(
    adminPlane(pipeline, (plane) => {
      if (config.console) consoleLinkRoute(plane, sessions, identities);
      faultRoutes(plane, faults);
      adminRoutes(plane, {
        vaults,
        secrets,
        keys,
        subscriptions,
        identities,
        access,
        upcoming,
        devClock,
        publicOrigin: deps.publicOrigin,
        runDueWork: deps.runDueWork,
        schedulerRuns: deps.schedulerRuns,
        auditLog: new AuditReader(audit.file),
      });
    }),
  );
  if (config.console) {
    consoleRoutes(app, {
      ...pipeline,
      sessions,
      instanceClock: instance.clock,
      publicOrigin: deps.publicOrigin,
      devClock: Boolean(devClock),
      webRoot: WEB_ROOT,
    });
  }
  identityRoutes(app, identities, tokens, tls.caFile ? endLine(readFileSync(tls.caFile, "utf8")) : undefined);
  armRoutes(app, tokens, (origin) => vaultResource(config.dnsSuffix, origin));
  // Ready when the store answers: the tenant id is written by the first migration's instance.
  healthRoutes(app, async () => {
    if (!(await instance.store.read((repo) => repo.getMeta("tenant_id")))) throw new Error("the store is not initialised");
  });
  metricsRoute(app, deps.scrape);
  return app;
}

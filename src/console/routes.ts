import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { AccessControl, Caller } from "../authz/access.ts";
import { auditRequests, type RequestAuditDeps } from "../http/audit.ts";
import type { Identities } from "../identity/identities.ts";
import type { Tokens } from "../identity/tokens.ts";
import { nowSeconds, type Clock } from "../kernel/clock.ts";
import { KvError } from "../kernel/errors.ts";
import type { IdentityRecord } from "../store/store.ts";
import type { Vaults } from "../vault/vaults.ts";
import { csrfMatches, SESSION_LIFETIME_MS, type ConsoleSession, type SessionStore } from "./sessions.ts";

/** The cookie: `__Host-` makes the browser insist on Secure, Path=/ and no Domain. */
export const SESSION_COOKIE = "__Host-lockbox-console";
export const CSRF_HEADER = "x-lockbox-csrf";
export const CONSOLE_PATH = "/console/";

export interface ConsoleDeps extends RequestAuditDeps {
  sessions: SessionStore;
  identities: Identities;
  access: AccessControl;
  vaults: Vaults;
  tokens: Tokens;
  /** The instance's clock (the dev clock when on), which tokens are checked against. */
  instanceClock: Clock;
  dnsSuffix: string;
  /** https://{vault}.{dns-suffix}[:port] */
  publicOrigin: (vault: string) => string;
  devClock: boolean;
  /** The built page (index.html, console.js, console.css). */
  webRoot: string;
}

declare module "fastify" {
  interface FastifyRequest {
    consoleSession?: ConsoleSession;
  }
}

// The page loads nothing from anywhere else and may be framed by no one.
const PAGE_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
};
const TYPES: Record<string, string> = {
  "index.html": "text/html; charset=utf-8",
  "console.js": "text/javascript; charset=utf-8",
  "console.css": "text/css; charset=utf-8",
};

const unauthorized = (message: string) => new KvError(401, "Unauthorized", message);
const SIGNED_OUT = "Not signed in, or the session ended. Run `lockbox console` for a sign-in link, or sign in with a service principal.";

function cookieOf(req: FastifyRequest): string | undefined {
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** A browser names the page a request comes from (Origin); where it does, it must be this server's. */
const sameOrigin = (req: FastifyRequest): boolean =>
  req.headers.origin === undefined || req.headers.origin === `https://${req.headers.host}`;
const crossSite = () =>
  new KvError(403, "Forbidden", "The request did not come from this console's page (its CSRF check failed).", "CsrfCheckFailed");

const callerOf = (identity: IdentityRecord, tenantId: string): Caller => ({
  objectId: identity.id,
  clientId: identity.clientId,
  name: identity.name,
  tenantId,
  admin: identity.admin,
});

/**
 * The web console at /console/: its page, sign-in (a one-time link from `lockbox console`, or
 * a service principal's client id and secret), and its API, which acts as the signed-in
 * identity. Data-plane and admin calls are carried into this same server (fastify's inject)
 * with a bearer token of that identity, so RBAC, access policies, Azure's errors and the
 * audit log treat them exactly as an SDK's. The session is an HttpOnly, Secure,
 * SameSite=Strict cookie; every change also needs the session's CSRF header and, where the
 * browser sends one, this server's own Origin.
 */
export function consoleRoutes(app: FastifyInstance, deps: ConsoleDeps): void {
  const { sessions, identities, access, vaults, tokens, tenantId } = deps;
  const files = new Map<string, Buffer>();
  for (const name of Object.keys(TYPES)) {
    const path = join(deps.webRoot, name);
    if (existsSync(path)) files.set(name, readFileSync(path));
  }

  const page = (name: string) => async (_req: FastifyRequest, reply: FastifyReply) => {
    const body = files.get(name);
    if (!body)
      return reply.code(503).type("text/plain; charset=utf-8").send("The console is not built: run `npm run build` in Lockbox's folder.");
    return reply
      .headers(PAGE_HEADERS)
      .header("cache-control", name === "index.html" ? "no-store" : "no-cache")
      .type(TYPES[name]!)
      .send(body);
  };
  app.get("/console", async (_req, reply) => reply.redirect(CONSOLE_PATH));
  app.get("/console/console.js", page("console.js"));
  app.get("/console/console.css", page("console.css"));
  // Every other page path is the one page, which routes in the browser.
  const index = page("index.html");
  app.get("/console/", index);
  app.get("/console/*", async (req, reply) => {
    if (req.url.startsWith("/console/api/")) throw new KvError(404, "NotFound", `There is no operation at GET ${req.url.split("?")[0]}.`);
    return index(req, reply);
  });

  /** The session, its identity still enabled, and (for a change) the CSRF header and Origin checked. */
  async function signedIn(req: FastifyRequest): Promise<{ session: ConsoleSession; identity: IdentityRecord }> {
    const session = await sessions.find(cookieOf(req));
    if (!session) throw unauthorized(SIGNED_OUT);
    const identity = await identities.activeIdentity(session.identityId);
    if (!identity) {
      await sessions.closeAllOf(session.identityId);
      throw unauthorized("The identity this session acts as is disabled or deleted.");
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      if (!csrfMatches(session, req.headers[CSRF_HEADER]) || !sameOrigin(req)) throw crossSite();
    }
    req.principal = callerOf(identity, tenantId);
    return { session, identity };
  }

  const noStore = (reply: FastifyReply) => void reply.header("cache-control", "no-store");

  // The console's own operations, audited as the identity.
  void app.register(async (scope) => {
    auditRequests(scope, deps);
    scope.addHook("onSend", (_req, reply, payload, done) => {
      noStore(reply);
      done(null, payload);
    });

    scope.post("/console/api/signin", { config: { adminOperation: "ConsoleSignIn" } }, async (req, reply) => {
      // Only this console's page signs in (no session yet, so no CSRF token: its Origin and a JSON body instead).
      if (!sameOrigin(req) || !req.headers["content-type"]?.startsWith("application/json")) throw crossSite();
      const b = (req.body ?? {}) as { code?: unknown; clientId?: unknown; clientSecret?: unknown };
      let identity: IdentityRecord | undefined;
      if (typeof b.code === "string") {
        const id = await sessions.redeemLink(b.code);
        identity = id ? await identities.activeIdentity(id) : undefined;
        if (!identity) throw unauthorized("This sign-in link was used already or has expired. Run `lockbox console` for a new one.");
      } else if (typeof b.clientId === "string" && typeof b.clientSecret === "string") {
        identity = await identities.authenticateClient(b.clientId.trim(), b.clientSecret);
        if (!identity) throw unauthorized("The client id or client secret is wrong, or the service principal is disabled.");
      } else {
        throw new KvError(400, "BadParameter", "Give a sign-in link's code, or a service principal's clientId and clientSecret.");
      }
      req.principal = callerOf(identity, tenantId);
      const { id } = await sessions.open(identity.id);
      void reply.header(
        "set-cookie",
        `${SESSION_COOKIE}=${id}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=${Math.floor(SESSION_LIFETIME_MS / 1000)}`,
      );
      return { identity: { id: identity.id, name: identity.name, kind: identity.kind, admin: identity.admin } };
    });

    scope.post("/console/api/signout", { config: { adminOperation: "ConsoleSignOut" } }, async (req, reply) => {
      await signedIn(req);
      await sessions.close(cookieOf(req));
      void reply.header("set-cookie", `${SESSION_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0`);
      return reply.code(204).send();
    });

    // The vaults this identity may look into: all of them for an administrator, else those
    // where it holds a role or an access policy.
    scope.get("/console/api/vaults", { config: { adminOperation: "ConsoleVaultList" } }, async (req) => {
      const { identity } = await signedIn(req);
      const all = await vaults.list();
      const visible = identity.admin ? undefined : new Set(await access.vaultsVisibleTo(identity.id));
      const shown = all.filter((v) => !visible || visible.has(v.name));
      return {
        value: await Promise.all(
          shown.map(async (v) => ({
            name: v.name,
            url: deps.publicOrigin(v.name),
            authorization: v.rbac ? "rbac" : "access-policies",
            // What the pages offer: the operations this identity may perform on the whole vault.
            operations: await access.allowedOperations(req.principal, v),
          })),
        ),
      };
    });
  });

  // Not audited: it tells the page who is signed in, and reads nothing else.
  app.get("/console/api/session", async (req, reply) => {
    noStore(reply);
    const { session, identity } = await signedIn(req);
    return {
      identity: { id: identity.id, name: identity.name, kind: identity.kind, clientId: identity.clientId, admin: identity.admin },
      csrf: session.csrf,
      expiresAt: Math.floor(session.expiresAt / 1000),
      devClock: deps.devClock,
    };
  });

  /** A bearer token of the session's identity, minted once and reused until five minutes before its end. */
  async function tokenOf(session: ConsoleSession, identity: IdentityRecord, origin: string): Promise<string> {
    const now = nowSeconds(deps.instanceClock);
    const held = session.token;
    if (held && held.exp - 300 > now && held.iat <= now) return held.value;
    const resource = `https://${deps.dnsSuffix}`;
    const { token } = await tokens.issue(identity, resource, origin);
    session.token = { value: token, exp: now + 3600, iat: now };
    return token;
  }

  /** Carries a console call into this server as the signed-in identity's request, and its answer back. */
  async function carry(req: FastifyRequest, reply: FastifyReply, host: string, url: string): Promise<FastifyReply> {
    noStore(reply);
    const { session, identity } = await signedIn(req);
    const origin = `https://${req.headers.host}`;
    const headers: Record<string, string> = {
      host,
      authorization: `Bearer ${await tokenOf(session, identity, origin)}`,
      "user-agent": `lockbox-console ${req.headers["user-agent"] ?? ""}`.trim(),
      "x-ms-client-request-id": req.id,
    };
    const hasBody = req.body !== undefined && req.method !== "GET" && req.method !== "HEAD" && req.method !== "DELETE";
    if (hasBody) headers["content-type"] = "application/json";
    const answer = await app.inject({
      method: req.method as "GET",
      url,
      headers,
      remoteAddress: req.ip,
      ...(hasBody ? { payload: JSON.stringify(req.body) } : {}),
    });
    for (const name of ["content-type", "retry-after", "x-ms-request-id"]) {
      const value = answer.headers[name];
      if (value !== undefined) void reply.header(name, value);
    }
    return reply.code(answer.statusCode).send(answer.rawPayload);
  }

  const rest = (req: FastifyRequest, prefix: string) => req.url.slice(prefix.length);

  // /console/api/kv/VAULT/secrets/NAME?api-version=... -> https://VAULT.SUFFIX:PORT/secrets/NAME?api-version=...
  app.all("/console/api/kv/:vault/*", async (req, reply) => {
    const { vault } = req.params as { vault: string };
    return carry(req, reply, new URL(deps.publicOrigin(vault.toLowerCase())).host, rest(req, `/console/api/kv/${vault}`));
  });
  // /console/api/admin/... -> /lockbox/v1/...
  app.all("/console/api/admin/*", async (req, reply) =>
    carry(req, reply, req.headers.host ?? "localhost", `/lockbox/v1${rest(req, "/console/api/admin")}`),
  );
}

/**
 * POST /lockbox/v1/console/links (admin API): a one-time sign-in link for the caller, or for
 * another identity named in the body (`{"identity": NAME}`), as `lockbox console` prints it.
 * The code travels in the URL's fragment, which browsers send to no server and no log.
 */
export function consoleLinkRoute(plane: FastifyInstance, sessions: SessionStore, identities: Identities): void {
  plane.post("/lockbox/v1/console/links", { config: { adminOperation: "ConsoleSignInLinkCreate" } }, async (req, reply) => {
    const named = (req.body as { identity?: unknown } | undefined)?.identity;
    if (named !== undefined && typeof named !== "string") throw new KvError(400, "BadParameter", "identity must be a name or an id.");
    const identity = named ? await identities.find(named) : undefined;
    if (identity && !identity.enabled) throw new KvError(400, "BadParameter", `The identity ${identity.name} is disabled.`);
    const { code, expiresAt } = await sessions.createLink(identity?.id ?? req.principal.objectId);
    return reply.code(201).send({
      url: `${req.origin}${CONSOLE_PATH}#signin=${code}`,
      identity: identity?.name ?? req.principal.name,
      expiresOn: Math.floor(expiresAt / 1000),
    });
  });
}

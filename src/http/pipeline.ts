import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { AuditLog } from "../audit/audit.ts";
import type { AccessControl, Caller } from "../authz/access.ts";
import { operation } from "../authz/operations.ts";
import type { Identities } from "../identity/identities.ts";
import type { Tokens } from "../identity/tokens.ts";
import { nowSeconds, type Clock } from "../kernel/clock.ts";
import { KvError, notFound, throttled, vaultNotFound } from "../kernel/errors.ts";
import { DEFAULT_VAULT, type Vault, type Vaults } from "../vault/vaults.ts";
import type { RequestThrottle } from "../throttle/requests.ts";
import { checkApiVersion } from "./apiVersion.ts";
import { auditRequests } from "./audit.ts";
import type { FaultRules } from "../faults/faults.ts";
import { injectFault } from "./faults.ts";
import { authenticate, challengeHeader, vaultResource } from "./auth.ts";
import { hostnameOf, originOf, vaultNameOf } from "./routing.ts";

/** What the vault plane has established before a data-plane handler runs. */
export interface VaultContext {
  vault: Vault;
  principal: Caller;
  apiVersion: string;
  origin: string;
}

export type VaultRequest = FastifyRequest & VaultContext;

declare module "fastify" {
  interface FastifyContextConfig {
    /** The operation (authz/operations.ts) a data-plane route performs: what it needs, what the audit log calls it. */
    operation?: string;
    /** What the audit log, the request log and the metrics call an admin-API route (e.g. `RoleAssignmentCreate`). */
    adminOperation?: string;
  }
  interface FastifyReply {
    /** The error message of a failed request, for the audit log. */
    kvErrorMessage: string | null;
  }
  interface FastifyRequest {
    vault: Vault;
    principal: Caller;
    apiVersion: string;
    origin: string;
    /** The vault an admin request is about when its path names none (VaultCreate's body does), for its audit line. */
    auditVault: string | null;
  }
}

export interface PipelineDeps {
  dnsSuffix: string;
  tokens: Tokens;
  vaults: Vaults;
  identities: Identities;
  access: AccessControl;
  audit: AuditLog;
  clock: Clock;
  /** Stands for the subscription in audit lines' resource ids. */
  tenantId: string;
  /** Fault-injection rules (a test tool), applied once a request is authorized. */
  faults?: FaultRules;
  /** `--throttle azure` (on) or a vault's own setting: requests beyond Azure's budgets are answered 429 before their handler runs. */
  throttle?: { on: boolean; requests: RequestThrottle; retryAfterSeconds?: number };
}

/** The request properties the planes set, declared once on the root instance. */
export function decoratePipeline(app: FastifyInstance): void {
  app.decorateRequest("vault", null as never);
  app.decorateRequest("principal", null as never);
  app.decorateRequest("apiVersion", "");
  app.decorateRequest("origin", "");
  app.decorateRequest("auditVault", null);
  app.decorateReply("kvErrorMessage", null as never);
}

/** The caller of a request: a valid token of an identity that still exists and is enabled (401 and a challenge otherwise). */
async function callerOf(req: FastifyRequest, reply: FastifyReply, deps: PipelineDeps): Promise<Caller> {
  // Made only for a 401: a request with a good token needs none.
  const challenge = (): string => challengeHeader(req.origin, deps.tokens.tenantId, vaultResource(deps.dnsSuffix, req.origin));
  const principal = await authenticate(req.headers.authorization, deps.tokens, reply, challenge, nowSeconds(deps.clock));
  const identity = await deps.identities.activeIdentity(principal.objectId);
  if (!identity) {
    void reply.header("www-authenticate", challenge());
    throw new KvError(401, "Unauthorized", "AKV10032: Invalid token. The identity it was issued to is disabled or deleted.");
  }
  return { ...principal, name: identity.name, admin: identity.admin };
}

/** The vault a request's Host names, as Azure routes by host. */
async function vaultOf(req: FastifyRequest, deps: PipelineDeps): Promise<Vault> {
  const hostname = hostnameOf(req.headers.host);
  const name = vaultNameOf(hostname, deps.dnsSuffix, DEFAULT_VAULT);
  if (!name) {
    throw notFound(
      "VaultNotFound",
      `The host '${hostname}' names no vault: use https://{vault}.${deps.dnsSuffix}:PORT, or localhost for the vault '${DEFAULT_VAULT}'.`,
    );
  }
  const vault = await deps.vaults.find(name);
  if (!vault) throw vaultNotFound(name);
  return vault;
}

/**
 * The Key Vault data plane, as a fastify scope for the secret and key routes. Every request
 * is audited (fail closed, http/audit.ts) and, in onRequest, before its body is read: vault
 * by Host, then bearer token (401 + challenge: the SDK's first request has no token and an
 * empty body), then api-version, then authorization of the route's operation.
 */
export function vaultPlane(deps: PipelineDeps, routes: (plane: FastifyInstance) => void) {
  return async (plane: FastifyInstance): Promise<void> => {
    auditRequests(plane, deps);
    plane.addHook("onRequest", async (req, reply) => {
      const vault = await vaultOf(req, deps);
      req.origin = originOf(req);
      req.vault = vault;
      req.principal = await callerOf(req, reply, deps);
      req.apiVersion = checkApiVersion((req.query as Record<string, unknown>)["api-version"]);
      const name = (req.params as { name?: string }).name;
      const op = operation(req.routeOptions.config.operation!);
      await deps.access.authorize(req.principal, vault, op, name);
      // An injected fault answers instead of the handler, once the audit line can name the caller and the operation.
      const fault = await deps.faults?.match({ vault: vault.name, operation: op.name, method: req.method, name });
      if (fault) return injectFault(req, reply, fault, deps);
    });
    const throttle = deps.throttle;
    // After authorization and the body's checks, before the handler: a throttled request writes nothing.
    if (throttle) {
      plane.addHook("preHandler", async (req, reply) => {
        if (!(req.vault.throttle ? req.vault.throttle === "azure" : throttle.on)) return;
        const name = (req.params as { name?: string }).name;
        if (await throttle.requests.admit(req.vault.name, req.routeOptions.config.operation!, name, req.body)) return;
        if (throttle.retryAfterSeconds !== undefined) void reply.header("retry-after", String(throttle.retryAfterSeconds));
        throw throttled();
      });
    }
    routes(plane);
  };
}

/** The Lockbox admin API under /lockbox/v1, as a fastify scope: audited, for Lockbox administrators only. */
export function adminPlane(deps: PipelineDeps, routes: (plane: FastifyInstance) => void) {
  return async (plane: FastifyInstance): Promise<void> => {
    auditRequests(plane, deps);
    plane.addHook("onRequest", async (req, reply) => {
      req.origin = originOf(req);
      req.principal = await callerOf(req, reply, deps);
      if (!req.principal.admin) {
        throw new KvError(
          403,
          "Forbidden",
          `Caller ${req.principal.name} (oid=${req.principal.objectId}) is not a Lockbox administrator.`,
          "NotLockboxAdministrator",
        );
      }
    });
    routes(plane);
  };
}

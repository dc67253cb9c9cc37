import type { FastifyInstance, FastifyRequest } from "fastify";
import type { AuditQuery, AuditReader } from "../audit/audit.ts";
import type { AccessControl } from "../authz/access.ts";
import type { Subscriptions } from "../events/subscriptions.ts";
import type { UpcomingWork } from "../scheduler/upcoming.ts";
import type { Identities } from "../identity/identities.ts";
import { nowSeconds } from "../kernel/clock.ts";
import { badParameter, vaultNotFound } from "../kernel/errors.ts";
import { KINDS, type ObjectKind } from "../kernel/kinds.ts";
import type { IdentityKind, IdentityRecord, SubscriptionRecord } from "../store/store.ts";
import type { StoredDevClock } from "../vault/devclock.ts";
import type { KeyService } from "../vault/keys.ts";
import type { VersionedObjects } from "../vault/objects.ts";
import type { PlannedPolicy } from "../vault/lifecycle.ts";
import type { SecretService } from "../vault/secrets.ts";
import type { Vault, Vaults } from "../vault/vaults.ts";
import { secretPolicyWire } from "./policies.ts";
import { secretBundle } from "./secrets.ts";
import { objectId, vaultWire } from "./wire.ts";

/**
 * The Lockbox admin API under /lockbox/v1, beyond Azure's paths: event subscriptions,
 * secret rotation and its policies, version pruning, and the dev clock. Authenticated with
 * the same bearer tokens as the data plane.
 */
export interface AdminDeps {
  vaults: Vaults;
  secrets: SecretService;
  keys: KeyService;
  subscriptions: Subscriptions;
  identities: Identities;
  access: AccessControl;
  upcoming: UpcomingWork;
  /** Present with --dev-clock: GET/POST /lockbox/v1/clock read and move it. */
  devClock?: StoredDevClock;
  /** How many scheduler runs have ended, shown beside the dev clock for tests to wait on. */
  schedulerRuns: () => number | Promise<number>;
  /** https://{vault}.{dns-suffix}[:port], for the ids in answers. */
  publicOrigin: (vault: string) => string;
  /** Runs due work now (after the dev clock moved). */
  runDueWork: () => Promise<void>;
  /** The server's audit log, read back for GET /lockbox/v1/audit. */
  auditLog: Pick<AuditReader, "list">;
}

const subscribeSchema = {
  type: "object",
  required: ["endpoint"],
  properties: {
    endpoint: { type: "string" },
    schema: { type: "string" },
    types: { type: "array", items: { type: "string" } },
  },
} as const;

const pruneSchema = {
  type: "object",
  properties: { keep: { type: "integer" }, versions: { type: "array", items: { type: "string" } } },
} as const;
const maxVersionsSchema = {
  type: "object",
  required: ["maxVersions"],
  properties: { maxVersions: { type: ["integer", "null"] } },
} as const;
const clockSchema = {
  type: "object",
  required: ["advanceSeconds"],
  properties: { advanceSeconds: { type: "integer", minimum: 0 } },
} as const;

const subscriptionBody = (s: SubscriptionRecord) => ({
  id: s.id,
  vault: s.vault,
  endpoint: s.endpoint,
  schema: s.schema,
  types: s.types,
  validated: s.validated,
  created: s.created,
});

export function adminRoutes(app: FastifyInstance, deps: AdminDeps): void {
  const {
    vaults,
    secrets,
    keys,
    subscriptions,
    identities,
    access,
    devClock,
    publicOrigin,
    runDueWork,
    schedulerRuns,
    auditLog,
    upcoming,
  } = deps;
  const p = (req: FastifyRequest) => req.params as { vault: string; name: string; collection: string; id: string };

  /** A whole number from the query string (top, skip); anything else is NaN, which the service refuses. */
  const count = (v: string | undefined): number | undefined => (v === undefined ? undefined : /^\d+$/.test(v) ? Number(v) : NaN);

  async function vaultOf(req: FastifyRequest): Promise<Vault> {
    const vault = await vaults.find(p(req).vault);
    if (!vault) throw vaultNotFound(p(req).vault.toLowerCase());
    return vault;
  }

  // The kinds whose versions an operator may prune (a certificate's come with it when it has a service).
  const engines: Partial<Record<ObjectKind, Pick<VersionedObjects<unknown, PlannedPolicy>, "prune" | "setMaxVersions">>> = {
    secret: secrets.objects,
    key: keys.objects,
  };

  // Vaults: the same service calls as `lockbox vault create|list|authorization|delete`.
  const authorizationSchema = { type: "string", enum: ["rbac", "access-policies"] } as const;
  const vaultCreateSchema = {
    type: "object",
    required: ["name"],
    additionalProperties: false,
    properties: {
      name: { type: "string" },
      retentionDays: { type: "integer" },
      purgeProtection: { type: "boolean" },
      authorization: authorizationSchema,
    },
  } as const;
  const vaultUpdateSchema = {
    type: "object",
    additionalProperties: false,
    properties: {
      authorization: authorizationSchema,
      purgeProtection: { type: "boolean" },
      throttle: { type: "string", enum: ["azure", "off", "server"] },
    },
  } as const;
  type Authorization = "rbac" | "access-policies";
  const rbacOf = (authorization: Authorization | undefined): boolean | undefined =>
    authorization === undefined ? undefined : authorization === "rbac";

  app.get("/lockbox/v1/vaults", { config: { adminOperation: "VaultList" } }, async () => ({
    value: (await vaults.list()).map((v) => vaultWire(v, publicOrigin)),
  }));
  app.post("/lockbox/v1/vaults", { config: { adminOperation: "VaultCreate" }, schema: { body: vaultCreateSchema } }, async (req, reply) => {
    const b = req.body as { name: string; retentionDays?: number; purgeProtection?: boolean; authorization?: Authorization };
    req.auditVault = b.name.toLowerCase();
    const v = await vaults.create(b.name, {
      retentionDays: b.retentionDays,
      purgeProtection: b.purgeProtection,
      rbac: rbacOf(b.authorization),
    });
    return reply.code(201).send(vaultWire(v, publicOrigin));
  });
  app.patch(
    "/lockbox/v1/vaults/:vault",
    { config: { adminOperation: "VaultUpdate" }, schema: { body: vaultUpdateSchema } },
    async (req) => {
      const b = (req.body ?? {}) as { authorization?: Authorization; purgeProtection?: boolean; throttle?: "azure" | "off" | "server" };
      return vaultWire(
        await vaults.update(p(req).vault, { rbac: rbacOf(b.authorization), purgeProtection: b.purgeProtection, throttle: b.throttle }),
        publicOrigin,
      );
    },
  );
  app.delete("/lockbox/v1/vaults/:vault", { config: { adminOperation: "VaultDelete" } }, async (req, reply) => {
    await vaults.delete(p(req).vault);
    return reply.code(204).send();
  });

  app.get("/lockbox/v1/vaults/:vault/subscriptions", { config: { adminOperation: "EventSubscriptionList" } }, async (req) => ({
    value: (await subscriptions.list((await vaultOf(req)).name)).map(subscriptionBody),
  }));

  app.post(
    "/lockbox/v1/vaults/:vault/subscriptions",
    { config: { adminOperation: "EventSubscriptionCreate" }, schema: { body: subscribeSchema } },
    async (req, reply) => {
      const b = req.body as { endpoint: string; schema?: string; types?: string[] };
      const s = await subscriptions.subscribe({ vault: (await vaultOf(req)).name, ...b });
      void runDueWork();
      return reply.code(201).send(subscriptionBody(s));
    },
  );

  app.delete(
    "/lockbox/v1/vaults/:vault/subscriptions/:id",
    { config: { adminOperation: "EventSubscriptionDelete" } },
    async (req, reply) => {
      await subscriptions.delete(p(req).id, (await vaultOf(req)).name);
      return reply.code(204).send();
    },
  );

  // Deliveries to a subscription, newest event first: those still to be made and the last ones that ended.
  app.get("/lockbox/v1/vaults/:vault/subscriptions/:id/deliveries", { config: { adminOperation: "EventDeliveryList" } }, async (req) => ({
    value: await subscriptions.deliveries(p(req).id, (await vaultOf(req)).name),
  }));

  // No body, or no value: a generated value.
  app.post("/lockbox/v1/vaults/:vault/secrets/:name/rotate", { config: { adminOperation: "SecretRotate" } }, async (req) => {
    const vault = await vaultOf(req);
    const value = (req.body as { value?: unknown } | undefined)?.value;
    if (value !== undefined && typeof value !== "string") throw badParameter("value must be a string.");
    const s = await secrets.rotate(vault, p(req).name, value);
    return secretBundle(publicOrigin(vault.name), vault, s.version);
  });

  app.get(
    "/lockbox/v1/vaults/:vault/secrets/:name/rotationpolicy",
    { config: { adminOperation: "SecretGetRotationPolicy" } },
    async (req) => {
      const vault = await vaultOf(req);
      return secretPolicyWire((await secrets.getRotationPolicy(vault, p(req).name)).policy);
    },
  );

  app.put(
    "/lockbox/v1/vaults/:vault/secrets/:name/rotationpolicy",
    { config: { adminOperation: "SecretSetRotationPolicy" } },
    async (req) => {
      const vault = await vaultOf(req);
      const policy = await secrets.setRotationPolicy(vault, p(req).name, (req.body ?? {}) as Record<string, unknown>);
      void runDueWork();
      return secretPolicyWire(policy);
    },
  );

  // Pruning, per collection so that each route has its own name in the audit log (SecretPrune, KeyPrune, ...).
  for (const [kind, engine] of Object.entries(engines) as Array<[ObjectKind, NonNullable<(typeof engines)[ObjectKind]>]>) {
    const { collection, Noun } = KINDS[kind];
    app.post(
      `/lockbox/v1/vaults/:vault/${collection}/:name/prune`,
      { config: { adminOperation: `${Noun}Prune` }, schema: { body: pruneSchema } },
      async (req) => {
        const b = (req.body ?? {}) as { keep?: number; versions?: string[] };
        if (b.keep === undefined && !b.versions)
          throw badParameter("Say which versions to prune: keep (the newest N) or versions (a list).");
        return { pruned: await engine.prune(await vaultOf(req), p(req).name, b) };
      },
    );
    app.put(
      `/lockbox/v1/vaults/:vault/${collection}/:name/maxversions`,
      { config: { adminOperation: `${Noun}SetMaxVersions` }, schema: { body: maxVersionsSchema } },
      async (req) => {
        const max = (req.body as { maxVersions: number | null }).maxVersions;
        return { maxVersions: max, pruned: await engine.setMaxVersions(await vaultOf(req), p(req).name, max) };
      },
    );
  }

  // Identities, role assignments and access policies.
  const identityBody = ({ secretHash: _hidden, ...x }: IdentityRecord) => x;
  const createIdentitySchema = {
    type: "object",
    required: ["name"],
    properties: { name: { type: "string" }, kind: { type: "string", enum: ["managed", "sp"] }, admin: { type: "boolean" } },
  } as const;

  app.get("/lockbox/v1/identities", { config: { adminOperation: "IdentityList" } }, async () => ({
    value: (await identities.list()).map(identityBody),
  }));
  app.post(
    "/lockbox/v1/identities",
    { config: { adminOperation: "IdentityCreate" }, schema: { body: createIdentitySchema } },
    async (req, reply) => {
      const b = req.body as { name: string; kind?: IdentityKind; admin?: boolean };
      const { identity, credential } = await identities.create(b.name, b.kind ?? "managed", { admin: b.admin });
      return reply.code(201).send({ ...identityBody(identity), credential });
    },
  );
  app.post("/lockbox/v1/identities/:id/disable", { config: { adminOperation: "IdentityDisable" } }, async (req) =>
    identityBody(await identities.setEnabled(p(req).id, false)),
  );
  app.post("/lockbox/v1/identities/:id/enable", { config: { adminOperation: "IdentityEnable" } }, async (req) =>
    identityBody(await identities.setEnabled(p(req).id, true)),
  );
  app.post("/lockbox/v1/identities/:id/rotate", { config: { adminOperation: "IdentityRotateCredential" } }, async (req) => {
    const { identity, credential } = await identities.rotateCredential(p(req).id);
    return { ...identityBody(identity), credential };
  });
  app.delete("/lockbox/v1/identities/:id", { config: { adminOperation: "IdentityDelete" } }, async (req, reply) => {
    await identities.delete(p(req).id);
    return reply.code(204).send();
  });

  const assignSchema = {
    type: "object",
    required: ["assignee", "role"],
    properties: { assignee: { type: "string" }, role: { type: "string" }, scope: { type: "string" } },
  } as const;
  app.get("/lockbox/v1/vaults/:vault/roleassignments", { config: { adminOperation: "RoleAssignmentList" } }, async (req) => ({
    value: await access.listRoles(await vaultOf(req)),
  }));
  app.post(
    "/lockbox/v1/vaults/:vault/roleassignments",
    { config: { adminOperation: "RoleAssignmentCreate" }, schema: { body: assignSchema } },
    async (req, reply) => {
      const b = req.body as { assignee: string; role: string; scope?: string };
      return reply.code(201).send(await access.assignRole(await vaultOf(req), await identities.find(b.assignee), b.role, b.scope));
    },
  );
  app.delete(
    "/lockbox/v1/vaults/:vault/roleassignments/:id",
    { config: { adminOperation: "RoleAssignmentDelete" } },
    async (req, reply) => {
      await access.removeRole(await vaultOf(req), p(req).id);
      return reply.code(204).send();
    },
  );

  const policySetSchema = {
    type: "object",
    properties: {
      secrets: { type: "array", items: { type: "string" } },
      keys: { type: "array", items: { type: "string" } },
      certificates: { type: "array", items: { type: "string" } },
    },
  } as const;
  app.get("/lockbox/v1/vaults/:vault/accesspolicies", { config: { adminOperation: "AccessPolicyList" } }, async (req) => ({
    value: await access.listPolicies(await vaultOf(req)),
  }));
  app.put(
    "/lockbox/v1/vaults/:vault/accesspolicies/:id",
    { config: { adminOperation: "AccessPolicySet" }, schema: { body: policySetSchema } },
    async (req) => {
      const b = (req.body ?? {}) as { secrets?: string[]; keys?: string[]; certificates?: string[] };
      return access.setPolicy(await vaultOf(req), await identities.find(p(req).id), b);
    },
  );
  app.delete("/lockbox/v1/vaults/:vault/accesspolicies/:id", { config: { adminOperation: "AccessPolicyDelete" } }, async (req, reply) => {
    await access.removePolicy(await vaultOf(req), await identities.find(p(req).id));
    return reply.code(204).send();
  });

  // The audit log, newest first: ?operation=&caller=&object=&result=&vault= (case-insensitive substrings), &top=&skip=.
  app.get("/lockbox/v1/audit", { config: { adminOperation: "AuditList" } }, async (req) => {
    const q = req.query as Record<string, string | undefined>;
    const query: AuditQuery = { operation: q.operation, caller: q.caller, object: q.object, result: q.result, vault: q.vault };
    return auditLog.list({ ...query, top: count(q.top), skip: count(q.skip) });
  });

  // What the scheduler has still to do, soonest first: ?vault= for one vault, &top= (100, at most 1000).
  app.get("/lockbox/v1/schedule", { config: { adminOperation: "ScheduleList" } }, async (req) => {
    const q = req.query as Record<string, string | undefined>;
    const vault = q.vault ? await vaults.find(q.vault) : undefined;
    if (q.vault && !vault) throw vaultNotFound(q.vault.toLowerCase());
    return {
      value: (await upcoming.list(vault?.name, count(q.top))).map((u) => {
        const { collection } = KINDS[u.kind];
        const origin = publicOrigin(u.vault);
        // A purge's object is a deleted one: its id is the recoveryId Azure gives it.
        const id =
          u.action === "Purge" ? objectId(origin, `deleted${collection}`, u.name) : objectId(origin, collection, u.name, u.version);
        return { ...u, id };
      }),
    };
  });

  // The dev clock exists only with --dev-clock.
  if (devClock) {
    app.get("/lockbox/v1/clock", { config: { adminOperation: "ClockGet" } }, async () => ({
      now: nowSeconds(devClock),
      schedulerRuns: await schedulerRuns(),
    }));
    app.post("/lockbox/v1/clock", { config: { adminOperation: "ClockAdvance" }, schema: { body: clockSchema } }, async (req) => {
      await devClock.advance((req.body as { advanceSeconds: number }).advanceSeconds);
      await runDueWork();
      return { now: nowSeconds(devClock) };
    });
  }
}

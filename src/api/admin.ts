import type { FastifyInstance, FastifyRequest } from "fastify";
import type { IdentityKind, IdentityRecord, SubscriptionRecord } from "../store/store.ts";
import { nowSeconds } from "../vault/clock.ts";
import { badParameter, KvError } from "../vault/errors.ts";
import type { VersionedObjects } from "../vault/objects.ts";
import { secretPolicyWire } from "../vault/secrets.ts";
import type { Vault } from "../vault/vaults.ts";
import type { Instance } from "../server/instance.ts";
import { secretBundle } from "./secrets.ts";

/**
 * The Lockbox admin API under /lockbox/v1, beyond Azure's paths: event subscriptions,
 * secret rotation and its policies, version pruning, and the dev clock. Authenticated with
 * the same bearer tokens as the data plane.
 */
export interface AdminDeps {
  instance: Instance;
  /** https://{vault}.{dns-suffix}[:port], for the ids in answers. */
  publicOrigin: (vault: string) => string;
  /** Runs due work now (after the dev clock moved). */
  runDueWork: () => Promise<void>;
}

const admin = { config: { access: "admin" as const } };

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

export function adminRoutes(app: FastifyInstance, { instance, publicOrigin, runDueWork }: AdminDeps): void {
  const { secrets, keys, subscriptions } = instance;
  const p = (req: FastifyRequest) => req.params as { vault: string; name: string; collection: string; id: string };

  async function vaultOf(req: FastifyRequest): Promise<Vault> {
    const vault = await instance.vaults.find(p(req).vault);
    if (!vault) throw new KvError(404, "VaultNotFound", `There is no vault named '${p(req).vault}'.`);
    return vault;
  }

  function objectsOf(req: FastifyRequest): VersionedObjects {
    const c = p(req).collection;
    if (c === "secrets") return secrets.objects;
    if (c === "keys") return keys.objects;
    throw new KvError(404, "NotFound", `There is no collection '${c}': use secrets or keys.`);
  }

  app.get("/lockbox/v1/vaults/:vault/subscriptions", admin, async (req) => ({
    value: (await subscriptions.list((await vaultOf(req)).name)).map(subscriptionBody),
  }));

  app.post("/lockbox/v1/vaults/:vault/subscriptions", { ...admin, schema: { body: subscribeSchema } }, async (req, reply) => {
    const b = req.body as { endpoint: string; schema?: string; types?: string[] };
    const s = await subscriptions.subscribe({ vault: (await vaultOf(req)).name, ...b });
    void runDueWork();
    return reply.code(201).send(subscriptionBody(s));
  });

  app.delete("/lockbox/v1/vaults/:vault/subscriptions/:id", admin, async (req, reply) => {
    await subscriptions.delete(p(req).id, (await vaultOf(req)).name);
    return reply.code(204).send();
  });

  // No body, or no value: a generated value.
  app.post("/lockbox/v1/vaults/:vault/secrets/:name/rotate", admin, async (req) => {
    const vault = await vaultOf(req);
    const value = (req.body as { value?: unknown } | undefined)?.value;
    if (value !== undefined && typeof value !== "string") throw badParameter("value must be a string.");
    const s = await secrets.rotate(vault, p(req).name, value);
    return secretBundle(publicOrigin(vault.name), vault, s.version);
  });

  app.get("/lockbox/v1/vaults/:vault/secrets/:name/rotationpolicy", admin, async (req) => {
    const vault = await vaultOf(req);
    return secretPolicyWire(await secrets.getRotationPolicy(vault, p(req).name));
  });

  app.put("/lockbox/v1/vaults/:vault/secrets/:name/rotationpolicy", admin, async (req) => {
    const vault = await vaultOf(req);
    const policy = await secrets.setRotationPolicy(vault, p(req).name, (req.body ?? {}) as Record<string, unknown>);
    void runDueWork();
    return secretPolicyWire(policy);
  });

  app.post("/lockbox/v1/vaults/:vault/:collection/:name/prune", { ...admin, schema: { body: pruneSchema } }, async (req) => {
    const b = (req.body ?? {}) as { keep?: number; versions?: string[] };
    if (b.keep === undefined && !b.versions) throw badParameter("Say which versions to prune: keep (the newest N) or versions (a list).");
    return { pruned: await objectsOf(req).prune(await vaultOf(req), p(req).name, b) };
  });

  app.put("/lockbox/v1/vaults/:vault/:collection/:name/maxversions", { ...admin, schema: { body: maxVersionsSchema } }, async (req) => {
    const max = (req.body as { maxVersions: number | null }).maxVersions;
    return { maxVersions: max, pruned: await objectsOf(req).setMaxVersions(await vaultOf(req), p(req).name, max) };
  });

  // Identities, role assignments and access policies.
  const { identities, access } = instance;
  const identityBody = ({ secretHash: _hidden, ...x }: IdentityRecord) => x;
  const createIdentitySchema = {
    type: "object",
    required: ["name"],
    properties: { name: { type: "string" }, kind: { type: "string", enum: ["managed", "sp"] }, admin: { type: "boolean" } },
  } as const;

  app.get("/lockbox/v1/identities", admin, async () => ({ value: (await identities.list()).map(identityBody) }));
  app.post("/lockbox/v1/identities", { ...admin, schema: { body: createIdentitySchema } }, async (req, reply) => {
    const b = req.body as { name: string; kind?: IdentityKind; admin?: boolean };
    const { identity, credential } = await identities.create(b.name, b.kind ?? "managed", { admin: b.admin });
    return reply.code(201).send({ ...identityBody(identity), credential });
  });
  app.post("/lockbox/v1/identities/:id/disable", admin, async (req) => identityBody(await identities.setEnabled(p(req).id, false)));
  app.post("/lockbox/v1/identities/:id/enable", admin, async (req) => identityBody(await identities.setEnabled(p(req).id, true)));
  app.post("/lockbox/v1/identities/:id/rotate", admin, async (req) => {
    const { identity, credential } = await identities.rotateCredential(p(req).id);
    return { ...identityBody(identity), credential };
  });
  app.delete("/lockbox/v1/identities/:id", admin, async (req, reply) => {
    await identities.delete(p(req).id);
    return reply.code(204).send();
  });

  const assignSchema = {
    type: "object",
    required: ["assignee", "role"],
    properties: { assignee: { type: "string" }, role: { type: "string" }, scope: { type: "string" } },
  } as const;
  app.get("/lockbox/v1/vaults/:vault/roleassignments", admin, async (req) => ({ value: await access.listRoles(await vaultOf(req)) }));
  app.post("/lockbox/v1/vaults/:vault/roleassignments", { ...admin, schema: { body: assignSchema } }, async (req, reply) => {
    const b = req.body as { assignee: string; role: string; scope?: string };
    return reply.code(201).send(await access.assignRole(await vaultOf(req), await identities.find(b.assignee), b.role, b.scope));
  });
  app.delete("/lockbox/v1/vaults/:vault/roleassignments/:id", admin, async (req, reply) => {
    await access.removeRole(await vaultOf(req), p(req).id);
    return reply.code(204).send();
  });

  const policySetSchema = {
    type: "object",
    properties: { secrets: { type: "array", items: { type: "string" } }, keys: { type: "array", items: { type: "string" } } },
  } as const;
  app.get("/lockbox/v1/vaults/:vault/accesspolicies", admin, async (req) => ({ value: await access.listPolicies(await vaultOf(req)) }));
  app.put("/lockbox/v1/vaults/:vault/accesspolicies/:id", { ...admin, schema: { body: policySetSchema } }, async (req) => {
    const b = (req.body ?? {}) as { secrets?: string[]; keys?: string[] };
    return access.setPolicy(await vaultOf(req), await identities.find(p(req).id), b.secrets ?? [], b.keys ?? []);
  });
  app.delete("/lockbox/v1/vaults/:vault/accesspolicies/:id", admin, async (req, reply) => {
    await access.removePolicy(await vaultOf(req), await identities.find(p(req).id));
    return reply.code(204).send();
  });

  // The dev clock exists only with --dev-clock.
  if (instance.devClock) {
    app.get("/lockbox/v1/clock", admin, async () => ({ now: nowSeconds(instance.clock) }));
    app.post("/lockbox/v1/clock", { ...admin, schema: { body: clockSchema } }, async (req) => {
      await instance.advanceClock((req.body as { advanceSeconds: number }).advanceSeconds);
      await runDueWork();
      return { now: nowSeconds(instance.clock) };
    });
  }
}

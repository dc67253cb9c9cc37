import type {
  ChangeTopic,
  AccessPolicyRecord,
  RoleAssignmentRecord,
  DeliveryAttempt,
  DeliveryHistoryRecord,
  DeliveryOutcomeRecord,
  DeliveryRecord,
  DueDelivery,
  EventRecord,
  EventSchema,
  PendingScheduleRecord,
  ScheduleRecord,
  SubscriptionRecord,
  IdentityKind,
  IdentityRecord,
  ObjectKind,
  ObjectForWrite,
  ObjectRecord,
  Repo,
  VaultRecord,
  VaultSettingRecord,
  VersionPatch,
  VersionRecord,
  VersionView,
} from "./store.ts";

/**
 * Runs portable SQL with `?` placeholders. Each engine provides one; the repository
 * below is the only place that writes SQL for the data model, shared by all engines.
 */
export interface Executor {
  all(sql: string, params: readonly SqlValue[]): Promise<Row[]>;
  get(sql: string, params: readonly SqlValue[]): Promise<Row | undefined>;
  run(sql: string, params: readonly SqlValue[]): Promise<number>;
  /** Announces, with the transaction under way, that it changed something caches hold. */
  notify(topic: ChangeTopic): Promise<void>;
}

export type SqlValue = string | number | bigint | Buffer | null;
export type Row = Record<string, unknown>;

const num = (v: unknown): number => Number(v);
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));
const jsonOrNull = <T>(v: unknown): T | null => (v === null || v === undefined ? null : (JSON.parse(String(v)) as T));
const bool = (b: boolean): number => (b ? 1 : 0);
const buf = (v: unknown): Buffer => (Buffer.isBuffer(v) ? v : Buffer.from(v as Uint8Array));

function toVault(r: Row): VaultRecord {
  return {
    name: String(r.name),
    wrappedKey: buf(r.wrapped_key),
    retentionDays: num(r.retention_days),
    purgeProtection: num(r.purge_protection) === 1,
    rbac: r.rbac === undefined || r.rbac === null ? true : num(r.rbac) === 1,
    throttle: r.throttle === "azure" || r.throttle === "off" ? r.throttle : null,
    created: num(r.created),
  };
}

function toSetting(r: Row): VaultSettingRecord {
  return {
    vault: String(r.vault),
    kind: String(r.kind) as VaultSettingRecord["kind"],
    name: String(r.name),
    sealed: buf(r.sealed),
    created: num(r.created),
    updated: num(r.updated),
  };
}

function toAccessPolicy(r: Row): AccessPolicyRecord {
  return {
    vault: String(r.vault),
    principal: String(r.principal),
    secrets: JSON.parse(String(r.secrets)) as string[],
    keys: JSON.parse(String(r.keys)) as string[],
    certificates: JSON.parse(String(r.certificates)) as string[],
  };
}

function toIdentity(r: Row): IdentityRecord {
  return {
    id: String(r.id),
    name: String(r.name),
    kind: String(r.kind) as IdentityKind,
    clientId: String(r.client_id),
    secretHash: String(r.secret_hash),
    enabled: num(r.enabled) === 1,
    admin: num(r.admin) === 1,
    created: num(r.created),
  };
}

function toObject(r: Row): ObjectRecord {
  return {
    vault: String(r.vault),
    kind: String(r.kind) as ObjectKind,
    name: String(r.name),
    displayName: String(r.display_name),
    deletedAt: numOrNull(r.deleted_at),
    purgeAt: numOrNull(r.purge_at),
    policy: jsonOrNull<unknown>(r.policy),
    maxVersions: numOrNull(r.max_versions),
  };
}

function toSchedule(r: Row): ScheduleRecord {
  return {
    vault: String(r.vault),
    kind: String(r.kind) as ObjectKind,
    name: String(r.name),
    action: String(r.action),
    version: String(r.version),
    dueAt: num(r.due_at),
    done: num(r.done) === 1,
  };
}

function toSubscription(r: Row, prefix = ""): SubscriptionRecord {
  return {
    id: String(r[`${prefix}id`]),
    vault: String(r[`${prefix}vault`]),
    endpoint: String(r[`${prefix}endpoint`]),
    schema: String(r[`${prefix}schema`]) as EventSchema,
    types: jsonOrNull<string[]>(r[`${prefix}types`]),
    validated: num(r[`${prefix}validated`]) === 1,
    attempts: num(r[`${prefix}attempts`]),
    nextAttemptAt: num(r[`${prefix}next_attempt_at`]),
    created: num(r[`${prefix}created`]),
  };
}

function toVersion(r: Row): VersionRecord {
  return {
    seq: num(r.seq),
    vault: String(r.vault),
    kind: String(r.kind) as ObjectKind,
    name: String(r.name),
    version: String(r.version),
    created: num(r.created),
    updated: num(r.updated),
    enabled: num(r.enabled) === 1,
    nbf: numOrNull(r.nbf),
    exp: numOrNull(r.exp),
    contentType: strOrNull(r.content_type),
    tags: jsonOrNull<Record<string, string>>(r.tags),
    props: jsonOrNull<unknown>(r.props),
    sealed: buf(r.sealed),
  };
}

const toView = (r: Row): VersionView => ({ ...toVersion(r), object: toObject(r) });

/** Deliveries with their events and subscriptions (the subscription's columns prefixed s_). */
const DELIVERY_SELECT = `SELECT d.subscription, d.event_seq, d.object, d.attempts, d.first_attempt_at, d.next_attempt_at,
        d.last_attempt_at, d.last_status, d.last_error,
        e.id AS e_id, e.vault AS e_vault, e.event_type, e.subject, e.time, e.data,
        s.id AS s_id, s.vault AS s_vault, s.endpoint AS s_endpoint, s.schema AS s_schema, s.types AS s_types,
        s.validated AS s_validated, s.attempts AS s_attempts, s.next_attempt_at AS s_next_attempt_at, s.created AS s_created
 FROM deliveries d
 JOIN events e ON e.seq = d.event_seq
 JOIN subscriptions s ON s.id = d.subscription`;

function toDueDelivery(r: Row): DueDelivery {
  return {
    subscription: String(r.subscription),
    eventSeq: num(r.event_seq),
    object: String(r.object),
    attempts: num(r.attempts),
    firstAttemptAt: numOrNull(r.first_attempt_at),
    nextAttemptAt: num(r.next_attempt_at),
    lastAttemptAt: numOrNull(r.last_attempt_at),
    lastStatus: numOrNull(r.last_status),
    lastError: strOrNull(r.last_error),
    event: {
      seq: num(r.event_seq),
      id: String(r.e_id),
      vault: String(r.e_vault),
      eventType: String(r.event_type),
      subject: String(r.subject),
      time: num(r.time),
      data: JSON.parse(String(r.data)) as Record<string, unknown>,
    },
    target: toSubscription(r, "s_"),
  };
}

const VERSION_COLUMNS =
  "v.seq, v.vault, v.kind, v.name, v.version, v.created, v.updated, v.enabled, v.nbf, v.exp, v.content_type, v.tags, v.props, v.sealed";
const VIEW_SELECT = `SELECT ${VERSION_COLUMNS}, o.display_name, o.deleted_at, o.purge_at, o.policy, o.max_versions
  FROM versions v JOIN objects o ON o.vault = v.vault AND o.kind = v.kind AND o.name = v.name`;

export class SqlRepo implements Repo {
  constructor(private readonly db: Executor) {}

  async getMeta(key: string): Promise<string | undefined> {
    const r = await this.db.get("SELECT v FROM meta WHERE k = ?", [key]);
    return r ? String(r.v) : undefined;
  }

  async setMeta(key: string, value: string): Promise<void> {
    await this.db.notify("meta");
    await this.db.run("INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v", [key, value]);
  }

  async keepMeta(key: string, value: string): Promise<string> {
    const existing = await this.getMeta(key);
    if (existing !== undefined) return existing;
    await this.setMeta(key, value);
    return value;
  }

  async deleteMeta(key: string): Promise<void> {
    await this.db.notify("meta");
    await this.db.run("DELETE FROM meta WHERE k = ?", [key]);
  }

  async getVault(name: string): Promise<VaultRecord | undefined> {
    const r = await this.db.get("SELECT * FROM vaults WHERE name = ?", [name]);
    return r ? toVault(r) : undefined;
  }

  async listVaults(): Promise<VaultRecord[]> {
    return (await this.db.all("SELECT * FROM vaults ORDER BY name", [])).map(toVault);
  }

  async insertVault(v: VaultRecord): Promise<void> {
    await this.db.notify("vaults");
    await this.db.run("INSERT INTO vaults (name, wrapped_key, retention_days, purge_protection, rbac, created) VALUES (?, ?, ?, ?, ?, ?)", [
      v.name,
      v.wrappedKey,
      v.retentionDays,
      bool(v.purgeProtection),
      bool(v.rbac),
      v.created,
    ]);
  }

  async setVaultRbac(name: string, rbac: boolean): Promise<void> {
    await this.db.notify("vaults");
    await this.db.run("UPDATE vaults SET rbac = ? WHERE name = ?", [bool(rbac), name]);
  }

  async setVaultThrottle(name: string, throttle: "azure" | "off" | undefined): Promise<void> {
    await this.db.notify("vaults");
    await this.db.run("UPDATE vaults SET throttle = ? WHERE name = ?", [throttle ?? null, name]);
  }

  async setVaultPurgeProtection(name: string, purgeProtection: boolean): Promise<void> {
    await this.db.notify("vaults");
    await this.db.run("UPDATE vaults SET purge_protection = ? WHERE name = ?", [bool(purgeProtection), name]);
  }

  async getIdentity(id: string): Promise<IdentityRecord | undefined> {
    const r = await this.db.get("SELECT * FROM identities WHERE id = ?", [id]);
    return r ? toIdentity(r) : undefined;
  }

  async updateIdentity(id: string, changes: { enabled?: boolean; secretHash?: string }): Promise<void> {
    await this.db.notify("identities");
    if (changes.enabled !== undefined) await this.db.run("UPDATE identities SET enabled = ? WHERE id = ?", [bool(changes.enabled), id]);
    if (changes.secretHash !== undefined) await this.db.run("UPDATE identities SET secret_hash = ? WHERE id = ?", [changes.secretHash, id]);
  }

  async deleteIdentity(id: string): Promise<void> {
    await this.db.notify("identities");
    await this.db.notify("access");
    await this.db.run("DELETE FROM role_assignments WHERE principal = ?", [id]);
    await this.db.run("DELETE FROM access_policies WHERE principal = ?", [id]);
    await this.db.run("DELETE FROM identities WHERE id = ?", [id]);
  }

  async insertRoleAssignment(a: RoleAssignmentRecord): Promise<void> {
    await this.db.notify("access");
    await this.db.run("INSERT INTO role_assignments (id, vault, principal, role, scope, created) VALUES (?, ?, ?, ?, ?, ?)", [
      a.id,
      a.vault,
      a.principal,
      a.role,
      a.scope,
      a.created,
    ]);
  }

  async listRoleAssignments(vault: string, principal: string | null): Promise<RoleAssignmentRecord[]> {
    const rows =
      principal === null
        ? await this.db.all("SELECT * FROM role_assignments WHERE vault = ? ORDER BY created, id", [vault])
        : await this.db.all("SELECT * FROM role_assignments WHERE vault = ? AND principal = ? ORDER BY created, id", [vault, principal]);
    return rows.map((r) => ({
      id: String(r.id),
      vault: String(r.vault),
      principal: String(r.principal),
      role: String(r.role),
      scope: String(r.scope),
      created: num(r.created),
    }));
  }

  async deleteRoleAssignment(vault: string, id: string): Promise<boolean> {
    await this.db.notify("access");
    return (await this.db.run("DELETE FROM role_assignments WHERE id = ? AND vault = ?", [id, vault])) > 0;
  }

  async putAccessPolicy(p: AccessPolicyRecord): Promise<void> {
    await this.db.notify("access");
    await this.db.run(
      `INSERT INTO access_policies (vault, principal, secrets, keys, certificates) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (vault, principal) DO UPDATE SET secrets = excluded.secrets, keys = excluded.keys, certificates = excluded.certificates`,
      [p.vault, p.principal, JSON.stringify(p.secrets), JSON.stringify(p.keys), JSON.stringify(p.certificates)],
    );
  }

  async getAccessPolicy(vault: string, principal: string): Promise<AccessPolicyRecord | undefined> {
    const r = await this.db.get("SELECT * FROM access_policies WHERE vault = ? AND principal = ?", [vault, principal]);
    return r ? toAccessPolicy(r) : undefined;
  }

  async listAccessPolicies(vault: string): Promise<AccessPolicyRecord[]> {
    return (await this.db.all("SELECT * FROM access_policies WHERE vault = ? ORDER BY principal", [vault])).map(toAccessPolicy);
  }

  async listVaultsGranting(principal: string): Promise<string[]> {
    const rows = await this.db.all(
      `SELECT name FROM vaults
       WHERE name IN (SELECT vault FROM role_assignments WHERE principal = ?) OR name IN (SELECT vault FROM access_policies WHERE principal = ?)
       ORDER BY name`,
      [principal, principal],
    );
    return rows.map((r) => String(r.name));
  }

  async deleteAccessPolicy(vault: string, principal: string): Promise<boolean> {
    await this.db.notify("access");
    return (await this.db.run("DELETE FROM access_policies WHERE vault = ? AND principal = ?", [vault, principal])) > 0;
  }

  async deleteVault(name: string): Promise<boolean> {
    await this.db.notify("vaults");
    await this.db.notify("access");
    await this.db.run("DELETE FROM schedule WHERE vault = ?", [name]);
    await this.db.run("DELETE FROM role_assignments WHERE vault = ?", [name]);
    await this.db.run("DELETE FROM access_policies WHERE vault = ?", [name]);
    await this.db.run("DELETE FROM vault_settings WHERE vault = ?", [name]);
    for (const s of await this.listSubscriptions(name)) await this.deleteSubscription(s.id);
    await this.db.run("DELETE FROM versions WHERE vault = ?", [name]);
    await this.db.run("DELETE FROM objects WHERE vault = ?", [name]);
    return (await this.db.run("DELETE FROM vaults WHERE name = ?", [name])) > 0;
  }

  async getSetting(vault: string, kind: VaultSettingRecord["kind"], name: string): Promise<VaultSettingRecord | undefined> {
    const r = await this.db.get("SELECT * FROM vault_settings WHERE vault = ? AND kind = ? AND name = ?", [vault, kind, name]);
    return r ? toSetting(r) : undefined;
  }

  async listSettings(vault: string, kind: VaultSettingRecord["kind"], after: string | null, limit: number): Promise<VaultSettingRecord[]> {
    const rows = await this.db.all("SELECT * FROM vault_settings WHERE vault = ? AND kind = ? AND name > ? ORDER BY name LIMIT ?", [
      vault,
      kind,
      after ?? "",
      limit,
    ]);
    return rows.map(toSetting);
  }

  async putSetting(s: VaultSettingRecord): Promise<void> {
    await this.db.run(
      `INSERT INTO vault_settings (vault, kind, name, sealed, created, updated) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (vault, kind, name) DO UPDATE SET sealed = excluded.sealed, updated = excluded.updated`,
      [s.vault, s.kind, s.name, s.sealed, s.created, s.updated],
    );
  }

  async deleteSetting(vault: string, kind: VaultSettingRecord["kind"], name: string): Promise<boolean> {
    return (await this.db.run("DELETE FROM vault_settings WHERE vault = ? AND kind = ? AND name = ?", [vault, kind, name])) > 0;
  }

  async insertIdentity(i: IdentityRecord): Promise<void> {
    await this.db.run(
      "INSERT INTO identities (id, name, kind, client_id, secret_hash, enabled, admin, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      [i.id, i.name, i.kind, i.clientId, i.secretHash, bool(i.enabled), bool(i.admin), i.created],
    );
  }

  async findIdentityBySecretHash(kind: IdentityKind, secretHash: string): Promise<IdentityRecord | undefined> {
    const r = await this.db.get("SELECT * FROM identities WHERE kind = ? AND secret_hash = ?", [kind, secretHash]);
    return r ? toIdentity(r) : undefined;
  }

  async findIdentityByClientId(clientId: string): Promise<IdentityRecord | undefined> {
    const r = await this.db.get("SELECT * FROM identities WHERE client_id = ?", [clientId]);
    return r ? toIdentity(r) : undefined;
  }

  async findIdentityByName(name: string): Promise<IdentityRecord | undefined> {
    const r = await this.db.get("SELECT * FROM identities WHERE name = ?", [name]);
    return r ? toIdentity(r) : undefined;
  }

  async listIdentities(): Promise<IdentityRecord[]> {
    return (await this.db.all("SELECT * FROM identities ORDER BY name", [])).map(toIdentity);
  }

  async getObject(vault: string, kind: ObjectKind, name: string): Promise<ObjectRecord | undefined> {
    const r = await this.db.get("SELECT * FROM objects WHERE vault = ? AND kind = ? AND name = ?", [vault, kind, name]);
    return r ? toObject(r) : undefined;
  }

  async insertObject(o: ObjectRecord): Promise<void> {
    await this.db.run(
      "INSERT INTO objects (vault, kind, name, display_name, deleted_at, purge_at, policy, max_versions) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      [o.vault, o.kind, o.name, o.displayName, o.deletedAt, o.purgeAt, o.policy ? JSON.stringify(o.policy) : null, o.maxVersions],
    );
  }

  async setObjectDeleted(vault: string, kind: ObjectKind, name: string, deletedAt: number | null, purgeAt: number | null): Promise<void> {
    await this.db.run("UPDATE objects SET deleted_at = ?, purge_at = ? WHERE vault = ? AND kind = ? AND name = ?", [
      deletedAt,
      purgeAt,
      vault,
      kind,
      name,
    ]);
  }

  async setObjectPolicy(vault: string, kind: ObjectKind, name: string, policy: unknown): Promise<void> {
    await this.db.run("UPDATE objects SET policy = ? WHERE vault = ? AND kind = ? AND name = ?", [
      policy ? JSON.stringify(policy) : null,
      vault,
      kind,
      name,
    ]);
  }

  async setObjectMaxVersions(vault: string, kind: ObjectKind, name: string, maxVersions: number | null): Promise<void> {
    await this.db.run("UPDATE objects SET max_versions = ? WHERE vault = ? AND kind = ? AND name = ?", [maxVersions, vault, kind, name]);
  }

  async deleteVersion(vault: string, kind: ObjectKind, name: string, version: string): Promise<void> {
    await this.db.run("DELETE FROM versions WHERE vault = ? AND kind = ? AND name = ? AND version = ?", [vault, kind, name, version]);
  }

  async purgeObject(vault: string, kind: ObjectKind, name: string): Promise<void> {
    await this.db.run("DELETE FROM schedule WHERE vault = ? AND kind = ? AND name = ?", [vault, kind, name]);
    await this.db.run("DELETE FROM versions WHERE vault = ? AND kind = ? AND name = ?", [vault, kind, name]);
    await this.db.run("DELETE FROM objects WHERE vault = ? AND kind = ? AND name = ?", [vault, kind, name]);
  }

  async listObjects(vault: string, kind: ObjectKind, deleted: boolean, afterName: string | null, limit: number): Promise<VersionView[]> {
    const rows = await this.db.all(
      `${VIEW_SELECT}
       WHERE o.vault = ? AND o.kind = ? AND o.deleted_at IS ${deleted ? "NOT NULL" : "NULL"} AND o.name > ?
         AND v.seq = (SELECT MAX(x.seq) FROM versions x WHERE x.vault = o.vault AND x.kind = o.kind AND x.name = o.name)
       ORDER BY o.name LIMIT ?`,
      [vault, kind, afterName ?? "", limit],
    );
    return rows.map(toView);
  }

  async getObjectForWrite(vault: string, kind: ObjectKind, name: string): Promise<ObjectForWrite> {
    const r = await this.db.get(
      `SELECT t.wrapped_key AS vault_key, o.name AS object_name, o.display_name, o.deleted_at, o.purge_at, o.policy, o.max_versions,
         EXISTS (SELECT 1 FROM subscriptions s WHERE s.vault = t.name) AS subscribed,
         EXISTS (SELECT 1 FROM schedule c WHERE c.vault = t.name AND c.kind = ? AND c.name = ?) AS scheduled
       FROM vaults t LEFT JOIN objects o ON o.vault = t.name AND o.kind = ? AND o.name = ?
       WHERE t.name = ?`,
      [kind, name, kind, name, vault],
    );
    if (!r) return { vaultKey: undefined, object: undefined, latest: undefined, subscribed: false, scheduled: false };
    const yes = (v: unknown): boolean => v === true || Number(v) === 1;
    const object = r.object_name === null || r.object_name === undefined ? undefined : toObject({ ...r, vault, kind, name });
    // The latest version by a query of its own: ORDER BY seq DESC LIMIT 1 on (vault, kind, name, seq)
    // reads one index entry, where a join to it lets the planner read all of an object's versions.
    return {
      vaultKey: buf(r.vault_key),
      object,
      latest: object ? await this.getLatestVersion(vault, kind, name) : undefined,
      subscribed: yes(r.subscribed),
      scheduled: yes(r.scheduled),
    };
  }

  async listPurgeDue(kind: ObjectKind, now: number, limit: number): Promise<ObjectRecord[]> {
    const rows = await this.db.all(
      "SELECT * FROM objects WHERE purge_at IS NOT NULL AND purge_at <= ? AND kind = ? ORDER BY purge_at LIMIT ?",
      [now, kind, limit],
    );
    return rows.map(toObject);
  }

  async insertVersion(v: VersionRecord | Omit<VersionRecord, "seq">): Promise<void> {
    await this.db.run(
      `INSERT INTO versions (vault, kind, name, version, created, updated, enabled, nbf, exp, content_type, tags, props, sealed)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        v.vault,
        v.kind,
        v.name,
        v.version,
        v.created,
        v.updated,
        bool(v.enabled),
        v.nbf,
        v.exp,
        v.contentType,
        v.tags ? JSON.stringify(v.tags) : null,
        v.props ? JSON.stringify(v.props) : null,
        v.sealed,
      ],
    );
  }

  async getVersion(vault: string, kind: ObjectKind, name: string, version: string): Promise<VersionView | undefined> {
    const r = await this.db.get(`${VIEW_SELECT} WHERE v.vault = ? AND v.kind = ? AND v.name = ? AND v.version = ?`, [
      vault,
      kind,
      name,
      version,
    ]);
    return r ? toView(r) : undefined;
  }

  async getLatestVersion(vault: string, kind: ObjectKind, name: string): Promise<VersionView | undefined> {
    const r = await this.db.get(`${VIEW_SELECT} WHERE v.vault = ? AND v.kind = ? AND v.name = ? ORDER BY v.seq DESC LIMIT 1`, [
      vault,
      kind,
      name,
    ]);
    return r ? toView(r) : undefined;
  }

  async listVersions(vault: string, kind: ObjectKind, name: string, afterSeq: number | null, limit: number): Promise<VersionRecord[]> {
    const rows = await this.db.all(
      `SELECT ${VERSION_COLUMNS} FROM versions v WHERE v.vault = ? AND v.kind = ? AND v.name = ? AND v.seq > ? ORDER BY v.seq LIMIT ?`,
      [vault, kind, name, afterSeq ?? -1, limit],
    );
    return rows.map(toVersion);
  }

  async updateVersion(vault: string, kind: ObjectKind, name: string, version: string, p: VersionPatch): Promise<void> {
    const sets: string[] = ["updated = ?"];
    const params: SqlValue[] = [p.updated];
    const set = (column: string, value: SqlValue): void => {
      sets.push(`${column} = ?`);
      params.push(value);
    };
    if (p.enabled !== undefined) set("enabled", bool(p.enabled));
    if (p.nbf !== undefined) set("nbf", p.nbf);
    if (p.exp !== undefined) set("exp", p.exp);
    if (p.contentType !== undefined) set("content_type", p.contentType);
    if (p.tags !== undefined) set("tags", p.tags ? JSON.stringify(p.tags) : null);
    if (p.props !== undefined) set("props", p.props ? JSON.stringify(p.props) : null);
    await this.db.run(`UPDATE versions SET ${sets.join(", ")} WHERE vault = ? AND kind = ? AND name = ? AND version = ?`, [
      ...params,
      vault,
      kind,
      name,
      version,
    ]);
  }

  async listSchedule(vault: string, kind: ObjectKind, name: string): Promise<ScheduleRecord[]> {
    return (await this.db.all("SELECT * FROM schedule WHERE vault = ? AND kind = ? AND name = ?", [vault, kind, name])).map(toSchedule);
  }

  async getSchedule(vault: string, kind: ObjectKind, name: string, action: string): Promise<ScheduleRecord | undefined> {
    const r = await this.db.get("SELECT * FROM schedule WHERE vault = ? AND kind = ? AND name = ? AND action = ?", [
      vault,
      kind,
      name,
      action,
    ]);
    return r ? toSchedule(r) : undefined;
  }

  async putSchedule(e: ScheduleRecord): Promise<void> {
    await this.db.run(
      `INSERT INTO schedule (vault, kind, name, action, version, due_at, done) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (vault, kind, name, action) DO UPDATE SET version = excluded.version, due_at = excluded.due_at, done = excluded.done, lease_until = NULL`,
      [e.vault, e.kind, e.name, e.action, e.version, e.dueAt, bool(e.done)],
    );
  }

  async deleteSchedule(vault: string, kind: ObjectKind, name: string, action?: string): Promise<void> {
    if (action === undefined) await this.db.run("DELETE FROM schedule WHERE vault = ? AND kind = ? AND name = ?", [vault, kind, name]);
    else await this.db.run("DELETE FROM schedule WHERE vault = ? AND kind = ? AND name = ? AND action = ?", [vault, kind, name, action]);
  }

  async listDueSchedule(now: number, limit: number): Promise<ScheduleRecord[]> {
    return (
      await this.db.all(
        "SELECT * FROM schedule WHERE done = 0 AND due_at <= ? AND (lease_until IS NULL OR lease_until <= ?) ORDER BY due_at LIMIT ?",
        [now, now, limit],
      )
    ).map(toSchedule);
  }

  async listPendingSchedule(vault: string | null, limit: number): Promise<PendingScheduleRecord[]> {
    const select = `SELECT s.*, o.display_name FROM schedule s JOIN objects o ON o.vault = s.vault AND o.kind = s.kind AND o.name = s.name
       WHERE s.done = 0`;
    const order = "ORDER BY s.due_at, s.vault, s.kind, s.name, s.action LIMIT ?";
    const rows =
      vault === null
        ? await this.db.all(`${select} ${order}`, [limit])
        : await this.db.all(`${select} AND s.vault = ? ${order}`, [vault, limit]);
    return rows.map((r) => ({ ...toSchedule(r), displayName: String(r.display_name), leaseUntil: numOrNull(r.lease_until) }));
  }

  async listScheduledPurges(vault: string | null, limit: number): Promise<ObjectRecord[]> {
    const order = "ORDER BY purge_at, vault, kind, name LIMIT ?";
    const rows =
      vault === null
        ? await this.db.all(`SELECT * FROM objects WHERE purge_at IS NOT NULL ${order}`, [limit])
        : await this.db.all(`SELECT * FROM objects WHERE purge_at IS NOT NULL AND vault = ? ${order}`, [vault, limit]);
    return rows.map(toObject);
  }

  async leaseSchedule(e: ScheduleRecord, now: number, until: number): Promise<boolean> {
    const changed = await this.db.run(
      `UPDATE schedule SET lease_until = ?
       WHERE vault = ? AND kind = ? AND name = ? AND action = ? AND version = ? AND due_at = ? AND done = 0 AND (lease_until IS NULL OR lease_until <= ?)`,
      [until, e.vault, e.kind, e.name, e.action, e.version, e.dueAt, now],
    );
    return changed === 1;
  }

  async insertSubscription(x: SubscriptionRecord): Promise<void> {
    await this.db.run(
      "INSERT INTO subscriptions (id, vault, endpoint, schema, types, validated, attempts, next_attempt_at, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
      [
        x.id,
        x.vault,
        x.endpoint,
        x.schema,
        x.types ? JSON.stringify(x.types) : null,
        bool(x.validated),
        x.attempts,
        x.nextAttemptAt,
        x.created,
      ],
    );
  }

  async getSubscription(id: string): Promise<SubscriptionRecord | undefined> {
    const r = await this.db.get("SELECT * FROM subscriptions WHERE id = ?", [id]);
    return r ? toSubscription(r) : undefined;
  }

  async listSubscriptions(vault: string | null): Promise<SubscriptionRecord[]> {
    const rows =
      vault === null
        ? await this.db.all("SELECT * FROM subscriptions ORDER BY created, id", [])
        : await this.db.all("SELECT * FROM subscriptions WHERE vault = ? ORDER BY created, id", [vault]);
    return rows.map((r) => toSubscription(r));
  }

  async deleteSubscription(id: string): Promise<boolean> {
    const seqs = (await this.db.all("SELECT event_seq FROM deliveries WHERE subscription = ?", [id])).map((r) => num(r.event_seq));
    await this.db.run("DELETE FROM deliveries WHERE subscription = ?", [id]);
    await this.db.run("DELETE FROM delivery_history WHERE subscription = ?", [id]);
    for (const seq of seqs) await this.deleteOrphanEvent(seq);
    return (await this.db.run("DELETE FROM subscriptions WHERE id = ?", [id])) > 0;
  }

  async updateSubscription(id: string, validated: boolean, attempts: number, nextAttemptAt: number): Promise<void> {
    await this.db.run("UPDATE subscriptions SET validated = ?, attempts = ?, next_attempt_at = ? WHERE id = ?", [
      bool(validated),
      attempts,
      nextAttemptAt,
      id,
    ]);
  }

  async listSubscriptionsToValidate(now: number, limit: number): Promise<SubscriptionRecord[]> {
    const rows = await this.db.all(
      "SELECT * FROM subscriptions WHERE validated = 0 AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?",
      [now, limit],
    );
    return rows.map((r) => toSubscription(r));
  }

  async insertEvent(e: Omit<EventRecord, "seq">): Promise<number> {
    const r = await this.db.get("INSERT INTO events (id, vault, event_type, subject, time, data) VALUES (?, ?, ?, ?, ?, ?) RETURNING seq", [
      e.id,
      e.vault,
      e.eventType,
      e.subject,
      e.time,
      JSON.stringify(e.data),
    ]);
    return num(r!.seq);
  }

  async insertDelivery(d: DeliveryRecord): Promise<void> {
    await this.db.run(
      `INSERT INTO deliveries (subscription, event_seq, object, attempts, first_attempt_at, next_attempt_at, last_attempt_at, last_status, last_error)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [d.subscription, d.eventSeq, d.object, d.attempts, d.firstAttemptAt, d.nextAttemptAt, d.lastAttemptAt, d.lastStatus, d.lastError],
    );
  }

  async listDueDeliveries(now: number, limit: number): Promise<DueDelivery[]> {
    const rows = await this.db.all(
      `${DELIVERY_SELECT}
       WHERE d.next_attempt_at <= ? AND s.validated = 1
         AND NOT EXISTS (SELECT 1 FROM deliveries p WHERE p.subscription = d.subscription AND p.object = d.object AND p.event_seq < d.event_seq)
       ORDER BY d.event_seq LIMIT ?`,
      [now, limit],
    );
    return rows.map(toDueDelivery);
  }

  async listPendingDeliveries(subscription: string, limit: number): Promise<DueDelivery[]> {
    const rows = await this.db.all(`${DELIVERY_SELECT} WHERE d.subscription = ? ORDER BY d.event_seq DESC LIMIT ?`, [subscription, limit]);
    return rows.map(toDueDelivery);
  }

  async recordDeliveryOutcome(o: DeliveryOutcomeRecord, keep: number): Promise<void> {
    await this.db.run(
      `INSERT INTO delivery_history (subscription, event_id, event_type, subject, event_time, outcome, attempts, last_attempt_at, last_status, last_error)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [o.subscription, o.eventId, o.eventType, o.subject, o.eventTime, o.outcome, o.attempts, o.lastAttemptAt, o.lastStatus, o.lastError],
    );
    // Everything older than the newest `keep` goes (nothing while there are no more than that).
    await this.db.run(
      `DELETE FROM delivery_history WHERE subscription = ?
         AND seq <= (SELECT h.seq FROM delivery_history h WHERE h.subscription = ? ORDER BY h.seq DESC LIMIT 1 OFFSET ?)`,
      [o.subscription, o.subscription, keep],
    );
  }

  async listDeliveryHistory(subscription: string, limit: number): Promise<DeliveryHistoryRecord[]> {
    const rows = await this.db.all("SELECT * FROM delivery_history WHERE subscription = ? ORDER BY seq DESC LIMIT ?", [
      subscription,
      limit,
    ]);
    return rows.map((r) => ({
      seq: num(r.seq),
      subscription: String(r.subscription),
      eventId: String(r.event_id),
      eventType: String(r.event_type),
      subject: String(r.subject),
      eventTime: num(r.event_time),
      outcome: String(r.outcome) as DeliveryOutcomeRecord["outcome"],
      attempts: num(r.attempts),
      lastAttemptAt: num(r.last_attempt_at),
      lastStatus: numOrNull(r.last_status),
      lastError: strOrNull(r.last_error),
    }));
  }

  async deleteDelivery(subscription: string, eventSeq: number): Promise<void> {
    await this.db.run("DELETE FROM deliveries WHERE subscription = ? AND event_seq = ?", [subscription, eventSeq]);
    await this.deleteOrphanEvent(eventSeq);
  }

  private async deleteOrphanEvent(eventSeq: number): Promise<void> {
    await this.db.run("DELETE FROM events WHERE seq = ? AND NOT EXISTS (SELECT 1 FROM deliveries WHERE event_seq = ?)", [
      eventSeq,
      eventSeq,
    ]);
  }

  async countDeliveries(): Promise<{ pending: number; failing: number }> {
    const r = await this.db.get(
      "SELECT COUNT(*) AS pending, COALESCE(SUM(CASE WHEN attempts > 0 THEN 1 ELSE 0 END), 0) AS failing FROM deliveries",
      [],
    );
    return { pending: num(r?.pending ?? 0), failing: num(r?.failing ?? 0) };
  }

  async leaseDelivery(subscription: string, eventSeq: number, until: number): Promise<void> {
    await this.db.run("UPDATE deliveries SET next_attempt_at = ? WHERE subscription = ? AND event_seq = ?", [
      until,
      subscription,
      eventSeq,
    ]);
  }

  async updateDelivery(subscription: string, eventSeq: number, a: DeliveryAttempt): Promise<void> {
    await this.db.run(
      `UPDATE deliveries SET attempts = ?, first_attempt_at = ?, next_attempt_at = ?, last_attempt_at = ?, last_status = ?, last_error = ?
       WHERE subscription = ? AND event_seq = ?`,
      [a.attempts, a.firstAttemptAt, a.nextAttemptAt, a.lastAttemptAt, a.lastStatus, a.lastError, subscription, eventSeq],
    );
  }
}

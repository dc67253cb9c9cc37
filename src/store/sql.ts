import type {
  IdentityKind,
  IdentityRecord,
  ObjectKind,
  ObjectRecord,
  Repo,
  VaultRecord,
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
    created: num(r.created),
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
    policy: jsonOrNull<Record<string, unknown>>(r.policy),
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
    props: jsonOrNull<Record<string, unknown>>(r.props),
    sealed: buf(r.sealed),
  };
}

const toView = (r: Row): VersionView => ({ ...toVersion(r), object: toObject(r) });

const VERSION_COLUMNS =
  "v.seq, v.vault, v.kind, v.name, v.version, v.created, v.updated, v.enabled, v.nbf, v.exp, v.content_type, v.tags, v.props, v.sealed";
const VIEW_SELECT = `SELECT ${VERSION_COLUMNS}, o.display_name, o.deleted_at, o.purge_at, o.policy
  FROM versions v JOIN objects o ON o.vault = v.vault AND o.kind = v.kind AND o.name = v.name`;

export class SqlRepo implements Repo {
  constructor(private readonly db: Executor) {}

  async getMeta(key: string): Promise<string | undefined> {
    const r = await this.db.get("SELECT v FROM meta WHERE k = ?", [key]);
    return r ? String(r.v) : undefined;
  }

  async setMeta(key: string, value: string): Promise<void> {
    await this.db.run("INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v", [key, value]);
  }

  async getVault(name: string): Promise<VaultRecord | undefined> {
    const r = await this.db.get("SELECT * FROM vaults WHERE name = ?", [name]);
    return r ? toVault(r) : undefined;
  }

  async listVaults(): Promise<VaultRecord[]> {
    return (await this.db.all("SELECT * FROM vaults ORDER BY name", [])).map(toVault);
  }

  async insertVault(v: VaultRecord): Promise<void> {
    await this.db.run(
      "INSERT INTO vaults (name, wrapped_key, retention_days, purge_protection, created) VALUES (?, ?, ?, ?, ?)",
      [v.name, v.wrappedKey, v.retentionDays, bool(v.purgeProtection), v.created],
    );
  }

  async deleteVault(name: string): Promise<boolean> {
    await this.db.run("DELETE FROM versions WHERE vault = ?", [name]);
    await this.db.run("DELETE FROM objects WHERE vault = ?", [name]);
    return (await this.db.run("DELETE FROM vaults WHERE name = ?", [name])) > 0;
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
      "INSERT INTO objects (vault, kind, name, display_name, deleted_at, purge_at, policy) VALUES (?, ?, ?, ?, ?, ?, ?)",
      [o.vault, o.kind, o.name, o.displayName, o.deletedAt, o.purgeAt, o.policy ? JSON.stringify(o.policy) : null],
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

  async setObjectPolicy(vault: string, kind: ObjectKind, name: string, policy: Record<string, unknown> | null): Promise<void> {
    await this.db.run("UPDATE objects SET policy = ? WHERE vault = ? AND kind = ? AND name = ?", [
      policy ? JSON.stringify(policy) : null,
      vault,
      kind,
      name,
    ]);
  }

  async purgeObject(vault: string, kind: ObjectKind, name: string): Promise<void> {
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
}

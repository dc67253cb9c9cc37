/**
 * The storage boundary. Engines (sqlite/, later postgres/) implement `Store`; everything
 * above it sees only these records and never SQL. Values arrive here already sealed.
 */
export type ObjectKind = "secret" | "key";

export interface VaultRecord {
  name: string;
  wrappedKey: Buffer;
  retentionDays: number;
  purgeProtection: boolean;
  created: number;
}

export type IdentityKind = "managed" | "sp";

export interface IdentityRecord {
  id: string;
  name: string;
  kind: IdentityKind;
  clientId: string;
  /** sha256 of the credential (managed identity header value, or client secret), hex. */
  secretHash: string;
  enabled: boolean;
  admin: boolean;
  created: number;
}

export interface ObjectRecord {
  vault: string;
  kind: ObjectKind;
  /** Lower-cased: names are case-insensitive. */
  name: string;
  /** The name as first written, used in ids. */
  displayName: string;
  deletedAt: number | null;
  purgeAt: number | null;
  /** The object's rotation policy, as the domain stores it. */
  policy: Record<string, unknown> | null;
}

export interface VersionFields {
  created: number;
  updated: number;
  enabled: boolean;
  nbf: number | null;
  exp: number | null;
  contentType: string | null;
  tags: Record<string, string> | null;
  /** Public, kind-specific properties (for keys: the public JWK, key_ops, ...). */
  props: Record<string, unknown> | null;
}

export interface VersionRecord extends VersionFields {
  vault: string;
  kind: ObjectKind;
  name: string;
  version: string;
  /** Insertion order; versions are listed by it. */
  seq: number;
  sealed: Buffer;
}

export type VersionPatch = Partial<Omit<VersionFields, "created">> & { updated: number };

/** A version together with the object it belongs to. */
export interface VersionView extends VersionRecord {
  object: ObjectRecord;
}

export interface Repo {
  getMeta(key: string): Promise<string | undefined>;
  setMeta(key: string, value: string): Promise<void>;

  getVault(name: string): Promise<VaultRecord | undefined>;
  listVaults(): Promise<VaultRecord[]>;
  insertVault(vault: VaultRecord): Promise<void>;
  /** Removes the vault and everything in it. */
  deleteVault(name: string): Promise<boolean>;

  insertIdentity(identity: IdentityRecord): Promise<void>;
  findIdentityBySecretHash(kind: IdentityKind, secretHash: string): Promise<IdentityRecord | undefined>;
  findIdentityByClientId(clientId: string): Promise<IdentityRecord | undefined>;
  findIdentityByName(name: string): Promise<IdentityRecord | undefined>;
  listIdentities(): Promise<IdentityRecord[]>;

  getObject(vault: string, kind: ObjectKind, name: string): Promise<ObjectRecord | undefined>;
  insertObject(object: ObjectRecord): Promise<void>;
  setObjectDeleted(vault: string, kind: ObjectKind, name: string, deletedAt: number | null, purgeAt: number | null): Promise<void>;
  setObjectPolicy(vault: string, kind: ObjectKind, name: string, policy: Record<string, unknown> | null): Promise<void>;
  /** Removes the object and all its versions. */
  purgeObject(vault: string, kind: ObjectKind, name: string): Promise<void>;
  /** Objects in name order after `afterName`, each with its latest version. */
  listObjects(vault: string, kind: ObjectKind, deleted: boolean, afterName: string | null, limit: number): Promise<VersionView[]>;
  /** Deleted objects whose purge date has come, soonest first. */
  listPurgeDue(kind: ObjectKind, now: number, limit: number): Promise<ObjectRecord[]>;

  insertVersion(version: VersionRecord | Omit<VersionRecord, "seq">): Promise<void>;
  getVersion(vault: string, kind: ObjectKind, name: string, version: string): Promise<VersionView | undefined>;
  getLatestVersion(vault: string, kind: ObjectKind, name: string): Promise<VersionView | undefined>;
  /** Versions in creation order after `afterSeq`. */
  listVersions(vault: string, kind: ObjectKind, name: string, afterSeq: number | null, limit: number): Promise<VersionRecord[]>;
  updateVersion(vault: string, kind: ObjectKind, name: string, version: string, patch: VersionPatch): Promise<void>;
}

export interface Store {
  /** Reads committed data. */
  read<T>(fn: (repo: Repo) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` in one transaction; resolves once it is durably committed. If `fn` throws,
   * nothing it wrote is kept. `fn` must await only repo calls (no network, no timers).
   */
  write<T>(fn: (repo: Repo) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

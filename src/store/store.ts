/**
 * The storage boundary. Engines (sqlite/, later postgres/) implement `Store`; everything
 * above it sees only these records and never SQL. Values arrive here already sealed.
 */
export type { ObjectKind } from "../kernel/kinds.ts";
import type { ObjectKind } from "../kernel/kinds.ts";

export interface VaultRecord {
  name: string;
  wrappedKey: Buffer;
  retentionDays: number;
  purgeProtection: boolean;
  /** Azure RBAC (true, the default) or access policies, like enableRbacAuthorization. */
  rbac: boolean;
  /** The vault's own throttling; null follows `serve --throttle`. */
  throttle?: "azure" | "off" | null;
  created: number;
}

export interface RoleAssignmentRecord {
  id: string;
  vault: string;
  /** The identity's object id. */
  principal: string;
  role: string;
  /** "/" for the vault, "/secrets/NAME" or "/keys/NAME" for one object (lower case). */
  scope: string;
  created: number;
}

/** A vault's setting that is not a versioned object: its certificate contacts, an issuer, a certificate's pending operation. */
export interface VaultSettingRecord {
  vault: string;
  kind: "contacts" | "issuer" | "operation";
  /** Lower-cased; "" for the one contacts list. */
  name: string;
  /** The setting's JSON, sealed under the vault's data key. */
  sealed: Buffer;
  created: number;
  updated: number;
}

export interface AccessPolicyRecord {
  vault: string;
  principal: string;
  secrets: string[];
  keys: string[];
  certificates: string[];
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
  /** The object's rotation policy: JSON the domain wrote, read back and checked by the domain (null: none). */
  policy: unknown;
  /** Versions beyond this many are pruned, oldest first; null keeps them all. */
  maxVersions: number | null;
}

export interface VersionFields {
  created: number;
  updated: number;
  enabled: boolean;
  nbf: number | null;
  exp: number | null;
  contentType: string | null;
  tags: Record<string, string> | null;
  /**
   * Public, kind-specific properties (for keys: the public JWK, key_ops, ...; for secrets,
   * the version a rotation replaced): JSON the domain wrote, read back and checked by it.
   */
  props: unknown;
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

/** What Repo.getObjectForWrite reads. */
export interface ObjectForWrite {
  /** The vault's wrapped data key; undefined if there is no such vault. */
  vaultKey: Buffer | undefined;
  /** The object, live or deleted. */
  object: ObjectRecord | undefined;
  latest: VersionView | undefined;
  /** Whether the vault has any event subscription. */
  subscribed: boolean;
  /** Whether the object has any schedule row. */
  scheduled: boolean;
}

export interface Repo {
  getMeta(key: string): Promise<string | undefined>;
  setMeta(key: string, value: string): Promise<void>;
  /** Sets `key` to `value` unless it has a value already; returns the value kept (the first one wins). */
  keepMeta(key: string, value: string): Promise<string>;
  deleteMeta(key: string): Promise<void>;

  getVault(name: string): Promise<VaultRecord | undefined>;
  listVaults(): Promise<VaultRecord[]>;
  insertVault(vault: VaultRecord): Promise<void>;
  /** Removes the vault and everything in it. */
  deleteVault(name: string): Promise<boolean>;

  getSetting(vault: string, kind: VaultSettingRecord["kind"], name: string): Promise<VaultSettingRecord | undefined>;
  /** A vault's settings of a kind, by name, `limit` after `after`. */
  listSettings(vault: string, kind: VaultSettingRecord["kind"], after: string | null, limit: number): Promise<VaultSettingRecord[]>;
  putSetting(setting: VaultSettingRecord): Promise<void>;
  deleteSetting(vault: string, kind: VaultSettingRecord["kind"], name: string): Promise<boolean>;

  setVaultRbac(name: string, rbac: boolean): Promise<void>;
  /** A vault's own throttling; undefined: none, the vault follows `serve --throttle`. */
  setVaultThrottle(name: string, throttle: "azure" | "off" | undefined): Promise<void>;
  setVaultPurgeProtection(name: string, purgeProtection: boolean): Promise<void>;

  insertIdentity(identity: IdentityRecord): Promise<void>;
  getIdentity(id: string): Promise<IdentityRecord | undefined>;
  updateIdentity(id: string, changes: { enabled?: boolean; secretHash?: string }): Promise<void>;
  /** Removes the identity with its role assignments and access policies. */
  deleteIdentity(id: string): Promise<void>;

  insertRoleAssignment(assignment: RoleAssignmentRecord): Promise<void>;
  listRoleAssignments(vault: string, principal: string | null): Promise<RoleAssignmentRecord[]>;
  /** Only an assignment of this vault. */
  deleteRoleAssignment(vault: string, id: string): Promise<boolean>;
  putAccessPolicy(policy: AccessPolicyRecord): Promise<void>;
  getAccessPolicy(vault: string, principal: string): Promise<AccessPolicyRecord | undefined>;
  listAccessPolicies(vault: string): Promise<AccessPolicyRecord[]>;
  deleteAccessPolicy(vault: string, principal: string): Promise<boolean>;
  /** The names of the vaults where the identity has a role assignment (any scope) or an access policy, in order. */
  listVaultsGranting(principal: string): Promise<string[]>;
  findIdentityBySecretHash(kind: IdentityKind, secretHash: string): Promise<IdentityRecord | undefined>;
  findIdentityByClientId(clientId: string): Promise<IdentityRecord | undefined>;
  findIdentityByName(name: string): Promise<IdentityRecord | undefined>;
  listIdentities(): Promise<IdentityRecord[]>;

  getObject(vault: string, kind: ObjectKind, name: string): Promise<ObjectRecord | undefined>;
  /** In one read, what a new version's write checks and what its planning needs to know. */
  getObjectForWrite(vault: string, kind: ObjectKind, name: string): Promise<ObjectForWrite>;
  insertObject(object: ObjectRecord): Promise<void>;
  setObjectDeleted(vault: string, kind: ObjectKind, name: string, deletedAt: number | null, purgeAt: number | null): Promise<void>;
  setObjectPolicy(vault: string, kind: ObjectKind, name: string, policy: unknown): Promise<void>;
  /** Removes the object and all its versions. */
  purgeObject(vault: string, kind: ObjectKind, name: string): Promise<void>;
  /** Objects in name order after `afterName`, each with its latest version. */
  listObjects(vault: string, kind: ObjectKind, deleted: boolean, afterName: string | null, limit: number): Promise<VersionView[]>;
  /** Deleted objects whose purge date has come, soonest first. */
  listPurgeDue(kind: ObjectKind, now: number, limit: number): Promise<ObjectRecord[]>;

  setObjectMaxVersions(vault: string, kind: ObjectKind, name: string, maxVersions: number | null): Promise<void>;
  deleteVersion(vault: string, kind: ObjectKind, name: string, version: string): Promise<void>;

  insertVersion(version: VersionRecord | Omit<VersionRecord, "seq">): Promise<void>;
  getVersion(vault: string, kind: ObjectKind, name: string, version: string): Promise<VersionView | undefined>;
  getLatestVersion(vault: string, kind: ObjectKind, name: string): Promise<VersionView | undefined>;
  /** Versions in creation order after `afterSeq`. */
  listVersions(vault: string, kind: ObjectKind, name: string, afterSeq: number | null, limit: number): Promise<VersionRecord[]>;
  updateVersion(vault: string, kind: ObjectKind, name: string, version: string, patch: VersionPatch): Promise<void>;

  listSchedule(vault: string, kind: ObjectKind, name: string): Promise<ScheduleRecord[]>;
  getSchedule(vault: string, kind: ObjectKind, name: string, action: string): Promise<ScheduleRecord | undefined>;
  putSchedule(entry: ScheduleRecord): Promise<void>;
  deleteSchedule(vault: string, kind: ObjectKind, name: string, action?: string): Promise<void>;
  /** Pending actions due by `now` and not leased to a process, soonest first. */
  listDueSchedule(now: number, limit: number): Promise<ScheduleRecord[]>;
  /** Pending actions (of one vault, or all), soonest first, with their object's name as written and any lease. */
  listPendingSchedule(vault: string | null, limit: number): Promise<PendingScheduleRecord[]>;
  /** Deleted objects (of one vault, or all) by their purge date, soonest first. */
  listScheduledPurges(vault: string | null, limit: number): Promise<ObjectRecord[]>;
  /**
   * Leases the action to the caller until `until` if it is still pending, as planned in
   * `entry`, and not leased to another process; false otherwise. putSchedule ends a lease.
   */
  leaseSchedule(entry: ScheduleRecord, now: number, until: number): Promise<boolean>;

  insertSubscription(subscription: SubscriptionRecord): Promise<void>;
  getSubscription(id: string): Promise<SubscriptionRecord | undefined>;
  listSubscriptions(vault: string | null): Promise<SubscriptionRecord[]>;
  /** Removes the subscription, what was still to be delivered to it, and its delivery history. */
  deleteSubscription(id: string): Promise<boolean>;
  updateSubscription(id: string, validated: boolean, attempts: number, nextAttemptAt: number): Promise<void>;
  /** Subscriptions still waiting for their validation handshake, due by `now`. */
  listSubscriptionsToValidate(now: number, limit: number): Promise<SubscriptionRecord[]>;

  insertEvent(event: Omit<EventRecord, "seq">): Promise<number>;
  insertDelivery(delivery: DeliveryRecord): Promise<void>;
  /** Due deliveries to validated subscriptions, each the oldest pending one of its object for its subscription. */
  listDueDeliveries(now: number, limit: number): Promise<DueDelivery[]>;
  /** Removes a delivered (or abandoned) delivery, and its event once nothing else waits for it. */
  deleteDelivery(subscription: string, eventSeq: number): Promise<void>;
  /** Records a failed attempt: the delivery is tried again at `attempt.nextAttemptAt`. */
  updateDelivery(subscription: string, eventSeq: number, attempt: DeliveryAttempt): Promise<void>;
  /** A subscription's deliveries still to be made, with their events, newest event first. */
  listPendingDeliveries(subscription: string, limit: number): Promise<DueDelivery[]>;
  /** Adds a delivery that ended to its subscription's history, which keeps only the newest `keep`. */
  recordDeliveryOutcome(outcome: DeliveryOutcomeRecord, keep: number): Promise<void>;
  /** A subscription's history of deliveries that ended, newest first. */
  listDeliveryHistory(subscription: string, limit: number): Promise<DeliveryHistoryRecord[]>;
  /** Deliveries still to be made, and how many of them have failed at least once (for metrics). */
  countDeliveries(): Promise<{ pending: number; failing: number }>;
  /** Moves a delivery's next attempt to `until`: a process has claimed it until then. */
  leaseDelivery(subscription: string, eventSeq: number, until: number): Promise<void>;
}

/** One lifetime action of an object, due at a time; `done` once carried out. */
export interface ScheduleRecord {
  vault: string;
  kind: ObjectKind;
  name: string;
  action: string;
  /** The version the action was planned for. */
  version: string;
  dueAt: number;
  done: boolean;
}

/** A pending action as the list of upcoming work shows it. */
export interface PendingScheduleRecord extends ScheduleRecord {
  /** The object's name as first written. */
  displayName: string;
  /** Until when a process has claimed it (it is being done), if one has. */
  leaseUntil: number | null;
}

export type EventSchema = "eventgrid" | "cloudevents";

export interface SubscriptionRecord {
  id: string;
  vault: string;
  endpoint: string;
  schema: EventSchema;
  /** Event types delivered (e.g. Microsoft.KeyVault.SecretNewVersionCreated); null for all. */
  types: string[] | null;
  /** Whether the endpoint answered the validation handshake. */
  validated: boolean;
  attempts: number;
  nextAttemptAt: number;
  created: number;
}

export interface EventRecord {
  seq: number;
  id: string;
  vault: string;
  eventType: string;
  subject: string;
  time: number;
  data: Record<string, unknown>;
}

/** An event on its way to one subscription. */
export interface DeliveryRecord {
  subscription: string;
  eventSeq: number;
  /** vault/kind/name: deliveries of one object go in order. */
  object: string;
  attempts: number;
  firstAttemptAt: number | null;
  nextAttemptAt: number;
  /** When it was last tried, what the endpoint answered (an HTTP status, if it answered) and why it failed. */
  lastAttemptAt: number | null;
  lastStatus: number | null;
  lastError: string | null;
}

/** The outcome of a failed attempt, kept on the delivery until it is tried again. */
export interface DeliveryAttempt {
  attempts: number;
  firstAttemptAt: number;
  nextAttemptAt: number;
  lastAttemptAt: number;
  lastStatus: number | null;
  lastError: string | null;
}

/** A delivery that has ended: delivered, or abandoned (refused with a 400 or 413, or given up after a day). */
export interface DeliveryOutcomeRecord {
  subscription: string;
  eventId: string;
  eventType: string;
  subject: string;
  eventTime: number;
  outcome: "delivered" | "abandoned";
  /** Attempts made, the last included. */
  attempts: number;
  lastAttemptAt: number;
  lastStatus: number | null;
  lastError: string | null;
}

export interface DeliveryHistoryRecord extends DeliveryOutcomeRecord {
  /** Insertion order: the newest is the highest. */
  seq: number;
}

export interface DueDelivery extends DeliveryRecord {
  event: EventRecord;
  target: SubscriptionRecord;
}

/**
 * What other processes may hold in a cache, announced when a transaction changes it:
 * vault settings, identities, grants (role assignments and access policies), and meta
 * values such as the dev clock.
 */
export type ChangeTopic = "vaults" | "identities" | "access" | "meta";

/** Told of a change of `topic`; a promise it returns (which must not reject) says when what it started, e.g. a refresh, is done. */
export type ChangeListener = (topic: ChangeTopic) => void | Promise<void>;

/** Why the store cannot serve: unreachable (down, restarting, connection lost), busy (locked), or out of disk space. */
export type UnavailableReason = "unreachable" | "busy" | "full";

const REASONS: Record<UnavailableReason, string> = {
  unreachable: "it cannot be reached",
  busy: "it stayed locked by another process",
  full: "the filesystem it writes to is full",
};

/**
 * The database cannot serve now: nothing about the request is wrong, and it may succeed
 * when retried. Engines throw it; HTTP answers 503 with Retry-After.
 */
export class StoreUnavailable extends Error {
  constructor(
    cause: unknown,
    readonly reason: UnavailableReason = "unreachable",
  ) {
    const code = (cause as { code?: unknown })?.code;
    super(`the database is unavailable: ${REASONS[reason]}${typeof code === "string" ? ` (${code})` : ""}`, { cause });
    this.name = "StoreUnavailable";
  }
}

/**
 * What one write transaction reads to decide and then changes: everything of one name in one
 * vault (an object of any kind, for a certificate's key and secret share its name, with its
 * versions, schedule and events). A write given its scope excludes only the writes of the
 * same scope (and the unscoped ones); a write without one excludes every other write, in
 * every process sharing the database.
 */
export interface WriteScope {
  vault: string;
  /** The canonical (lower-case) name. */
  name: string;
}

export interface Store {
  /** Reads committed data. */
  read<T>(fn: (repo: Repo) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` in one transaction; resolves once it is durably committed. If `fn` throws,
   * nothing it wrote is kept. `fn` must await only repo calls (no network, no timers), and
   * with a `scope` must read and write nothing outside it that another write could change.
   */
  write<T>(fn: (repo: Repo) => Promise<T>, scope?: WriteScope): Promise<T>;
  /**
   * Calls `listener` after a committed transaction changed `topic`, whichever process of
   * those sharing the database wrote it (this one included), so caches can drop stale
   * entries. A listener may also be called when nothing changed (e.g. after reconnecting).
   * A listener that returns a promise (a refresh under way) is waited for by syncChanges.
   */
  onChange(listener: ChangeListener): void;
  /**
   * Calls, now, the listeners of each topic another process changed since the last call,
   * where the engine has no other way to hear of it (SQLite: a CLI command, another worker);
   * so that a request that begins with it sees every change committed before it began.
   * Undefined when there was nothing to wait for (the common case, which allocates
   * nothing); else a promise settled when the listeners' promises have.
   */
  syncChanges(): Promise<void> | undefined;
  close(): Promise<void>;
}

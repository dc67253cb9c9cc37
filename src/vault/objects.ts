import type { Keyring } from "../crypto/envelope.ts";
import type { ObjectKind, Repo, Store, VersionPatch, VersionRecord, VersionView, WriteScope } from "../store/store.ts";
import { nowSeconds, type Clock } from "../kernel/clock.ts";
import { badParameter, conflict, forbidden, notFound, type KvError } from "../kernel/errors.ts";
import { KINDS } from "../kernel/kinds.ts";
import { noLifecycle, type Lifecycle, type PlannedPolicy } from "./lifecycle.ts";
import { canonicalName, canonicalVersion, newVersionId } from "./names.ts";
import type { Vault } from "./vaults.ts";
import type { ObjectOf, Version } from "./versions.ts";

/**
 * What differs between the kinds in the rules they share: names, and the shapes of what a
 * kind keeps in a version's props and its object's rotation policy. Stored shapes are read
 * back through `props` and `policy`, which check them, so the domain needs no casts.
 */
export interface KindRules<P, Q> {
  kind: ObjectKind;
  notFoundCode: string;
  backupPrefix: string;
  /** A version's props as stored (JSON the kind wrote), checked. */
  props(stored: unknown): P;
  /** An object's rotation policy as stored, checked; undefined when none was set. */
  policy(stored: unknown): Q | undefined;
  /** Whether a version belongs to a certificate (its backing key or secret): then only the certificate changes it. */
  managed?(props: P): boolean;
}

export interface VersionFieldsInput {
  enabled?: boolean;
  nbf?: number | null;
  exp?: number | null;
  contentType?: string | null;
  tags?: Record<string, string> | null;
}

/** A new version: its fields and its kind's props. */
export interface VersionInput<P> extends VersionFieldsInput {
  props: P;
}

/** A change to a version: fields, and props merged member by member. */
export interface VersionUpdate<P> extends VersionFieldsInput {
  props?: Partial<P>;
}

/** Hooks a caller can run inside the transaction that adds a version. */
export interface CreateOptions<P, Q> {
  /** Runs first; throwing cancels the write (the scheduler checks its action is still due). */
  guard?: (repo: Repo) => Promise<void>;
  /** The object's policy from this version on, set before its actions are planned (a certificate's comes with each create). */
  policy?: Q;
  /** Runs after the version is added (secret rotation disables or schedules the previous one). */
  after?: (repo: Repo, created: Version<P, Q>, previous: Version<P, Q> | undefined) => Promise<void>;
}

/** A version sealed and ready to be written (VersionedObjects.prepare). */
export interface PreparedVersion<P> {
  vault: Vault;
  /** As the caller wrote it, and canonical. */
  name: string;
  key: string;
  version: string;
  input: VersionInput<P>;
  sealed: Buffer;
}

/** Thrown out of a rehearsed transaction to roll it back, carrying what it would have done. */
class Rehearsal extends Error {
  constructor(readonly doomed: string[]) {
    super("rehearsal");
  }
}

export interface Page<T> {
  items: T[];
  /** Opaque to callers; hand it back to get the next page. Absent on the last page. */
  cursor?: string;
}

const MAX_TAGS = 15;
const MAX_TAG_NAME = 512;
const MAX_TAG_VALUE = 256;

export function validateTags(tags: Record<string, string> | null | undefined): void {
  if (!tags) return;
  const entries = Object.entries(tags);
  if (entries.length > MAX_TAGS) throw badParameter(`At most ${MAX_TAGS} tags are allowed.`);
  for (const [k, v] of entries) {
    if (k.length === 0 || k.length > MAX_TAG_NAME) throw badParameter(`A tag name must have 1 to ${MAX_TAG_NAME} characters.`);
    if (typeof v !== "string" || v.length > MAX_TAG_VALUE) {
      throw badParameter(`The value of tag '${k}' must be a string of at most ${MAX_TAG_VALUE} characters.`);
    }
  }
}

/** What a version is, wherever it is kept: everything but its place and its sealed payload. */
type PortableVersion = Omit<VersionRecord, "vault" | "kind" | "name" | "seq" | "sealed">;

const portableFields = (v: PortableVersion): PortableVersion => ({
  version: v.version,
  created: v.created,
  updated: v.updated,
  enabled: v.enabled,
  nbf: v.nbf,
  exp: v.exp,
  contentType: v.contentType,
  tags: v.tags,
  props: v.props,
});

interface BackupVersion extends PortableVersion {
  payload: string;
}

export interface BackupDocument {
  kind: ObjectKind;
  name: string;
  policy?: unknown;
  maxVersions?: number | null;
  versions: BackupVersion[];
}

/**
 * The rules secrets and keys share: versions, soft delete, recovery, purge, backup and
 * paging. SecretService and KeyService add only what is theirs (values, key material).
 * Payloads (a secret's value, a key's private material) are sealed under the vault's data
 * key with the vault, kind, name and version as associated data.
 */
export class VersionedObjects<P, Q extends PlannedPolicy> {
  constructor(
    readonly rules: KindRules<P, Q>,
    private readonly store: Store,
    private readonly keyring: Keyring,
    private readonly clock: Clock,
    private readonly lifecycle: Lifecycle = noLifecycle,
  ) {}

  private get names() {
    return KINDS[this.rules.kind];
  }

  private aad(vault: string, name: string, version: string): string {
    return `lockbox/v1/${vault}/${this.rules.kind}/${name}/${version}`;
  }

  /** A stored version as this kind reads it. */
  private typed(view: VersionView): Version<P, Q> {
    return { ...view, props: this.rules.props(view.props), object: this.typedObject(view.object) };
  }

  private typedObject(object: VersionView["object"]): ObjectOf<Q> {
    return { ...object, policy: this.rules.policy(object.policy) };
  }

  private notFound(name: string, version?: string): KvError {
    const id = version ? `${name}/${version}` : name;
    const n = this.names.noun;
    return notFound(
      this.rules.notFoundCode,
      `A ${n} with (name/id) ${id} was not found in this key vault. If you recently deleted this ${n} you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
    );
  }

  private isManaged(v: Version<P, Q>): boolean {
    return this.rules.managed?.(v.props) ?? false;
  }

  /** Azure's answer to a change of a certificate's key or secret made directly. */
  private managedError(op: string): KvError {
    return forbidden(
      `Operation "${op}" is not allowed as this object's lifetime is managed by Key Vault.`,
      `${this.names.Noun}ManagedByKeyVault`,
    );
  }

  private unmanaged(v: Version<P, Q>, op: string): Version<P, Q> {
    if (this.isManaged(v)) throw this.managedError(op);
    return v;
  }

  private deletedNotFound(name: string): KvError {
    return notFound(this.rules.notFoundCode, `Deleted ${this.names.Noun} not found: ${name}`);
  }

  private isDeletedButRecoverable(name: string): KvError {
    return conflict(
      `${this.names.Noun} ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the ${this.names.noun} can only be recovered or purged.`,
      "ObjectIsDeletedButRecoverable",
    );
  }

  /**
   * A new version made ready to be written: its id chosen (or given: a certificate's backing
   * key and secret share its version id) and its payload sealed, outside any transaction.
   */
  prepare(vault: Vault, name: string, payload: Buffer, input: VersionInput<P>, version: string = newVersionId()): PreparedVersion<P> {
    validateTags(input.tags);
    const key = canonicalName(name);
    return { vault, name, key, version, input, sealed: this.keyring.seal(vault, this.aad(vault.name, key, version), payload) };
  }

  /** Adds a version (creating the object on first use) and returns it. */
  create(vault: Vault, name: string, payload: Buffer, input: VersionInput<P>, options: CreateOptions<P, Q> = {}): Promise<Version<P, Q>> {
    const prepared = this.prepare(vault, name, payload, input);
    return this.store.write((repo) => this.createIn(repo, prepared, options), { vault: vault.name, name: prepared.key });
  }

  /** Adds a prepared version in the caller's write transaction (one certificate version writes three). */
  async createIn(repo: Repo, prepared: PreparedVersion<P>, options: CreateOptions<P, Q> = {}): Promise<Version<P, Q>> {
    const { vault, name, key, version, input, sealed } = prepared;
    const now = nowSeconds(this.clock);
    const found = await repo.getObjectForWrite(vault.name, this.rules.kind, key);
    checkVaultKey(found.vaultKey, vault);
    await options.guard?.(repo);
    let object = found.object;
    if (object?.deletedAt != null) throw this.isDeletedButRecoverable(name);
    const previous = object ? found.latest : undefined;
    if (previous && this.isManaged(this.typed(previous)) && !this.rules.managed?.(input.props)) throw this.managedError("set");
    if (!object) {
      object = {
        vault: vault.name,
        kind: this.rules.kind,
        name: key,
        displayName: name,
        deletedAt: null,
        purgeAt: null,
        policy: null,
        maxVersions: null,
      };
      await repo.insertObject(object);
    }
    if (options.policy !== undefined) {
      await repo.setObjectPolicy(vault.name, this.rules.kind, key, options.policy);
      object = { ...object, policy: options.policy };
    }
    const record: Omit<VersionRecord, "seq"> = {
      vault: vault.name,
      kind: this.rules.kind,
      name: key,
      version,
      created: now,
      updated: now,
      enabled: input.enabled ?? true,
      nbf: input.nbf ?? null,
      exp: input.exp ?? null,
      contentType: input.contentType ?? null,
      tags: input.tags ?? null,
      props: input.props,
      sealed,
    };
    await repo.insertVersion(record);
    const created: Version<P, Q> = { ...record, props: input.props, seq: 0, object: this.typedObject(object) };
    if (object.maxVersions !== null) await this.keepNewest(repo, object.vault, key, object.maxVersions);
    await options.after?.(repo, created, previous && this.typed(previous));
    await this.lifecycle.versionCreated(repo, created, { subscribed: found.subscribed, scheduled: found.scheduled });
    return created;
  }

  /** Destroys the oldest versions beyond `keep`; the current version always stays. */
  private async keepNewest(repo: Repo, vault: string, key: string, keep: number): Promise<string[]> {
    const all = await repo.listVersions(vault, this.rules.kind, key, null, Number.MAX_SAFE_INTEGER);
    const doomed = all.slice(0, Math.max(0, all.length - Math.max(1, keep))).map((v) => v.version);
    for (const v of doomed) await repo.deleteVersion(vault, this.rules.kind, key, v);
    return doomed;
  }

  private async find(repo: Repo, vault: Vault, name: string, version?: string): Promise<Version<P, Q>> {
    const key = canonicalName(name);
    const v = canonicalVersion(version);
    const found = v
      ? await repo.getVersion(vault.name, this.rules.kind, key, v)
      : await repo.getLatestVersion(vault.name, this.rules.kind, key);
    if (!found || found.object.deletedAt != null) throw this.notFound(name, version || undefined);
    return this.typed(found);
  }

  private changed(repo: Repo, vault: string, key: string, latest: Version<P, Q> | undefined): Promise<void> {
    return this.lifecycle.objectChanged(repo, { vault, kind: this.rules.kind, name: key }, latest);
  }

  /** A live version; an empty or absent version means the latest. */
  get(vault: Vault, name: string, version?: string): Promise<Version<P, Q>> {
    return this.store.read((repo) => this.find(repo, vault, name, version));
  }

  /** Decrypts a version's payload. */
  open(vault: Vault, view: Pick<VersionRecord, "vault" | "name" | "version" | "sealed">): Buffer {
    return this.keyring.open(vault, this.aad(view.vault, view.name, view.version), view.sealed);
  }

  /** Changes a version's properties; absent fields stay as they are, and `props` are merged member by member. */
  async update(vault: Vault, name: string, version: string | undefined, input: VersionUpdate<P>): Promise<Version<P, Q>> {
    validateTags(input.tags);
    return this.store.write(
      async (repo) => {
        const found = this.unmanaged(await this.find(repo, vault, name, version), "update");
        return this.updateIn(repo, found, input, canonicalVersion(version) === undefined);
      },
      scopeOf(vault.name, name),
    );
  }

  /**
   * Changes a found version's properties in the caller's transaction (a certificate changes
   * its key's and secret's with its own). `current`: the version is known to be the latest.
   */
  async updateIn(repo: Repo, found: Version<P, Q>, input: VersionUpdate<P>, current = false): Promise<Version<P, Q>> {
    const patch: VersionPatch = { updated: nowSeconds(this.clock) };
    if (input.enabled !== undefined) patch.enabled = input.enabled;
    if (input.nbf !== undefined) patch.nbf = input.nbf;
    if (input.exp !== undefined) patch.exp = input.exp;
    if (input.contentType !== undefined) patch.contentType = input.contentType;
    if (input.tags !== undefined) patch.tags = input.tags;
    const props: P = input.props ? { ...found.props, ...input.props } : found.props;
    if (input.props) patch.props = props;
    await repo.updateVersion(found.vault, this.rules.kind, found.name, found.version, patch);
    const updated: Version<P, Q> = { ...found, ...patch, props };
    // Plans follow the current version only: a change to an older one changes none.
    if (current || (await repo.getLatestVersion(found.vault, this.rules.kind, found.name))?.version === found.version) {
      await this.changed(repo, found.vault, found.name, updated);
    }
    return updated;
  }

  /** Runs `fn` in one write transaction of `scope`, with this kind's view of an object's current version. */
  inTransaction<T>(
    scope: WriteScope,
    fn: (repo: Repo, latestOf: (vault: string, name: string) => Promise<Version<P, Q> | undefined>) => Promise<T>,
  ): Promise<T> {
    return this.store.write((repo) => fn(repo, (vault, name) => this.latestIn(repo, vault, name)), scope);
  }

  /** Whether a live object of this name is the caller's own, not a certificate's (a certificate cannot take its name). */
  async holdsUnmanagedIn(repo: Repo, vault: string, name: string): Promise<boolean> {
    const latest = await this.latestIn(repo, vault, name);
    return latest !== undefined && !this.isManaged(latest);
  }

  /** The current version of a live object (by canonical name), in the caller's transaction. */
  async latestIn(repo: Repo, vault: string, name: string): Promise<Version<P, Q> | undefined> {
    const latest = await repo.getLatestVersion(vault, this.rules.kind, name);
    return latest && latest.object.deletedAt == null ? this.typed(latest) : undefined;
  }

  /** Disables one version, in the caller's transaction (a rotation ending its predecessor's overlap). */
  async disableIn(repo: Repo, vault: string, name: string, version: string): Promise<void> {
    const found = await repo.getVersion(vault, this.rules.kind, name, version);
    if (found?.enabled)
      await repo.updateVersion(vault, this.rules.kind, name, version, { enabled: false, updated: nowSeconds(this.clock) });
  }

  /** The live object's rotation policy (undefined if none was set) and its name as first written, in one read. */
  async getPolicy(vault: Vault, name: string): Promise<{ displayName: string; policy: Q | undefined }> {
    const found = await this.get(vault, name);
    return { displayName: found.object.displayName, policy: found.object.policy };
  }

  /** Replaces the live object's rotation policy with what `make` returns from the previous one. */
  setPolicy(vault: Vault, name: string, make: (previous: Q | undefined) => Q): Promise<{ displayName: string; policy: Q }> {
    return this.store.write(
      async (repo) => {
        const found = await this.find(repo, vault, name);
        this.unmanaged(found, "setRotationPolicy");
        const policy = make(found.object.policy);
        await repo.setObjectPolicy(vault.name, this.rules.kind, found.name, policy);
        await this.changed(repo, vault.name, found.name, { ...found, object: { ...found.object, policy } });
        return { displayName: found.object.displayName, policy };
      },
      scopeOf(vault.name, name),
    );
  }

  async list(vault: Vault, limit: number, cursor?: string): Promise<Page<Version<P, Q>>> {
    const rows = await this.store.read((repo) => repo.listObjects(vault.name, this.rules.kind, false, cursor ?? null, limit + 1));
    return pageOf(
      rows.map((r) => this.typed(r)),
      limit,
      (last) => last.name,
    );
  }

  async listDeleted(vault: Vault, limit: number, cursor?: string): Promise<Page<Version<P, Q>>> {
    const rows = await this.store.read((repo) => repo.listObjects(vault.name, this.rules.kind, true, cursor ?? null, limit + 1));
    return pageOf(
      rows.map((r) => this.typed(r)),
      limit,
      (last) => last.name,
    );
  }

  /** Every version of a live object, oldest first. An unknown name has no versions. */
  async listVersions(vault: Vault, name: string, limit: number, cursor?: string): Promise<Page<Version<P, Q>>> {
    const key = canonicalName(name);
    const afterSeq = cursor === undefined ? null : Number(cursor);
    if (afterSeq !== null && !Number.isSafeInteger(afterSeq)) throw badParameter("The skip token is invalid.");
    return this.store.read(async (repo) => {
      const object = await repo.getObject(vault.name, this.rules.kind, key);
      if (!object || object.deletedAt != null) return { items: [] };
      const rows = await repo.listVersions(vault.name, this.rules.kind, key, afterSeq, limit + 1);
      return pageOf(
        rows.map((r) => this.typed({ ...r, object })),
        limit,
        (last) => String(last.seq),
      );
    });
  }

  /** Soft delete: the object and all its versions move to the deleted state. */
  delete(vault: Vault, name: string): Promise<Version<P, Q>> {
    return this.store.write(
      async (repo) => this.deleteIn(repo, this.unmanaged(await this.find(repo, vault, name), "delete"), vault),
      scopeOf(vault.name, name),
    );
  }

  /** Soft-deletes the object of `latest` (its current version) in the caller's transaction (a certificate deletes its key and secret so). */
  async deleteIn(repo: Repo, latest: Version<P, Q>, vault: Vault): Promise<Version<P, Q>> {
    const now = nowSeconds(this.clock);
    const purgeAt = now + vault.retentionDays * 86400;
    await repo.setObjectDeleted(vault.name, this.rules.kind, latest.name, now, purgeAt);
    await this.changed(repo, vault.name, latest.name, undefined);
    return { ...latest, object: { ...latest.object, deletedAt: now, purgeAt } };
  }

  /** A live version (the current one unless `version` names another), in the caller's transaction. */
  findIn(repo: Repo, vault: Vault, name: string, version?: string): Promise<Version<P, Q>> {
    return this.find(repo, vault, name, version);
  }

  /** The current version of a deleted object, in the caller's transaction. */
  findDeletedIn(repo: Repo, vault: Vault, name: string): Promise<Version<P, Q>> {
    return this.findDeleted(repo, vault, name);
  }

  private async findDeleted(repo: Repo, vault: Vault, name: string): Promise<Version<P, Q>> {
    const key = canonicalName(name);
    const latest = await repo.getLatestVersion(vault.name, this.rules.kind, key);
    if (!latest || latest.object.deletedAt == null) throw this.deletedNotFound(name);
    return this.typed(latest);
  }

  getDeleted(vault: Vault, name: string): Promise<Version<P, Q>> {
    return this.store.read((repo) => this.findDeleted(repo, vault, name));
  }

  recover(vault: Vault, name: string): Promise<Version<P, Q>> {
    return this.store.write(
      async (repo) => this.recoverIn(repo, this.unmanaged(await this.findDeleted(repo, vault, name), "recover"), vault),
      scopeOf(vault.name, name),
    );
  }

  /** Recovers the deleted object of `latest`, in the caller's transaction. */
  async recoverIn(repo: Repo, latest: Version<P, Q>, vault: Vault): Promise<Version<P, Q>> {
    await repo.setObjectDeleted(vault.name, this.rules.kind, latest.name, null, null);
    const recovered: Version<P, Q> = { ...latest, object: { ...latest.object, deletedAt: null, purgeAt: null } };
    await this.changed(repo, vault.name, latest.name, recovered);
    return recovered;
  }

  /**
   * Destroys old versions for good, beyond Azure (whose delete takes the whole object):
   * the named ones, or all but the newest `keep`. The current version is never destroyed.
   * Returns the versions destroyed. With `dryRun`, the same transaction is rolled back: the
   * versions it would destroy, by the very same rules, and nothing changed.
   */
  async prune(vault: Vault, name: string, which: { keep?: number; versions?: string[]; dryRun?: boolean }): Promise<string[]> {
    if (which.keep !== undefined && (!Number.isInteger(which.keep) || which.keep < 1)) {
      throw badParameter("keep must be a whole number of versions, at least 1: the current version always stays.");
    }
    const pruning = this.store.write(
      async (repo) => {
        const latest = this.unmanaged(await this.find(repo, vault, name), "prune");
        let doomed: string[] = [];
        if (which.versions) {
          for (const v of which.versions.map((x) => x.toLowerCase())) {
            if (v === latest.version) throw badParameter(`Version ${v} is the current version of ${name}; it cannot be pruned.`);
            if (!(await repo.getVersion(vault.name, this.rules.kind, latest.name, v))) throw this.notFound(name, v);
            await repo.deleteVersion(vault.name, this.rules.kind, latest.name, v);
            doomed.push(v);
          }
        }
        if (which.keep !== undefined) doomed = doomed.concat(await this.keepNewest(repo, vault.name, latest.name, which.keep));
        if (which.dryRun) throw new Rehearsal(doomed); // rolls the transaction back
        await this.changed(repo, vault.name, latest.name, latest);
        return doomed;
      },
      scopeOf(vault.name, name),
    );
    return pruning.catch((e: unknown) => {
      if (e instanceof Rehearsal) return e.doomed;
      throw e;
    });
  }

  /** Keeps at most `max` versions from now on (null: all), pruning the oldest at once. */
  async setMaxVersions(vault: Vault, name: string, max: number | null): Promise<string[]> {
    if (max !== null && (!Number.isInteger(max) || max < 1)) throw badParameter("maxVersions must be a whole number, at least 1.");
    return this.store.write(
      async (repo) => {
        const latest = this.unmanaged(await this.find(repo, vault, name), "setMaxVersions");
        await repo.setObjectMaxVersions(vault.name, this.rules.kind, latest.name, max);
        return max === null ? [] : this.keepNewest(repo, vault.name, latest.name, max);
      },
      scopeOf(vault.name, name),
    );
  }

  async purge(vault: Vault, name: string): Promise<void> {
    await this.store.write(
      async (repo) => this.purgeIn(repo, this.unmanaged(await this.findDeleted(repo, vault, name), "purge"), vault),
      scopeOf(vault.name, name),
    );
  }

  /** Purges the deleted object of `latest`, in the caller's transaction. */
  async purgeIn(repo: Repo, latest: Version<P, Q>, vault: Vault): Promise<void> {
    if (vault.purgeProtection) {
      throw forbidden(
        'Operation "purge" is not allowed because purge protection is enabled for this vault. Key Vault service will automatically purge it after the retention period has passed.',
      );
    }
    await repo.purgeObject(vault.name, this.rules.kind, latest.name);
  }

  /** Permanently removes deleted objects whose retention has run out. Returns how many. */
  async purgeDue(limit = 100): Promise<number> {
    const now = nowSeconds(this.clock);
    // A read first: most runs find nothing, and then take no write lock.
    if ((await this.store.read((repo) => repo.listPurgeDue(this.rules.kind, now, 1))).length === 0) return 0;
    return this.store.write(async (repo) => {
      const due = await repo.listPurgeDue(this.rules.kind, now, limit);
      for (const o of due) await repo.purgeObject(o.vault, o.kind, o.name);
      return due.length;
    });
  }

  /** All versions with their payloads, sealed under the instance's backup key. */
  async backup(vault: Vault, name: string): Promise<Buffer> {
    const doc = await this.store.read((repo) => this.backupIn(repo, vault, name));
    return this.sealBackup(doc, this.rules.backupPrefix, this.rules.kind);
  }

  /** The backup document of an object, read in the caller's transaction (a certificate's holds its key's and secret's). */
  async backupIn(repo: Repo, vault: Vault, name: string): Promise<BackupDocument> {
    const latest = await this.find(repo, vault, name);
    const versions = await repo.listVersions(vault.name, this.rules.kind, latest.name, null, Number.MAX_SAFE_INTEGER);
    return {
      kind: this.rules.kind,
      name: latest.object.displayName,
      policy: latest.object.policy ?? null,
      maxVersions: latest.object.maxVersions,
      versions: versions.map((v) => ({ ...portableFields(v), payload: this.open(vault, v).toString("base64") })),
    };
  }

  /** A document sealed under the instance's backup key, behind a prefix saying what it is. */
  sealBackup(doc: unknown, prefix: string, what: string): Buffer {
    const sealed = this.keyring.sealBackup(Buffer.from(JSON.stringify(doc)), `lockbox/v1/backup/${what}`);
    return Buffer.concat([Buffer.from(prefix, "ascii"), sealed]);
  }

  /** The document of a blob sealBackup made; BadParameter for anything else. */
  openBackup<T>(blob: Buffer, prefix: string, what: string): T {
    const head = Buffer.from(prefix, "ascii");
    try {
      if (!blob.subarray(0, head.length).equals(head)) throw new Error("prefix");
      return JSON.parse(this.keyring.openBackup(blob.subarray(head.length), `lockbox/v1/backup/${what}`).toString("utf8")) as T;
    } catch {
      throw badParameter(`The backup blob is invalid: it is corrupt, or was not made by this Lockbox instance for a ${this.names.noun}.`);
    }
  }

  /** Restores a backup into `vault` under its original name and version ids. */
  async restore(vault: Vault, blob: Buffer): Promise<Version<P, Q>> {
    const prepared = this.prepareRestore(vault, this.openBackup<BackupDocument>(blob, this.rules.backupPrefix, this.rules.kind));
    return this.store.write((repo) => this.restoreIn(repo, vault, prepared), { vault: vault.name, name: prepared.key });
  }

  /** A backup document's versions sealed for `vault`, outside any transaction. */
  prepareRestore(vault: Vault, doc: BackupDocument): PreparedRestore {
    if (doc.kind !== this.rules.kind || !Array.isArray(doc.versions) || doc.versions.length === 0) {
      throw badParameter(`The backup blob is invalid: it holds no ${this.names.noun}.`);
    }
    const key = canonicalName(doc.name);
    const records: Array<Omit<VersionRecord, "seq">> = doc.versions.map((v) => ({
      vault: vault.name,
      kind: this.rules.kind,
      name: key,
      ...portableFields(v),
      sealed: this.keyring.seal(vault, this.aad(vault.name, key, v.version), Buffer.from(v.payload, "base64")),
    }));
    return { doc, key, records };
  }

  /** Writes a prepared restore in the caller's transaction; the name must be free. */
  async restoreIn(repo: Repo, vault: Vault, { doc, key, records }: PreparedRestore): Promise<Version<P, Q>> {
    const found = await repo.getObjectForWrite(vault.name, this.rules.kind, key);
    checkVaultKey(found.vaultKey, vault);
    const existing = found.object;
    if (existing?.deletedAt != null) throw this.isDeletedButRecoverable(doc.name);
    if (existing) {
      throw conflict(
        `${this.names.Noun} ${doc.name} already exists in this vault; a backup can only be restored under a name that is not in use.`,
      );
    }
    const object = {
      vault: vault.name,
      kind: this.rules.kind,
      name: key,
      displayName: doc.name,
      deletedAt: null,
      purgeAt: null,
      policy: doc.policy ?? null,
      maxVersions: doc.maxVersions ?? null,
    };
    await repo.insertObject(object);
    for (const r of records) await repo.insertVersion(r);
    const latest = this.typed({ ...records[records.length - 1]!, seq: 0, object });
    await this.changed(repo, vault.name, key, latest);
    return latest;
  }
}

/** A backup's versions sealed for the vault they are restored into. */
export interface PreparedRestore {
  doc: BackupDocument;
  key: string;
  records: Array<Omit<VersionRecord, "seq">>;
}

/**
 * Values are sealed before the transaction, under the data key the request saw (`vault`). If
 * the vault was deleted and made again meanwhile, that key (`current`, in the transaction) is
 * gone: refuse rather than store what nothing could open.
 */
function checkVaultKey(current: Buffer | undefined, vault: Vault): void {
  if (!current?.equals(vault.wrappedKey)) {
    throw conflict(`The vault '${vault.name}' was deleted or made again while this request was in flight; retry the request.`);
  }
}

/** The write scope of a name in a vault (store.ts WriteScope): its canonical form. */
export const scopeOf = (vault: string, name: string): WriteScope => ({ vault, name: canonicalName(name) });

function pageOf<T>(rows: T[], limit: number, cursorOf: (last: T) => string): Page<T> {
  if (rows.length <= limit) return { items: rows };
  const items = rows.slice(0, limit);
  return { items, cursor: cursorOf(items[items.length - 1]!) };
}

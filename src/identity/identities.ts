import { createHash, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import type { IdentityKind, IdentityRecord, Store } from "../store/store.ts";
import { TtlCache, type CacheObserver } from "../kernel/cache.ts";
import { nowSeconds, type Clock } from "../kernel/clock.ts";
import { badParameter, conflict, notFound } from "../kernel/errors.ts";

const ACTIVE_CACHE_MS = 5000;

const hash = (credential: string): string => createHash("sha256").update(credential, "utf8").digest("hex");
const newCredential = (): string => randomBytes(32).toString("base64url");
const IDENTITY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** An identity's name: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit. */
export function checkIdentityName(name: string): void {
  if (!IDENTITY_NAME.test(name)) {
    throw badParameter(`The identity name '${name}' is invalid: use 1-64 letters, digits, '.', '_' or '-'.`);
  }
}

export interface NewIdentity {
  identity: IdentityRecord;
  /** Shown once: the managed identity's header value, or the service principal's client secret. */
  credential: string;
}

/**
 * Managed identities (authenticated by the App Service header value) and service
 * principals (client id + secret). Only a hash of each credential is stored.
 */
export class Identities {
  private readonly active: TtlCache<string, IdentityRecord | undefined>;

  /** Drops what is cached: an identity was changed (perhaps by another process). */
  forget(): void {
    this.active.clear();
  }

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    observeCache?: CacheObserver,
  ) {
    this.active = new TtlCache(clock, ACTIVE_CACHE_MS, undefined, (hit) => observeCache?.("identities", hit));
  }

  async create(name: string, kind: IdentityKind, options: { admin?: boolean } = {}): Promise<NewIdentity> {
    const made = this.prepare(name, kind, options);
    await this.store.write(async (repo) => {
      if (await repo.findIdentityByName(name)) throw conflict(`An identity named '${name}' already exists.`);
      await repo.insertIdentity(made.identity);
    });
    return made;
  }

  /** A new identity and its credential, for the caller to insert (e.g. with something else in one transaction). */
  prepare(name: string, kind: IdentityKind, options: { admin?: boolean } = {}): NewIdentity {
    checkIdentityName(name);
    const credential = newCredential();
    const identity: IdentityRecord = {
      id: randomUUID(),
      name,
      kind,
      clientId: randomUUID(),
      secretHash: hash(credential),
      enabled: true,
      admin: options.admin ?? false,
      created: nowSeconds(this.clock),
    };
    return { identity, credential };
  }

  list(): Promise<IdentityRecord[]> {
    return this.store.read((repo) => repo.listIdentities());
  }

  /** An identity by name, object id or client id. */
  async find(nameOrId: string): Promise<IdentityRecord> {
    const found = await this.store.read(
      async (repo) =>
        (await repo.findIdentityByName(nameOrId)) ?? (await repo.getIdentity(nameOrId)) ?? (await repo.findIdentityByClientId(nameOrId)),
    );
    if (!found) throw notFound("NotFound", `There is no identity '${nameOrId}'.`);
    return found;
  }

  async setEnabled(nameOrId: string, enabled: boolean): Promise<IdentityRecord> {
    const identity = await this.find(nameOrId);
    await this.store.write((repo) => repo.updateIdentity(identity.id, { enabled }));
    this.active.delete(identity.id);
    return { ...identity, enabled };
  }

  async delete(nameOrId: string): Promise<IdentityRecord> {
    const identity = await this.find(nameOrId);
    await this.store.write((repo) => repo.deleteIdentity(identity.id));
    this.active.delete(identity.id);
    return identity;
  }

  /** A new credential (header value or client secret); the old one stops working at once. */
  async rotateCredential(nameOrId: string): Promise<NewIdentity> {
    const identity = await this.find(nameOrId);
    const credential = newCredential();
    await this.store.write((repo) => repo.updateIdentity(identity.id, { secretHash: hash(credential) }));
    return { identity: { ...identity, secretHash: hash(credential) }, credential };
  }

  /**
   * Whether tokens of this identity still count: it exists and is enabled. Cached for a few
   * seconds, and forgotten when any process changes an identity (Store.onChange), so that
   * disabling or deleting one stops its tokens at the next request.
   */
  activeIdentity(id: string): Promise<IdentityRecord | undefined> {
    return this.active.through(id, async () => {
      const identity = await this.store.read((repo) => repo.getIdentity(id));
      return identity?.enabled ? identity : undefined;
    });
  }

  /** The enabled managed identity whose header value this is. */
  async authenticateManaged(headerValue: string): Promise<IdentityRecord | undefined> {
    const found = await this.store.read((repo) => repo.findIdentityBySecretHash("managed", hash(headerValue)));
    return found?.enabled ? found : undefined;
  }

  /** The enabled service principal with this client id and secret. */
  async authenticateClient(clientId: string, clientSecret: string): Promise<IdentityRecord | undefined> {
    const found = await this.store.read((repo) => repo.findIdentityByClientId(clientId));
    if (!found || found.kind !== "sp" || !found.enabled) return undefined;
    const given = Buffer.from(hash(clientSecret), "hex");
    return timingSafeEqual(given, Buffer.from(found.secretHash, "hex")) ? found : undefined;
  }
}

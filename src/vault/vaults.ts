import type { Keyring } from "../crypto/envelope.ts";
import type { Store, VaultRecord } from "../store/store.ts";
import { TtlCache, type CacheObserver } from "../kernel/cache.ts";
import { nowSeconds, type Clock } from "../kernel/clock.ts";
import { badParameter, conflict, vaultNotFound } from "../kernel/errors.ts";
import { canonicalVaultName } from "./names.ts";

export interface Vault {
  name: string;
  /** The vault's data key, wrapped by the root key; a vault made again under the same name has a new one. */
  wrappedKey: Buffer;
  retentionDays: number;
  purgeProtection: boolean;
  /** Azure's recoveryLevel for this vault's soft-delete settings. */
  recoveryLevel: string;
  /** Azure RBAC (true) or access policies (false) decide who may do what. */
  rbac: boolean;
  /** Its own throttling (`--throttle` for this vault only); undefined follows the server's. */
  throttle?: "azure" | "off";
}

export interface VaultOptions {
  retentionDays?: number;
  purgeProtection?: boolean;
  /** false: access policies instead of Azure RBAC. */
  rbac?: boolean;
}

/** What `Vaults.update` may change; what is absent stays as it is. */
export interface VaultChanges {
  rbac?: boolean;
  /** This vault's throttling, whatever `serve --throttle` says; "server" drops it, so that the vault follows the server's again. */
  throttle?: "azure" | "off" | "server";
  /** true turns purge protection on; false is refused once it is on (Azure's rule). */
  purgeProtection?: boolean;
}

/** Azure's answer to enablePurgeProtection false on a vault that has it. */
const purgeProtectionIrreversible = () =>
  badParameter("Purge protection cannot be disabled once it is enabled: enabling purge protection for a vault is an irreversible action.");

export const DEFAULT_RETENTION_DAYS = 90;
/** The vault every instance has from its first start, served at https://default.{dns-suffix} and https://localhost. */
export const DEFAULT_VAULT = "default";
const CACHE_MS = 1000;

/** A vault's soft-delete retention: a whole number of days from 7 to 90. */
export function checkRetentionDays(days: number): number {
  if (!Number.isInteger(days) || days < 7 || days > 90) {
    throw badParameter("The soft-delete retention period must be a whole number of days from 7 to 90.");
  }
  return days;
}

function toVault(r: VaultRecord): Vault {
  const base = r.retentionDays === 90 ? "Recoverable" : "CustomizedRecoverable";
  return {
    name: r.name,
    wrappedKey: r.wrappedKey,
    retentionDays: r.retentionDays,
    purgeProtection: r.purgeProtection,
    recoveryLevel: r.purgeProtection ? base : `${base}+Purgeable`,
    rbac: r.rbac,
    ...(r.throttle ? { throttle: r.throttle } : {}),
  };
}

/** The vaults of this instance. Lookups are cached briefly: vault settings change rarely. */
export class Vaults {
  private readonly cache: TtlCache<string, Vault | undefined>;

  /** Drops what is cached: a vault was changed (perhaps by another process). */
  forget(): void {
    this.cache.clear();
  }

  constructor(
    private readonly store: Store,
    private readonly keyring: Keyring,
    private readonly clock: Clock,
    observeCache?: CacheObserver,
  ) {
    this.cache = new TtlCache(clock, CACHE_MS, undefined, (hit) => observeCache?.("vaults", hit));
  }

  async create(name: string, options: VaultOptions = {}): Promise<Vault> {
    const key = canonicalVaultName(name);
    const retentionDays = checkRetentionDays(options.retentionDays ?? DEFAULT_RETENTION_DAYS);
    const record: VaultRecord = {
      name: key,
      wrappedKey: this.keyring.newWrappedDataKey(key),
      retentionDays,
      purgeProtection: options.purgeProtection ?? false,
      rbac: options.rbac ?? true,
      created: nowSeconds(this.clock),
    };
    await this.store.write(async (repo) => {
      if (await repo.getVault(key)) throw conflict(`A vault named '${key}' already exists.`);
      await repo.insertVault(record);
    });
    return toVault(record);
  }

  async list(): Promise<Vault[]> {
    return (await this.store.read((repo) => repo.listVaults())).map(toVault);
  }

  async delete(name: string): Promise<void> {
    const key = name.toLowerCase();
    const removed = await this.store.write((repo) => repo.deleteVault(key));
    if (!removed) throw vaultNotFound(key);
    this.cache.delete(key);
    this.keyring.forget(key);
  }

  /** Switches the vault between Azure RBAC and access policies (Azure's enableRbacAuthorization). */
  async setRbac(name: string, rbac: boolean): Promise<void> {
    await this.update(name, { rbac });
  }

  /**
   * Changes a vault's settings in one transaction: its authorization model, and purge
   * protection, which may be turned on but, as in Azure, never off again.
   */
  async update(name: string, changes: VaultChanges): Promise<Vault> {
    const key = name.toLowerCase();
    const updated = await this.store.write(async (repo) => {
      const record = await repo.getVault(key);
      if (!record) throw vaultNotFound(key);
      if (changes.purgeProtection === false && record.purgeProtection) throw purgeProtectionIrreversible();
      if (changes.rbac !== undefined && changes.rbac !== record.rbac) await repo.setVaultRbac(key, changes.rbac);
      if (changes.purgeProtection === true && !record.purgeProtection) await repo.setVaultPurgeProtection(key, true);
      const current = record.throttle ?? undefined;
      const throttle = changes.throttle === undefined ? current : changes.throttle === "server" ? undefined : changes.throttle;
      if (throttle !== current) await repo.setVaultThrottle(key, throttle);
      return {
        ...record,
        rbac: changes.rbac ?? record.rbac,
        purgeProtection: changes.purgeProtection ?? record.purgeProtection,
        throttle,
      };
    });
    this.cache.delete(key);
    return toVault(updated);
  }

  /** The vault of that name, or undefined. */
  find(name: string): Promise<Vault | undefined> {
    const key = name.toLowerCase();
    return this.cache.through(
      key,
      async () => {
        const record = await this.store.read((repo) => repo.getVault(key));
        return record && toVault(record);
      },
      (vault) => vault !== undefined,
    );
  }
}

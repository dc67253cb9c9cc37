import type { Keyring } from "../crypto/envelope.ts";
import { nowSeconds, type Clock } from "../kernel/clock.ts";
import { badParameter, notFound } from "../kernel/errors.ts";
import { definedOnly } from "../kernel/json.ts";
import type { Repo, Store, VaultSettingRecord } from "../store/store.ts";
import { canonicalName } from "./names.ts";
import type { Page } from "./objects.ts";
import type { Vault } from "./vaults.ts";

/** Someone Key Vault tells about certificates (Lockbox sends no mail: it emits CertificateNearExpiry events). */
export interface Contact {
  email?: string;
  name?: string;
  phone?: string;
}

export interface IssuerAdmin {
  firstName?: string;
  lastName?: string;
  email?: string;
  phone?: string;
}

/** A certificate issuer as Azure keeps it: the CA provider, the account's credentials and the organization. */
export interface Issuer {
  /** As first written. */
  name: string;
  provider: string;
  credentials?: { accountId?: string; password?: string };
  organization?: { id?: string; admins: IssuerAdmin[] };
  enabled: boolean;
  created: number;
  updated: number;
}

export type IssuerInput = Partial<Pick<Issuer, "provider" | "credentials" | "organization" | "enabled">>;

const MAX_CONTACTS = 64;

/**
 * A vault's certificate settings beside its objects: the contacts and the issuers. Both are
 * sealed under the vault's data key, as issuers hold a CA account's password.
 */
export class CertificateSettings {
  constructor(
    private readonly store: Store,
    private readonly keyring: Keyring,
    private readonly clock: Clock,
  ) {}

  private aad(vault: string, kind: VaultSettingRecord["kind"], name: string): string {
    return `lockbox/v1/${vault}/setting/${kind}/${name}`;
  }

  private seal(vault: Vault, kind: VaultSettingRecord["kind"], name: string, value: unknown): Buffer {
    return this.keyring.seal(vault, this.aad(vault.name, kind, name), Buffer.from(JSON.stringify(value)));
  }

  private open<T>(vault: Vault, r: VaultSettingRecord): T {
    return JSON.parse(this.keyring.open(vault, this.aad(r.vault, r.kind, r.name), r.sealed).toString("utf8")) as T;
  }

  /** A sealed setting of a vault, read in the caller's transaction (a certificate's pending operation). */
  async readIn<T>(repo: Repo, vault: Vault, kind: VaultSettingRecord["kind"], name: string): Promise<T | undefined> {
    const r = await repo.getSetting(vault.name, kind, name);
    return r ? this.open<T>(vault, r) : undefined;
  }

  /** Writes a sealed setting in the caller's transaction. */
  async writeIn(repo: Repo, vault: Vault, kind: VaultSettingRecord["kind"], name: string, value: unknown): Promise<void> {
    const now = nowSeconds(this.clock);
    await repo.putSetting({ vault: vault.name, kind, name, sealed: this.seal(vault, kind, name, value), created: now, updated: now });
  }

  /** Removes a setting in the caller's transaction. */
  removeIn(repo: Repo, vault: Vault, kind: VaultSettingRecord["kind"], name: string): Promise<boolean> {
    return repo.deleteSetting(vault.name, kind, name);
  }

  /** Replaces the vault's contacts. */
  async setContacts(vault: Vault, contacts: Contact[]): Promise<Contact[]> {
    if (contacts.length === 0) throw badParameter("At least one contact is needed; delete the contacts to have none.");
    if (contacts.length > MAX_CONTACTS) throw badParameter(`At most ${MAX_CONTACTS} contacts are allowed.`);
    for (const c of contacts) if (!c.email && !c.phone) throw badParameter("A contact needs an email address or a phone number.");
    await this.store.write((repo) => this.writeIn(repo, vault, "contacts", "", contacts));
    return contacts;
  }

  async getContacts(vault: Vault): Promise<Contact[]> {
    return (await this.store.read((repo) => this.readIn<Contact[]>(repo, vault, "contacts", ""))) ?? contactsNotFound();
  }

  /** Removes the vault's contacts and returns them. */
  deleteContacts(vault: Vault): Promise<Contact[]> {
    return this.store.write(async (repo) => {
      const contacts = (await this.readIn<Contact[]>(repo, vault, "contacts", "")) ?? contactsNotFound();
      await this.removeIn(repo, vault, "contacts", "");
      return contacts;
    });
  }

  /** Creates or replaces an issuer. */
  setIssuer(vault: Vault, name: string, input: IssuerInput): Promise<Issuer> {
    const key = canonicalName(name);
    if (!input.provider) throw badParameter("An issuer needs a provider.");
    const now = nowSeconds(this.clock);
    return this.store.write(async (repo) => {
      const existing = await this.readIn<Issuer>(repo, vault, "issuer", key);
      const issuer = issuerOf(name, input, existing?.created ?? now, now);
      await this.writeIn(repo, vault, "issuer", key, issuer);
      return issuer;
    });
  }

  /** Changes the given fields of an issuer. */
  updateIssuer(vault: Vault, name: string, input: IssuerInput): Promise<Issuer> {
    const key = canonicalName(name);
    const now = nowSeconds(this.clock);
    return this.store.write(async (repo) => {
      const previous = (await this.readIn<Issuer>(repo, vault, "issuer", key)) ?? issuerNotFound();
      // Member by member: the SDK sends credentials with only what the caller gave.
      const credentials = input.credentials ? { ...previous.credentials, ...definedOnly(input.credentials) } : previous.credentials;
      const organization = input.organization
        ? {
            ...previous.organization,
            ...definedOnly(input.organization),
            admins: input.organization.admins.length ? input.organization.admins : (previous.organization?.admins ?? []),
          }
        : previous.organization;
      const issuer = issuerOf(previous.name, { ...previous, ...definedOnly(input), credentials, organization }, previous.created, now);
      await this.writeIn(repo, vault, "issuer", key, issuer);
      return issuer;
    });
  }

  async getIssuer(vault: Vault, name: string): Promise<Issuer> {
    return (await this.findIssuer(vault, name)) ?? issuerNotFound();
  }

  /** The issuer of that name, if the vault has one (a certificate policy names it). */
  findIssuer(vault: Vault, name: string): Promise<Issuer | undefined> {
    return this.store.read((repo) => this.readIn<Issuer>(repo, vault, "issuer", canonicalName(name)));
  }

  deleteIssuer(vault: Vault, name: string): Promise<Issuer> {
    const key = canonicalName(name);
    return this.store.write(async (repo) => {
      const issuer = (await this.readIn<Issuer>(repo, vault, "issuer", key)) ?? issuerNotFound();
      await this.removeIn(repo, vault, "issuer", key);
      return issuer;
    });
  }

  listIssuers(vault: Vault, limit: number, cursor?: string): Promise<Page<Issuer>> {
    return this.list<Issuer>(vault, "issuer", limit, cursor);
  }

  /** A page of a vault's settings of one kind, by canonical name; the cursor is the last name. */
  async list<T>(vault: Vault, kind: VaultSettingRecord["kind"], limit: number, cursor?: string): Promise<Page<T & { key: string }>> {
    const rows = await this.store.read((repo) => repo.listSettings(vault.name, kind, cursor ?? null, limit + 1));
    const items = rows.slice(0, limit).map((r) => ({ ...this.open<T>(vault, r), key: r.name }));
    return rows.length > limit ? { items, cursor: rows[limit - 1]!.name } : { items };
  }
}

function issuerOf(name: string, input: IssuerInput, created: number, updated: number): Issuer {
  return {
    name,
    provider: input.provider!,
    ...(input.credentials ? { credentials: input.credentials } : {}),
    ...(input.organization ? { organization: input.organization } : {}),
    enabled: input.enabled ?? true,
    created,
    updated,
  };
}

const contactsNotFound = (): never => {
  throw notFound("ContactsNotFound", "Contacts not found");
};
/** Azure's words exactly (its own SDK tests compare them), without the name. */
const issuerNotFound = (): never => {
  throw notFound("CertificateIssuerNotFound", "Issuer not found");
};

import { createHash, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import type { IdentityKind, IdentityRecord, Store } from "../store/store.ts";
import { nowSeconds, type Clock } from "../vault/clock.ts";
import { badParameter, conflict } from "../vault/errors.ts";

const hash = (credential: string): string => createHash("sha256").update(credential, "utf8").digest("hex");
const newCredential = (): string => randomBytes(32).toString("base64url");
const IDENTITY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

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
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  async create(name: string, kind: IdentityKind, options: { admin?: boolean } = {}): Promise<NewIdentity> {
    if (!IDENTITY_NAME.test(name)) {
      throw badParameter(`The identity name '${name}' is invalid: use 1-64 letters, digits, '.', '_' or '-'.`);
    }
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
    await this.store.write(async (repo) => {
      if (await repo.findIdentityByName(name)) throw conflict(`An identity named '${name}' already exists.`);
      await repo.insertIdentity(identity);
    });
    return { identity, credential };
  }

  list(): Promise<IdentityRecord[]> {
    return this.store.read((repo) => repo.listIdentities());
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

import type { Keyring } from "../crypto/envelope.ts";
import type { Store, VersionView } from "../store/store.ts";
import type { Clock } from "./clock.ts";
import { badParameter, forbidden } from "./errors.ts";
import { SECRET_RULES, VersionedObjects, type VersionInput } from "./objects.ts";
import type { Vault } from "./vaults.ts";

/** Azure's limit: a secret value is at most 25 KB. */
export const MAX_SECRET_BYTES = 25 * 1024;
const MAX_CONTENT_TYPE = 255;

export interface SecretInput {
  value: string;
  contentType?: string;
  tags?: Record<string, string>;
  enabled?: boolean;
  nbf?: number;
  exp?: number;
}

export interface SecretUpdate {
  contentType?: string;
  tags?: Record<string, string>;
  enabled?: boolean;
  nbf?: number;
  exp?: number;
}

export interface Secret {
  version: VersionView;
  value: string;
}

function checkContentType(contentType: string | undefined): void {
  if (contentType !== undefined && contentType.length > MAX_CONTENT_TYPE) {
    throw badParameter(`The content type must be at most ${MAX_CONTENT_TYPE} characters.`);
  }
}

/** Secrets: the shared versioned-object rules plus a value. */
export class SecretService {
  readonly objects: VersionedObjects;

  constructor(store: Store, keyring: Keyring, clock: Clock) {
    this.objects = new VersionedObjects(SECRET_RULES, store, keyring, clock);
  }

  async set(vault: Vault, name: string, input: SecretInput): Promise<Secret> {
    const value = Buffer.from(input.value, "utf8");
    if (value.length > MAX_SECRET_BYTES) {
      throw badParameter(`The secret value is ${value.length} bytes; a secret value can be at most ${MAX_SECRET_BYTES} bytes.`);
    }
    checkContentType(input.contentType);
    const fields: VersionInput = {
      enabled: input.enabled,
      nbf: input.nbf,
      exp: input.exp,
      contentType: input.contentType,
      tags: input.tags,
    };
    const version = await this.objects.create(vault, name, value, fields);
    return { version, value: input.value };
  }

  /** The value of a version (latest when `version` is empty); a disabled version refuses. */
  async get(vault: Vault, name: string, version?: string): Promise<Secret> {
    const found = await this.objects.get(vault, name, version);
    if (!found.enabled) throw forbidden("Operation get is not allowed on a disabled secret.", "SecretDisabled");
    return { version: found, value: this.objects.open(vault, found).toString("utf8") };
  }

  update(vault: Vault, name: string, version: string | undefined, patch: SecretUpdate): Promise<VersionView> {
    checkContentType(patch.contentType);
    return this.objects.update(vault, name, version, patch);
  }
}

import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";

/**
 * Envelope encryption. The root key (256 bits, never stored in the database) wraps one
 * data key per vault; data keys seal values. Every sealed blob carries associated data
 * naming what it belongs to, so a ciphertext copied onto another record fails to open.
 *
 * Blob layout: 1 byte format (1) | 12 bytes IV | 16 bytes GCM tag | ciphertext.
 */
const FORMAT = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
export const KEY_BYTES = 32;

export function seal(key: Buffer, plaintext: Buffer, aad: string): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(Buffer.from(aad, "utf8"));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([Buffer.from([FORMAT]), iv, cipher.getAuthTag(), body]);
}

export function open(key: Buffer, blob: Buffer, aad: string): Buffer {
  if (blob.length < 1 + IV_BYTES + TAG_BYTES || blob[0] !== FORMAT) {
    throw new Error(`sealed blob for ${aad} has an unknown format`);
  }
  const iv = blob.subarray(1, 1 + IV_BYTES);
  const tag = blob.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES);
  const decipher = createDecipheriv("aes-256-gcm", key, iv);
  decipher.setAAD(Buffer.from(aad, "utf8"));
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(blob.subarray(1 + IV_BYTES + TAG_BYTES)), decipher.final()]);
  } catch {
    throw new Error(`sealed blob for ${aad} failed authentication (wrong root key or moved record)`);
  }
}

/** Parses a root key given as base64 (44 characters) or hex (64 characters). */
export function parseRootKey(text: string): Buffer {
  const t = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(t) ? Buffer.from(t, "hex") : Buffer.from(t, "base64");
  if (key.length !== KEY_BYTES) {
    throw new Error("the root key must be 32 bytes, given as base64 or hex");
  }
  return key;
}

const vaultKeyAad = (vault: string): string => `lockbox/v1/vault-key/${vault}`;

/** A vault's name and its data key as the store holds it, wrapped by the root key. */
export interface VaultKey {
  name: string;
  wrappedKey: Buffer;
}

/**
 * Holds the root key and the unwrapped data keys of the vaults in use. A data key is
 * cached with the wrapped bytes it came from, so a vault deleted and made again under the
 * same name (a new data key) is never served with the old one.
 */
export class Keyring {
  private readonly dataKeys = new Map<string, { wrapped: Buffer; key: Buffer }>();
  private readonly backupKey: Buffer;

  constructor(private readonly rootKey: Buffer) {
    this.backupKey = Buffer.from(hkdfSync("sha256", rootKey, Buffer.alloc(0), "lockbox backup v1", KEY_BYTES));
  }

  /** A fresh data key for a new vault, wrapped by the root key. */
  newWrappedDataKey(vault: string): Buffer {
    return seal(this.rootKey, randomBytes(KEY_BYTES), vaultKeyAad(vault));
  }

  seal(vault: VaultKey, aad: string, plaintext: Buffer): Buffer {
    return seal(this.dataKey(vault), plaintext, aad);
  }

  open(vault: VaultKey, aad: string, blob: Buffer): Buffer {
    return open(this.dataKey(vault), blob, aad);
  }

  /** Backups are sealed under a key derived from the root key, so any vault of this instance can restore them. */
  sealBackup(plaintext: Buffer, aad: string): Buffer {
    return seal(this.backupKey, plaintext, aad);
  }

  openBackup(blob: Buffer, aad: string): Buffer {
    return open(this.backupKey, blob, aad);
  }

  /** For instance-wide secrets kept in the store (token signing key, credentials shown to the operator). */
  sealWithRoot(plaintext: Buffer, aad: string): Buffer {
    return seal(this.rootKey, plaintext, aad);
  }

  openWithRoot(blob: Buffer, aad: string): Buffer {
    return open(this.rootKey, blob, aad);
  }

  forget(vault: string): void {
    this.dataKeys.delete(vault);
  }

  private dataKey(vault: VaultKey): Buffer {
    const cached = this.dataKeys.get(vault.name);
    if (cached?.wrapped.equals(vault.wrappedKey)) return cached.key;
    const key = open(this.rootKey, vault.wrappedKey, vaultKeyAad(vault.name));
    this.dataKeys.set(vault.name, { wrapped: vault.wrappedKey, key });
    return key;
  }
}

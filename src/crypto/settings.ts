import type { Repo, Store } from "../store/store.ts";
import type { Keyring } from "./envelope.ts";

/**
 * One setting of the instance kept in the store's meta table, sealed by the root key with
 * associated data of its own (the token signing key, the developer's credential, the local
 * CA's key, the root-key check), so that every process sharing the store reads the same
 * value and nothing of it is in the clear at rest. The first value stored wins.
 */
export class SealedSetting {
  constructor(
    private readonly store: Pick<Store, "read" | "write">,
    private readonly keyring: Keyring,
    /** The meta key it is kept under. */
    readonly key: string,
    private readonly aad: string,
  ) {}

  seal(plaintext: Buffer): string {
    return this.keyring.sealWithRoot(plaintext, this.aad).toString("base64");
  }

  /** Throws if the text was not sealed by this root key for this setting. */
  open(sealed: string): Buffer {
    return this.keyring.openWithRoot(Buffer.from(sealed, "base64"), this.aad);
  }

  /** The stored text (still sealed), or undefined before the setting is first kept. */
  stored(): Promise<string | undefined> {
    return this.store.read((repo) => repo.getMeta(this.key));
  }

  async read(): Promise<Buffer | undefined> {
    const sealed = await this.stored();
    return sealed === undefined ? undefined : this.open(sealed);
  }

  /** Keeps `value` unless the setting has one already; returns the one kept. */
  async keep(value: Buffer): Promise<Buffer> {
    const candidate = this.seal(value);
    return this.open(await this.store.write((repo) => repo.keepMeta(this.key, candidate)));
  }

  /** In the caller's transaction: keeps `value` unless the setting has one; whether it was kept. */
  async keepIn(repo: Repo, value: Buffer): Promise<boolean> {
    if (await repo.getMeta(this.key)) return false;
    await repo.setMeta(this.key, this.seal(value));
    return true;
  }
}

import { randomBytes } from "node:crypto";
import { ALGORITHMS, DEFAULT_KEY_OPS, isCurve, KEY_OPS, operationsOf, type KeyFamily, type KeyOperation } from "../crypto/algorithms.ts";
import type { Keyring } from "../crypto/envelope.ts";
import {
  fromB64url,
  generateKey,
  importJwk,
  KeyInputError,
  OCT_SIZES,
  publicJwk,
  publicJwkOf,
  RSA_SIZES,
  shapeOf,
  type KeyShape,
  type PrivateJwk,
  type PublicJwk,
} from "../crypto/keys.ts";
import type { OperationResult } from "../crypto/perform.ts";
import type { Store } from "../store/store.ts";
import { nowSeconds, type Clock } from "../kernel/clock.ts";
import { badParameter, forbidden } from "../kernel/errors.ts";
import { isRecord, storedShapeError } from "../kernel/json.ts";
import type { Lifecycle } from "./lifecycle.ts";
import { VersionedObjects, type CreateOptions, type KindRules } from "./objects.ts";
import { expiryFromPolicy, rotationPolicyOf, validatePolicy, type RotationPolicy, type RotationPolicyInput } from "./rotation.ts";
import type { Vault } from "./vaults.ts";
import type { Version } from "./versions.ts";

export interface ReleasePolicy {
  contentType?: string;
  immutable?: boolean;
  data?: string;
}

/** The public, per-version facts of a key, kept unencrypted in the version's props. */
export interface KeyProps {
  kty: string;
  keyOps: string[];
  pub: PublicJwk;
  exportable?: boolean;
  releasePolicy?: ReleasePolicy;
  /** A certificate's backing key (same name and version): changed only through the certificate. */
  managed?: boolean;
}

export interface KeyAttributesInput {
  enabled?: boolean;
  nbf?: number;
  exp?: number;
  exportable?: boolean;
}

export interface KeyCreateInput extends KeyAttributesInput {
  kty: string;
  keySize?: number;
  publicExponent?: number;
  crv?: string;
  keyOps?: string[];
  tags?: Record<string, string>;
  releasePolicy?: ReleasePolicy;
}

export interface KeyImportInput extends KeyAttributesInput {
  key: Record<string, unknown>;
  hsm?: boolean;
  tags?: Record<string, string>;
  releasePolicy?: ReleasePolicy;
}

export interface KeyUpdateInput {
  enabled?: boolean;
  nbf?: number;
  exp?: number;
  keyOps?: string[];
  tags?: Record<string, string>;
  releasePolicy?: ReleasePolicy;
}

export interface CryptoInput {
  alg: string;
  value: Buffer;
  iv?: Buffer;
  aad?: Buffer;
  tag?: Buffer;
  digest?: Buffer;
}

/** Runs one operation on key material, off the event loop (crypto/pool.ts). */
export type CryptoRunner = (request: {
  op: KeyOperation;
  alg: string;
  key: PrivateJwk;
  cacheKey: string;
  value: Buffer;
  iv?: Buffer;
  aad?: Buffer;
  tag?: Buffer;
  digest?: Buffer;
}) => Promise<OperationResult>;

const KEY_TYPES = new Set(["RSA", "RSA-HSM", "EC", "EC-HSM", "oct", "oct-HSM"]);

function familyOf(kty: string): KeyFamily {
  if (!KEY_TYPES.has(kty)) throw badParameter(`The key type '${kty}' is not supported: use RSA, RSA-HSM, EC, EC-HSM, oct or oct-HSM.`);
  return kty.replace("-HSM", "") as KeyFamily;
}

export type KeyVersion = Version<KeyProps, RotationPolicy>;

function releasePolicyOf(stored: unknown): ReleasePolicy | undefined {
  if (stored === undefined) return undefined;
  if (!isRecord(stored)) throw storedShapeError("key release policy");
  return {
    ...(typeof stored.contentType === "string" ? { contentType: stored.contentType } : {}),
    ...(typeof stored.immutable === "boolean" ? { immutable: stored.immutable } : {}),
    ...(typeof stored.data === "string" ? { data: stored.data } : {}),
  };
}

export const KEY_RULES: KindRules<KeyProps, RotationPolicy> = {
  kind: "key",
  notFoundCode: "KeyNotFound",
  backupPrefix: "!LockboxKeyBackupV1.",
  props(stored) {
    if (!isRecord(stored) || typeof stored.kty !== "string" || !Array.isArray(stored.keyOps) || !isRecord(stored.pub)) {
      throw storedShapeError("key version");
    }
    const releasePolicy = releasePolicyOf(stored.releasePolicy);
    return {
      kty: stored.kty,
      keyOps: stored.keyOps.map(String),
      pub: publicJwkOf(stored.pub),
      ...(typeof stored.exportable === "boolean" ? { exportable: stored.exportable } : {}),
      ...(releasePolicy ? { releasePolicy } : {}),
      ...(stored.managed === true ? { managed: true } : {}),
    };
  },
  policy: rotationPolicyOf,
  managed: (props) => props.managed === true,
};

function checkKeyOps(ops: string[] | undefined): void {
  for (const op of ops ?? []) if (!KEY_OPS.has(op)) throw badParameter(`'${op}' is not a key operation.`);
}

function checkRelease(exportable: boolean | undefined, policy: ReleasePolicy | undefined): void {
  if (exportable && !policy) throw badParameter("AKV.SKR.1004: Exportable keys must have release policy.");
  if (!exportable && policy) throw badParameter("AKV.SKR.1005: Non-exportable keys must not have release policy.");
  if (policy?.data !== undefined) {
    try {
      JSON.parse(fromB64url(policy.data, "release_policy.data").toString("utf8"));
    } catch {
      throw badParameter("release_policy.data must be base64url-encoded JSON.");
    }
  }
}

const asBadParameter = (e: unknown): never => {
  if (e instanceof KeyInputError) throw badParameter(e.message);
  throw e;
};

/**
 * Checks what a generated key is asked to be (type, size or curve, exponent, key_ops,
 * release policy) and gives what generation needs: the API's create and a seed file check
 * one set of rules.
 */
export function keySpecOf(input: KeyCreateInput): { family: KeyFamily; shape: KeyShape } {
  const family = familyOf(input.kty);
  checkKeyOps(input.keyOps);
  checkRelease(input.exportable, input.releasePolicy);
  if (family === "RSA") {
    const size = input.keySize ?? 2048;
    if (!RSA_SIZES.includes(size)) throw badParameter(`An RSA key size must be 2048, 3072 or 4096; ${size} is not.`);
    const exponent = input.publicExponent ?? 65537;
    if (exponent !== 3 && exponent !== 65537) throw badParameter("The public exponent must be 3 or 65537.");
    return { family, shape: { size, exponent } };
  }
  if (family === "EC") {
    const crv = input.crv ?? "P-256";
    if (!isCurve(crv)) throw badParameter(`The curve '${crv}' is not supported: use P-256, P-256K, P-384 or P-521.`);
    return { family, shape: { crv } };
  }
  const size = input.keySize ?? 256;
  if (!OCT_SIZES.includes(size)) throw badParameter(`A symmetric key size must be 128, 192 or 256; ${size} is not.`);
  return { family, shape: { size } };
}

/** Checks an imported key (its JWK, key_ops, release policy) and gives its type and private material. */
export function importedKeyOf(input: KeyImportInput): { kty: string; keyOps: string[] | undefined; material: PrivateJwk } {
  const jwk = input.key;
  const given = typeof jwk.kty === "string" ? jwk.kty : "";
  const family = familyOf(given);
  const kty = input.hsm && !given.endsWith("-HSM") ? `${given}-HSM` : given;
  const keyOps = Array.isArray(jwk.key_ops) ? (jwk.key_ops as string[]) : undefined;
  checkKeyOps(keyOps);
  checkRelease(input.exportable, input.releasePolicy);
  try {
    return { kty, keyOps, material: importJwk(family, jwk) };
  } catch (e) {
    return asBadParameter(e);
  }
}

/**
 * Keys: the shared versioned-object rules, plus key material (sealed like secret values),
 * rotation policies and the cryptographic operations.
 */
export class KeyService {
  readonly objects: VersionedObjects<KeyProps, RotationPolicy>;

  constructor(
    store: Store,
    keyring: Keyring,
    private readonly clock: Clock,
    private readonly runCrypto: CryptoRunner,
    lifecycle?: Lifecycle,
  ) {
    this.objects = new VersionedObjects(KEY_RULES, store, keyring, clock, lifecycle);
  }

  private async addVersion(
    vault: Vault,
    name: string,
    kty: string,
    material: PrivateJwk,
    input: KeyAttributesInput & { keyOps?: string[]; tags?: Record<string, string>; releasePolicy?: ReleasePolicy },
    options: CreateOptions<KeyProps, RotationPolicy> = {},
  ): Promise<KeyVersion> {
    const props: KeyProps = {
      kty,
      keyOps: input.keyOps ?? DEFAULT_KEY_OPS[familyOf(kty)],
      pub: publicJwk(material),
      ...(input.exportable !== undefined ? { exportable: input.exportable } : {}),
      ...(input.releasePolicy ? { releasePolicy: input.releasePolicy } : {}),
    };
    return this.objects.create(
      vault,
      name,
      Buffer.from(JSON.stringify(material)),
      { enabled: input.enabled, nbf: input.nbf, exp: input.exp, tags: input.tags, props },
      options,
    );
  }

  /**
   * A certificate's backing key version, made ready for the certificate's transaction: its
   * material under the certificate's name and version, managed.
   */
  prepareManaged(
    vault: Vault,
    name: string,
    version: string,
    material: PrivateJwk,
    input: {
      kty: string;
      exportable: boolean;
      keyOps: string[];
      enabled: boolean;
      nbf: number;
      exp: number;
      tags?: Record<string, string>;
    },
  ) {
    const props: KeyProps = { kty: input.kty, keyOps: input.keyOps, pub: publicJwk(material), exportable: input.exportable, managed: true };
    const { enabled, nbf, exp, tags } = input;
    return this.objects.prepare(vault, name, Buffer.from(JSON.stringify(material)), { enabled, nbf, exp, tags, props }, version);
  }

  /** The private material of a version. */
  material(vault: Vault, version: KeyVersion): PrivateJwk {
    return JSON.parse(this.objects.open(vault, version).toString("utf8")) as PrivateJwk;
  }

  async create(vault: Vault, name: string, input: KeyCreateInput): Promise<KeyVersion> {
    const { family, shape } = keySpecOf(input);
    const material = await generateKey(family, shape);
    return this.addVersion(vault, name, input.kty, material, input);
  }

  async import(vault: Vault, name: string, input: KeyImportInput): Promise<KeyVersion> {
    const { kty, keyOps, material } = importedKeyOf(input);
    return this.addVersion(vault, name, kty, material, { ...input, keyOps });
  }

  get(vault: Vault, name: string, version?: string): Promise<KeyVersion> {
    return this.objects.get(vault, name, version);
  }

  async update(vault: Vault, name: string, version: string | undefined, input: KeyUpdateInput): Promise<KeyVersion> {
    checkKeyOps(input.keyOps);
    const current = await this.objects.get(vault, name, version);
    const props = current.props;
    if (input.releasePolicy) {
      if (!props.exportable) throw badParameter("AKV.SKR.1005: Non-exportable keys must not have release policy.");
      if (props.releasePolicy?.immutable) throw badParameter("AKV.SKR.1020: Immutable Key Release Policy cannot be modified.");
    }
    const patch: Partial<KeyProps> = {
      ...(input.keyOps ? { keyOps: input.keyOps } : {}),
      ...(input.releasePolicy ? { releasePolicy: input.releasePolicy } : {}),
    };
    return this.objects.update(vault, name, version, {
      enabled: input.enabled,
      nbf: input.nbf,
      exp: input.exp,
      tags: input.tags,
      ...(Object.keys(patch).length ? { props: patch } : {}),
    });
  }

  /**
   * A new version of the same type, size or curve, key_ops, tags and release policy; expiry
   * from the rotation policy. The scheduler passes a `guard` proving its Rotate is still due.
   */
  async rotate(vault: Vault, name: string, options: CreateOptions<KeyProps, RotationPolicy> = {}): Promise<KeyVersion> {
    const latest = await this.objects.get(vault, name);
    const props = latest.props;
    const family = familyOf(props.kty);
    const current = this.material(vault, latest);
    const material = await generateKey(family, shapeOf(current));
    return this.addVersion(
      vault,
      name,
      props.kty,
      material,
      {
        keyOps: props.keyOps,
        tags: latest.tags ?? undefined,
        exportable: props.exportable,
        releasePolicy: props.releasePolicy,
        exp: expiryFromPolicy(latest.object.policy, nowSeconds(this.clock)),
      },
      options,
    );
  }

  /** The key's rotation policy (undefined if none was set) and its name as first written, in one read. */
  getRotationPolicy(vault: Vault, name: string): Promise<{ displayName: string; policy: RotationPolicy | undefined }> {
    return this.objects.getPolicy(vault, name);
  }

  setRotationPolicy(vault: Vault, name: string, input: RotationPolicyInput): Promise<{ displayName: string; policy: RotationPolicy }> {
    const now = nowSeconds(this.clock);
    return this.objects.setPolicy(vault, name, (previous) => validatePolicy(input, now, previous));
  }

  /**
   * Secure key release. Lockbox verifies no attestation tokens, so no release policy can be
   * satisfied: an exportable key is refused for that (AKV.SKR.1008), any other as not
   * exportable (AKV.SKR.1001), as Azure words them.
   */
  async release(vault: Vault, name: string, version: string | undefined): Promise<never> {
    const key = await this.objects.get(vault, name, version);
    throw badParameter(
      key.props.exportable
        ? "AKV.SKR.1008: The key cannot be released: Lockbox does not verify attestation tokens, so no release policy can be satisfied."
        : "AKV.SKR.1001: The key cannot be released because it is not exportable.",
    );
  }

  /**
   * encrypt, decrypt, wrapKey, unwrapKey, sign or verify with a key version. The key must
   * be enabled, allow the operation in key_ops, be of the algorithm's type, and (for
   * operations that make new ciphertext or signatures) be inside its nbf/exp window.
   */
  async operate(
    vault: Vault,
    name: string,
    version: string | undefined,
    op: KeyOperation,
    input: CryptoInput,
  ): Promise<{ key: KeyVersion; result: OperationResult }> {
    const key = await this.objects.get(vault, name, version);
    const props = key.props;
    const alg = ALGORITHMS.get(input.alg);
    if (!alg) throw badParameter(`The algorithm '${input.alg}' is not supported.`);
    if (alg.family !== familyOf(props.kty))
      throw badParameter(`The algorithm ${input.alg} cannot be used with a key of type ${props.kty}.`);
    if (!operationsOf(alg).includes(op)) throw badParameter(`The algorithm ${input.alg} does not support the ${op} operation.`);
    if (op === "verify" && !input.digest) throw badParameter("The digest is required: verify checks the signature in value against it.");
    if (alg.kind === "ecdsa" && props.pub.crv !== alg.curve) {
      throw badParameter(`The algorithm ${input.alg} needs a key on curve ${alg.curve}; this key is on ${props.pub.crv}.`);
    }
    if (!key.enabled) throw forbidden(`Operation ${op} is not allowed on a disabled key.`, "KeyDisabled");
    if (!props.keyOps.includes(op)) throw forbidden(`Operation ${op} is not permitted on this key.`, "KeyOperationForbidden");
    if (op === "encrypt" || op === "wrapKey" || op === "sign") {
      const now = nowSeconds(this.clock);
      if (key.nbf !== null && now < key.nbf)
        throw forbidden(`Operation ${op} is not allowed before the key's not-before time.`, "KeyNotYetValid");
      if (key.exp !== null && now >= key.exp) throw forbidden(`Operation ${op} is not allowed on an expired key.`, "KeyExpired");
    }
    const material = this.material(vault, key);
    try {
      const result = await this.runCrypto({
        op,
        alg: input.alg,
        key: material,
        cacheKey: `${key.vault}/${key.name}/${key.version}`,
        value: input.value,
        iv: input.iv,
        aad: input.aad,
        tag: input.tag,
        digest: input.digest,
      });
      return { key, result };
    } catch (e) {
      return asBadParameter(e);
    }
  }

  /** Random bytes from the server's CSPRNG, 1 to 128 of them. */
  randomBytes(count: number): Buffer {
    if (!Number.isInteger(count) || count < 1 || count > 128) throw badParameter("count must be an integer from 1 to 128.");
    return randomBytes(count);
  }
}

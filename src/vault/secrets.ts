import { buildPem, PEM_CONTENT_TYPE, PKCS12_CONTENT_TYPE, readPfx } from "../crypto/pkcs12.ts";
import type { Keyring } from "../crypto/envelope.ts";
import type { Repo, Store } from "../store/store.ts";
import { nowSeconds, type Clock } from "../kernel/clock.ts";
import { badParameter, conflict, forbidden } from "../kernel/errors.ts";
import { isRecord, storedShapeError, stringField } from "../kernel/json.ts";
import { durationSeconds } from "./durations.ts";
import { DEFAULT_GENERATOR, randomValue, validateGenerator, type Generator, type Rotator } from "./generator.ts";
import type { Lifecycle } from "./lifecycle.ts";
import { scopeOf, VersionedObjects, type CreateOptions, type KindRules } from "./objects.ts";
import { expiryFromPolicy, rotationPolicyOf, validatePolicy, type RotationPolicy, type RotationPolicyInput } from "./rotation.ts";
import type { Vault } from "./vaults.ts";
import type { Version } from "./versions.ts";

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

/** What a secret version keeps beside its value. */
export interface SecretProps {
  /** The version this one replaced, when a rotation made it. */
  rotatedFrom?: string;
  /** A certificate's backing secret (same name and version): changed only through the certificate. */
  managed?: boolean;
  /** A certificate's backing secret: the certificate version this one's certificate followed. */
  previousVersion?: string;
}

/**
 * A secret rotation policy, beyond Azure: Azure's lifetimeActions and expiryTime, a
 * generator for the next value, and an overlap during which the replaced version stays
 * enabled.
 */
export interface SecretRotationPolicy extends RotationPolicy {
  generator: Generator;
  overlap?: string;
}

export interface SecretRotationPolicyInput extends RotationPolicyInput {
  generator?: unknown;
  overlap?: unknown;
}

export type SecretVersion = Version<SecretProps, SecretRotationPolicy>;

export interface Secret {
  version: SecretVersion;
  value: string;
}

export const SECRET_RULES: KindRules<SecretProps, SecretRotationPolicy> = {
  kind: "secret",
  notFoundCode: "SecretNotFound",
  backupPrefix: "!LockboxSecretBackupV1.",
  props(stored) {
    if (stored === null || stored === undefined) return {};
    if (!isRecord(stored)) throw storedShapeError("secret version");
    const rotatedFrom = stringField(stored, "rotatedFrom");
    const previousVersion = stringField(stored, "previousVersion");
    return {
      ...(rotatedFrom !== undefined ? { rotatedFrom } : {}),
      ...(stored.managed === true ? { managed: true } : {}),
      ...(previousVersion !== undefined ? { previousVersion } : {}),
    };
  },
  managed: (props) => props.managed === true,
  policy(stored) {
    const base = rotationPolicyOf(stored);
    if (!base || !isRecord(stored)) return undefined;
    const overlap = stringField(stored, "overlap");
    return { ...base, generator: validateGenerator(stored.generator), ...(overlap !== undefined ? { overlap } : {}) };
  },
};

function checkContentType(contentType: string | undefined): void {
  if (contentType !== undefined && contentType.length > MAX_CONTENT_TYPE) {
    throw badParameter(`The content type must be at most ${MAX_CONTENT_TYPE} characters.`);
  }
}

/** Checks a new secret version's value and content type (the API's set and a seed file alike); the value as bytes. */
export function checkSecretInput(input: SecretInput): Buffer {
  const value = Buffer.from(input.value, "utf8");
  if (value.length > MAX_SECRET_BYTES) {
    throw badParameter(`The secret value is ${value.length} bytes; a secret value can be at most ${MAX_SECRET_BYTES} bytes.`);
  }
  checkContentType(input.contentType);
  return value;
}

/** Secrets: the shared versioned-object rules plus a value, and rotation beyond Azure. */
export class SecretService {
  readonly objects: VersionedObjects<SecretProps, SecretRotationPolicy>;

  constructor(
    store: Store,
    keyring: Keyring,
    private readonly clock: Clock,
    /** Asks a rotator webhook for the next value (webhooks/send.ts). */
    private readonly rotator: Rotator,
    lifecycle?: Lifecycle,
  ) {
    this.objects = new VersionedObjects(SECRET_RULES, store, keyring, clock, lifecycle);
  }

  async set(vault: Vault, name: string, input: SecretInput): Promise<Secret> {
    const value = checkSecretInput(input);
    const version = await this.objects.create(vault, name, value, {
      enabled: input.enabled,
      nbf: input.nbf,
      exp: input.exp,
      contentType: input.contentType,
      tags: input.tags,
      props: {},
    });
    return { version, value: input.value };
  }

  /**
   * A certificate's backing secret version, made ready for the certificate's transaction: its
   * value (PKCS#12 or PEM) under the certificate's name and version, managed.
   */
  prepareManaged(
    vault: Vault,
    name: string,
    version: string,
    value: string,
    input: { contentType: string; enabled: boolean; nbf: number; exp: number; tags?: Record<string, string> },
  ) {
    return this.objects.prepare(vault, name, Buffer.from(value, "utf8"), { ...input, props: { managed: true } }, version);
  }

  /**
   * The value of a version (latest when `version` is empty); a disabled version refuses.
   * With `outContentType` PEM, a PKCS#12 certificate secret comes converted to PEM (the one
   * conversion Key Vault offers).
   */
  async get(vault: Vault, name: string, version?: string, outContentType?: string): Promise<Secret> {
    const found = await this.objects.get(vault, name, version);
    if (!found.enabled) throw forbidden("Operation get is not allowed on a disabled secret.", "SecretDisabled");
    const value = this.objects.open(vault, found).toString("utf8");
    if (outContentType === undefined || outContentType === found.contentType) return { version: found, value };
    if (outContentType !== PEM_CONTENT_TYPE || found.contentType !== PKCS12_CONTENT_TYPE) {
      throw badParameter(
        `outContentType '${outContentType}' is not supported here: only a PKCS#12 certificate secret converts, to ${PEM_CONTENT_TYPE}.`,
      );
    }
    const pem = buildPem(await readPfx(Buffer.from(value, "base64")));
    return { version: { ...found, contentType: PEM_CONTENT_TYPE }, value: pem };
  }

  update(vault: Vault, name: string, version: string | undefined, patch: SecretUpdate): Promise<SecretVersion> {
    checkContentType(patch.contentType);
    return this.objects.update(vault, name, version, patch);
  }

  /** The secret's rotation policy (undefined if none was set) and its name as first written. */
  getRotationPolicy(vault: Vault, name: string): Promise<{ displayName: string; policy: SecretRotationPolicy | undefined }> {
    return this.objects.getPolicy(vault, name);
  }

  async setRotationPolicy(vault: Vault, name: string, input: SecretRotationPolicyInput): Promise<SecretRotationPolicy> {
    const now = nowSeconds(this.clock);
    const generator = validateGenerator(input.generator);
    let overlap: string | undefined;
    if (input.overlap !== undefined && input.overlap !== null) {
      durationSeconds(input.overlap, "overlap");
      overlap = input.overlap as string;
    }
    const set = await this.objects.setPolicy(vault, name, (previous) => ({
      ...validatePolicy(input, now, previous),
      generator,
      ...(overlap ? { overlap } : {}),
    }));
    return set.policy;
  }

  /**
   * The documented manual rotation in one transaction: a new version (content type and tags
   * carried over, expiry from the rotation policy if there is one) and the previous version
   * disabled.
   */
  async rotate(vault: Vault, name: string, value?: string): Promise<Secret> {
    const latest = await this.objects.get(vault, name);
    const generator = latest.object.policy?.generator;
    const next = value ?? randomValue(generator?.type === "random" ? generator : DEFAULT_GENERATOR);
    return this.addRotatedVersion(vault, latest, next, false, {});
  }

  /** Rotation by the secret's policy, as the scheduler runs it (`guard` proves the action is still due). */
  async rotateByPolicy(vault: Vault, name: string, guard: (repo: Repo) => Promise<void>): Promise<Secret> {
    const latest = await this.objects.get(vault, name);
    const policy = latest.object.policy;
    const generator = policy?.generator ?? DEFAULT_GENERATOR;
    const next =
      generator.type === "webhook"
        ? await this.rotator(generator.url, { vault: vault.name, name: latest.object.displayName, version: latest.version })
        : randomValue(generator);
    return this.addRotatedVersion(vault, latest, next, Boolean(policy?.overlap), { guard });
  }

  /**
   * The end of a rotation's overlap, as the scheduler runs it: if `version` is still the
   * current one, the version it replaced is disabled (`guard` proves the action is due).
   */
  endOverlap(vault: string, name: string, version: string, guard: (repo: Repo) => Promise<void>): Promise<void> {
    return this.objects.inTransaction(scopeOf(vault, name), async (repo, latestOf) => {
      await guard(repo);
      const latest = await latestOf(vault, name);
      if (latest?.version === version) await this.disableReplaced(repo, latest);
    });
  }

  /** Disables the version `version` replaced, if a rotation made it: the one rule both rotation paths follow. */
  private async disableReplaced(repo: Repo, version: SecretVersion): Promise<void> {
    if (version.props.rotatedFrom !== undefined) await this.objects.disableIn(repo, version.vault, version.name, version.props.rotatedFrom);
  }

  private async addRotatedVersion(
    vault: Vault,
    latest: SecretVersion,
    value: string,
    overlap: boolean,
    options: CreateOptions<SecretProps, SecretRotationPolicy>,
  ): Promise<Secret> {
    const version = await this.objects.create(
      vault,
      latest.object.displayName,
      Buffer.from(value, "utf8"),
      {
        contentType: latest.contentType,
        tags: latest.tags,
        exp: expiryFromPolicy(latest.object.policy, nowSeconds(this.clock)),
        props: { rotatedFrom: latest.version },
      },
      {
        guard: options.guard,
        after: async (repo, created, previous) => {
          if (!previous) return;
          if (previous.version !== latest.version)
            throw conflict(`${latest.object.displayName} changed while it was being rotated; try again.`);
          // A new rotation ends the overlap of the one before it.
          await this.disableReplaced(repo, previous);
          if (!overlap) await this.disableReplaced(repo, created);
        },
      },
    );
    return { version, value };
  }
}

import type { Keyring } from "../crypto/envelope.ts";
import type { Repo, Store, VersionView } from "../store/store.ts";
import { nowSeconds, type Clock } from "../kernel/clock.ts";
import { durationSeconds } from "./durations.ts";
import { badParameter, forbidden } from "../kernel/errors.ts";
import { randomValue, validateGenerator, webhookValue, type Generator } from "./generator.ts";
import type { Lifecycle } from "./lifecycle.ts";
import { SECRET_RULES, VersionedObjects, type CreateOptions, type VersionInput } from "./objects.ts";
import { expiryFromPolicy, policyWire, validatePolicy, type RotationPolicy, type RotationPolicyInput } from "./rotation.ts";
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

/** A secret rotation policy as the API and CLI show it, so that what is read can be written back. */
export const secretPolicyWire = (policy: SecretRotationPolicy | undefined) =>
  policy ? { ...policyWire(policy), generator: policy.generator, ...(policy.overlap ? { overlap: policy.overlap } : {}) } : {};

/** Secrets: the shared versioned-object rules plus a value, and rotation beyond Azure. */
export class SecretService {
  readonly objects: VersionedObjects;

  constructor(
    store: Store,
    keyring: Keyring,
    private readonly clock: Clock,
    lifecycle?: Lifecycle,
  ) {
    this.objects = new VersionedObjects(SECRET_RULES, store, keyring, clock, lifecycle);
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

  async getRotationPolicy(vault: Vault, name: string): Promise<SecretRotationPolicy | undefined> {
    return (await this.objects.getPolicy(vault, name)) as SecretRotationPolicy | undefined;
  }

  setRotationPolicy(vault: Vault, name: string, input: SecretRotationPolicyInput): Promise<SecretRotationPolicy> {
    const now = nowSeconds(this.clock);
    const generator = validateGenerator(input.generator);
    let overlap: string | undefined;
    if (input.overlap !== undefined && input.overlap !== null) {
      durationSeconds(input.overlap, "overlap");
      overlap = input.overlap as string;
    }
    return this.objects.setPolicy<SecretRotationPolicy & Record<string, unknown>>(vault, name, (previous) => ({
      ...validatePolicy(input, now, previous),
      generator,
      ...(overlap ? { overlap } : {}),
    }));
  }

  /**
   * The documented manual rotation in one transaction: a new version (content type and tags
   * carried over, expiry from the rotation policy if there is one) and the previous version
   * disabled.
   */
  async rotate(vault: Vault, name: string, value?: string): Promise<Secret> {
    const latest = await this.objects.get(vault, name);
    const policy = latest.object.policy as SecretRotationPolicy | null;
    const next =
      value ??
      randomValue(
        policy?.generator?.type === "random" ? policy.generator : { length: 32, classes: ["lower", "upper", "digits", "symbols"] },
      );
    return this.addRotatedVersion(vault, latest, next, false, {});
  }

  /** Rotation by the secret's policy, as the scheduler runs it (`guard` proves the action is still due). */
  async rotateByPolicy(vault: Vault, name: string, guard: CreateOptions["guard"]): Promise<Secret> {
    const latest = await this.objects.get(vault, name);
    const policy = (latest.object.policy ?? undefined) as SecretRotationPolicy | undefined;
    const generator = policy?.generator ?? validateGenerator(undefined);
    const next =
      generator.type === "webhook"
        ? await webhookValue(generator.url, { vault: vault.name, name: latest.object.displayName, version: latest.version })
        : randomValue(generator);
    return this.addRotatedVersion(vault, latest, next, Boolean(policy?.overlap), { guard });
  }

  private async addRotatedVersion(
    vault: Vault,
    latest: VersionView,
    value: string,
    overlap: boolean,
    options: CreateOptions,
  ): Promise<Secret> {
    const policy = (latest.object.policy ?? undefined) as SecretRotationPolicy | undefined;
    const fields: VersionInput = {
      contentType: latest.contentType,
      tags: latest.tags,
      exp: expiryFromPolicy(policy, nowSeconds(this.clock)),
      props: { rotatedFrom: latest.version },
    };
    const version = await this.objects.create(vault, latest.object.displayName, Buffer.from(value, "utf8"), fields, {
      guard: options.guard,
      after: async (repo: Repo, _created, previous) => {
        if (!previous) return;
        if (previous.version !== latest.version)
          throw badParameter(`${latest.object.displayName} changed while it was being rotated; try again.`);
        const disable = (version: string) =>
          repo.updateVersion(vault.name, "secret", previous.name, version, { enabled: false, updated: nowSeconds(this.clock) });
        // A new rotation ends the overlap of the one before it.
        const overlapped = previous.props?.rotatedFrom;
        if (typeof overlapped === "string" && (await repo.getVersion(vault.name, "secret", previous.name, overlapped))?.enabled)
          await disable(overlapped);
        if (!overlap) await disable(previous.version);
      },
    });
    return { version, value };
  }
}

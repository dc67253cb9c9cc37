import { createHash, createPublicKey, type KeyObject } from "node:crypto";
import { DEFAULT_KEY_OPS, isCurve, type Curve } from "../crypto/algorithms.ts";
import type { Keyring } from "../crypto/envelope.ts";
import { generateKey, keyObjectOf, privateJwkOf, rsaBits, RSA_SIZES, type PrivateJwk } from "../crypto/keys.ts";
import {
  buildPem,
  buildPfx,
  CertificateFormatError,
  PEM_CONTENT_TYPE,
  PKCS12_CONTENT_TYPE,
  readCertificateValueKind,
  type CertificateBundle,
} from "../crypto/pkcs12.ts";
import {
  certificateFacts,
  certificationRequest,
  issue as issueFrom,
  selfSigned,
  TemplateError,
  type CertificateTemplate,
  type SubjectAlternativeNames,
  KEY_USAGES,
} from "../crypto/x509.ts";
import { nowSeconds, type Clock } from "../kernel/clock.ts";
import { badParameter, conflict, forbidden, notFound } from "../kernel/errors.ts";
import { definedOnly, isRecord, storedShapeError } from "../kernel/json.ts";
import type { Repo, Store } from "../store/store.ts";
import type { KeyService } from "./keys.ts";
import type { Lifecycle, PlannedPolicy } from "./lifecycle.ts";
import { canonicalName, newVersionId } from "./names.ts";
import { validateTags, VersionedObjects, type BackupDocument, type KindRules, type Page } from "./objects.ts";
import type { LifetimeAction } from "./rotation.ts";
import type { CertificateSettings } from "./issuers.ts";
import type { SecretService } from "./secrets.ts";
import type { Vault } from "./vaults.ts";
import type { Version } from "./versions.ts";

const PKCS12 = PKCS12_CONTENT_TYPE;
const PEM = PEM_CONTENT_TYPE;
type SecretContentType = typeof PKCS12 | typeof PEM;

/** Azure's certificate lifetime action: renew, or tell the contacts, at a share of the lifetime or days before expiry. */
export interface CertificateLifetimeAction {
  trigger: { lifetimePercentage?: number; daysBeforeExpiry?: number };
  action: "AutoRenew" | "EmailContacts";
}

/** A certificate policy as Azure describes it (the wire shape is in api/certificates.ts). */
export interface CertificatePolicyFields {
  key: { kty: string; keySize?: number; crv?: Curve; exportable: boolean; reuseKey: boolean };
  secret: { contentType: SecretContentType };
  x509: { subject: string; sans: SubjectAlternativeNames; ekus: string[]; keyUsage: string[]; validityMonths: number };
  actions: CertificateLifetimeAction[];
  issuer: { name: string; certificateType?: string; certificateTransparency?: boolean };
  enabled: boolean;
}

/**
 * A certificate's policy as stored on its object: Azure's fields, and what the scheduler plans
 * from (AutoRenew as a Rotate, EmailContacts as a Notify; expiry events from each version's notAfter).
 */
export interface CertificatePolicy extends CertificatePolicyFields, PlannedPolicy {
  created: number;
  updated: number;
}

/** What a certificate version keeps beside its (empty) payload: the certificate and how it came to be. */
export interface CertificateProps {
  /** The DER certificate, base64. */
  cer: string;
  /** The PKCS#10 request of the version's key, base64, when Lockbox made the key. */
  csr?: string;
  /** Issued here from the policy (its issuer's name), or imported. */
  origin: "issued" | "imported";
}

export type CertificateVersion = Version<CertificateProps, CertificatePolicy>;

/** The policy fields a caller gives: any may be missing, and Azure's defaults fill them. */
export interface CertificatePolicyInput {
  key?: { kty?: string; keySize?: number; crv?: string; exportable?: boolean; reuseKey?: boolean };
  secret?: { contentType?: string };
  x509?: { subject?: string; sans?: SubjectAlternativeNames; ekus?: string[]; keyUsage?: string[]; validityMonths?: number };
  actions?: CertificateLifetimeAction[];
  issuer?: { name?: string; certificateType?: string; certificateTransparency?: boolean };
  enabled?: boolean;
}

export interface CertificateCreateInput {
  policy?: CertificatePolicyInput;
  enabled?: boolean;
  tags?: Record<string, string>;
}

export interface CertificateImportInput {
  value: string;
  password?: string;
  policy?: CertificatePolicyInput;
  enabled?: boolean;
  tags?: Record<string, string>;
}

/** Why an operation failed, as Azure's operation error carries it. */
export interface OperationError {
  code: string;
  message: string;
}

/** The state of the operation that makes a certificate's newest version. */
export interface CertificateOperation {
  name: string;
  issuer: string;
  csr?: string;
  status: "completed" | "inProgress" | "cancelled" | "failed";
  statusDetails?: string;
  error?: OperationError;
  cancellationRequested: boolean;
  requestId: string;
}

/**
 * The instance's own CA, kept by the server (the one that signs its TLS certificate):
 * issuers of provider `Lockbox` issue from it.
 */
export type CertificateAuthority = () => Promise<{ certificate: Buffer; key: KeyObject }>;

/** The provider name of issuers that issue from the instance's CA. */
export const LOCKBOX_PROVIDER = "Lockbox";

/**
 * How the policy's issuer makes a version: signed here (Self, or by the instance's CA), or
 * kept as a pending operation (Unknown waits for a merge; a CA provider Lockbox cannot reach
 * fails at once, with its reason).
 */
type Issuing =
  | { by: "self" }
  | { by: "ca"; ca: { certificate: Buffer; key: KeyObject } }
  | { by: "merge" }
  | { by: "unreachable"; error: OperationError };

type Pending = Extract<Issuing, { by: "merge" | "unreachable" }>;

/**
 * A certificate's version waiting for its issuer (the Unknown issuer waits for a merge of the
 * certificate a CA signed from the CSR): its key, kept sealed until then, and its policy.
 */
interface PendingOperation {
  name: string;
  version: string;
  issuer: string;
  csr: string;
  material: PrivateJwk;
  fields: CertificatePolicyFields;
  enabled?: boolean;
  tags?: Record<string, string>;
  status: "inProgress" | "cancelled" | "failed";
  error?: OperationError;
  policyCreated?: number;
}

/** A certificate whose first version waits for its issuer (or whose issuer failed). */
export interface PendingCertificate {
  name: string;
  version: string;
  enabled: boolean;
  tags?: Record<string, string>;
  policy: CertificatePolicy;
}

interface WriteOptions {
  /** When the object's policy was first set (kept across versions). */
  policyCreated?: number;
  /** Runs first in the transaction (the scheduler's: the action is still due). */
  guard?: (repo: Repo) => Promise<void>;
  /** The version id: a merge completes the pending version under the id its operation gave. */
  version?: string;
}

const KEY_TYPES = new Set(["RSA", "RSA-HSM", "EC", "EC-HSM"]);
const DEFAULT_EKUS = ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"];
const KEY_USAGE_NAMES: ReadonlySet<string> = new Set(KEY_USAGES);
const MAX_VALIDITY_MONTHS = 1200;

const isRsa = (kty: string): boolean => kty.startsWith("RSA");

/**
 * A policy as Key Vault checks it, with its defaults: RSA 2048 exportable keys, PKCS#12
 * secrets, 12 months, EmailContacts at 80% of the lifetime, subject and/or SANs required,
 * exactly one lifetime action, and the percentage or days within bounds.
 */
export function validateCertificatePolicy(input: CertificatePolicyInput, previous?: CertificatePolicyFields): CertificatePolicyFields {
  const key = { ...previous?.key, ...definedOnly(input.key ?? {}) };
  const kty = key.kty ?? "RSA";
  if (!KEY_TYPES.has(kty)) throw badParameter(`The key type '${kty}' is not valid for a certificate: use RSA, RSA-HSM, EC or EC-HSM.`);
  let keySize: number | undefined;
  let crv: Curve | undefined;
  if (isRsa(kty)) {
    keySize = key.keySize ?? 2048;
    if (!RSA_SIZES.includes(keySize)) throw badParameter(`An RSA key size must be 2048, 3072 or 4096; ${keySize} is not.`);
  } else {
    const curve = key.crv ?? "P-256";
    if (!isCurve(curve)) throw badParameter(`The curve '${curve}' is not supported: use P-256, P-256K, P-384 or P-521.`);
    crv = curve;
  }
  const contentType = input.secret?.contentType ?? previous?.secret.contentType ?? PKCS12;
  if (contentType !== PKCS12 && contentType !== PEM) {
    throw badParameter(`The secret content type '${contentType}' is not valid: use ${PKCS12} or ${PEM}.`);
  }
  const x509 = { ...previous?.x509, ...definedOnly(input.x509 ?? {}) };
  const subject = x509.subject ?? "";
  const sans = x509.sans ?? {};
  const sanCount = Object.values(sans).reduce((n, list) => n + (list?.length ?? 0), 0);
  if (subject.trim() === "" && sanCount === 0) throw badParameter("The certificate policy needs a subject or subject alternative names.");
  const validityMonths = x509.validityMonths ?? 12;
  if (!Number.isInteger(validityMonths) || validityMonths < 1 || validityMonths > MAX_VALIDITY_MONTHS) {
    throw badParameter(`validity_months must be a whole number from 1 to ${MAX_VALIDITY_MONTHS}.`);
  }
  const keyUsage = x509.keyUsage ?? (isRsa(kty) ? ["digitalSignature", "keyEncipherment"] : ["digitalSignature"]);
  for (const u of keyUsage) if (!KEY_USAGE_NAMES.has(u)) throw badParameter(`'${u}' is not a key usage.`);
  const ekus = x509.ekus ?? DEFAULT_EKUS;
  for (const e of ekus) if (!/^\d+(\.\d+)+$/.test(e)) throw badParameter(`The extended key usage '${e}' is not an OID.`);

  const actions = input.actions ?? previous?.actions ?? [{ trigger: { lifetimePercentage: 80 }, action: "EmailContacts" as const }];
  if (actions.length !== 1) throw badParameter("A certificate policy must have exactly one lifetime action.");
  for (const a of actions) {
    if (a.action !== "AutoRenew" && a.action !== "EmailContacts") throw badParameter(`'${String(a.action)}' is not a lifetime action.`);
    const { lifetimePercentage: pct, daysBeforeExpiry: days } = a.trigger ?? {};
    if ((pct === undefined) === (days === undefined)) {
      throw badParameter("A lifetime action's trigger needs either lifetime_percentage or days_before_expiry.");
    }
    if (pct !== undefined && (!Number.isInteger(pct) || pct < 1 || pct > 99))
      throw badParameter("lifetime_percentage must be from 1 to 99.");
    if (days !== undefined && (!Number.isInteger(days) || days < 1 || days > validityMonths * 27)) {
      throw badParameter(`days_before_expiry must be from 1 to ${validityMonths * 27} for a validity of ${validityMonths} months.`);
    }
  }
  const issuer = { ...previous?.issuer, ...definedOnly(input.issuer ?? {}) };
  return {
    key: {
      kty,
      ...(keySize ? { keySize } : {}),
      ...(crv ? { crv } : {}),
      exportable: key.exportable ?? true,
      reuseKey: key.reuseKey ?? false,
    },
    secret: { contentType },
    x509: { subject, sans, ekus, keyUsage, validityMonths },
    actions,
    issuer: { ...issuer, name: issuer.name ?? "Self" },
    enabled: input.enabled ?? previous?.enabled ?? true,
  };
}

/** What the scheduler plans from a certificate policy: AutoRenew is a Rotate (a renewal), EmailContacts a Notify. */
function plannedActions(actions: CertificateLifetimeAction[]): LifetimeAction[] {
  return actions.map((a) => ({
    trigger:
      a.trigger.daysBeforeExpiry !== undefined
        ? { timeBeforeExpiry: `P${a.trigger.daysBeforeExpiry}D` }
        : { lifetimePercentage: a.trigger.lifetimePercentage },
    action: { type: a.action === "AutoRenew" ? ("Rotate" as const) : ("Notify" as const) },
  }));
}

const storedPolicy = (fields: CertificatePolicyFields, created: number, updated: number): CertificatePolicy => ({
  ...fields,
  lifetimeActions: plannedActions(fields.actions),
  created,
  updated,
});

export const CERTIFICATE_RULES: KindRules<CertificateProps, CertificatePolicy> = {
  kind: "certificate",
  notFoundCode: "CertificateNotFound",
  backupPrefix: "!LockboxCertificateBackupV1.",
  props(stored) {
    if (!isRecord(stored) || typeof stored.cer !== "string" || (stored.origin !== "issued" && stored.origin !== "imported")) {
      throw storedShapeError("certificate version");
    }
    return { cer: stored.cer, origin: stored.origin, ...(typeof stored.csr === "string" ? { csr: stored.csr } : {}) };
  },
  policy(stored) {
    if (stored === null || stored === undefined) return undefined;
    if (!isRecord(stored) || typeof stored.created !== "number" || typeof stored.updated !== "number") {
      throw storedShapeError("certificate policy");
    }
    // The stored policy was validated when written; checking it again keeps its shape honest.
    const fields = validateCertificatePolicy(stored as CertificatePolicyInput);
    return storedPolicy(fields, stored.created, stored.updated);
  },
};

/** A certificate with its backing key and secret, as they were written together. */
export interface IssuedCertificate {
  /** Absent while the operation waits (the Unknown issuer). */
  version?: CertificateVersion;
  operation: CertificateOperation;
}

/**
 * Certificates: the shared versioned-object rules, where each version has a backing key and
 * a backing secret of the same name and version, written in the same transaction. Issuing
 * from the policy (Self) completes at once; import takes PEM or PKCS#12.
 */
export class CertificateService {
  readonly objects: VersionedObjects<CertificateProps, CertificatePolicy>;

  constructor(
    private readonly store: Store,
    keyring: Keyring,
    private readonly clock: Clock,
    private readonly keys: KeyService,
    private readonly secrets: SecretService,
    private readonly settings: CertificateSettings,
    private readonly authority: CertificateAuthority,
    lifecycle?: Lifecycle,
  ) {
    this.objects = new VersionedObjects(CERTIFICATE_RULES, store, keyring, clock, lifecycle);
  }

  /** A new version issued from the policy (the given one, else the certificate's own). */
  async create(vault: Vault, name: string, input: CertificateCreateInput): Promise<IssuedCertificate> {
    const existing = await this.currentPolicy(vault, name);
    const fields = validateCertificatePolicy(input.policy ?? {}, input.policy ? undefined : existing);
    const issuing = await this.issuing(vault, fields);
    if (issuing.by === "merge" || issuing.by === "unreachable") {
      return { operation: await this.startPending(vault, name, fields, input, issuing, existing?.created) };
    }
    const version = await this.issue(vault, name, fields, input, await this.newKey(fields), issuing, existing?.created);
    return { version, operation: operationOf(version) };
  }

  /**
   * Who issues from this policy. A named issuer must be set in the vault and enabled; one of
   * provider Lockbox issues from the instance's CA, any other provider cannot be reached.
   */
  private async issuing(vault: Vault, fields: CertificatePolicyFields): Promise<Issuing> {
    const name = fields.issuer.name;
    if (name.toLowerCase() === "self") return { by: "self" };
    if (name.toLowerCase() === "unknown") return { by: "merge" };
    const issuer = await this.settings.findIssuer(vault, name);
    if (!issuer) {
      throw badParameter(`The issuer '${name}' is not set in this vault: set it with setCertificateIssuer, or use Self or Unknown.`);
    }
    if (!issuer.enabled) throw badParameter(`The issuer '${name}' is disabled.`);
    if (issuer.provider.toLowerCase() === LOCKBOX_PROVIDER.toLowerCase()) return { by: "ca", ca: await this.authority() };
    const message =
      `The certificate authority '${issuer.provider}' of issuer '${issuer.name}' cannot be reached from this Lockbox server. ` +
      `Use an issuer of provider ${LOCKBOX_PROVIDER}, Self, or Unknown and merge the certificate your CA signs.`;
    return { by: "unreachable", error: { code: "CertificateAuthorityUnreachable", message } };
  }

  /**
   * A version that waits: a new key and its CSR, kept as the certificate's pending operation,
   * in progress until a merge (Unknown) or failed at once (a CA Lockbox cannot reach).
   */
  private async startPending(
    vault: Vault,
    name: string,
    fields: CertificatePolicyFields,
    input: CertificateCreateInput,
    issuing: Pending,
    policyCreated?: number,
    guard?: (repo: Repo) => Promise<void>,
  ): Promise<CertificateOperation> {
    const material = await this.newKey(fields);
    const csr = (await asBadParameter(certificationRequest(this.template(fields), keyObjectOf(material)))).toString("base64");
    const op: PendingOperation = {
      name,
      version: newVersionId(),
      issuer: fields.issuer.name,
      csr,
      material,
      fields,
      ...(input.enabled !== undefined ? { enabled: input.enabled } : {}),
      ...(input.tags ? { tags: input.tags } : {}),
      ...(issuing.by === "merge" ? { status: "inProgress" as const } : { status: "failed" as const, error: issuing.error }),
      ...(policyCreated !== undefined ? { policyCreated } : {}),
    };
    await this.store.write(async (repo) => {
      await guard?.(repo);
      await this.refuseInProgress(repo, vault, name);
      await this.refuseNameTaken(repo, vault, name);
      await this.settings.writeIn(repo, vault, "operation", canonicalName(name), op);
    });
    return pendingOperationOf(op);
  }

  /** A create or import while an operation on the name waits is 409, as in Azure. */
  private async refuseInProgress(repo: Repo, vault: Vault, name: string): Promise<void> {
    const op = await this.pendingIn(repo, vault, name);
    if (op?.status === "inProgress") {
      throw conflict(`A certificate operation for ${name} is in progress; cancel or delete it, or merge its certificate, first.`);
    }
  }

  /**
   * The engines of a certificate's backing key and secret, which follow it in every change
   * (their version types differ; what is done to them here is the same for both).
   */
  private async eachBacking(fn: <P, Q extends PlannedPolicy>(objects: VersionedObjects<P, Q>) => Promise<unknown>): Promise<void> {
    await fn(this.keys.objects);
    await fn(this.secrets.objects);
  }

  /** A secret or key of the name that is not a certificate's keeps it: the certificate is 409. */
  private async refuseNameTaken(repo: Repo, vault: Vault, name: string): Promise<void> {
    for (const [noun, engine] of [
      ["secret", this.secrets.objects],
      ["key", this.keys.objects],
    ] as const) {
      if (await engine.holdsUnmanagedIn(repo, vault.name, canonicalName(name))) {
        throw conflict(`A ${noun} named ${name} exists and is not a certificate's: a certificate needs its name for its ${noun}.`);
      }
    }
  }

  private pendingIn(repo: Repo, vault: Vault, name: string): Promise<PendingOperation | undefined> {
    return this.settings.readIn<PendingOperation>(repo, vault, "operation", canonicalName(name));
  }

  /**
   * A version, or, while the certificate's first version waits for its issuer, that pending
   * version (its ids and policy, no certificate yet): the SDK reads it before the operation.
   */
  async getOrPending(vault: Vault, name: string, version?: string): Promise<CertificateVersion | { pending: PendingCertificate }> {
    try {
      return await this.objects.get(vault, name, version);
    } catch (e) {
      if ((e as { code?: string }).code !== "CertificateNotFound") throw e;
      const op = await this.store.read((repo) => this.pendingIn(repo, vault, name));
      if (!op || (version && version !== op.version)) throw e;
      return { pending: this.pendingCertificateOf(op) };
    }
  }

  private pendingCertificateOf(op: PendingOperation): PendingCertificate {
    const now = nowSeconds(this.clock);
    const policy = storedPolicy(op.fields, op.policyCreated ?? now, now);
    return { name: op.name, version: op.version, enabled: op.enabled ?? op.fields.enabled, tags: op.tags, policy };
  }

  /**
   * The certificates, by name; with `includePending`, then those whose first version still
   * waits for its issuer (listed after the others, so that each list pages in the store's own order).
   */
  async list(
    vault: Vault,
    limit: number,
    cursor: string | undefined,
    includePending: boolean,
  ): Promise<Page<CertificateVersion | { pending: PendingCertificate }>> {
    const inPending = cursor?.startsWith(PENDING_CURSOR) ?? false;
    const items: Array<CertificateVersion | { pending: PendingCertificate }> = [];
    if (!inPending) {
      const page = await this.objects.list(vault, limit, cursor);
      if (!includePending || page.cursor !== undefined) return page;
      items.push(...page.items);
      if (items.length === limit) return { items, cursor: PENDING_CURSOR };
    }
    const after = inPending ? cursor!.slice(PENDING_CURSOR.length) || undefined : undefined;
    const ops = await this.settings.list<PendingOperation>(vault, "operation", limit - items.length, after);
    const alone = await this.store.read(async (repo) => {
      const found: PendingOperation[] = [];
      for (const op of ops.items) if (!(await repo.getObject(vault.name, "certificate", op.key))) found.push(op);
      return found;
    });
    items.push(...alone.map((op) => ({ pending: this.pendingCertificateOf(op) })));
    return ops.cursor === undefined ? { items } : { items, cursor: PENDING_CURSOR + ops.cursor };
  }

  /**
   * Asks the pending operation to stop: it is cancelled, and no longer blocks the name. An
   * operation that already ended (completed, cancelled, failed) is 403, as in Azure.
   */
  cancel(vault: Vault, name: string): Promise<CertificateOperation> {
    return this.store.write(async (repo) => {
      const op = await this.pendingIn(repo, vault, name);
      if (!op) {
        await this.completedOperationIn(repo, vault, name);
        throw notInProgress();
      }
      if (op.status !== "inProgress") throw notInProgress();
      const cancelled: PendingOperation = { ...op, status: "cancelled" };
      await this.settings.writeIn(repo, vault, "operation", canonicalName(name), cancelled);
      return pendingOperationOf(cancelled);
    });
  }

  /** Removes the pending operation (and its key, which was never used) and returns it. */
  deleteOperation(vault: Vault, name: string): Promise<CertificateOperation> {
    return this.store.write(async (repo) => {
      const op = await this.pendingIn(repo, vault, name);
      if (!op) throw pendingNotFound(name);
      await this.settings.removeIn(repo, vault, "operation", canonicalName(name));
      return pendingOperationOf(op);
    });
  }

  /**
   * Completes the pending operation with the certificate a CA signed (and its chain): it must
   * be for the operation's key. The version, its key and its secret are written and the
   * operation removed in one transaction; a certificate for another key changes nothing.
   */
  async merge(
    vault: Vault,
    name: string,
    chain: Buffer[],
    input: { enabled?: boolean; tags?: Record<string, string> },
  ): Promise<CertificateVersion> {
    if (chain.length === 0) throw badParameter("x5c must hold the signed certificate (and its chain).");
    const op = await this.store.read((repo) => this.pendingIn(repo, vault, name));
    if (op?.status !== "inProgress") throw pendingNotFound(name);
    const key = keyObjectOf(op.material);
    let leafKey: KeyObject;
    try {
      leafKey = certificateFacts(chain[0]!).publicKey;
    } catch {
      throw badParameter("The merged value is not an X.509 certificate.");
    }
    const pub = createPublicKey(key);
    if (leafKey.asymmetricKeyType !== pub.asymmetricKeyType || !leafKey.equals(pub)) {
      throw badParameter("The certificate to merge is not for the pending certificate's key: its public key differs.");
    }
    return this.write(
      vault,
      name,
      { key, material: op.material, chain },
      op.fields,
      { enabled: input.enabled ?? op.enabled, tags: input.tags ?? op.tags },
      { origin: "issued", csr: op.csr },
      {
        version: op.version,
        policyCreated: op.policyCreated,
        guard: async (repo) => {
          if ((await this.pendingIn(repo, vault, name))?.version !== op.version) throw pendingNotFound(name);
        },
      },
    );
  }

  /**
   * The scheduler's AutoRenew: a new version from the certificate's own policy, with a new
   * key unless the policy reuses it; `guard` runs first in the transaction (the action is
   * still due). Tags carry over.
   */
  async renew(vault: Vault, name: string, guard?: (repo: Repo) => Promise<void>): Promise<{ version: string }> {
    const latest = await this.objects.get(vault, name);
    const policy = latest.object.policy;
    if (!policy) throw notFound("CertificateNotFound", `The certificate ${name} has no policy.`);
    const tags = { tags: latest.tags ?? undefined };
    const issuing = await this.issuing(vault, policy);
    // A CA outside Lockbox renews as it issues: an operation waits for the merge (or fails).
    if (issuing.by === "merge" || issuing.by === "unreachable") {
      const op = await this.startPending(vault, name, policy, tags, issuing, policy.created, guard);
      return { version: op.requestId };
    }
    const material = policy.key.reuseKey ? this.keys.material(vault, await this.keys.objects.get(vault, name)) : await this.newKey(policy);
    return this.issue(vault, name, policy, tags, material, issuing, policy.created, guard);
  }

  private newKey(fields: CertificatePolicyFields): Promise<PrivateJwk> {
    return isRsa(fields.key.kty) ? generateKey("RSA", { size: fields.key.keySize }) : generateKey("EC", { crv: fields.key.crv });
  }

  /** Issues a version from the policy with this key material: Self signs it with its own key, a Lockbox issuer with the instance's CA. */
  private async issue(
    vault: Vault,
    name: string,
    fields: CertificatePolicyFields,
    input: { enabled?: boolean; tags?: Record<string, string> },
    material: PrivateJwk,
    issuing: Extract<Issuing, { by: "self" | "ca" }>,
    policyCreated?: number,
    guard?: (repo: Repo) => Promise<void>,
  ): Promise<CertificateVersion> {
    const key = keyObjectOf(material);
    const template = this.template(fields);
    const chain =
      issuing.by === "ca"
        ? [await asBadParameter(issueFrom(template, createPublicKey(key), issuing.ca)), issuing.ca.certificate]
        : [await asBadParameter(selfSigned(template, key))];
    const csr = (await asBadParameter(certificationRequest(template, key))).toString("base64");
    return this.write(vault, name, { key, material, chain }, fields, input, { origin: "issued", csr }, { policyCreated, guard });
  }

  /** A new version from a PEM or PKCS#12 value with its private key; its policy is the given one or derived from it. */
  async import(vault: Vault, name: string, input: CertificateImportInput): Promise<CertificateVersion> {
    const { bundle, pem } = await readCertificateValueKind(input.value, input.password).catch((e: unknown) => {
      if (e instanceof CertificateFormatError) throw badParameter(`The certificate could not be read: ${e.message}`);
      throw e;
    });
    if (!bundle.key) throw badParameter("The certificate has no private key: import needs the key with the certificate.");
    const facts = certificateFacts(bundle.chain[0]!);
    const material = privateJwkOf(bundle.key);
    const derived: CertificatePolicyInput = {
      key:
        material.kty === "EC"
          ? { kty: "EC", crv: material.crv }
          : { kty: "RSA", keySize: material.kty === "RSA" ? rsaBits(material) : undefined },
      secret: { contentType: pem ? PEM : PKCS12 },
      x509: {
        subject: facts.subject,
        sans: facts.sans,
        ekus: facts.ekus,
        keyUsage: facts.keyUsage,
        validityMonths: Math.max(1, Math.round((facts.notAfter.getTime() - facts.notBefore.getTime()) / (30.44 * 86_400_000))),
      },
      issuer: { name: facts.selfSigned ? "Self" : "Unknown" },
    };
    const fields = validateCertificatePolicy({ ...derived, ...definedOnly(input.policy ?? {}) });
    const existing = await this.currentPolicy(vault, name);
    return this.write(
      vault,
      name,
      { key: bundle.key, material, chain: bundle.chain },
      fields,
      input,
      { origin: "imported" },
      { policyCreated: existing?.created },
    );
  }

  /** A certificate version and, beside it, its key and secret, in one transaction, all with one version id. */
  private async write(
    vault: Vault,
    name: string,
    made: CertificateBundle & { key: KeyObject; material: PrivateJwk },
    fields: CertificatePolicyFields,
    input: { enabled?: boolean; tags?: Record<string, string> },
    props: Omit<CertificateProps, "cer">,
    options: WriteOptions = {},
  ): Promise<CertificateVersion> {
    const { policyCreated, guard } = options;
    const version = options.version ?? newVersionId();
    const leaf = certificateFacts(made.chain[0]!);
    const attributes: { enabled: boolean; nbf: number; exp: number; tags?: Record<string, string> } = {
      enabled: input.enabled ?? fields.enabled,
      nbf: Math.floor(leaf.notBefore.getTime() / 1000),
      exp: Math.floor(leaf.notAfter.getTime() / 1000),
      tags: input.tags,
    };
    const secretValue = await this.secretValue(made, fields);
    const certificate = this.objects.prepare(
      vault,
      name,
      Buffer.alloc(0),
      { ...attributes, props: { ...props, cer: made.chain[0]!.toString("base64") } },
      version,
    );
    const key = this.keys.prepareManaged(vault, name, version, made.material, {
      kty: fields.key.kty,
      exportable: fields.key.exportable,
      keyOps: DEFAULT_KEY_OPS[isRsa(fields.key.kty) ? "RSA" : "EC"],
      ...attributes,
    });
    const secret = this.secrets.prepareManaged(vault, name, version, secretValue, {
      contentType: fields.secret.contentType,
      ...attributes,
    });
    const now = nowSeconds(this.clock);
    const created = policyCreated ?? now;
    return this.store.write(async (repo) => {
      await guard?.(repo);
      // A merge completes the waiting operation; anything else waits for it to end.
      if (options.version === undefined) await this.refuseInProgress(repo, vault, name);
      await this.refuseNameTaken(repo, vault, name);
      const canonical = canonicalName(name);
      const previous = await this.objects.latestIn(repo, vault.name, canonical);
      const made = await this.objects.createIn(repo, certificate, { policy: storedPolicy(fields, created, now) });
      await this.keys.objects.createIn(repo, key);
      await this.secrets.objects.createIn(repo, previous ? withPreviousVersion(secret, previous.version) : secret);
      // The new version is the operation's result: a merged, cancelled or failed operation is done with.
      await this.settings.removeIn(repo, vault, "operation", canonical);
      return made;
    });
  }

  /** The backing secret's value: PKCS#12 (base64) or PEM, without the private key when it is not exportable. */
  private async secretValue(made: CertificateBundle & { key: KeyObject }, fields: CertificatePolicyFields): Promise<string> {
    const bundle: CertificateBundle = { chain: made.chain, ...(fields.key.exportable ? { key: made.key } : {}) };
    return fields.secret.contentType === PEM ? buildPem(bundle) : (await buildPfx(bundle)).toString("base64");
  }

  private template(fields: CertificatePolicyFields): CertificateTemplate {
    const { subject, sans, keyUsage, ekus, validityMonths } = fields.x509;
    return { subject, sans, keyUsage, ekus, validityMonths, notBefore: new Date(this.clock.nowMs()) };
  }

  private async currentPolicy(vault: Vault, name: string): Promise<CertificatePolicy | undefined> {
    try {
      return (await this.objects.getPolicy(vault, name)).policy;
    } catch (e) {
      if ((e as { code?: string }).code === "CertificateNotFound") return undefined;
      throw e;
    }
  }

  /** The certificate's policy (a certificate always has one). */
  async getPolicy(vault: Vault, name: string): Promise<{ displayName: string; policy: CertificatePolicy }> {
    const { displayName, policy } = await this.objects.getPolicy(vault, name);
    if (!policy) throw notFound("CertificateNotFound", `The certificate ${name} has no policy.`);
    return { displayName, policy };
  }

  /** Changes the policy; versions already made stay as they are, the next one follows it. */
  async updatePolicy(vault: Vault, name: string, input: CertificatePolicyInput): Promise<CertificatePolicy> {
    const now = nowSeconds(this.clock);
    const set = await this.objects.setPolicy(vault, name, (previous) => {
      const fields = validateCertificatePolicy(input, previous);
      return storedPolicy(fields, previous?.created ?? now, now);
    });
    return set.policy;
  }

  /** Changes a version's properties (enabled, tags); its key and secret are enabled or disabled with it. */
  update(vault: Vault, name: string, version: string | undefined, input: { enabled?: boolean; tags?: Record<string, string> }) {
    validateTags(input.tags);
    return this.store.write(async (repo) => {
      const found = await this.objects.findIn(repo, vault, name, version);
      const updated = await this.objects.updateIn(repo, found, input);
      if (input.enabled !== undefined) {
        const enabled = { enabled: input.enabled };
        await this.eachBacking(async (o) => o.updateIn(repo, await o.findIn(repo, vault, name, found.version), enabled));
      }
      return updated;
    });
  }

  /** Soft-deletes the certificate with its key and secret. */
  delete(vault: Vault, name: string): Promise<CertificateVersion> {
    return this.store.write(async (repo) => {
      const deleted = await this.objects.deleteIn(repo, await this.objects.findIn(repo, vault, name), vault);
      await this.eachBacking(async (o) => o.deleteIn(repo, await o.findIn(repo, vault, name), vault));
      return deleted;
    });
  }

  /** Recovers a deleted certificate with its key and secret. */
  recover(vault: Vault, name: string): Promise<CertificateVersion> {
    return this.store.write(async (repo) => {
      const recovered = await this.objects.recoverIn(repo, await this.objects.findDeletedIn(repo, vault, name), vault);
      await this.eachBacking(async (o) => o.recoverIn(repo, await o.findDeletedIn(repo, vault, name), vault));
      return recovered;
    });
  }

  /** Purges a deleted certificate with its key and secret. */
  async purge(vault: Vault, name: string): Promise<void> {
    await this.store.write(async (repo) => {
      await this.objects.purgeIn(repo, await this.objects.findDeletedIn(repo, vault, name), vault);
      await this.eachBacking(async (o) => o.purgeIn(repo, await o.findDeletedIn(repo, vault, name), vault));
    });
  }

  /** A backup of every version of the certificate with its keys and secrets, sealed under the instance's backup key. */
  async backup(vault: Vault, name: string): Promise<Buffer> {
    const doc = await this.store.read(async (repo): Promise<CertificateBackup> => ({
      certificate: await this.objects.backupIn(repo, vault, name),
      key: await this.keys.objects.backupIn(repo, vault, name),
      secret: await this.secrets.objects.backupIn(repo, vault, name),
    }));
    return this.objects.sealBackup(doc, CERTIFICATE_RULES.backupPrefix, "certificate");
  }

  /** Restores a certificate backup, with its keys and secrets, in one transaction, under its name and versions. */
  async restore(vault: Vault, blob: Buffer): Promise<CertificateVersion> {
    const doc = this.objects.openBackup<CertificateBackup>(blob, CERTIFICATE_RULES.backupPrefix, "certificate");
    const certificate = this.objects.prepareRestore(vault, doc.certificate);
    const key = this.keys.objects.prepareRestore(vault, doc.key);
    const secret = this.secrets.objects.prepareRestore(vault, doc.secret);
    return this.store.write(async (repo) => {
      const restored = await this.objects.restoreIn(repo, vault, certificate);
      await this.keys.objects.restoreIn(repo, vault, key);
      await this.secrets.objects.restoreIn(repo, vault, secret);
      return restored;
    });
  }

  /** The operation that made the newest version: issued ones complete at once; imported ones have none. */
  operation(vault: Vault, name: string): Promise<CertificateOperation> {
    return this.store.read(async (repo) => {
      const pending = await this.pendingIn(repo, vault, name);
      return pending ? pendingOperationOf(pending) : this.completedOperationIn(repo, vault, name);
    });
  }

  /** The completed operation of the newest version, when Lockbox issued it. */
  private async completedOperationIn(repo: Repo, vault: Vault, name: string): Promise<CertificateOperation> {
    const latest = await this.objects.latestIn(repo, vault.name, canonicalName(name));
    if (latest?.props.origin !== "issued") throw pendingNotFound(name);
    return operationOf(latest);
  }
}

/** The skip token of the second part of a list with includePending (no certificate name has a colon). */
const PENDING_CURSOR = "pending:";

/** The backing secret of a version that follows another names it (Azure's previousVersion). */
function withPreviousVersion<P extends { props?: object }, T extends { input: P }>(prepared: T, previousVersion: string): T {
  return { ...prepared, input: { ...prepared.input, props: { ...prepared.input.props, previousVersion } } };
}

/** What a certificate backup holds: the engine's documents of the certificate, its key and its secret. */
interface CertificateBackup {
  certificate: BackupDocument;
  key: BackupDocument;
  secret: BackupDocument;
}

const notInProgress = () => forbidden("Pending status must be in progress to allow update.");
const pendingNotFound = (name: string) => notFound("PendingCertificateNotFound", `Pending certificate not found: ${name}`);

function operationOf(v: CertificateVersion): CertificateOperation {
  return {
    name: v.object.displayName,
    issuer: v.object.policy?.issuer.name ?? "Self",
    ...(v.props.csr ? { csr: v.props.csr } : {}),
    status: "completed",
    cancellationRequested: false,
    requestId: v.version,
  };
}

const pendingOperationOf = (op: PendingOperation): CertificateOperation => ({
  name: op.name,
  issuer: op.issuer,
  csr: op.csr,
  status: op.status,
  ...(op.error ? { error: op.error, statusDetails: op.error.message } : {}),
  cancellationRequested: op.status === "cancelled",
  requestId: op.version,
});

/** x5t: the SHA-1 thumbprint of the DER certificate. */
export const thumbprintOf = (cerBase64: string): Buffer => createHash("sha1").update(Buffer.from(cerBase64, "base64")).digest();

async function asBadParameter<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof TemplateError) throw badParameter(e.message);
    throw e;
  }
}

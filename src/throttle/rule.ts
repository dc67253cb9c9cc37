import type { Awaitable } from "../kernel/awaitable.ts";
import type { Clock } from "../kernel/clock.ts";

/**
 * Azure Key Vault's service limits, per vault and per 10 seconds (Microsoft Learn,
 * "Azure Key Vault service limits"): what each budget is, in units. Key operations other
 * than creates share one weighted budget; every other data-plane transaction (secrets
 * other than set, certificates) shares the "all other transactions" one.
 */
export const AZURE_BUDGETS = {
  /** SecretSet: 300 per 10 s. */
  secretCreate: 300,
  /** Key creates (create, import, rotate): 20 software keys (cost 1) or 10 HSM keys (cost 2). */
  keyCreate: 20,
  /** Other key operations, weighted by the key (keyCost): 4,000 RSA-2048 / EC, 1,000 RSA-3072, 500 RSA-4096. */
  keyOther: 4000,
  /** Every other transaction: secrets other than set, certificates. */
  other: 4000,
} as const;

export type Bucket = keyof typeof AZURE_BUDGETS;

/** The length of a window: Azure counts "per 10 seconds". */
export const WINDOW_MS = 10_000;

/** The instance-wide limit (Azure's per-subscription one) is this many times the per-vault budget. */
export const INSTANCE_FACTOR = 5;

const KEY_CREATES = new Set(["KeyCreate", "KeyImport", "KeyRotate"]);

/** Which budget an operation (authz/operations.ts's names) is counted against. */
export function bucketOf(operation: string): Bucket {
  if (operation === "SecretSet") return "secretCreate";
  if (KEY_CREATES.has(operation)) return "keyCreate";
  if (operation.startsWith("Key") || operation === "RngGet") return "keyOther";
  return "other";
}

/** What of a key decides its weight: the public JWK's type, RSA modulus (base64url) and curve. */
export interface KeyShape {
  kty: string;
  n?: string;
}

/**
 * What one operation on a key costs against the 4,000-unit budget: 1 for RSA-2048 and EC
 * (any curve), 4 for RSA-3072, 8 for RSA-4096; twice that for an HSM key. An unknown key
 * (missing, or not a key operation) costs 1.
 */
export function keyCost(shape: KeyShape | undefined): number {
  if (!shape) return 1;
  const hsm = shape.kty.endsWith("-HSM") ? 2 : 1;
  if (shape.kty.startsWith("RSA") && shape.n) {
    const bits = modulusBits(shape.n);
    return hsm * (bits > 3072 ? 8 : bits > 2048 ? 4 : 1);
  }
  return hsm;
}

/** What one key create costs against the 20-unit create budget: 1 for a software key, 2 for an HSM key (10 per 10 s). */
export const keyCreateCost = (hsm: boolean): number => (hsm ? 2 : 1);

/** The bit length of a base64url big-endian modulus. */
function modulusBits(n: string): number {
  const bytes = Buffer.from(n, "base64url");
  let i = 0;
  while (i < bytes.length && bytes[i] === 0) i++;
  if (i === bytes.length) return 0;
  return (bytes.length - i - 1) * 8 + (32 - Math.clz32(bytes[i]!));
}

/** A budget multiplied by the scale factor, rounded up, at least 1. */
export const scaled = (budget: number, scale: number): number => Math.max(1, Math.ceil(budget * scale));

/** What decides a request's admission: this process's ThrottleRule, or the one every worker of `serve --workers` shares. */
export type Admission = Awaitable<Pick<ThrottleRule, "admit">>;

/**
 * The throttling rule: per vault and per budget, and for the whole instance (5x), how many
 * units the current window has used. Windows are fixed and aligned to the Clock
 * (floor(now / 10 s)), as Azure documents its limits "per 10 seconds" and its 429s come and
 * go on such steps; fixed windows also make a test's budget exact, and moving the dev clock
 * 10 s begins a new one. A request that is refused counts nothing.
 */
export class ThrottleRule {
  private window = Number.NaN;
  private readonly perVault = new Map<string, Map<Bucket, number>>();
  private readonly instance = new Map<Bucket, number>();
  private readonly budgets: Record<Bucket, number>;

  constructor(
    private readonly clock: Clock,
    /** Multiplies every budget (rounded up, at least 1): 0.01 lets a test reach a limit with 40 requests instead of 4,000. */
    scale = 1,
  ) {
    this.budgets = Object.fromEntries(Object.entries(AZURE_BUDGETS).map(([b, n]) => [b, scaled(n, scale)])) as Record<Bucket, number>;
  }

  /** The per-vault budget of a bucket, after scaling (the instance's is INSTANCE_FACTOR times it). */
  budget(bucket: Bucket): number {
    return this.budgets[bucket];
  }

  /** Counts `cost` units of `bucket` for `vault` if both the vault's and the instance's budgets have them in this window. */
  admit(vault: string, bucket: Bucket, cost: number): boolean {
    const window = Math.floor(this.clock.nowMs() / WINDOW_MS);
    if (window !== this.window) {
      this.window = window;
      this.perVault.clear();
      this.instance.clear();
    }
    let used = this.perVault.get(vault);
    const vaultUsed = used?.get(bucket) ?? 0;
    const instanceUsed = this.instance.get(bucket) ?? 0;
    const budget = this.budgets[bucket];
    if (vaultUsed + cost > budget || instanceUsed + cost > budget * INSTANCE_FACTOR) return false;
    if (!used) this.perVault.set(vault, (used = new Map()));
    used.set(bucket, vaultUsed + cost);
    this.instance.set(bucket, instanceUsed + cost);
    return true;
  }
}

import { TtlCache } from "../kernel/cache.ts";
import type { Clock } from "../kernel/clock.ts";
import { bucketOf, keyCost, keyCreateCost, type Admission, type KeyShape } from "./rule.ts";

/** Reads the current version's key type and modulus of a key, or undefined when there is none. */
export type KeyShapes = (vault: string, name: string) => Promise<KeyShape | undefined>;

/** How long a key's shape is kept: a key's type and size change only with a new version, which the same name's creates drop at once. */
const SHAPE_TTL_MS = 60_000;

/** Operations after which a name's key may have another shape (or none). */
const RESHAPING = new Set(["KeyCreate", "KeyImport", "KeyDelete", "KeyPurge", "KeyRecover"]);

/**
 * Decides, for one data-plane request, whether the throttling rule admits it: its budget
 * from its operation, its cost from the key it names (looked up once a minute per name) or,
 * for a key create or import, from the body's key type.
 */
export class RequestThrottle {
  private readonly shapes: TtlCache<string, KeyShape | undefined>;

  constructor(
    private readonly rule: Admission,
    private readonly keyShapes: KeyShapes,
    clock: Clock,
  ) {
    this.shapes = new TtlCache(clock, SHAPE_TTL_MS);
  }

  async admit(vault: string, operation: string, name: string | undefined, body: unknown): Promise<boolean> {
    const bucket = bucketOf(operation);
    let cost = 1;
    if (operation === "KeyRestore") {
      this.shapes.clear();
    } else if (operation === "KeyCreate" || operation === "KeyImport") {
      cost = keyCreateCost(createsHsmKey(body));
      if (name) this.shapes.delete(shapeKey(vault, name));
    } else if (bucket === "keyOther" || operation === "KeyRotate") {
      const shape = name ? await this.shapeOf(vault, name) : undefined;
      cost = operation === "KeyRotate" ? keyCreateCost(Boolean(shape?.kty.endsWith("-HSM"))) : keyCost(shape);
      if (name && RESHAPING.has(operation)) this.shapes.delete(shapeKey(vault, name));
    }
    return this.rule.admit(vault, bucket, cost);
  }

  private shapeOf(vault: string, name: string): Promise<KeyShape | undefined> {
    return this.shapes.through(
      shapeKey(vault, name),
      () => this.keyShapes(vault, name).catch(() => undefined),
      (shape) => shape !== undefined,
    );
  }
}

const shapeKey = (vault: string, name: string): string => `${vault}/${name.toLowerCase()}`;

/** Whether a create or import body asks for an HSM key (kty RSA-HSM or EC-HSM, or import's `Hsm: true`). */
function createsHsmKey(body: unknown): boolean {
  if (typeof body !== "object" || body === null) return false;
  const b = body as { kty?: unknown; Hsm?: unknown; key?: { kty?: unknown } };
  const kty = typeof b.kty === "string" ? b.kty : typeof b.key?.kty === "string" ? b.key.kty : "";
  return kty.endsWith("-HSM") || b.Hsm === true;
}

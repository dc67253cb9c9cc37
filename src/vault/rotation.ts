import { days, durationSeconds } from "./durations.ts";
import { badParameter } from "../kernel/errors.ts";
import { isRecord, storedShapeError, stringField } from "../kernel/json.ts";

export type LifetimeActionType = "Rotate" | "Notify";

export interface LifetimeAction {
  /** A duration after creation or before expiry; or (a certificate's) a share of the validity from notBefore, in percent. */
  trigger: { timeAfterCreate?: string; timeBeforeExpiry?: string; lifetimePercentage?: number };
  action: { type: LifetimeActionType };
}

/** What the scheduler plans from, in any kind's rotation policy. */
export interface LifetimePolicy {
  lifetimeActions: LifetimeAction[];
  expiryTime?: string;
}

/** A rotation policy as stored and returned: GET answers exactly what PUT stored. */
export interface RotationPolicy extends LifetimePolicy {
  created: number;
  updated: number;
}

export interface RotationPolicyInput {
  lifetimeActions?: Array<{ trigger?: { timeAfterCreate?: unknown; timeBeforeExpiry?: unknown }; action?: { type?: unknown } }>;
  attributes?: { expiryTime?: unknown };
}

const MIN_EXPIRY = days(28);
const MIN_TRIGGER = days(7);
const DEFAULT_NOTIFY: LifetimeAction = { trigger: { timeBeforeExpiry: "P30D" }, action: { type: "Notify" } };

/** The policy a key has before one is set: Azure's default, a notification 30 days before expiry. */
export const defaultPolicyActions = (): LifetimeAction[] => [structuredClone(DEFAULT_NOTIFY)];

/**
 * Validates a rotation policy the way Key Vault does and returns what to store:
 * expiryTime at least 28 days; at most one Rotate and one Notify; Rotate with exactly one
 * trigger, at least 7 days after creation and at least 7 days before expiry; Notify only
 * before expiry; a Notify 30 days before expiry added when none is given.
 */
export function validatePolicy(input: RotationPolicyInput, now: number, previous?: RotationPolicy): RotationPolicy {
  const expiryTime = input.attributes?.expiryTime;
  let expirySeconds: number | undefined;
  if (expiryTime !== undefined && expiryTime !== null) {
    expirySeconds = durationSeconds(expiryTime, "expiryTime");
    if (expirySeconds < MIN_EXPIRY) throw badParameter("expiryTime must be at least 28 days (P28D).");
  }
  const actions: LifetimeAction[] = [];
  for (const given of input.lifetimeActions ?? []) {
    const rawType = given?.action?.type;
    const type = typeof rawType === "string" ? rawType.toLowerCase() : "";
    if (type !== "rotate" && type !== "notify") {
      throw badParameter(`Lifetime action type '${String(rawType)}' is not valid: use Rotate or Notify.`);
    }
    const normalized: LifetimeActionType = type === "rotate" ? "Rotate" : "Notify";
    if (actions.some((a) => a.action.type === normalized)) throw badParameter(`A policy can have only one ${normalized} action.`);
    const after = given.trigger?.timeAfterCreate ?? undefined;
    const before = given.trigger?.timeBeforeExpiry ?? undefined;
    if ((after === undefined) === (before === undefined)) {
      throw badParameter(`The ${normalized} action needs exactly one trigger: timeAfterCreate or timeBeforeExpiry.`);
    }
    const trigger: LifetimeAction["trigger"] = {};
    if (after !== undefined) {
      if (normalized === "Notify") throw badParameter("The Notify action supports only timeBeforeExpiry.");
      const s = durationSeconds(after, "timeAfterCreate");
      if (s < MIN_TRIGGER) throw badParameter("timeAfterCreate must be at least 7 days (P7D).");
      if (expirySeconds !== undefined && s > expirySeconds - MIN_TRIGGER) {
        throw badParameter("timeAfterCreate must be at least 7 days before the policy's expiryTime.");
      }
      trigger.timeAfterCreate = after as string;
    } else {
      const s = durationSeconds(before, "timeBeforeExpiry");
      if (s < MIN_TRIGGER) throw badParameter("timeBeforeExpiry must be at least 7 days (P7D).");
      if (normalized === "Rotate") {
        if (expirySeconds === undefined)
          throw badParameter("A Rotate action with timeBeforeExpiry needs expiryTime in the policy's attributes.");
        if (s > expirySeconds - MIN_TRIGGER)
          throw badParameter("timeBeforeExpiry must leave at least 7 days after creation before rotating.");
      }
      trigger.timeBeforeExpiry = before as string;
    }
    actions.push({ trigger, action: { type: normalized } });
  }
  if (!actions.some((a) => a.action.type === "Notify")) actions.push(structuredClone(DEFAULT_NOTIFY));
  return {
    lifetimeActions: actions,
    ...(expiryTime !== undefined && expiryTime !== null ? { expiryTime: expiryTime as string } : {}),
    created: previous?.created ?? now,
    updated: now,
  };
}

/** The expiry a new version gets from a policy: now + expiryTime, or none. */
export const expiryFromPolicy = (policy: RotationPolicy | undefined, now: number): number | undefined =>
  policy?.expiryTime ? now + durationSeconds(policy.expiryTime, "expiryTime") : undefined;

function lifetimeActionOf(stored: unknown): LifetimeAction {
  if (!isRecord(stored) || !isRecord(stored.trigger) || !isRecord(stored.action)) throw storedShapeError("lifetime action");
  const type = stored.action.type;
  if (type !== "Rotate" && type !== "Notify") throw storedShapeError("lifetime action");
  const after = stringField(stored.trigger, "timeAfterCreate");
  const before = stringField(stored.trigger, "timeBeforeExpiry");
  return {
    trigger: { ...(after !== undefined ? { timeAfterCreate: after } : {}), ...(before !== undefined ? { timeBeforeExpiry: before } : {}) },
    action: { type },
  };
}

/** A rotation policy as stored (validatePolicy's output), read back and checked; undefined when none was set. */
export function rotationPolicyOf(stored: unknown): RotationPolicy | undefined {
  if (stored === null || stored === undefined) return undefined;
  if (
    !isRecord(stored) ||
    !Array.isArray(stored.lifetimeActions) ||
    typeof stored.created !== "number" ||
    typeof stored.updated !== "number"
  ) {
    throw storedShapeError("rotation policy");
  }
  const expiryTime = stringField(stored, "expiryTime");
  return {
    lifetimeActions: stored.lifetimeActions.map(lifetimeActionOf),
    ...(expiryTime !== undefined ? { expiryTime } : {}),
    created: stored.created,
    updated: stored.updated,
  };
}

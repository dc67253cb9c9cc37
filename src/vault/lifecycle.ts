import type { ObjectKind, Repo, VersionView } from "../store/store.ts";
import { days, durationSeconds } from "./durations.ts";
import type { LifetimeAction } from "./rotation.ts";

/**
 * What happens around a change to an object, inside the transaction that makes it: the
 * scheduler plans the object's next lifetime actions, the outbox records its events. The
 * domain calls these; scheduler/ and events/ implement them.
 */
export interface Lifecycle {
  /** `latest` was just added as the object's current version (created, imported, rotated). */
  versionCreated(repo: Repo, latest: VersionView): Promise<void>;
  /** Anything else changed the object: properties, policy, deletion, recovery, restore, pruning. */
  objectChanged(repo: Repo, vault: string, kind: ObjectKind, name: string): Promise<void>;
}

export const noLifecycle: Lifecycle = {
  versionCreated: async () => undefined,
  objectChanged: async () => undefined,
};

/** Actions planned from an object's current version and policy. */
export type PlannedActionType = "Rotate" | "NearExpiry" | "Expired" | "DisablePrevious";
export const PLANNED_ACTIONS: readonly PlannedActionType[] = ["Rotate", "NearExpiry", "Expired", "DisablePrevious"];

export interface PlannedAction {
  action: PlannedActionType;
  version: string;
  dueAt: number;
}

const DEFAULT_NEAR_EXPIRY = days(30);

/**
 * When the current version's lifetime actions fall due, as Key Vault runs them: Rotate
 * after creation or before expiry per the policy; a near-expiry notice before expiry (the
 * policy's Notify, 30 days by default); the expiry itself. Events concern the current
 * version only, as Event Grid's KeyNearExpiry / SecretNearExpiry do. A secret version made
 * by a rotation with an overlap disables the version it replaced once the overlap is over.
 */
export function planActions(latest: VersionView): PlannedAction[] {
  const actions = (latest.object.policy?.lifetimeActions as LifetimeAction[] | undefined) ?? [];
  const find = (type: string) => actions.find((a) => a.action.type === type);
  const planned: PlannedAction[] = [];
  const at = (action: PlannedActionType, dueAt: number) => planned.push({ action, version: latest.version, dueAt });

  const rotate = find("Rotate");
  if (rotate?.trigger.timeAfterCreate) at("Rotate", latest.created + durationSeconds(rotate.trigger.timeAfterCreate, "timeAfterCreate"));
  if (rotate?.trigger.timeBeforeExpiry && latest.exp !== null) {
    at("Rotate", latest.exp - durationSeconds(rotate.trigger.timeBeforeExpiry, "timeBeforeExpiry"));
  }
  if (latest.exp !== null) {
    const notify = find("Notify")?.trigger.timeBeforeExpiry;
    at("NearExpiry", latest.exp - (notify ? durationSeconds(notify, "timeBeforeExpiry") : DEFAULT_NEAR_EXPIRY));
    at("Expired", latest.exp);
  }
  const overlap = latest.object.policy?.overlap;
  const rotatedFrom = latest.props?.rotatedFrom;
  if (typeof overlap === "string" && typeof rotatedFrom === "string")
    at("DisablePrevious", latest.created + durationSeconds(overlap, "overlap"));
  return planned;
}

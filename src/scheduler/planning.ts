import { recordEvent } from "../events/outbox.ts";
import { nowSeconds, type Clock } from "../kernel/clock.ts";
import { isRecord } from "../kernel/json.ts";
import type { ObjectKind, Repo, ScheduleRecord } from "../store/store.ts";
import { days, durationSeconds } from "../vault/durations.ts";
import type { KnownState, Lifecycle, PlannedVersion } from "../vault/lifecycle.ts";

/** Actions planned from an object's current version and policy. */
export type PlannedActionType = "Rotate" | "NearExpiry" | "Expired" | "DisablePrevious";
export const PLANNED_ACTIONS: readonly PlannedActionType[] = ["Rotate", "NearExpiry", "Expired", "DisablePrevious"];

export interface PlannedAction {
  action: PlannedActionType;
  version: string;
  dueAt: number;
}

const DEFAULT_NEAR_EXPIRY = days(30);

/** The version a secret version replaced, when a rotation made it (other kinds keep none). */
const replacedBy = (latest: PlannedVersion): string | undefined =>
  isRecord(latest.props) && typeof latest.props.rotatedFrom === "string" ? latest.props.rotatedFrom : undefined;

/**
 * When the current version's lifetime actions fall due, as Key Vault runs them: Rotate
 * after creation or before expiry per the policy; a near-expiry notice before expiry (the
 * policy's Notify, 30 days by default); the expiry itself. Events concern the current
 * version only, as Event Grid's KeyNearExpiry / SecretNearExpiry do. A secret version made
 * by a rotation with an overlap disables the version it replaced once the overlap is over.
 */
export function planActions(latest: PlannedVersion): PlannedAction[] {
  const actions = latest.object.policy?.lifetimeActions ?? [];
  const find = (type: string) => actions.find((a) => a.action.type === type);
  const planned: PlannedAction[] = [];
  const at = (action: PlannedActionType, dueAt: number) => planned.push({ action, version: latest.version, dueAt });

  // A share of the version's validity, from notBefore (a certificate's lifetime_percentage).
  const share = (percent: number | undefined): number | undefined =>
    percent !== undefined && latest.nbf !== null && latest.exp !== null
      ? latest.nbf + Math.floor(((latest.exp - latest.nbf) * percent) / 100)
      : undefined;

  const rotate = find("Rotate");
  if (rotate?.trigger.timeAfterCreate) at("Rotate", latest.created + durationSeconds(rotate.trigger.timeAfterCreate, "timeAfterCreate"));
  if (rotate?.trigger.timeBeforeExpiry && latest.exp !== null) {
    at("Rotate", latest.exp - durationSeconds(rotate.trigger.timeBeforeExpiry, "timeBeforeExpiry"));
  }
  const rotateAt = share(rotate?.trigger.lifetimePercentage);
  if (rotateAt !== undefined) at("Rotate", rotateAt);
  if (latest.exp !== null) {
    const notify = find("Notify")?.trigger;
    at(
      "NearExpiry",
      share(notify?.lifetimePercentage) ??
        latest.exp - (notify?.timeBeforeExpiry ? durationSeconds(notify.timeBeforeExpiry, "timeBeforeExpiry") : DEFAULT_NEAR_EXPIRY),
    );
    at("Expired", latest.exp);
  }
  const overlap = latest.object.policy?.overlap;
  if (overlap !== undefined && replacedBy(latest) !== undefined)
    at("DisablePrevious", latest.created + durationSeconds(overlap, "overlap"));
  return planned;
}

/**
 * Brings an object's schedule in step with its current version (`latest`, undefined once it
 * is deleted). A row already done for the same version and time stays done, so replanning
 * never repeats an action.
 */
export async function replan(
  repo: Repo,
  object: { vault: string; kind: ObjectKind; name: string },
  latest: PlannedVersion | undefined,
  /** The object's schedule rows, when the caller has read them in this transaction. */
  known?: ScheduleRecord[],
): Promise<void> {
  const { vault, kind, name } = object;
  const existing = known ?? (await repo.listSchedule(vault, kind, name));
  if (!latest) {
    if (existing.length) await repo.deleteSchedule(vault, kind, name);
    return;
  }
  const planned = planActions(latest);
  for (const p of planned) {
    const row = existing.find((e) => e.action === p.action);
    if (row && row.version === p.version && row.dueAt === p.dueAt) continue;
    await repo.putSchedule({ vault, kind, name, action: p.action, version: p.version, dueAt: p.dueAt, done: false });
  }
  for (const row of existing) {
    if (PLANNED_ACTIONS.includes(row.action as PlannedActionType) && !planned.some((p) => p.action === row.action)) {
      await repo.deleteSchedule(vault, kind, name, row.action);
    }
  }
}

/**
 * The Lifecycle port as the scheduler keeps it, in the transaction of each change: a new
 * version raises NewVersionCreated, and the object's actions are planned again from the
 * version the domain hands over (no read of it again).
 */
export class ScheduledLifecycle implements Lifecycle {
  constructor(private readonly clock: Clock) {}

  async versionCreated(repo: Repo, latest: PlannedVersion, known?: KnownState): Promise<void> {
    if (known?.subscribed !== false) await recordEvent(repo, latest, "NewVersionCreated", nowSeconds(this.clock));
    await replan(repo, latest, latest, known?.scheduled === false ? [] : undefined);
  }

  objectChanged(repo: Repo, object: { vault: string; kind: ObjectKind; name: string }, latest: PlannedVersion | undefined): Promise<void> {
    return replan(repo, object, latest);
  }
}

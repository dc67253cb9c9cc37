import { nowSeconds, type Clock } from "../kernel/clock.ts";
import { badParameter } from "../kernel/errors.ts";
import type { ObjectKind, Store } from "../store/store.ts";
import { scheduledOperationName } from "./runner.ts";

/** One piece of work the scheduler will do: a lifetime action, or the purge of a deleted object. */
export interface UpcomingAction {
  vault: string;
  kind: ObjectKind;
  /** The object's name as first written. */
  name: string;
  /** Rotate, NearExpiry, Expired, DisablePrevious (scheduler/planning.ts), or Purge. */
  action: string;
  /** The version the action was planned for (none for a purge: it takes the whole object). */
  version?: string;
  /** When it falls due, epoch seconds. */
  due: number;
  /** What the audit log will call it once done (a purge is not audited). */
  operationName?: string;
  /** Until when a process has claimed it: it is being done now. */
  leasedUntil?: number;
  /** For a purge: when the object was deleted. */
  deletedAt?: number;
}

export const UPCOMING_TOP_DEFAULT = 100;
export const UPCOMING_TOP_MAX = 1000;

/**
 * What the scheduler has still to do, soonest first: the pending rows of its schedule and
 * the purges of deleted objects whose retention runs out (the scheduler purges them when
 * their date comes; they have no schedule row). Rows of every kind are shown as stored, so a
 * certificate's backing key and secret have their own.
 */
export class UpcomingWork {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  /** The first `top` of them (of one vault, or all). */
  async list(vault?: string, top = UPCOMING_TOP_DEFAULT): Promise<UpcomingAction[]> {
    if (!Number.isInteger(top) || top < 1 || top > UPCOMING_TOP_MAX)
      throw badParameter(`top must be a whole number from 1 to ${UPCOMING_TOP_MAX}.`);
    const name = vault === undefined ? null : vault.toLowerCase();
    const [actions, purges] = await this.store.read(async (repo) => [
      await repo.listPendingSchedule(name, top),
      await repo.listScheduledPurges(name, top),
    ]);
    const now = nowSeconds(this.clock);
    const upcoming: UpcomingAction[] = [
      ...actions.map((a) => ({
        vault: a.vault,
        kind: a.kind,
        name: a.displayName,
        action: a.action,
        version: a.version,
        due: a.dueAt,
        operationName: scheduledOperationName(a.kind, a.action),
        // A lease that ran out is no claim (its process died): the action waits for another.
        ...(a.leaseUntil !== null && a.leaseUntil > now ? { leasedUntil: a.leaseUntil } : {}),
      })),
      ...purges.map((o) => ({
        vault: o.vault,
        kind: o.kind,
        name: o.displayName,
        action: "Purge",
        due: o.purgeAt!,
        ...(o.deletedAt !== null ? { deletedAt: o.deletedAt } : {}),
      })),
    ];
    const order = (x: UpcomingAction): string => `${x.vault}\u0000${x.kind}\u0000${x.name.toLowerCase()}\u0000${x.action}`;
    return upcoming.sort((a, b) => a.due - b.due || (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0)).slice(0, top);
  }
}

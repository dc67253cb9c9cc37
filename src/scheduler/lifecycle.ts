import { recordEvent } from "../events/outbox.ts";
import type { ObjectKind, Repo, VersionView } from "../store/store.ts";
import { nowSeconds, type Clock } from "../kernel/clock.ts";
import { PLANNED_ACTIONS, planActions, type Lifecycle } from "../vault/lifecycle.ts";

/**
 * Keeps an object's schedule in step with the object, in the transaction of each change:
 * a new version raises NewVersionCreated, and the object's Rotate / NearExpiry / Expired
 * rows are planned again from its current version. A row already done for the same version
 * and time stays done, so replanning never repeats an action.
 */
export class ScheduledLifecycle implements Lifecycle {
  constructor(private readonly clock: Clock) {}

  async versionCreated(repo: Repo, latest: VersionView): Promise<void> {
    await recordEvent(repo, latest, "NewVersionCreated", nowSeconds(this.clock));
    await replan(repo, latest.vault, latest.kind, latest.name);
  }

  async objectChanged(repo: Repo, vault: string, kind: ObjectKind, name: string): Promise<void> {
    await replan(repo, vault, kind, name);
  }
}

export async function replan(repo: Repo, vault: string, kind: ObjectKind, name: string): Promise<void> {
  const latest = await repo.getLatestVersion(vault, kind, name);
  const existing = await repo.listSchedule(vault, kind, name);
  if (!latest || latest.object.deletedAt !== null) {
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
    if (PLANNED_ACTIONS.includes(row.action as never) && !planned.some((p) => p.action === row.action)) {
      await repo.deleteSchedule(vault, kind, name, row.action);
    }
  }
}

import type { ScheduledAudit } from "../audit/audit.ts";
import type { Deliverer } from "../events/delivery.ts";
import { recordEvent } from "../events/outbox.ts";
import { KINDS } from "../kernel/kinds.ts";
import type { ObjectKind, Repo, ScheduleRecord, Store } from "../store/store.ts";
import { nowSeconds, type Clock } from "../kernel/clock.ts";
import type { KeyService } from "../vault/keys.ts";
import type { CertificateService } from "../vault/certificates.ts";
import type { SecretService } from "../vault/secrets.ts";
import type { Vaults } from "../vault/vaults.ts";

export interface SchedulerLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/**
 * Where the scheduler's actions are audited. No action is taken while the log cannot be
 * written (`ready()` false): due work waits for it, as requests do.
 */
export interface SchedulerAudit {
  ready(): boolean;
  record(entry: ScheduledAudit): void;
}

/** Told how the scheduler keeps up (the server turns these into metrics). */
export interface SchedulerObserver {
  /** A run (due actions, purges, deliveries) ended after `seconds`. */
  run(seconds: number): void;
  /**
   * A due action was carried out (`done`), failed (retried in a minute) or found done or
   * replanned meanwhile (`skipped`), `lagSeconds` after it fell due.
   */
  action(action: string, outcome: "done" | "failed" | "skipped", lagSeconds: number): void;
}

/** What the audit log calls a scheduled action when it is done (KeyRotateIfDue, CertificateAutoRenew, SecretNearExpiry, ...). */
export function scheduledOperationName(kind: ObjectKind, action: string): string {
  const { Noun } = KINDS[kind];
  return action === "Rotate" ? (kind === "certificate" ? "CertificateAutoRenew" : `${Noun}RotateIfDue`) : `${Noun}${action}`;
}

/** Thrown inside a transaction when its action was done or replanned meanwhile. */
class NotDue extends Error {}

const RETRY_FAILED_AFTER = 60;
/**
 * A claimed action is leased to its process for this long; if the process dies before it
 * is done, another one takes the action over once the lease has run out.
 */
const LEASE_SECONDS = 120;
const BATCH = 50;

/** What the scheduler works on: an instance's store, clock and services (server/instance.ts's Instance is one). */
export interface SchedulerServices {
  store: Store;
  clock: Clock;
  vaults: Vaults;
  keys: KeyService;
  secrets: SecretService;
  certificates: CertificateService;
}

/**
 * Carries out due lifetime actions, found through the index on their due time. Each is
 * done exactly once: the transaction that has its effect (a new version, an event in the
 * outbox) also marks it done, after checking it is still pending and due. Processes sharing
 * a database first claim an action with a lease (one write transaction; writes are
 * serialized), so one process does the work; a claim whose process died runs out and the
 * action is taken over. Actions that fell due while the server was down are done at start.
 * Then deleted objects past their retention are purged, and the outbox goes out.
 */
export class Scheduler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private completed = 0;

  /** How many runs have ended so far: what a test waits on to know due work had its chance. */
  get runs(): number {
    return this.completed;
  }

  private readonly store: Store;
  private readonly clock: Clock;
  private readonly vaults: Vaults;
  private readonly keys: KeyService;
  private readonly secrets: SecretService;
  private readonly certificates: CertificateService;

  constructor(
    services: SchedulerServices,
    private readonly deliverer: Deliverer,
    private readonly log: SchedulerLog,
    private readonly audit: SchedulerAudit,
    private readonly observer?: SchedulerObserver,
  ) {
    this.store = services.store;
    this.clock = services.clock;
    this.vaults = services.vaults;
    this.keys = services.keys;
    this.secrets = services.secrets;
    this.certificates = services.certificates;
  }

  start(intervalMs: number): void {
    void this.kick();
    this.timer = setInterval(() => void this.kick(), intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** Runs now (or right after the run under way), e.g. after the dev clock moved. */
  kick(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        const started = performance.now();
        try {
          await this.runDue();
          await this.purgeDue();
          await this.deliverer.runOnce();
        } catch (e) {
          this.log.warn({ err: e }, "scheduler run failed");
        }
        this.observer?.run((performance.now() - started) / 1000);
        this.completed++;
      } while (this.again);
      this.running = undefined;
    })();
    return this.running;
  }

  async runDue(): Promise<void> {
    // Each tick also retries a log that could not be written, so it heals without traffic.
    if (!this.audit.ready()) return;
    for (;;) {
      const due = await this.store.read((repo) => repo.listDueSchedule(nowSeconds(this.clock), BATCH));
      if (due.length === 0) return;
      for (const row of due) {
        if (!this.audit.ready()) return;
        const claimed = await this.claim(row);
        if (claimed) await this.execute(claimed);
      }
    }
  }

  /** Deleted objects whose retention has run out go for good (found through the index on purge_at). */
  async purgeDue(): Promise<void> {
    for (const objects of [this.secrets.objects, this.keys.objects, this.certificates.objects]) {
      while ((await objects.purgeDue()) > 0);
    }
  }

  /** The action, leased to this process; undefined if it was done, replanned or claimed meanwhile. */
  private claim(row: ScheduleRecord): Promise<ScheduleRecord | undefined> {
    const now = nowSeconds(this.clock);
    return this.store.write(async (repo) => ((await repo.leaseSchedule(row, now, now + LEASE_SECONDS)) ? row : undefined));
  }

  /** In the effect's transaction: still pending, same plan, due? Then mark it done. */
  private guard(row: ScheduleRecord) {
    return async (repo: Repo): Promise<void> => {
      const current = await repo.getSchedule(row.vault, row.kind, row.name, row.action);
      if (!current || current.done || current.version !== row.version || current.dueAt !== row.dueAt) throw new NotDue();
      await repo.putSchedule({ ...current, done: true });
    };
  }

  private async execute(row: ScheduleRecord): Promise<void> {
    const what = { vault: row.vault, kind: row.kind, name: row.name, action: row.action, version: row.version };
    const started = performance.now();
    const lag = Math.max(0, nowSeconds(this.clock) - row.dueAt);
    const observed = (outcome: "done" | "failed" | "skipped") => this.observer?.action(row.action, outcome, lag);
    const operationName = scheduledOperationName(row.kind, row.action);
    const audited = (version?: string, error?: string) =>
      this.audit.record({
        operationName,
        vault: row.vault,
        kind: row.kind,
        name: row.name,
        version,
        durationMs: Math.round(performance.now() - started),
        error,
      });
    try {
      const vault = await this.vaults.find(row.vault);
      if (!vault) throw new NotDue();
      switch (row.action) {
        case "Rotate": {
          const v =
            row.kind === "key"
              ? await this.keys.rotate(vault, row.name, { guard: this.guard(row) })
              : row.kind === "certificate"
                ? await this.certificates.renew(vault, row.name, this.guard(row))
                : (await this.secrets.rotateByPolicy(vault, row.name, this.guard(row))).version;
          this.log.info({ ...what, operationName, newVersion: v.version }, "rotated by policy");
          audited(v.version);
          observed("done");
          return;
        }
        case "NearExpiry":
        case "Expired":
          await this.store.write(async (repo) => {
            await this.guard(row)(repo);
            const latest = await repo.getLatestVersion(row.vault, row.kind, row.name);
            if (latest?.version === row.version)
              await recordEvent(repo, latest, row.action as "NearExpiry" | "Expired", nowSeconds(this.clock));
          });
          audited(row.version);
          observed("done");
          return;
        case "DisablePrevious":
          await this.secrets.endOverlap(row.vault, row.name, row.version, this.guard(row));
          audited(row.version);
          observed("done");
          return;
        default:
          throw new NotDue();
      }
    } catch (e) {
      if (e instanceof NotDue) {
        await this.store.write(async (repo) => {
          const current = await repo.getSchedule(row.vault, row.kind, row.name, row.action);
          if (current && !current.done && current.version === row.version && current.dueAt === row.dueAt)
            await repo.putSchedule({ ...current, done: true });
        });
        observed("skipped");
        return;
      }
      // Try again later rather than spin on an action that fails (e.g. a rotator webhook down).
      this.log.warn({ ...what, err: e }, "lifetime action failed; retrying in a minute");
      audited(undefined, e instanceof Error ? e.message : String(e));
      observed("failed");
      await this.store.write(async (repo) => {
        const current = await repo.getSchedule(row.vault, row.kind, row.name, row.action);
        if (current && !current.done) await repo.putSchedule({ ...current, dueAt: nowSeconds(this.clock) + RETRY_FAILED_AFTER });
      });
    }
  }
}

import { after } from "node:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ScheduledAudit } from "../../src/audit/audit.ts";
import { Deliverer } from "../../src/events/delivery.ts";
import { Scheduler } from "../../src/scheduler/runner.ts";
import { openInstance, type Instance } from "../../src/server/instance.ts";
import type { Store } from "../../src/store/store.ts";
import type { StoredDevClock } from "../../src/vault/devclock.ts";
import type { Vault } from "../../src/vault/vaults.ts";
import type { Fetch } from "../../src/webhooks/send.ts";

export const DAY = 86_400;

export interface InProcess {
  instance: Instance;
  clock: StoredDevClock;
  vault: Vault;
  /** Moves the dev clock forward. */
  advance(seconds: number): Promise<void>;
}

/**
 * A Lockbox instance in this process, on SQLite in a data directory of its own, with the dev
 * clock: the services without HTTP, for tests of the rules. Call it at the top of a test file
 * (`const p = await inProcess()`): it is closed and removed after the file.
 */
export async function inProcess(): Promise<InProcess> {
  const dir = mkdtempSync(join(tmpdir(), "lockbox-service-"));
  const instance = await openInstance(dir, {}, { devClock: true, storage: { engine: "sqlite" } });
  after(async () => {
    await instance.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const clock = instance.devClock!;
  const vault = (await instance.vaults.find("default"))!;
  return { instance, clock, vault, advance: (seconds) => clock.advance(seconds) };
}

/** What a scheduler in this process did and was told, for the assertions of a test. */
export interface SchedulerProbe {
  scheduler: Scheduler;
  audited: ScheduledAudit[];
  /** Whether the audit log counts as writable; while false, the scheduler must wait. */
  auditWritable: boolean;
  warnings: string[];
}

/** A scheduler over an in-process instance, with an audit sink and a deliverer whose HTTP is `fetchImpl`. */
export function schedulerOf(p: InProcess, options: { fetchImpl?: Fetch; store?: Store } = {}): SchedulerProbe {
  const { instance } = p;
  const store = options.store ?? instance.store;
  const warnings: string[] = [];
  const log = { info: () => undefined, warn: (_fields: object, message: string) => void warnings.push(message) };
  const deliverer = new Deliverer(
    store,
    instance.clock,
    { publicOrigin: (vault) => `https://${vault}.vault.localhost:8443`, subscriptionId: instance.tenantId },
    { warn: (message) => void warnings.push(message) },
    options.fetchImpl,
  );
  const state = { audited: [] as ScheduledAudit[], auditWritable: true, warnings };
  const scheduler = new Scheduler({ ...instance, store }, deliverer, log, {
    ready: () => state.auditWritable,
    record: (entry) => void state.audited.push(entry),
  });
  return Object.assign(state, { scheduler });
}

import cluster, { type Worker } from "node:cluster";
import { fileURLToPath } from "node:url";
import { AggregatorRegistry } from "prom-client";
import { AuditLog } from "../audit/audit.ts";
import type { ConsoleSessions } from "../console/sessions.ts";
import type { FaultRules, Faults } from "../faults/faults.ts";
import type { Scheduler } from "../scheduler/runner.ts";
import type { ThrottleRule } from "../throttle/rule.ts";
import type { Config } from "./config.ts";
import { claimRuntime } from "./environment.ts";
import { prepareDataDir } from "./datadir.ts";
import { createLogger } from "./logging.ts";
import { Metrics, type MetricsServer, type Scrape } from "./metrics.ts";
import { openInstance, type Instance } from "./instance.ts";
import { loadSeed } from "./seed.ts";
import {
  announce,
  applyServerSeed,
  instanceOptions,
  originOn,
  listenHttps,
  metricsPortOf,
  newServerState,
  onSignals,
  startScheduler,
  tlsOf,
  type Https,
} from "./serve.ts";
import { Channel, remote, serveObject, type Handler, type Port } from "./shared.ts";

/** The worker's program: TypeScript under tsx (tests, development), JavaScript once built. */
const WORKER_MAIN = fileURLToPath(new URL(import.meta.url.endsWith(".ts") ? "./worker-main.ts" : "./worker-main.js", import.meta.url));

const FAULT_METHODS = ["add", "list", "clear", "remove", "match"] as const satisfies ReadonlyArray<keyof Faults>;
const SESSION_METHODS = ["createLink", "redeemLink", "open", "find", "close", "closeAllOf"] as const satisfies ReadonlyArray<
  keyof ConsoleSessions
>;
const ADMISSION_METHODS = ["admit"] as const satisfies ReadonlyArray<keyof ThrottleRule>;

/** A worker that exits before it listens is tried again this many times in a row before the server gives up. */
const START_ATTEMPTS = 3;

/**
 * `serve --workers N`: this process (the primary) holds the data directory, runs the
 * scheduler and deliveries (once for the server) and keeps what must be counted once: fault
 * rules, the throttling count, console sessions. N worker processes serve HTTPS on one port
 * (node:cluster hands them connections in turn); each opens the store itself and asks the
 * primary, by message, for the state kept here. A worker that dies is replaced; SIGTERM drains
 * every worker, then the scheduler, then exits 0.
 */
export async function serveWorkers(config: Config, options: { seedFile?: string } = {}): Promise<void> {
  const log = createLogger(config.logLevel, config.logFormat);
  const seed = options.seedFile === undefined ? undefined : { file: options.seedFile, ...loadSeed(options.seedFile) };
  if (config.storage.engine === "memory")
    throw new Error(
      "--in-memory keeps the store in one process's memory, which workers cannot share: use --workers 1, or SQLite or PostgreSQL.",
    );
  const metrics = new Metrics();
  prepareDataDir(config.dataDir);
  const claim = claimRuntime(config.dataDir);
  process.once("exit", () => claim.release());
  const instance = await openInstance(config.dataDir, process.env, instanceOptions(config, metrics));
  const seeded = seed ? await applyServerSeed(instance, seed, () => instance.close()) : [];
  // Made here once, so workers only read it.
  const tls = await tlsOf(config, instance);
  const audit = new AuditLog(config.auditLog, { failed: (m) => log.error(m), recovered: (m) => log.warn(m) });
  const state = newServerState(instance, config, metrics);
  // Before an answer that depends on them: what the workers changed just now (on SQLite, the
  // caches; a dev clock a worker moved, on either engine).
  const caughtUp = async (): Promise<void> => {
    await instance.store.syncChanges();
    await instance.devClock?.refresh();
  };
  let scheduler: Scheduler | undefined;

  const workers = new Map<Worker, Channel>();
  /** Workers whose channel is open (they said `ready`): a message to one still loading would be lost. */
  const heardFrom = new Set<Worker>();
  let stopping = false;
  const faultsActive = async (): Promise<void> => {
    const active = state.faults.list().length > 0;
    await Promise.all([...workers.values()].map((c) => c.call("faultsActive", active).catch(() => undefined)));
  };
  const handlers: Record<string, Handler> = {
    ...serveObject("faults", state.faults, ["list", "match"]),
    // A change is answered once every worker knows whether there are rules.
    ...Object.fromEntries(
      (["add", "clear", "remove"] as const).map((m) => [
        `faults.${m}`,
        async (arg: never) => {
          const result = state.faults[m](arg);
          await faultsActive();
          return result;
        },
      ]),
    ),
    ...serveObject("sessions", state.sessions, SESSION_METHODS),
    "admission.admit": async (vault: string, bucket: Parameters<ThrottleRule["admit"]>[1], cost: number) => {
      await caughtUp();
      return state.admission.admit(vault, bucket, cost);
    },
    runDueWork: async () => {
      await caughtUp();
      await scheduler?.kick();
    },
    schedulerRuns: () => scheduler?.runs ?? 0,
    scrape: () => scrapeAll(),
  };
  const scrapeAll = async (): Promise<Scrape> => {
    const own = await metrics.registry.getMetricsAsJSON();
    const theirs = await Promise.all([...workers.values()].map((c) => c.call<object>("metrics").catch(() => undefined)));
    const registry = AggregatorRegistry.aggregate([own, ...theirs.filter((m) => m !== undefined)]);
    return { contentType: registry.contentType, body: await registry.metrics() };
  };

  cluster.setupPrimary({ exec: WORKER_MAIN, execArgv: process.execArgv, args: [], serialization: "advanced" });
  const workerConfig: Config = { ...config, init: false, maxConnections: Math.ceil(config.maxConnections / config.workers) };
  /** Starts one worker; answers its port once it listens. */
  const startWorker = async (): Promise<number> => {
    const worker = cluster.fork();
    // A message sent before the worker listens would be lost: it says when it does.
    let ready!: () => void;
    const heard = new Promise<void>((resolve) => (ready = resolve));
    const channel = new Channel(worker as unknown as Port, { ...handlers, ready: () => ready() });
    workers.set(worker, channel);
    void heard.then(() => heardFrom.add(worker));
    worker.once("exit", (code, signal) => {
      workers.delete(worker);
      heardFrom.delete(worker);
      channel.fail(new Error(`worker ${worker.process.pid} exited`));
      if (stopping || !listening) return;
      log.warn(`worker ${worker.process.pid} exited (${signal ?? `code ${code}`}): starting another`);
      void replace();
    });
    await Promise.race([heard, new Promise((_, reject) => worker.once("exit", () => reject(new Error("a worker exited as it started"))))]);
    return channel.call<number>("start", workerConfig, state.faults.list().length > 0);
  };
  let listening = false;
  const replace = async (attempt = 1): Promise<void> => {
    try {
      await startWorker();
    } catch (e) {
      if (stopping) return;
      log.error({ err: e }, `a new worker could not start (attempt ${attempt})`);
      if (attempt < START_ATTEMPTS) setTimeout(() => void replace(attempt + 1), 1000 * attempt).unref();
    }
  };

  let port: number;
  let metricsServer: MetricsServer | undefined;
  try {
    const ports = await Promise.all(Array.from({ length: config.workers }, () => startWorker()));
    port = ports[0]!;
    listening = true;
    metricsServer = await metricsPortOf(config, scrapeAll);
  } catch (e) {
    stopping = true;
    for (const worker of workers.keys()) worker.process.kill("SIGKILL");
    audit.close();
    await instance.close();
    claim.release();
    throw e;
  }
  const publicOrigin = originOn(config.dnsSuffix, () => port);
  claim.publish({ port, dnsSuffix: config.dnsSuffix, caFile: tls.caFile, auditLog: config.auditLog });
  scheduler = startScheduler(instance, log, audit, metrics, publicOrigin);
  // A dev clock moved through a worker reaches the scheduler's next run.
  const follow = setInterval(() => void caughtUp().catch(() => undefined), 250);

  onSignals(
    log,
    async () => {
      stopping = true;
      clearInterval(follow);
      // Each worker finishes its requests in flight and exits; then the scheduler stops.
      await Promise.all(
        [...workers.entries()].map(
          ([worker, channel]) =>
            new Promise<void>((resolve) => {
              if (worker.isDead()) return resolve();
              worker.once("exit", () => resolve());
              // One still starting (a replacement) would not hear `stop`, and has no requests: a signal ends it.
              if (heardFrom.has(worker)) channel.call("stop").catch(() => undefined);
              else worker.process.kill("SIGTERM");
            }),
        ),
      );
      await metricsServer?.close();
      await scheduler?.stop();
      audit.close();
      await instance.close();
      claim.release();
    },
    () => {
      audit.reopen();
      for (const channel of workers.values()) void channel.call("reopenAudit").catch(() => undefined);
    },
  );
  announce(config, { port, caFile: tls.caFile, metricsPort: metricsServer?.port, seeded, workers: config.workers });
}

/**
 * One worker of `serve --workers N` (worker-main.ts): waits for the primary's `start`, then
 * opens the store and serves HTTPS with the primary's shared state, until the primary says
 * `stop` (or a signal comes, or the primary is gone): then it finishes its requests in flight
 * and exits.
 */
export function runWorker(): void {
  const port: Port = {
    send: (message) => process.send!(message),
    on: (event: "message" | "disconnect", listener: (message: unknown) => void) => process.on(event, listener),
  };
  let server: { https: Https; instance: Instance } | undefined;
  let faults: WorkerFaults | undefined;
  let metrics: Metrics | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      if (server) {
        await server.https.app.close();
        server.https.audit.close();
        await server.instance.close();
      }
      // After the answer to `stop` has gone.
      setImmediate(() => process.exit(0));
    })());
  const channel: Channel = new Channel(port, {
    start: async (config: Config, faultsActive: boolean) => {
      const log = createLogger(config.logLevel, config.logFormat);
      metrics = new Metrics();
      const instance = await openInstance(config.dataDir, process.env, { ...instanceOptions(config, metrics), existing: true });
      faults = new WorkerFaults(channel, faultsActive);
      const https = await listenHttps(config, log, metrics, instance, {
        state: {
          faults,
          admission: remote<ThrottleRule>(channel, "admission", ADMISSION_METHODS),
          sessions: remote<ConsoleSessions>(channel, "sessions", SESSION_METHODS),
        },
        runDueWork: () => channel.call("runDueWork"),
        schedulerRuns: () => channel.call("schedulerRuns"),
        scrape: () => channel.call("scrape"),
      });
      server = { https, instance };
      return https.port;
    },
    stop,
    faultsActive: (active: boolean) => {
      if (faults) faults.active = active;
    },
    reopenAudit: () => void server?.https.audit.reopen(),
    metrics: () => metrics?.registry.getMetricsAsJSON() ?? [],
  });
  void channel.call("ready");
  // Signals to the whole process group (a terminal's Ctrl-C, a service manager's stop) reach workers too: the primary's `stop` comes as well.
  process.on("SIGINT", () => void stop());
  process.on("SIGTERM", () => void stop());
  process.on("SIGHUP", () => undefined);
  process.on("disconnect", () => void stop());
}

/**
 * A worker's view of the primary's fault rules: every change and every match is the
 * primary's, so a rule's count is spent once for the whole server; while there are no rules
 * (the primary says so before a change is answered), requests are matched against nothing
 * without a message.
 */
class WorkerFaults implements FaultRules {
  private readonly rules: FaultRules;

  constructor(
    channel: Channel,
    public active: boolean,
  ) {
    this.rules = remote<Faults>(channel, "faults", FAULT_METHODS);
  }

  add(input: unknown) {
    return this.rules.add(input);
  }
  list() {
    return this.rules.list();
  }
  clear() {
    return this.rules.clear();
  }
  remove(id: string) {
    return this.rules.remove(id);
  }
  match(target: Parameters<Faults["match"]>[0]) {
    return this.active ? this.rules.match(target) : undefined;
  }
}

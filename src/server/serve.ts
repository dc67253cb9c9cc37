import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Tokens } from "../identity/tokens.ts";
import { Scheduler } from "../scheduler/runner.ts";
import { Deliverer } from "../events/delivery.ts";
import { AuditLog, scheduledEvent } from "../audit/audit.ts";
import { systemClock } from "../kernel/clock.ts";
import { buildApp, type ServerState } from "./app.ts";
import type { Config } from "./config.ts";
import { claimRuntime, MEMORY_IDENTITY_FILE, shellQuote, type MemoryIdentity, type RuntimeClaim } from "./environment.ts";
import { prepareDataDir } from "./datadir.ts";
import type { Logger } from "pino";
import { createLogger, FASTIFY_LISTENING } from "./logging.ts";
import { Metrics, serveMetrics, type MetricsServer, type Scrape } from "./metrics.ts";
import { openInstance, type Instance, type InstanceOptions } from "./instance.ts";
import { DEFAULT_VAULT } from "../vault/vaults.ts";
import { ensureTls, operatorTls, type TlsMaterial } from "./tls.ts";
import type { FastifyInstance } from "fastify";
import { Faults } from "../faults/faults.ts";
import { ThrottleRule } from "../throttle/rule.ts";
import { ConsoleSessions } from "../console/sessions.ts";
import { applySeed, describeChange, describeNote, loadSeed, seedFailure } from "./seed.ts";

const SCHEDULER_INTERVAL_MS = 1000;
/** Under the dev clock, clients are told tokens last this long in real time (see identity/tokens.ts). */
const DEV_CLOCK_TOKEN_SECONDS = 240;

/** A server started by startServer: where it listens, and how to stop it. */
export interface RunningServer {
  port: number;
  config: Config;
  instance: Instance;
  /** Where plain-HTTP GET /metrics listens on 127.0.0.1 (--metrics-port), if it does. */
  metricsPort?: number;
  /** This server's metrics, also on GET /metrics of the HTTPS port. */
  metrics: Metrics;
  /** The local CA clients must trust (absent with an operator's certificate). */
  caFile?: string;
  /** https://{vault}.{dns-suffix}[:port] */
  publicOrigin(vault: string): string;
  /** Log rotation: the audit log was moved away; write on at its path. */
  reopenAudit(): void;
  /** Stops accepting, finishes the requests in flight, stops the scheduler, closes the store and gives up the data directory. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** The data directory is a temporary one (temporaryDataDir()): removed when the server stops, or the process exits. */
  removeDataDir?: boolean;
}

/** A new, empty data directory under the system's temporary folder, for a server that keeps nothing (see StartOptions.removeDataDir). */
export const temporaryDataDir = (): string => mkdtempSync(join(tmpdir(), "lockbox-"));

/**
 * Opens the data directory (one server per data directory: see claimRuntime), listens on
 * HTTPS and starts the scheduler. `lockbox serve` and the in-process API both start here.
 */
export async function startServer(
  config: Config,
  log: Logger = createLogger(config.logLevel, config.logFormat),
  options: StartOptions = {},
): Promise<RunningServer> {
  const metrics = new Metrics();
  prepareDataDir(config.dataDir);
  const claim = claimRuntime(config.dataDir);
  const released = (): void => {
    claim.release();
    if (config.storage.engine === "memory") rmSync(join(config.dataDir, MEMORY_IDENTITY_FILE), { force: true });
    if (options.removeDataDir) rmSync(config.dataDir, { recursive: true, force: true });
  };
  process.once("exit", released);
  let instance: Instance | undefined;
  try {
    instance = await openInstance(config.dataDir, process.env, instanceOptions(config, metrics));
    return await listen(config, log, metrics, instance, claim, () => {
      released();
      process.removeListener("exit", released);
    });
  } catch (e) {
    await instance?.close();
    released();
    process.removeListener("exit", released);
    throw e;
  }
}

/** How a server process opens its instance: the config's clock, storage and --init, observed by its metrics. */
export const instanceOptions = (config: Config, metrics: Metrics): InstanceOptions => ({
  devClock: config.devClock,
  storage: config.storage,
  init: config.init,
  observers: { commits: metrics.commits, cache: metrics.cache },
  processPerCore: config.workers > 1,
});

/** Where the local CA or the operator's certificate is (made now, the first time). */
export function tlsOf(config: Config, instance: Instance): Promise<TlsMaterial> {
  return config.tlsCert && config.tlsKey
    ? Promise.resolve(operatorTls(config.tlsCert, config.tlsKey))
    : ensureTls(join(config.dataDir, "tls"), config.dnsSuffix, instance.sharedCa);
}

/** https://{vault}.{dns-suffix}[:port], for a server on `port`. */
export const originOn =
  (dnsSuffix: string, port: () => number) =>
  (vault: string): string =>
    `https://${vault}.${dnsSuffix}${port() === 443 ? "" : `:${port()}`}`;

/**
 * The rules a server keeps in memory, once for all its processes: fault rules, the throttling
 * count and console sessions. The one process of a server has them, or the primary of
 * `serve --workers N` for all its workers (workers.ts).
 */
export function newServerState(instance: Instance, config: Config, metrics: Metrics) {
  return {
    faults: new Faults(instance.clock, metrics.faults),
    admission: new ThrottleRule(instance.clock, config.throttle.scale),
    sessions: new ConsoleSessions(systemClock),
  };
}

/** What a process's HTTPS server reaches of its server's shared state and scheduler (its own, or the primary's). */
export interface ServerParts {
  state: ServerState;
  /** Runs due lifetime actions and deliveries now. */
  runDueWork: () => Promise<void>;
  /** How many scheduler runs have ended. */
  schedulerRuns: () => number | Promise<number>;
  /** The server's metrics, for GET /metrics. */
  scrape: () => Promise<Scrape>;
}

/** One process's HTTPS server, listening. */
export interface Https {
  app: FastifyInstance;
  port: number;
  tls: TlsMaterial;
  audit: AuditLog;
  publicOrigin: (vault: string) => string;
}

/** Builds the HTTPS application on an open instance and listens (on the port the primary shares, in a worker). */
export async function listenHttps(config: Config, log: Logger, metrics: Metrics, instance: Instance, parts: ServerParts): Promise<Https> {
  const tls = await tlsOf(config, instance);
  const clientLifetime = instance.devClock ? { clock: systemClock, seconds: DEV_CLOCK_TOKEN_SECONDS } : undefined;
  const tokens = await Tokens.load(
    instance.store,
    instance.keyring,
    instance.clock,
    instance.tenantId,
    `https://${config.dnsSuffix}`,
    clientLifetime,
    metrics.tokens,
  );
  // The port is known once listening (--port 0).
  let port = config.port;
  const publicOrigin = originOn(config.dnsSuffix, () => port);
  const audit = new AuditLog(config.auditLog, { failed: (m) => log.error(m), recovered: (m) => log.warn(m) });
  const app = await buildApp({ config, instance, tokens, tls, publicOrigin, audit, log, metrics, ...parts });
  try {
    // fastify's own "Server listening" line is dropped (FASTIFY_LISTENING): serve prints the one banner.
    await app.listen({ host: config.host, port: config.port, listenTextResolver: () => FASTIFY_LISTENING });
  } catch (e) {
    audit.close();
    throw e;
  }
  const address = app.server.address();
  port = typeof address === "object" && address ? address.port : config.port;
  return { app, port, tls, audit, publicOrigin };
}

/** The plain-HTTP metrics port (--metrics-port), if the config has one. */
export async function metricsPortOf(config: Config, scrape: () => Promise<Scrape>): Promise<MetricsServer | undefined> {
  if (config.metricsPort === undefined) return undefined;
  try {
    return await serveMetrics(scrape, config.metricsPort);
  } catch (e) {
    throw new Error(`the metrics port ${config.metricsPort} on 127.0.0.1 cannot be used: ${(e as { code?: string }).code ?? String(e)}`, {
      cause: e,
    });
  }
}

/** Starts running due work on a clock: lifetime actions, purges and deliveries, with its audit lines. */
export function startScheduler(
  instance: Instance,
  log: Logger,
  audit: AuditLog,
  metrics: Metrics,
  publicOrigin: (vault: string) => string,
): Scheduler {
  const deliverer = new Deliverer(
    instance.store,
    instance.clock,
    { publicOrigin, subscriptionId: instance.tenantId },
    {
      warn: (message, err) => (err === undefined ? log.warn(message) : log.warn({ err }, message)),
    },
    fetch,
    metrics.deliveries,
  );
  metrics.watchDeliveries(() => deliverer.pending());
  const scheduler = new Scheduler(
    instance,
    deliverer,
    log,
    {
      ready: () => audit.ready(),
      record: (entry) =>
        audit.record(
          scheduledEvent(entry, { timeMs: instance.clock.nowMs(), subscription: instance.tenantId, origin: publicOrigin(entry.vault) }),
        ),
    },
    metrics.scheduler,
  );
  scheduler.start(SCHEDULER_INTERVAL_MS);
  return scheduler;
}

async function listen(
  config: Config,
  log: Logger,
  metrics: Metrics,
  instance: Instance,
  claim: RuntimeClaim,
  done: () => void,
): Promise<RunningServer> {
  // The scheduler, which needs the port for the ids in events, starts once listening.
  let scheduler: Scheduler | undefined;
  const state = newServerState(instance, config, metrics);
  const scrape = (): Promise<Scrape> => metrics.scrape();
  const { app, port, tls, audit, publicOrigin } = await listenHttps(config, log, metrics, instance, {
    state,
    runDueWork: async () => scheduler?.kick(),
    schedulerRuns: () => scheduler?.runs ?? 0,
    scrape,
  });
  let metricsServer: MetricsServer | undefined;
  try {
    metricsServer = await metricsPortOf(config, scrape);
  } catch (e) {
    await app.close();
    audit.close();
    throw e;
  }
  const memory = config.storage.engine === "memory";
  if (memory) {
    // Only this process can read an in-memory store: `lockbox env` reads the developer
    // identity here instead (mode 0600, beside the CA key; removed at stop).
    const identity: MemoryIdentity = { tenantId: instance.tenantId, identityHeader: await instance.developerHeader() };
    writeFileSync(join(config.dataDir, MEMORY_IDENTITY_FILE), JSON.stringify(identity) + "\n", { mode: 0o600 });
  }
  claim.publish({ port, dnsSuffix: config.dnsSuffix, caFile: tls.caFile, auditLog: config.auditLog, ...(memory ? { memory } : {}) });
  scheduler = startScheduler(instance, log, audit, metrics, publicOrigin);

  let stopped: Promise<void> | undefined;
  return {
    port,
    metricsPort: metricsServer?.port,
    metrics,
    config,
    instance,
    caFile: tls.caFile,
    publicOrigin,
    reopenAudit: () => void audit.reopen(),
    stop() {
      stopped ??= (async () => {
        await app.close();
        await metricsServer?.close();
        await scheduler?.stop();
        audit.close();
        await instance.close();
        done(); // gives up the data directory (and removes it, if it was a temporary one)
      })();
      return stopped;
    },
  };
}

/**
 * `lockbox serve` with one process (`--workers N`: workers.ts): starts the server, prints
 * where it listens and how to get a client environment (never a credential: stdout is often
 * a log), and on SIGINT/SIGTERM stops accepting, finishes the requests in flight, closes the
 * store and exits 0.
 */
export async function serve(config: Config, options: StartOptions & { seedFile?: string } = {}): Promise<void> {
  const log = createLogger(config.logLevel, config.logFormat);
  // A seed file is read and checked on its own before anything starts.
  const seed = options.seedFile === undefined ? undefined : { file: options.seedFile, ...loadSeed(options.seedFile) };
  const server = await startServer(config, log, options);
  const seeded = seed ? await applyServerSeed(server.instance, seed, () => server.stop()) : [];
  // Ready for a signal before anyone is told the server is up.
  onSignals(
    log,
    () => server.stop(),
    () => server.reopenAudit(),
  );
  announce(config, { port: server.port, caFile: server.caFile, metricsPort: server.metricsPort, seeded });
}

/** SIGINT and SIGTERM: `stop`, then exit 0 (once, whatever comes after); SIGHUP (log rotation): the audit log was moved away, write on at its path. */
export function onSignals(log: Logger, stop: () => Promise<void>, reopenAudit: () => void): void {
  let stopping = false;
  const stopOn = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info(`${signal} received: finishing requests in flight`);
    await stop();
    process.exit(0);
  };
  process.on("SIGINT", () => void stopOn("SIGINT"));
  process.on("SIGTERM", () => void stopOn("SIGTERM"));
  process.on("SIGHUP", reopenAudit);
}

/** Prints where the server listens, with the seed's lines first: the banner tests and users wait for. */
export function announce(
  config: Config,
  server: { port: number; caFile?: string; metricsPort?: number; seeded: string[]; workers?: number },
): void {
  const { port } = server;
  const shownHost = config.host.includes(":") ? `[${config.host}]` : config.host;
  const processes = server.workers ? ` by ${server.workers} worker processes` : "";
  process.stdout.write(
    [
      ...server.seeded,
      config.storage.engine === "memory"
        ? `Lockbox listening on https://${shownHost}:${port} (data in memory, gone at exit; TLS files in ${config.dataDir})`
        : `Lockbox listening on https://${shownHost}:${port}${processes} (data in ${config.dataDir})`,
      `Vault URLs: https://{vault}.${config.dnsSuffix}:${port}, e.g. KEYVAULT_URL=https://${DEFAULT_VAULT}.${config.dnsSuffix}:${port}`,
      server.caFile
        ? `TLS: certificate from the local CA ${server.caFile} (NODE_EXTRA_CA_CERTS)`
        : `TLS: the certificate ${config.tlsCert}`,
      `Audit log: ${config.auditLog}`,
      `Metrics: https://${shownHost}:${port}/metrics${server.metricsPort !== undefined ? ` and http://127.0.0.1:${server.metricsPort}/metrics` : ""}`,
      ...(config.console
        ? [
            `Console: https://${shownHost === "0.0.0.0" || shownHost === "[::]" ? "127.0.0.1" : shownHost}:${port}/console/ (a sign-in link: npx lockbox console)`,
          ]
        : []),
      "",
      "For a program's environment (IDENTITY_ENDPOINT, IDENTITY_HEADER, ...), run in another terminal:",
      `  eval "$(npx lockbox env --data-dir ${shellQuote(config.dataDir)})"`,
      `Names under .localhost need a hosts line: echo "127.0.0.1 ${DEFAULT_VAULT}.${config.dnsSuffix}" | sudo tee -a /etc/hosts`,
      "",
    ].join("\n"),
  );
}

/** A seed file, read and checked (loadSeed). */
export type LoadedSeed = { file: string; seed: unknown; baseDir: string };

/**
 * `serve --seed`: applies the seed once the store is open, and says what it changed. A seed
 * that fails stops the server (`stop`). No credential is printed (stdout is often a log): the
 * seed's credentialsFile has them, or `lockbox identity|sp rotate` makes new ones.
 */
export async function applyServerSeed(instance: Instance, seed: LoadedSeed, stop: () => Promise<void>): Promise<string[]> {
  let result;
  try {
    result = await applySeed(instance, seed.seed, seed.baseDir);
  } catch (e) {
    await stop();
    throw seedFailure(seed.file, e);
  }
  const lines = [
    ...result.changes.map((c) => `Seed ${seed.file}: ${describeChange(c)}`),
    ...result.notes.map((n) => `Seed ${seed.file}: ${describeNote(n)}`),
  ];
  if (result.changes.length === 0) lines.push(`Seed ${seed.file}: nothing to change`);
  if (result.credentialsFile) lines.push(`Seed ${seed.file}: credentials written to ${result.credentialsFile}`);
  else
    for (const { identity } of result.credentials)
      lines.push(
        `Seed ${seed.file}: serve prints no credential of ${identity.name}; name a credentialsFile in the seed, or run lockbox ${identity.kind === "managed" ? "identity" : "sp"} rotate ${identity.name}`,
      );
  return lines;
}

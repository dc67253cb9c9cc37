import { availableParallelism } from "node:os";
import { resolve } from "node:path";
import { readMarker } from "./datadir.ts";

/** Everything `lockbox serve` can be told, from flags and the environment, in one typed object. */
export interface Config {
  host: string;
  port: number;
  dataDir: string;
  /** Vault hosts are `{vault}.{dnsSuffix}`; the challenge resource is `https://{dnsSuffix}`. */
  dnsSuffix: string;
  tlsCert?: string;
  tlsKey?: string;
  logLevel: LogLevel;
  /** pretty: one human line per event; json: one JSON object per line (for log collectors). */
  logFormat: LogFormat;
  /** Also serve plain-HTTP GET /metrics on 127.0.0.1 at this port (0: any free port). */
  metricsPort?: number;
  /** Time is a clock tests can move (GET/POST /lockbox/v1/clock). */
  devClock: boolean;
  /** Where AuditEvent lines are appended. */
  auditLog: string;
  storage: Storage;
  /** A whole request (headers and body) must arrive within this long; headers within at most 10 s. */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this long. */
  keepAliveTimeoutMs: number;
  /** At most this many connections at once; more are closed as they come. */
  maxConnections: number;
  /** `serve --init`: an empty store may begin a new instance even though a root key was given. */
  init: boolean;
  /** The web console at /console/ (`--no-console`, LOCKBOX_CONSOLE=0: off). */
  console: boolean;
  /** `--throttle azure`: Azure's per-vault and instance-wide budgets (src/throttle/); a vault's own setting wins. */
  throttle: ThrottleConfig;
  /** `--workers N`: HTTPS served by N processes on one port (server/workers.ts); 1: this process alone. */
  workers: number;
}

export interface ThrottleConfig {
  /** Vaults without a setting of their own are throttled (`--throttle azure`). */
  on: boolean;
  /** Multiplies every budget (rounded up, at least 1). */
  scale: number;
  /** A Retry-After (seconds) on each 429; undefined: none, as Azure sends. */
  retryAfterSeconds?: number;
}

/**
 * Where an instance keeps its data: SQLite in the data directory (the default), PostgreSQL,
 * or an in-memory SQLite database that is gone when the server stops (tests, `serve --in-memory`).
 */
export type Storage = { engine: "sqlite" } | { engine: "postgres"; url: string } | { engine: "memory" };

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ["pretty", "json"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export const DEFAULT_PORT = 8443;
export const DEFAULT_DNS_SUFFIX = "vault.localhost";

export interface ConfigFlags {
  host?: string;
  port?: string | number;
  dataDir?: string;
  dnsSuffix?: string;
  tlsCert?: string;
  tlsKey?: string;
  logLevel?: string;
  logFormat?: string;
  metricsPort?: string | number;
  devClock?: boolean;
  auditLog?: string;
  storage?: string;
  postgresUrl?: string;
  /** `serve --in-memory`: the store is an in-memory SQLite database (see Storage). */
  inMemory?: boolean;
  requestTimeout?: string | number;
  keepAliveTimeout?: string | number;
  maxConnections?: string | number;
  init?: boolean;
  /** commander's `--no-console`: false. */
  console?: boolean;
  throttle?: string;
  throttleRetryAfter?: string;
  throttleScale?: string | number;
  workers?: string | number;
}

/** --workers N or auto (one per core) and LOCKBOX_WORKERS; default 1. */
export function workersOf(flags: ConfigFlags, env: NodeJS.ProcessEnv = process.env): number {
  const value = String(flags.workers ?? env.LOCKBOX_WORKERS ?? 1).toLowerCase();
  if (value === "auto") return availableParallelism();
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > MAX_WORKERS)
    throw new Error(`invalid number of workers (1 to ${MAX_WORKERS}, or auto): ${value}`);
  return n;
}

export const MAX_WORKERS = 64;

/** --throttle azure|off, --throttle-retry-after omit|N and --throttle-scale F (and their LOCKBOX_THROTTLE* variables). */
export function throttleOf(flags: ConfigFlags, env: NodeJS.ProcessEnv = process.env): ThrottleConfig {
  const mode = oneOf((flags.throttle ?? env.LOCKBOX_THROTTLE ?? "off").toLowerCase(), ["azure", "off"] as const, "throttle mode");
  const retryAfter = (flags.throttleRetryAfter ?? env.LOCKBOX_THROTTLE_RETRY_AFTER ?? "omit").toLowerCase();
  const retryAfterSeconds = retryAfter === "omit" ? undefined : positive(retryAfter, "throttle Retry-After (omit or whole seconds)", true);
  const scale = positive(flags.throttleScale ?? env.LOCKBOX_THROTTLE_SCALE ?? 1, "throttle scale");
  return { on: mode === "azure", scale, retryAfterSeconds };
}

export const DEFAULT_REQUEST_TIMEOUT_SECONDS = 30;
/** Longer than the 60 s idle timeout of common load balancers, so they close first. */
export const DEFAULT_KEEP_ALIVE_TIMEOUT_SECONDS = 72;
export const DEFAULT_MAX_CONNECTIONS = 1000;

function positive(value: string | number, what: string, integer = false): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) throw new Error(`invalid ${what}: ${value}`);
  return n;
}

export function parsePort(value: string | number, what = "port"): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid ${what}: ${value}`);
  return port;
}

export function dataDirOf(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(flag ?? env.LOCKBOX_DATA_DIR ?? ".lockbox");
}

/**
 * --storage / LOCKBOX_STORAGE (sqlite or postgres) and --postgres-url / LOCKBOX_POSTGRES_URL;
 * a PostgreSQL URL alone means postgres.
 */
export function storageOf(
  flags: { storage?: string; postgresUrl?: string },
  env: NodeJS.ProcessEnv = process.env,
  recorded?: Storage,
): Storage {
  const given = flags.storage ?? env.LOCKBOX_STORAGE;
  const url =
    flags.postgresUrl ?? env.LOCKBOX_POSTGRES_URL ?? (given === undefined || given === "postgres" ? recordedUrl(recorded) : undefined);
  const engine = given ?? (url ? "postgres" : (recorded?.engine ?? "sqlite"));
  if (engine === "sqlite") return { engine };
  if (engine !== "postgres") throw new Error(`invalid storage: ${engine} (sqlite or postgres)`);
  if (!url) throw new Error("--storage postgres needs --postgres-url or LOCKBOX_POSTGRES_URL");
  return { engine, url };
}

function memoryStorage(flags: ConfigFlags): Storage {
  if (flags.storage || flags.postgresUrl) throw new Error("--in-memory and --storage or --postgres-url exclude each other");
  return { engine: "memory" };
}

const recordedUrl = (recorded: Storage | undefined): string | undefined => (recorded?.engine === "postgres" ? recorded.url : undefined);

/** A PostgreSQL URL as it may be written down and shown: without its password (which comes from PGPASSWORD or ~/.pgpass). */
export function withoutPassword(url: string): string {
  const u = new URL(url);
  u.password = "";
  u.searchParams.delete("password");
  return u.toString();
}

function oneOf<T extends string>(value: string, allowed: readonly T[], what: string): T {
  if (!(allowed as readonly string[]).includes(value)) throw new Error(`invalid ${what}: ${value} (${allowed.join(", ")})`);
  return value as T;
}

/**
 * The serve command's configuration, checked before anything is made: a bad flag is one
 * line, and no data directory, store or logger exists yet. `stdoutIsTty` picks the default
 * log format (pretty on a terminal, JSON lines otherwise).
 */
export function resolveConfig(
  flags: ConfigFlags,
  env: NodeJS.ProcessEnv = process.env,
  stdoutIsTty: boolean = Boolean(process.stdout.isTTY),
): Config {
  const logLevel = oneOf((flags.logLevel ?? env.LOCKBOX_LOG_LEVEL ?? "info").toLowerCase(), LOG_LEVELS, "log level");
  const logFormat = oneOf(
    (flags.logFormat ?? env.LOCKBOX_LOG_FORMAT ?? (stdoutIsTty ? "pretty" : "json")).toLowerCase(),
    LOG_FORMATS,
    "log format",
  );
  const metricsPortGiven = flags.metricsPort ?? env.LOCKBOX_METRICS_PORT;
  const metricsPort = metricsPortGiven === undefined || metricsPortGiven === "" ? undefined : parsePort(metricsPortGiven, "metrics port");
  const tlsCert = flags.tlsCert ?? env.LOCKBOX_TLS_CERT;
  const tlsKey = flags.tlsKey ?? env.LOCKBOX_TLS_KEY;
  if (Boolean(tlsCert) !== Boolean(tlsKey)) throw new Error("--tls-cert and --tls-key go together");
  const dnsSuffix = (flags.dnsSuffix ?? env.LOCKBOX_DNS_SUFFIX ?? DEFAULT_DNS_SUFFIX).toLowerCase().replace(/^\.+|\.+$/g, "");
  if (!/^[a-z0-9-]+(\.[a-z0-9-]+)+$/.test(dnsSuffix)) throw new Error(`invalid DNS suffix: ${dnsSuffix}`);
  return {
    host: flags.host ?? env.LOCKBOX_HOST ?? "127.0.0.1",
    port: parsePort(flags.port ?? env.LOCKBOX_PORT ?? DEFAULT_PORT),
    dataDir: dataDirOf(flags.dataDir, env),
    auditLog: resolve(flags.auditLog ?? env.LOCKBOX_AUDIT_LOG ?? `${dataDirOf(flags.dataDir, env)}/audit.log`),
    dnsSuffix,
    tlsCert: tlsCert ? resolve(tlsCert) : undefined,
    tlsKey: tlsKey ? resolve(tlsKey) : undefined,
    logLevel,
    logFormat,
    metricsPort,
    devClock: flags.devClock ?? env.LOCKBOX_DEV_CLOCK === "1",
    storage: flags.inMemory ? memoryStorage(flags) : storageOf(flags, env, readMarker(dataDirOf(flags.dataDir, env))?.storage),
    requestTimeoutMs: Math.round(
      1000 * positive(flags.requestTimeout ?? env.LOCKBOX_REQUEST_TIMEOUT ?? DEFAULT_REQUEST_TIMEOUT_SECONDS, "request timeout"),
    ),
    keepAliveTimeoutMs: Math.round(
      1000 * positive(flags.keepAliveTimeout ?? env.LOCKBOX_KEEP_ALIVE_TIMEOUT ?? DEFAULT_KEEP_ALIVE_TIMEOUT_SECONDS, "keep-alive timeout"),
    ),
    maxConnections: positive(flags.maxConnections ?? env.LOCKBOX_MAX_CONNECTIONS ?? DEFAULT_MAX_CONNECTIONS, "connection limit", true),
    init: flags.init ?? false,
    console: flags.console ?? env.LOCKBOX_CONSOLE !== "0",
    throttle: throttleOf(flags, env),
    workers: workersOf(flags, env),
  };
}

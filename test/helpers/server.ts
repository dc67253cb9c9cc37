import "./dns.ts";
import { after, before } from "node:test";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createDatabase, dropDatabase, testEngine } from "./postgres.ts";
import { watchOutput } from "./output.ts";

export const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const CLI = join(ROOT, "src/cli/main.ts");

export interface ClientEnv {
  NODE_EXTRA_CA_CERTS?: string;
  IDENTITY_ENDPOINT: string;
  IDENTITY_HEADER: string;
  TENANT_ID: string;
  KEYVAULT_URL: string;
}

export interface Lockbox {
  port: number;
  dataDir: string;
  env: ClientEnv;
  /** https://{vault}.vault.localhost:PORT */
  vaultUrl(vault?: string): string;
  /** https://localhost:PORT, the vault `default`. */
  localUrl: string;
  /** Everything the server printed on stdout and stderr so far. */
  output(): string;
  /** SIGTERM, and the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL, no goodbye. */
  kill(): Promise<void>;
  process: ChildProcess;
}

/** Where newDataDir() notes the data directory's own PostgreSQL database, when the engine is postgres. */
const POSTGRES_URL_FILE = "test-postgres-url";

/**
 * A fresh data directory whose TLS material is issued by the test run's CA. With
 * LOCKBOX_TEST_ENGINE=postgres it also gets its own database on LOCKBOX_TEST_POSTGRES_URL's
 * server (see engineEnv), so tests that share nothing on SQLite share nothing there either.
 */
export function newDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "lockbox-test-"));
  const ca = process.env.LOCKBOX_TEST_TLS_DIR;
  if (ca) {
    mkdirSync(join(dir, "tls"), { recursive: true, mode: 0o700 });
    copyFileSync(join(ca, "ca.pem"), join(dir, "tls/ca.pem"));
    copyFileSync(join(ca, "ca.key"), join(dir, "tls/ca.key"));
  }
  if (testEngine() === "postgres") {
    const admin = process.env.LOCKBOX_TEST_POSTGRES_URL;
    if (!admin) throw new Error("LOCKBOX_TEST_ENGINE=postgres needs LOCKBOX_TEST_POSTGRES_URL (test/run.mjs sets it)");
    writeFileSync(join(dir, POSTGRES_URL_FILE), createDatabase(admin));
  }
  return dir;
}

/** The environment that points Lockbox at DATADIR's own database: LOCKBOX_POSTGRES_URL, or nothing on SQLite. */
export function engineEnv(dataDir: string): NodeJS.ProcessEnv {
  const file = join(dataDir, POSTGRES_URL_FILE);
  return existsSync(file) ? { LOCKBOX_POSTGRES_URL: readFileSync(file, "utf8").trim() } : {};
}

/** The data directory a CLI invocation uses: --data-dir in ARGS, else LOCKBOX_DATA_DIR. */
function dataDirOf(args: string[], env: NodeJS.ProcessEnv): string | undefined {
  for (const [i, arg] of args.entries()) {
    if (arg === "--data-dir") return args[i + 1];
    if (arg.startsWith("--data-dir=")) return arg.slice("--data-dir=".length);
  }
  return env.LOCKBOX_DATA_DIR ?? process.env.LOCKBOX_DATA_DIR;
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The process environment of a CLI invocation: its data directory's database when it has one,
 * then ENV. Not the test run's own CA variables (a user's shell has none; `lockbox env` would
 * keep them in what it prints), unless ENV gives them.
 */
const cliEnv = (args: string[], env: NodeJS.ProcessEnv): NodeJS.ProcessEnv => {
  const dataDir = dataDirOf(args, env);
  const { NODE_EXTRA_CA_CERTS: _node, SSL_CERT_FILE: _ssl, ...inherited } = process.env;
  return { ...inherited, ...(dataDir ? engineEnv(dataDir) : {}), ...env };
};

/** Runs the `lockbox` CLI to completion, against its data directory's database when it has one; `input` is its standard input. */
export function cli(args: string[], env: NodeJS.ProcessEnv = {}, input = ""): CliResult {
  const r = spawnSync(process.execPath, ["--import", "tsx", CLI, ...args], { cwd: ROOT, env: cliEnv(args, env), encoding: "utf8", input });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `lockbox role assign` of a built-in role on a vault (default: `default`), which must succeed. */
export function assignRole(dataDir: string, assignee: string, role: string, vault = "default"): void {
  const r = cli(["role", "assign", "--vault", vault, "--assignee", assignee, "--role", role, "--data-dir", dataDir]);
  if (r.status !== 0) throw new Error(`lockbox role assign ${role} to ${assignee} failed (${r.status}):\n${r.stderr}`);
}

/** Runs a command line through another (e.g. `unshare`, `nsenter`): gets it, returns what to run. */
export type Via = (argv: string[]) => string[];

/** cli() without holding up this process while it runs (servers and webhooks in the test keep answering). */
export function cliAsync(args: string[], env: NodeJS.ProcessEnv = {}, via: Via = (argv) => argv): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const [command, ...commandArgs] = via([process.execPath, "--import", "tsx", CLI, ...args]);
    const child = spawn(command!, commandArgs, { cwd: ROOT, env: cliEnv(args, env) });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

/** What `lockbox env --json` prints for a data directory, as a user gets a program's environment. */
export async function clientEnvOf(dataDir: string, env: NodeJS.ProcessEnv = {}, via?: Via): Promise<ClientEnv> {
  const r = await cliAsync(["env", "--json", "--data-dir", dataDir], env, via);
  if (r.status !== 0) throw new Error(`lockbox env failed (${r.status}):\n${r.stderr}`);
  return JSON.parse(r.stdout) as ClientEnv;
}

export interface StartOptions {
  dataDir?: string;
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** Runs the server's command line through another (e.g. `unshare`). */
  spawnVia?: Via;
  /** Runs `lockbox env` for the started server (its pid) through another command line (e.g. `nsenter` into its namespaces). */
  cliVia?: (pid: number) => Via;
}

/** Starts a real Lockbox server (`lockbox serve --port 0`) and waits until it is listening. */
export async function startLockbox(options: StartOptions = {}): Promise<Lockbox> {
  const dataDir = options.dataDir ?? newDataDir();
  const argv = [process.execPath, "--import", "tsx", CLI, "serve", "--port", "0", "--data-dir", dataDir, ...(options.args ?? [])];
  const [command, ...commandArgs] = options.spawnVia ? options.spawnVia(argv) : argv;
  const child = spawn(command!, commandArgs, {
    cwd: ROOT,
    env: { ...process.env, ...engineEnv(dataDir), ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output = watchOutput(child);
  const { exited } = output;
  // The banner is whole once it names `lockbox env`.
  const port = Number((await output.until(/listening on https:\/\/[^\s:]+:(\d+)[^]*lockbox env/, 30_000, "Lockbox"))[1]);

  let env: ClientEnv;
  try {
    env = await clientEnvOf(dataDir, options.env, options.cliVia?.(child.pid!));
  } catch (e) {
    child.kill("SIGKILL");
    throw e;
  }
  return {
    port,
    dataDir,
    env,
    vaultUrl: (vault = "default") => `https://${vault}.vault.localhost:${port}`,
    localUrl: `https://localhost:${port}`,
    output: output.text,
    process: child,
    async stop() {
      child.kill("SIGTERM");
      return exited;
    },
    async kill() {
      child.kill("SIGKILL");
      await exited;
    },
  };
}

/**
 * Exports the server's client environment into this process, as a user's shell would, so
 * that `new DefaultAzureCredential()` finds the managed identity endpoint.
 */
export function useEnvironment(lockbox: Lockbox): void {
  process.env.IDENTITY_ENDPOINT = lockbox.env.IDENTITY_ENDPOINT;
  process.env.IDENTITY_HEADER = lockbox.env.IDENTITY_HEADER;
}

/** Removes a data directory, and drops its database when it has one. */
export function removeDataDir(dir: string): void {
  const url = engineEnv(dir).LOCKBOX_POSTGRES_URL;
  const admin = process.env.LOCKBOX_TEST_POSTGRES_URL;
  if (url && admin) {
    try {
      dropDatabase(admin, new URL(url).pathname.slice(1));
    } catch {
      // Best effort, like rmSync's force: the cluster goes at the end of the run anyway.
    }
  }
  rmSync(dir, { recursive: true, force: true });
}

/** Remembers the client environment useEnvironment changes; the function returned puts it back. */
export function saveEnvironment(): () => void {
  const saved = { IDENTITY_ENDPOINT: process.env.IDENTITY_ENDPOINT, IDENTITY_HEADER: process.env.IDENTITY_HEADER };
  return () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}

/**
 * One Lockbox for a test file: started before its tests with its client environment
 * exported (as a user's shell would); stopped, its data directory removed and the
 * environment put back after them.
 */
export function serveForFile(options: StartOptions, ready: (lockbox: Lockbox) => void | Promise<void>): void {
  let lockbox: Lockbox | undefined;
  const restoreEnvironment = saveEnvironment();
  before(async () => {
    lockbox = await startLockbox(options);
    useEnvironment(lockbox);
    await ready(lockbox);
  });
  after(async () => {
    restoreEnvironment();
    if (!lockbox) return;
    await lockbox.stop();
    removeDataDir(lockbox.dataDir);
  });
}

/** SIGTERM, and SIGKILL if the server has not exited 15 s later (e.g. a scheduler run that never ends). */
export async function stopOrKill(server: Lockbox): Promise<number | null> {
  const timer = setTimeout(() => void server.kill(), 15_000);
  try {
    return await server.stop();
  } finally {
    clearTimeout(timer);
  }
}

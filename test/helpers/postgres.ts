// PostgreSQL for the tests: a throwaway cluster (initdb into a temp directory, a free port,
// removed when stopped) and a database per Lockbox data directory on it. test/run.mjs loads
// this file too (through tsx), so there is one implementation of the cluster.
import { execFile, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  accessSync,
  appendFileSync,
  chownSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";

export type TestEngine = "sqlite" | "postgres";

/** The storage engine the integration tests run against: LOCKBOX_TEST_ENGINE, sqlite unless set. */
export function testEngine(): TestEngine {
  const engine = process.env.LOCKBOX_TEST_ENGINE || "sqlite";
  // A typo would otherwise quietly run the sqlite pass a second time.
  if (engine !== "sqlite" && engine !== "postgres") throw new Error(`LOCKBOX_TEST_ENGINE must be sqlite or postgres, not ${engine}`);
  return engine;
}

const isExecutable = (file: string): boolean => {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/**
 * The directory holding PostgreSQL's server binaries (initdb and pg_ctl): PATH first, then
 * Debian's /usr/lib/postgresql/VERSION/bin, newest first, then /usr/local/bin. Symlinks are
 * followed, so /usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb gives the directory
 * that also has psql.
 */
export function findPostgresBin(): string | undefined {
  const debian = (() => {
    try {
      return readdirSync("/usr/lib/postgresql")
        .filter((v) => /^\d+(\.\d+)?$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
        .map((v) => join("/usr/lib/postgresql", v, "bin"));
    } catch {
      return [];
    }
  })();
  const candidates = [...(process.env.PATH ?? "").split(delimiter).filter(Boolean), ...debian, "/usr/local/bin"];
  for (const dir of candidates) {
    if (!isExecutable(join(dir, "initdb")) || !isExecutable(join(dir, "pg_ctl"))) continue;
    const real = dirname(realpathSync(join(dir, "initdb")));
    return isExecutable(join(real, "pg_ctl")) ? real : dir;
  }
  return undefined;
}

/** psql beside the server binaries when there is one, else whichever is on PATH (Debian's wrapper). */
function psqlPath(): string {
  const bin = findPostgresBin();
  return bin && isExecutable(join(bin, "psql")) ? join(bin, "psql") : "psql";
}

/** The environment without PG* variables, so a developer's PGHOST or PGPORT cannot redirect a tool. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("PG")));
}

const asRoot = (): boolean => process.getuid?.() === 0;

/**
 * PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` user
 * (Debian's package makes it; a machine with only the binaries may not have it, so make it).
 * Its uid and gid, for chown.
 */
function postgresUser(): { uid: number; gid: number } {
  if (spawnSync("id", ["-u", "postgres"], { stdio: "ignore" }).status !== 0) {
    const made = spawnSync("useradd", ["--system", "--no-create-home", "postgres"], { encoding: "utf8" });
    if (made.status !== 0) throw new Error(`could not create the postgres user: ${made.stderr}`);
  }
  const id = (flag: string): number => Number(spawnSync("id", [flag, "postgres"], { encoding: "utf8" }).stdout.trim());
  return { uid: id("-u"), gid: id("-g") };
}

/** Runs a PostgreSQL tool to completion, as `postgres` when we are root; rejects with its output. */
function runTool(bin: string, tool: string, args: string[], cwd: string): Promise<string> {
  const [file, argv] = asRoot() ? ["runuser", ["-u", "postgres", "--", join(bin, tool), ...args]] : [join(bin, tool), args];
  return new Promise((resolve, reject) => {
    // cwd is the cluster's own directory: `postgres` may not be allowed into the caller's.
    execFile(file, argv, { cwd, env: cleanEnv(), encoding: "utf8" }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${tool} ${args.join(" ")} failed: ${error.message}\n${stdout}${stderr}`));
      else resolve(stdout + stderr);
    });
  });
}

/** A TCP port on 127.0.0.1 that was free a moment ago (start retries if another process takes it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

export interface ThrowawayCluster {
  /** postgres://postgres@127.0.0.1:PORT/postgres, trust auth: the superuser, no password. */
  url: string;
  /** The temp directory holding the data directory, the socket and the log. */
  dir: string;
  /** Stops the server at once and removes its directory; safe to call twice. */
  stop(): Promise<void>;
  /** Shuts the server down (an outage), keeping its data, port and directory. */
  halt(): Promise<void>;
  /** Starts the server again after halt(). */
  resume(): Promise<void>;
}

/**
 * initdb into a new temp directory and start the server on a free port of 127.0.0.1, its
 * unix socket inside that directory. Nothing in it outlives stop(), so durability settings
 * are off for speed, unless `durable` (the benchmark measures commits as users have them).
 */
export async function startThrowawayCluster(options: { durable?: boolean } = {}): Promise<ThrowawayCluster> {
  const bin = findPostgresBin();
  if (!bin) throw new Error("PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql");
  const owner = asRoot() ? postgresUser() : undefined;

  const dir = mkdtempSync(join(tmpdir(), "lockbox-pg-"));
  const data = join(dir, "data");
  const socket = join(dir, "sock");
  const log = join(dir, "postgres.log");
  mkdirSync(socket, { mode: 0o700 });
  // mkdtemp made dir 0700; as root, hand it and the socket directory to `postgres`.
  if (owner) for (const p of [dir, socket]) chownSync(p, owner.uid, owner.gid);

  const startServer = (): Promise<string> => runTool(bin, "pg_ctl", ["start", "-D", data, "-l", log, "-w", "-t", "60"], dir);
  let started = false;
  const stop = async (): Promise<void> => {
    if (started) {
      started = false;
      // immediate: no shutdown checkpoint, the files are deleted next anyway.
      await runTool(bin, "pg_ctl", ["stop", "-D", data, "-m", "immediate", "-w"], dir).catch(() => undefined);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    // --locale=C: a fresh CI machine may have no locales generated; trust: local, throwaway.
    await runTool(bin, "initdb", ["-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"], dir);
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      // Appended, so the later value wins over initdb's defaults. fsync, synchronous_commit and
      // full_page_writes off: crash safety buys nothing for a cluster deleted after the run.
      // max_connections 300: several Lockbox processes, each with a pool, run at once.
      appendFileSync(
        join(data, "postgresql.conf"),
        [
          "",
          "# test/helpers/postgres.ts",
          "listen_addresses = '127.0.0.1'",
          `port = ${port}`,
          `unix_socket_directories = '${socket}'`,
          "max_connections = 300",
          ...(options.durable ? [] : ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]),
          "",
        ].join("\n"),
      );
      try {
        await startServer();
        started = true;
        return {
          url: `postgres://postgres@127.0.0.1:${port}/postgres`,
          dir,
          stop,
          halt: async () => void (await runTool(bin, "pg_ctl", ["stop", "-D", data, "-m", "fast", "-w"], dir)),
          resume: async () => void (await startServer()),
        };
      } catch (error) {
        // The port was taken between freePort() and the bind: try another.
        const text = existsSync(log) ? readFileSync(log, "utf8") : "";
        if (attempt < 3 && /could not (bind|create listen socket)/i.test(text)) continue;
        throw new Error(`${(error as Error).message}\n--- ${log} ---\n${text}`);
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Runs one SQL statement with psql, synchronously; throws with psql's output on failure. */
function psql(url: string, sql: string): void {
  const r = spawnSync(psqlPath(), ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql], {
    env: cleanEnv(),
    encoding: "utf8",
    timeout: 60_000,
  });
  if (r.status !== 0)
    throw new Error(`psql ${JSON.stringify(sql)} failed (${r.error?.message ?? `exit ${r.status}`}):\n${r.stdout}${r.stderr}`);
}

const checkName = (name: string): string => {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`not a plain database name: ${name}`);
  return name;
};

/** The URL of database NAME on the same server as URL. */
export function databaseUrl(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/**
 * Creates a database (lockbox_test_<hex> unless named) on the server of adminUrl and returns
 * its URL. Synchronous, because newDataDir() is.
 */
export function createDatabase(adminUrl: string, name = `lockbox_test_${randomBytes(6).toString("hex")}`): string {
  psql(adminUrl, `CREATE DATABASE "${checkName(name)}"`);
  return databaseUrl(adminUrl, name);
}

/** Drops a database, ending any connection still open to it. Synchronous; no error if it is gone. */
export function dropDatabase(adminUrl: string, name: string): void {
  psql(adminUrl, `DROP DATABASE IF EXISTS "${checkName(name)}" WITH (FORCE)`);
}

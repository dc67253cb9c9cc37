// Runs every test. The SDK trusts only CAs known at process start (NODE_EXTRA_CA_CERTS),
// so one local CA is made here first and every test server's certificate is issued by it.
//
// Passes: the unit, service and package tests and the integration tests on SQLite, then the integration tests
// again on PostgreSQL (LOCKBOX_TEST_ENGINE=postgres). The PostgreSQL server is
// LOCKBOX_TEST_POSTGRES_URL if set, else a throwaway cluster started here and removed at
// the end. LOCKBOX_TEST_ENGINE=sqlite|postgres runs everything on that engine only.
// `node test/run.mjs FILES...` runs just those files, on LOCKBOX_TEST_ENGINE (sqlite unless set).
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { tsImport } from "tsx/esm/api";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
// One implementation of the cluster, shared with the tests: loaded through tsx.
const { startThrowawayCluster, testEngine } = await tsImport("./helpers/postgres.ts", import.meta.url);

// LOCKBOX_TEST_POSTGRES=0 leaves the PostgreSQL pass out (a quick local run).
const POSTGRES_PASS = process.env.LOCKBOX_TEST_POSTGRES !== "0";

const testFiles = (dir) =>
  (existsSync(join(root, "test", dir)) ? readdirSync(join(root, "test", dir), { recursive: true }) : [])
    .map(String)
    .filter((f) => f.endsWith(".test.ts"))
    .sort()
    .map((f) => join("test", dir, f));

const only = process.argv.slice(2);
const chosen = process.env.LOCKBOX_TEST_ENGINE ? testEngine() : undefined; // testEngine() rejects a typo
const engines = chosen ? [chosen] : POSTGRES_PASS ? ["sqlite", "postgres"] : ["sqlite"];
// The unit and service tests (in-process, on SQLite) do not depend on the engine: they run
// once, with the first pass.
const passes = only.length
  ? [{ engine: chosen ?? "sqlite", files: only }]
  : engines.map((engine, i) => ({
      engine,
      // test/postgres: several processes on one database, which only PostgreSQL allows.
      files: [
        // test/package: the package and the in-process API, which keep their data in SQLite or memory.
        // test/console: the web console in Chromium, whose rules do not depend on the engine.
        ...(i === 0 ? [...testFiles("unit"), ...testFiles("service"), ...testFiles("package"), ...testFiles("console")] : []),
        ...testFiles("integration"),
        ...(engine === "postgres" ? testFiles("postgres") : []),
      ],
    }));

// The console's page, which the servers under test serve from dist/web (a second's work).
const web = spawnSync(process.execPath, [join(root, "web/build.mjs")], { stdio: "inherit", cwd: root });
if (web.status !== 0) process.exit(web.status ?? 1);

const tlsDir = mkdtempSync(join(tmpdir(), "lockbox-test-ca-"));
const made = spawnSync(process.execPath, ["--import", "tsx", join(root, "test/helpers/make-ca.ts"), tlsDir], {
  stdio: "inherit",
  cwd: root,
});
if (made.status !== 0) {
  rmSync(tlsDir, { recursive: true, force: true });
  process.exit(made.status ?? 1);
}

// Forward SIGINT/SIGTERM to the running pass and run no further pass, so that the cleanup
// below (the cluster above all, which pg_ctl detached from us) still happens.
let child;
let interrupted = false;
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    interrupted = true;
    child?.kill(signal);
  });
}

function runPass(files, env) {
  return new Promise((resolve) => {
    child = spawn(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=2", ...files], { stdio: "inherit", cwd: root, env });
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0)));
    child.on("error", () => resolve(1));
  });
}

let cluster;
const failed = [];
try {
  for (const { engine, files } of passes) {
    if (interrupted) break;
    const env = { ...process.env, NODE_EXTRA_CA_CERTS: join(tlsDir, "ca.pem"), LOCKBOX_TEST_TLS_DIR: tlsDir };
    delete env.LOCKBOX_TEST_ENGINE;
    if (engine === "postgres") {
      if (!env.LOCKBOX_TEST_POSTGRES_URL) {
        const started = Date.now();
        cluster = await startThrowawayCluster();
        console.error(`test/run.mjs: PostgreSQL at ${cluster.url} (${cluster.dir}), started in ${Date.now() - started} ms`);
        env.LOCKBOX_TEST_POSTGRES_URL = cluster.url;
        env.LOCKBOX_TEST_POSTGRES_DIR = cluster.dir; // for the plaintext-at-rest search
      }
      env.LOCKBOX_TEST_ENGINE = "postgres";
    }
    console.error(`test/run.mjs: ${files.length} test files on ${engine}`);
    const status = await runPass(files, env);
    if (status !== 0) failed.push(`${engine} (exit ${status})`);
  }
} catch (error) {
  console.error(error);
  failed.push("setup");
} finally {
  await cluster?.stop();
  rmSync(tlsDir, { recursive: true, force: true });
}
if (failed.length) console.error(`test/run.mjs: failed: ${failed.join(", ")}`);
process.exit(failed.length || interrupted ? 1 : 0);

// The npm package: `npm pack` on a fresh copy of the sources (no dist/: prepack builds it),
// installed from the tarball into an empty folder, runs `lockbox --version`, `lockbox
// serve` and `import { startLockbox } from "lockbox"` there.
//
// Dependencies come from the npm cache where it has them (--prefer-offline: npm still asks
// the registry for package metadata the cache lacks). better-sqlite3's install script is
// not run (--ignore-scripts): it fetches a prebuilt binary from GitHub or compiles SQLite
// for a minute or more, neither of which belongs in a test of Lockbox's package. The addon
// this checkout built (the same pinned version) is copied in instead.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { watchOutput } from "../helpers/output.ts";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const version = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;

function run(cmd: string, args: string[], cwd: string, timeout = 120_000): string {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", timeout, env: { ...process.env, npm_config_update_notifier: "false" } });
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

function get(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, agent: false }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString("utf8")));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

test("npm pack makes a tarball that installs into an empty folder and runs", { timeout: 300_000 }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), "lockbox-package-"));
  try {
    // A fresh checkout: the files git knows (and new ones it does not ignore), no dist/.
    const clone = join(tmp, "clone");
    const files = run("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], ROOT)
      .split("\0")
      .filter((f) => f !== "" && f !== "node_modules");
    for (const f of files) {
      mkdirSync(dirname(join(clone, f)), { recursive: true });
      try {
        copyFileSync(join(ROOT, f), join(clone, f));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e; // deleted, not yet committed
      }
    }
    symlinkSync(realpathSync(join(ROOT, "node_modules")), join(clone, "node_modules"));

    const packed = run("npm", ["pack", "--silent", "--pack-destination", tmp], clone).trim().split("\n").pop()!;
    assert.equal(packed, `lockbox-${version}.tgz`);
    const tarball = join(tmp, packed);
    const listed = run("tar", ["tzf", tarball], tmp).split("\n");
    for (const f of ["package.json", "README.md", "bin/lockbox.js", "dist/cli/main.js", "dist/index.js", "dist/index.d.ts"])
      assert.ok(listed.includes(`package/${f}`), `${f} is in the tarball`);
    assert.deepEqual(
      listed.filter((f) => /^package\/(src|test|bench|\.ci)\/|\.map$|tsbuildinfo/.test(f)),
      [],
      "no sources, tests, maps or build state",
    );

    const app = join(tmp, "app");
    mkdirSync(app);
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
    run("npm", ["install", "--prefer-offline", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error", tarball], app);
    const addon = "node_modules/better-sqlite3/build/Release/better_sqlite3.node";
    const theirs = (dir: string) =>
      (JSON.parse(readFileSync(join(dir, "node_modules/better-sqlite3/package.json"), "utf8")) as { version: string }).version;
    assert.equal(theirs(app), theirs(ROOT), "the addon copied in is built for the same better-sqlite3");
    cpSync(join(ROOT, addon), join(app, addon));

    const lockbox = join(app, "node_modules/.bin/lockbox");
    assert.equal(run(lockbox, ["--version"], app).trim(), version);

    // The in-process API through the package's exports, from the installed copy.
    const imported = run(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        'import { startLockbox } from "lockbox"; const lb = await startLockbox({ storage: "memory" }); const t = await lb.credential().getToken(`https://vault.localhost:${lb.port}/.default`); console.log(lb.vaultUrl(), typeof t.token); await lb.stop();',
      ],
      app,
    );
    assert.match(imported, /^https:\/\/default\.vault\.localhost:\d+ string\n$/);

    const dataDir = join(tmp, "data");
    // What a new user does: serve (readable lines), seed a vault from a file, read a secret, watch /readyz and /metrics.
    const server = spawn(lockbox, ["serve", "--port", "0", "--data-dir", dataDir, "--log-format", "pretty"], {
      cwd: app,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const watched = watchOutput(server);
    const { exited } = watched;
    try {
      const port = (await watched.until(/Lockbox listening on https:\/\/127\.0\.0\.1:(\d+)/))[1]!;
      const ca = readFileSync(join(dataDir, "tls/ca.pem"), "utf8");
      const health = await get(`https://127.0.0.1:${port}/healthz`, ca);
      assert.equal(health.status, 200, health.body);
      writeFileSync(
        join(app, "seed.json"),
        JSON.stringify({ vaults: [{ name: "app", secrets: { "db-password": { value: "from-the-seed", contentType: "text/plain" } } }] }),
      );
      assert.match(run(lockbox, ["seed", "seed.json", "--data-dir", dataDir], app), /created vault app/);
      assert.equal(run(lockbox, ["secret", "get", "db-password", "--vault", "app", "--data-dir", dataDir], app), "from-the-seed\n");
      assert.equal((await get(`https://127.0.0.1:${port}/readyz`, ca)).status, 200);
      // One readable line per request: an unauthenticated getSecret is answered 401 and logged once.
      assert.equal((await get(`https://127.0.0.1:${port}/secrets/db-password?api-version=7.5`, ca)).status, 401);
      const metrics = await get(`https://127.0.0.1:${port}/metrics`, ca);
      assert.match(metrics.body, /^lockbox_http_requests_total\{operation="SecretGet",status="401"\} 1$/m);
      const lines = watched
        .text()
        .split("\n")
        .filter((l) => /SecretGet/.test(l));
      assert.equal(lines.length, 1, watched.text());
      assert.match(lines[0]!, /401/);
      assert.doesNotMatch(lines[0]!, /^\{/, "a JSON line, not a readable one");
    } finally {
      server.kill("SIGTERM");
    }
    assert.equal(await exited, 0, watched.text());
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { engineEnv, type Lockbox, ROOT, serveForFile } from "../helpers/server.ts";

// The data directory records the storage its server uses, so the CLI follows a server on
// PostgreSQL without being given LOCKBOX_POSTGRES_URL again, and refuses to be pointed elsewhere.
let lockbox: Lockbox;
serveForFile({}, (started) => {
  lockbox = started;
});

/** The CLI as a user runs it in another terminal: no LOCKBOX_POSTGRES_URL unless given. */
function bare(args: string[], env: NodeJS.ProcessEnv = {}) {
  const { LOCKBOX_POSTGRES_URL: _url, LOCKBOX_STORAGE: _storage, ...inherited } = process.env;
  return spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args, "--data-dir", lockbox.dataDir], {
    cwd: ROOT,
    env: { ...inherited, ...env },
    encoding: "utf8",
  });
}

test("instance.json records the PostgreSQL URL without a password, and the CLI follows it", () => {
  const url = engineEnv(lockbox.dataDir).LOCKBOX_POSTGRES_URL!;
  const marker = JSON.parse(readFileSync(join(lockbox.dataDir, "instance.json"), "utf8")) as { storage: { engine: string; url: string } };
  assert.equal(marker.storage.engine, "postgres");
  assert.equal(new URL(marker.storage.url).pathname, new URL(url).pathname);
  assert.equal(new URL(marker.storage.url).password, "");

  const created = bare(["vault", "create", "followed"]);
  assert.equal(created.status, 0, created.stderr);
  const listed = bare(["vault", "list"]);
  assert.equal(listed.status, 0, listed.stderr);
  assert.match(listed.stdout, /^followed\t/m);
  const env = bare(["env", "--json"]);
  assert.equal(env.status, 0, env.stderr);
  assert.equal((JSON.parse(env.stdout) as { IDENTITY_HEADER: string }).IDENTITY_HEADER, lockbox.env.IDENTITY_HEADER);
});

test("a CLI pointed at other storage than the server's is refused, in one line, and creates nothing", () => {
  const r = bare(["vault", "list"], { LOCKBOX_STORAGE: "sqlite" });
  assert.equal(r.status, 1);
  assert.match(
    r.stderr,
    /^lockbox: the server of .* uses PostgreSQL at .*, but this command was pointed at SQLite in the data directory: nothing was done/,
  );
  assert.equal(r.stderr.trim().split("\n").length, 1);
});

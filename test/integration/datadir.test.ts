import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { developerToken, raw } from "../helpers/http.ts";
import { createDatabase, dropDatabase, testEngine } from "../helpers/postgres.ts";
import { engineEnv, newDataDir, removeDataDir, startLockbox, type Lockbox } from "../helpers/server.ts";

// A store is never silently replaced, and the data directory is its user's alone (issue 10).
// A data directory and its store know each other: instance.json names the instance, the
// store holds the same id. A server that finds a root key or an instance name but an empty
// store, or a store of another instance, refuses to start with one line saying what it
// found; `lockbox serve --init` begins a new instance on purpose.

const postgres = testEngine() === "postgres";

/** Starts a server, writes one secret and stops it: a data directory with something to lose. */
async function withSecret(dataDir: string, value: string, env: NodeJS.ProcessEnv = {}, args: string[] = []): Promise<string> {
  const server = await startLockbox({ dataDir, env, args });
  try {
    const put = await raw(server, {
      method: "PUT",
      path: "/secrets/kept?api-version=7.6",
      body: { value },
      token: await developerToken(server),
    });
    assert.equal(put.status, 200, put.text);
  } finally {
    assert.equal(await server.stop(), 0);
  }
  return server.env.TENANT_ID;
}

/** Starting must fail, and the output say what was found (and, for an empty store, how to begin anew); returns the output. */
async function refusedStart(dataDir: string, found: RegExp, env: NodeJS.ProcessEnv = {}, emptyStore = true): Promise<string> {
  let output = "";
  await assert.rejects(startLockbox({ dataDir, env }), (e: Error) => {
    output = e.message;
    assert.match(e.message, /exited with [1-9]/);
    return true;
  });
  assert.match(output, found);
  if (emptyStore) assert.match(output, /--init/, "the refusal does not say how to begin a new instance on purpose");
  return output;
}

const secretOf = async (server: Lockbox): Promise<{ status: number; value?: string }> => {
  const r = await raw(server, { path: "/secrets/kept?api-version=7.6", token: await developerToken(server) });
  return { status: r.status, value: r.json?.value };
};

/** Empties the data directory's store: the SQLite file deleted, or the PostgreSQL database dropped and made again empty. */
function loseStore(dataDir: string): void {
  if (!postgres) {
    rmSync(join(dataDir, "lockbox.db"));
    return;
  }
  const url = new URL(engineEnv(dataDir).LOCKBOX_POSTGRES_URL!);
  const admin = process.env.LOCKBOX_TEST_POSTGRES_URL!;
  const name = url.pathname.slice(1);
  dropDatabase(admin, name);
  createDatabase(admin, name);
}

test("a lost store is not served as a new, empty vault: the server refuses to start, changes nothing, and starts again once the store is back", async () => {
  const dataDir = newDataDir();
  try {
    const tenant = await withSecret(dataDir, "precious");
    const keyBefore = readFileSync(join(dataDir, "root.key"));
    const saved = postgres ? undefined : readFileSync(join(dataDir, "lockbox.db"));
    loseStore(dataDir);

    const output = await refusedStart(dataDir, /belongs to the Lockbox instance .* is empty or missing/);
    assert.doesNotMatch(output, /listening/);
    assert.ok(readFileSync(join(dataDir, "root.key")).equals(keyBefore), "the root key was changed");
    if (saved) {
      assert.equal(existsSync(join(dataDir, "lockbox.db")), false, "a new database file was made");
      // The store put back, the server starts and serves what it had.
      writeFileSync(join(dataDir, "lockbox.db"), saved);
      const again = await startLockbox({ dataDir });
      try {
        assert.equal(again.env.TENANT_ID, tenant);
        assert.deepEqual(await secretOf(again), { status: 200, value: "precious" });
      } finally {
        await again.stop();
      }
    }
  } finally {
    removeDataDir(dataDir);
  }
});

test("a database truncated to nothing, and a root key given with an empty store, are refused too; --init begins a new instance", async () => {
  const dataDir = newDataDir();
  try {
    const tenant = await withSecret(dataDir, "precious");
    if (postgres) loseStore(dataDir);
    else truncateSync(join(dataDir, "lockbox.db"), 0);
    await refusedStart(dataDir, /is empty or missing/);

    // With only the root key (as a deployment that gives LOCKBOX_ROOT_KEY), the same.
    rmSync(join(dataDir, "instance.json"));
    await refusedStart(dataDir, /root\.key exists, so there was a store/);

    const fresh = await startLockbox({ dataDir, args: ["--init"] });
    try {
      assert.notEqual(fresh.env.TENANT_ID, tenant, "--init kept the old tenant");
      assert.equal((await secretOf(fresh)).status, 404);
    } finally {
      await fresh.stop();
    }
    // And it is an instance like any other from then on: no --init needed.
    const next = await startLockbox({ dataDir });
    assert.equal(next.env.TENANT_ID, fresh.env.TENANT_ID);
    await next.stop();
  } finally {
    removeDataDir(dataDir);
  }
});

test("LOCKBOX_ROOT_KEY with an empty store needs --init, and then the key opens what was made with it", async () => {
  const dataDir = newDataDir();
  const LOCKBOX_ROOT_KEY = randomBytes(32).toString("base64");
  try {
    await refusedStart(dataDir, /LOCKBOX_ROOT_KEY is set, so there was a store/, { LOCKBOX_ROOT_KEY });
    if (!postgres) assert.equal(existsSync(join(dataDir, "lockbox.db")), false, "the refused start made a database");
    await withSecret(dataDir, "keyed", { LOCKBOX_ROOT_KEY }, ["--init"]);
    const again = await startLockbox({ dataDir, env: { LOCKBOX_ROOT_KEY } });
    try {
      assert.deepEqual(await secretOf(again), { status: 200, value: "keyed" });
    } finally {
      await again.stop();
    }
  } finally {
    removeDataDir(dataDir);
  }
});

test("a store of another instance is refused: the data directory names its own instance", async () => {
  const mine = newDataDir();
  const other = newDataDir();
  try {
    await withSecret(mine, "mine");
    await withSecret(other, "other");
    // The other instance's store and key, given to my data directory (a restore from the
    // wrong backup, a wrong database URL).
    copyFileSync(join(other, "root.key"), join(mine, "root.key"));
    if (!postgres) copyFileSync(join(other, "lockbox.db"), join(mine, "lockbox.db"));
    await refusedStart(mine, /belongs to the Lockbox instance .* holds the instance/, engineEnv(other), false);
  } finally {
    removeDataDir(mine);
    removeDataDir(other);
  }
});

test("the data directory is 0700 and every file Lockbox keeps in it 0600, also when the directory and its files were made looser before", async () => {
  const dataDir = newDataDir();
  try {
    chmodSync(dataDir, 0o755);
    chmodSync(join(dataDir, "tls"), 0o755);
    for (const f of readdirSync(join(dataDir, "tls"))) chmodSync(join(dataDir, "tls", f), 0o644);
    await withSecret(dataDir, "modes");
    // An older Lockbox, or a package, left files readable by others.
    for (const f of readdirSync(dataDir)) if (statSync(join(dataDir, f)).isFile()) chmodSync(join(dataDir, f), 0o644);
    const server = await startLockbox({ dataDir });
    try {
      const modes = (dir: string): Array<[string, number]> =>
        readdirSync(dir).flatMap((f): Array<[string, number]> => {
          const st = statSync(join(dir, f));
          return st.isDirectory() ? [[join(dir, f), st.mode & 0o777], ...modes(join(dir, f))] : [[join(dir, f), st.mode & 0o777]];
        });
      const found = [[dataDir, statSync(dataDir).mode & 0o777] as [string, number], ...modes(dataDir)];
      assert.ok(found.some(([f]) => f.endsWith("lockbox.db") || f.endsWith("instance.json")));
      for (const [file, mode] of found) {
        const expected = statSync(file).isDirectory() ? 0o700 : 0o600;
        assert.equal(mode.toString(8), expected.toString(8), `${file} has mode ${mode.toString(8)}`);
      }
    } finally {
      await server.stop();
    }
  } finally {
    removeDataDir(dataDir);
  }
});

test("a data directory other users can write to is refused with a clear message", async () => {
  for (const mode of [0o777, 0o1777, 0o775]) {
    const dataDir = mkdtempSync(join(tmpdir(), "lockbox-open-"));
    try {
      chmodSync(dataDir, mode);
      let output = "";
      await assert.rejects(startLockbox({ dataDir }), (e: Error) => ((output = e.message), true));
      assert.match(output, /can be written by other users .* will not use it/, `mode ${mode.toString(8)}: ${output}`);
      assert.deepEqual(readdirSync(dataDir), [], "files were made in a directory that was refused");
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
});

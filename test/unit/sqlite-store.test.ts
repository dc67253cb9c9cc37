import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MEMORY, SqliteStore } from "../../src/store/sqlite/engine.ts";
import type { ChangeTopic } from "../../src/store/store.ts";

const dir = mkdtempSync(join(tmpdir(), "lockbox-store-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("writes that arrive together commit together, and a failing write undoes only itself", async () => {
  const store = new SqliteStore(join(dir, "a.db"));
  const results = await Promise.allSettled(
    Array.from({ length: 50 }, (_, i) =>
      store.write(async (repo) => {
        await repo.setMeta(`k${i}`, `v${i}`);
        if (i % 10 === 3) throw new Error(`write ${i} refused`);
        return i;
      }),
    ),
  );
  assert.equal(results.filter((r) => r.status === "rejected").length, 5);
  for (let i = 0; i < 50; i++) {
    const stored = await store.read((repo) => repo.getMeta(`k${i}`));
    assert.equal(stored, i % 10 === 3 ? undefined : `v${i}`, `key k${i}`);
  }
  await store.close();
});

test("reads see only committed data, and what was committed is there after reopening", async () => {
  const file = join(dir, "b.db");
  const store = new SqliteStore(file);
  let seenInside: string | undefined = "unset";
  await store.write(async (repo) => {
    await repo.setMeta("k", "v");
    seenInside = await store.read((r) => r.getMeta("k"));
  });
  assert.equal(seenInside, undefined);
  assert.equal(await store.read((repo) => repo.getMeta("k")), "v");
  await store.close();
  const again = new SqliteStore(file);
  assert.equal(await again.read((repo) => repo.getMeta("k")), "v");
  await again.close();
});

test("in memory, a read waits out an open write transaction: it never sees a write that is then undone", async () => {
  const store = new SqliteStore(MEMORY);
  let inside!: () => void;
  const started = new Promise<void>((resolve) => (inside = resolve));
  let issued!: () => void;
  const readIssued = new Promise<void>((resolve) => (issued = resolve));
  const failing = store.write(async (repo) => {
    await repo.setMeta("k", "uncommitted");
    inside();
    await readIssued; // held open until the read has asked
    throw new Error("undone");
  });
  await started;
  const read = store.read((repo) => repo.getMeta("k"));
  issued();
  await assert.rejects(failing, /undone/);
  assert.equal(await read, undefined);
  await store.write((repo) => repo.setMeta("k", "committed"));
  assert.equal(await store.read((repo) => repo.getMeta("k")), "committed");
  await store.close();
});

/** Two processes' stores on one file, each recording what its change listeners were told. */
function twoOnOneFile(name: string): { a: SqliteStore; b: SqliteStore; heardA: ChangeTopic[]; heardB: ChangeTopic[] } {
  const file = join(dir, name);
  const a = new SqliteStore(file);
  const b = new SqliteStore(file);
  const heardA: ChangeTopic[] = [];
  const heardB: ChangeTopic[] = [];
  a.onChange((topic) => void heardA.push(topic));
  b.onChange((topic) => void heardB.push(topic));
  return { a, b, heardA, heardB };
}

test("a change another store on the file committed reaches this one's listeners at its next syncChanges, once; nothing when nothing changed", async () => {
  const { a, b, heardA, heardB } = twoOnOneFile("sync.db");
  assert.equal(b.syncChanges(), undefined, "news before anything was written");
  await a.write(async (repo) => {
    await repo.deleteAccessPolicy("default", "someone");
    await repo.setMeta("k", "v");
  });
  assert.deepEqual(heardA.sort(), ["access", "meta"], "the writer's own listeners, at its commit");
  assert.deepEqual(heardB, [], "the other store heard before it synced");
  assert.equal(await b.syncChanges(), undefined);
  assert.deepEqual(heardB.sort(), ["access", "meta"]);
  assert.equal(b.syncChanges(), undefined, "the same change told twice");
  assert.equal(a.syncChanges(), undefined, "the writer told of its own change again");
  assert.deepEqual(heardA.sort(), ["access", "meta"]);

  // A write that announces nothing moves the file, but tells no one anything.
  await a.write((repo) =>
    repo.putSchedule({ vault: "default", kind: "secret", name: "n", action: "a", version: "v", dueAt: 1, done: false }),
  );
  assert.equal(b.syncChanges(), undefined);
  assert.deepEqual(heardB.sort(), ["access", "meta"]);
  // Nor does a write that failed.
  await assert.rejects(
    b.write(async (repo) => {
      await repo.setVaultRbac("default", false);
      throw new Error("undone");
    }),
    /undone/,
  );
  assert.equal(a.syncChanges(), undefined);
  await Promise.all([a.close(), b.close()]);
});

test("a store that writes before it synced is told of the other's change, and of its own only once", async () => {
  const { a, b, heardA, heardB } = twoOnOneFile("crossed.db");
  await b.write((repo) => repo.updateIdentity("nobody", { enabled: false }));
  await a.write((repo) => repo.setVaultRbac("default", true));
  assert.deepEqual(heardA.sort(), ["identities", "vaults"], "the other's change comes with the writer's own commit");
  assert.equal(a.syncChanges(), undefined);
  assert.deepEqual(heardA.sort(), ["identities", "vaults"]);
  assert.equal(await b.syncChanges(), undefined);
  assert.deepEqual(heardB.sort(), ["identities", "vaults"]);
  await Promise.all([a.close(), b.close()]);
});

test("syncChanges waits for a listener's promise", async () => {
  const { a, b } = twoOnOneFile("waits.db");
  let refreshed: string | undefined;
  b.onChange((topic) => (topic === "meta" ? b.read((repo) => repo.getMeta("clock")).then((v) => void (refreshed = v)) : undefined));
  await a.write((repo) => repo.setMeta("clock", "later"));
  const synced = b.syncChanges();
  assert.ok(synced, "no promise to wait for");
  await synced;
  assert.equal(refreshed, "later");
  await Promise.all([a.close(), b.close()]);
});

test("in memory there is no other process: syncChanges has nothing to do", async () => {
  const store = new SqliteStore(MEMORY);
  await store.write((repo) => repo.setMeta("k", "v"));
  assert.equal(store.syncChanges(), undefined);
  await store.close();
});

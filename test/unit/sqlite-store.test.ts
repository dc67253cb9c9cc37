import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MEMORY, SqliteStore } from "../../src/store/sqlite/engine.ts";

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

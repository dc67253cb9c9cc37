import { test } from "node:test";
import assert from "node:assert/strict";
import { KvError } from "../../src/kernel/errors.ts";
import { inProcess, type InProcess } from "../helpers/instance.ts";

// The versioned-object rules secrets and keys share, on the services in this process:
// pruning, max-versions, restore conflicts, and what a change replans.

const p: InProcess = await inProcess();

const refusedWith = (status: number, code: string, inner?: string) => (e: unknown) => {
  assert.ok(e instanceof KvError, `not a KvError: ${String(e)}`);
  assert.equal(e.status, status, e.message);
  assert.equal(e.code, code, e.message);
  assert.equal(e.innerCode, inner, e.message);
  return true;
};

async function secretWithVersions(name: string, n: number): Promise<string[]> {
  const versions: string[] = [];
  for (let i = 0; i < n; i++) versions.push((await p.instance.secrets.set(p.vault, name, { value: `${name}-${i}` })).version.version);
  return versions;
}

const versionsOf = async (name: string): Promise<string[]> =>
  (await p.instance.secrets.objects.listVersions(p.vault, name, 25)).items.map((v) => v.version);

test("prune keeps the newest N, destroys named versions, and never the current one", async () => {
  const objects = p.instance.secrets.objects;
  const v = await secretWithVersions("prune-me", 5);
  assert.deepEqual((await objects.prune(p.vault, "prune-me", { keep: 3 })).sort(), [v[0], v[1]].sort());
  assert.deepEqual(await versionsOf("prune-me"), v.slice(2));
  assert.deepEqual(await objects.prune(p.vault, "prune-me", { versions: [v[2]!.toUpperCase()] }), [v[2]]);
  await assert.rejects(objects.prune(p.vault, "prune-me", { versions: [v[4]!] }), refusedWith(400, "BadParameter"));
  await assert.rejects(objects.prune(p.vault, "prune-me", { versions: ["0".repeat(32)] }), refusedWith(404, "SecretNotFound"));
  await assert.rejects(objects.prune(p.vault, "prune-me", { keep: 0 }), refusedWith(400, "BadParameter"));
  assert.deepEqual(await versionsOf("prune-me"), [v[3], v[4]]);
  assert.equal((await p.instance.secrets.get(p.vault, "prune-me")).value, "prune-me-4");
});

test("max versions prunes the oldest at once and at every new version; none lifts the limit", async () => {
  const objects = p.instance.secrets.objects;
  const v = await secretWithVersions("capped", 4);
  assert.deepEqual((await objects.setMaxVersions(p.vault, "capped", 2)).sort(), [v[0], v[1]].sort());
  const [later] = await secretWithVersions("capped", 1);
  assert.deepEqual(await versionsOf("capped"), [v[3], later]);
  assert.deepEqual(await objects.setMaxVersions(p.vault, "capped", null), []);
  await secretWithVersions("capped", 2);
  assert.equal((await versionsOf("capped")).length, 4);
  await assert.rejects(objects.setMaxVersions(p.vault, "capped", 0), refusedWith(400, "BadParameter"));
});

test("restore refuses a live name (409), a deleted one (409 ObjectIsDeletedButRecoverable) and another kind's blob (400)", async () => {
  const objects = p.instance.secrets.objects;
  await secretWithVersions("backed-up", 2);
  const blob = await objects.backup(p.vault, "backed-up");
  await assert.rejects(objects.restore(p.vault, blob), refusedWith(409, "Conflict"));
  await objects.delete(p.vault, "backed-up");
  await assert.rejects(objects.restore(p.vault, blob), refusedWith(409, "Conflict", "ObjectIsDeletedButRecoverable"));
  await assert.rejects(p.instance.keys.objects.restore(p.vault, blob), refusedWith(400, "BadParameter"));
  await objects.purge(p.vault, "backed-up");
  const restored = await objects.restore(p.vault, blob);
  assert.equal(restored.object.displayName, "backed-up");
  assert.equal((await versionsOf("backed-up")).length, 2);
});

test("plans follow the current version: an expiry set on it is planned, one set on an older version is not", async () => {
  const [old, current] = await secretWithVersions("planned", 2);
  const schedule = () =>
    p.instance.store
      .read((repo) => repo.listSchedule("default", "secret", "planned"))
      .then((rows) => rows.map((r) => [r.action, r.version, r.dueAt]));
  assert.deepEqual(await schedule(), []);
  await p.instance.secrets.update(p.vault, "planned", old, { exp: 2_000_000_000 });
  assert.deepEqual(await schedule(), [], "an expiry on an older version was planned");
  await p.instance.secrets.update(p.vault, "planned", current, { exp: 2_000_000_000 });
  assert.deepEqual(
    (await schedule()).sort(),
    [
      ["Expired", current, 2_000_000_000],
      ["NearExpiry", current, 2_000_000_000 - 30 * 86_400],
    ].sort(),
  );
  await p.instance.secrets.objects.delete(p.vault, "planned");
  assert.deepEqual(await schedule(), [], "a deleted secret keeps its schedule");
  await p.instance.secrets.objects.recover(p.vault, "planned");
  assert.equal((await schedule()).length, 2, "a recovered secret is not planned again");
});

import { test } from "node:test";
import assert from "node:assert/strict";
import type { Store } from "../../src/store/store.ts";
import { DAY, inProcess, schedulerOf } from "../helpers/instance.ts";

// The scheduler on the services in this process, time on the dev clock: each due action is
// done once, an action replanned meanwhile is not done at its old time, and due work waits
// while its audit line cannot be written.

const p = await inProcess();
const POLICY = {
  lifetimeActions: [{ trigger: { timeAfterCreate: "P30D" }, action: { type: "Rotate" } }],
  attributes: { expiryTime: "P90D" },
};

const versionsOf = async (name: string): Promise<string[]> =>
  (await p.instance.keys.objects.listVersions(p.vault, name, 25)).items.map((v) => v.version);

test("a due Rotate is done once: one new version, with the policy's expiry, and one audit entry", async () => {
  const probe = schedulerOf(p);
  const key = await p.instance.keys.create(p.vault, "rotated-once", { kty: "EC" });
  await p.instance.keys.setRotationPolicy(p.vault, "rotated-once", POLICY);
  await p.advance(29 * DAY);
  await probe.scheduler.runDue();
  assert.deepEqual(await versionsOf("rotated-once"), [key.version], "rotated before it was due");

  await p.advance(2 * DAY);
  await probe.scheduler.runDue();
  await probe.scheduler.runDue();
  const versions = await versionsOf("rotated-once");
  assert.equal(versions.length, 2, `versions: ${versions.join(", ")}`);
  const latest = await p.instance.keys.get(p.vault, "rotated-once");
  const now = Math.floor(p.clock.nowMs() / 1000);
  assert.ok(Math.abs(latest.exp! - (now + 90 * DAY)) <= 5, `the new version expires at ${latest.exp}, not now + 90 days`);
  const rotations = probe.audited.filter((a) => a.operationName === "KeyRotateIfDue" && a.name === "rotated-once");
  assert.equal(rotations.length, 1);
  assert.equal(rotations[0]!.version, latest.version);
  assert.equal(rotations[0]!.error, undefined);
});

test("an action replanned after it was claimed is not done at its old time, and its new plan stands", async () => {
  const key = await p.instance.keys.create(p.vault, "replanned", { kty: "EC" });
  await p.instance.keys.setRotationPolicy(p.vault, "replanned", POLICY);
  await p.advance(31 * DAY);
  // Between the scheduler's claim (its first write) and the rotation's transaction, the
  // policy changes to rotate after 60 days instead.
  let writes = 0;
  const store = p.instance.store;
  const racing: Store = {
    read: (fn) => store.read(fn),
    onChange: (l) => store.onChange(l),
    syncChanges: () => store.syncChanges(),
    close: () => store.close(),
    write: async (fn) => {
      if (++writes === 2) {
        await p.instance.keys.setRotationPolicy(p.vault, "replanned", {
          ...POLICY,
          lifetimeActions: [{ trigger: { timeAfterCreate: "P60D" }, action: { type: "Rotate" } }],
        });
      }
      return store.write(fn);
    },
  };
  const probe = schedulerOf(p, { store: racing });
  await probe.scheduler.runDue();
  assert.deepEqual(await versionsOf("replanned"), [key.version], "the replanned action was done at its old time");
  const rows = await store.read((repo) => repo.listSchedule("default", "key", "replanned"));
  const rotate = rows.find((r) => r.action === "Rotate");
  assert.ok(rotate && !rotate.done, "the new plan's Rotate is not pending");
  assert.equal(rotate.dueAt, key.created + 60 * DAY);
  assert.equal(probe.audited.filter((a) => a.name === "replanned").length, 0);
});

test("due work waits while its audit line cannot be written, and is done once it can", async () => {
  const probe = schedulerOf(p);
  const key = await p.instance.keys.create(p.vault, "waits-for-audit", { kty: "EC" });
  await p.instance.keys.setRotationPolicy(p.vault, "waits-for-audit", POLICY);
  await p.advance(31 * DAY);
  probe.auditWritable = false;
  await probe.scheduler.runDue();
  assert.deepEqual(await versionsOf("waits-for-audit"), [key.version], "rotated while the audit log could not be written");
  probe.auditWritable = true;
  await probe.scheduler.runDue();
  assert.equal((await versionsOf("waits-for-audit")).length, 2);
  assert.equal(probe.audited.filter((a) => a.name === "waits-for-audit" && a.operationName === "KeyRotateIfDue").length, 1);
});

test("a secret rotation with an overlap disables the replaced version when the overlap ends, and not before", async () => {
  const probe = schedulerOf(p);
  const first = await p.instance.secrets.set(p.vault, "overlapped", { value: "one" });
  await p.instance.secrets.setRotationPolicy(p.vault, "overlapped", { ...POLICY, overlap: "P2D" });
  await p.advance(31 * DAY);
  await probe.scheduler.runDue();
  const enabled = async (version: string) => (await p.instance.secrets.objects.get(p.vault, "overlapped", version)).enabled;
  const latest = await p.instance.secrets.objects.get(p.vault, "overlapped");
  assert.notEqual(latest.version, first.version.version);
  assert.equal(latest.props.rotatedFrom, first.version.version);
  assert.equal(await enabled(first.version.version), true, "the replaced version was disabled during the overlap");
  await p.advance(2 * DAY + 1);
  await probe.scheduler.runDue();
  assert.equal(await enabled(first.version.version), false, "the replaced version is still enabled after the overlap");
  assert.equal(await enabled(latest.version), true);
});

test("a rotation policy is planned when it is set: Rotate 30 days after creation and Azure's default Notify; a policy without Rotate unplans it", async () => {
  const key = await p.instance.keys.create(p.vault, "policy-planned", { kty: "EC", exp: Math.floor(p.clock.nowMs() / 1000) + 90 * DAY });
  const plan = async () =>
    Object.fromEntries(
      (await p.instance.store.read((repo) => repo.listSchedule("default", "key", "policy-planned"))).map((r) => [
        r.action,
        r.dueAt - key.created,
      ]),
    );
  const expiresIn = key.exp! - key.created;
  assert.deepEqual(await plan(), { NearExpiry: expiresIn - 30 * DAY, Expired: expiresIn });
  await p.instance.keys.setRotationPolicy(p.vault, "policy-planned", POLICY);
  assert.deepEqual(await plan(), { Rotate: 30 * DAY, NearExpiry: expiresIn - 30 * DAY, Expired: expiresIn });
  await p.instance.keys.setRotationPolicy(p.vault, "policy-planned", {
    lifetimeActions: [{ trigger: { timeBeforeExpiry: "P10D" }, action: { type: "Notify" } }],
  });
  assert.deepEqual(await plan(), { NearExpiry: expiresIn - 10 * DAY, Expired: expiresIn });
});

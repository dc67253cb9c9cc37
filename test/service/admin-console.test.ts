import { test } from "node:test";
import assert from "node:assert/strict";
import { KvError } from "../../src/kernel/errors.ts";
import { inProcess } from "../helpers/instance.ts";

// The rules beneath the admin API's console routes, on the services in this process: vault
// settings, the audit log reader, the upcoming work, delivery history, and which vaults an
// identity can see.

const p = await inProcess();

const refusedWith = (status: number, pattern: RegExp) => (e: unknown) =>
  e instanceof KvError && e.status === status && pattern.test(e.message);

test("purge protection can be turned on, never off again; the authorization model switches both ways", async () => {
  const { vaults } = p.instance;
  await vaults.create("guarded", { retentionDays: 7 });
  const on = await vaults.update("guarded", { purgeProtection: true, rbac: false });
  assert.equal(on.purgeProtection, true);
  assert.equal(on.rbac, false);
  assert.equal(on.recoveryLevel, "CustomizedRecoverable");
  await assert.rejects(vaults.update("guarded", { purgeProtection: false }), refusedWith(400, /cannot be disabled once it is enabled/));
  // A refused change changes nothing, not even what came with it.
  await assert.rejects(vaults.update("guarded", { purgeProtection: false, rbac: true }), refusedWith(400, /cannot be disabled/));
  const kept = (await vaults.list()).find((v) => v.name === "guarded")!;
  assert.equal(kept.purgeProtection, true);
  assert.equal(kept.rbac, false);
  // Saying what it already is, is no change.
  assert.equal((await vaults.update("guarded", { purgeProtection: true, rbac: true })).rbac, true);
  assert.equal((await vaults.update("guarded", {})).purgeProtection, true);
  await assert.rejects(vaults.update("no-such-vault", { rbac: true }), refusedWith(404, /does not exist/));
  // Without purge protection, false is no change either.
  await vaults.create("open-vault");
  assert.equal((await vaults.update("open-vault", { purgeProtection: false })).recoveryLevel, "Recoverable+Purgeable");
});

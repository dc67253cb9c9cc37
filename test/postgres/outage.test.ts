import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { DefaultAzureCredential } from "@azure/identity";
import { SecretClient } from "@azure/keyvault-secrets";
import { raw } from "../helpers/http.ts";
import { createDatabase, startThrowawayCluster, type ThrowawayCluster } from "../helpers/postgres.ts";
import { collect, rejectsWith } from "../helpers/sdk.ts";
import { newDataDir, removeDataDir, saveEnvironment, startLockbox, stopOrKill, useEnvironment, type Lockbox } from "../helpers/server.ts";
import { eventually } from "../helpers/wait.ts";

// A PostgreSQL outage under a running Lockbox: requests fail with 503 ServiceUnavailable and
// Retry-After (the SDK retries those), nothing is half written, and the same process serves
// again once the database is back, without a restart. The database is a cluster of this
// file's own, since it is shut down here.

let cluster: ThrowawayCluster;
let lockbox: Lockbox;
let dataDir: string;
const restoreEnvironment = saveEnvironment();

before(async () => {
  cluster = await startThrowawayCluster();
  dataDir = newDataDir();
  lockbox = await startLockbox({ dataDir, env: { LOCKBOX_POSTGRES_URL: createDatabase(cluster.url) } });
  useEnvironment(lockbox);
});

after(async () => {
  restoreEnvironment();
  if (lockbox) await stopOrKill(lockbox);
  if (dataDir) removeDataDir(dataDir);
  await cluster?.stop();
});

test(
  "PostgreSQL down: 503 ServiceUnavailable with Retry-After, nothing written; back up: the same server serves again",
  { timeout: 120_000 },
  async () => {
    // No retries, so that each call is one request and its outcome is seen as it is.
    const client = new SecretClient(lockbox.vaultUrl(), new DefaultAzureCredential(), { retryOptions: { maxRetries: 0 } });
    const before = await client.setSecret("outage", "before");
    const ready = async () => (await raw(lockbox, { path: "/readyz" })).status;
    assert.equal(await ready(), 200);

    await cluster.halt();
    assert.equal(await ready(), 503, "not ready while the database is down");
    assert.equal((await raw(lockbox, { path: "/healthz" })).status, 200, "but alive");
    await rejectsWith(client.setSecret("outage", "during"), 503, "ServiceUnavailable", { message: /storage is unavailable/ });
    await assert.rejects(client.getSecret("outage"), (e: any) => {
      assert.equal(e.statusCode, 503, `getSecret during the outage: ${e.statusCode} ${e.message}`);
      assert.equal(e.response?.headers.get("retry-after"), "1", "a 503 tells the client when to retry");
      return true;
    });
    assert.equal(lockbox.process.exitCode, null, "the server survives the outage");

    await cluster.resume();
    await eventually("ready again", 30_000, async () => assert.equal(await ready(), 200));
    const read = await eventually("getSecret works again", 30_000, () => client.getSecret("outage"));
    assert.equal(read.value, "before");
    assert.equal(read.properties.version, before.properties.version);
    const after = await eventually("setSecret works again", 30_000, () => client.setSecret("outage", "after"));
    assert.equal((await client.getSecret("outage")).value, "after");

    // The write refused during the outage left nothing behind.
    const versions = (await collect(client.listPropertiesOfSecretVersions("outage"))).map((p) => p.version).sort();
    assert.deepEqual(versions, [before.properties.version, after.properties.version].sort(), "exactly the two acknowledged versions");
  },
);

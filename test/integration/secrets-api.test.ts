import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { DefaultAzureCredential } from "@azure/identity";
import { SecretClient, type SecretProperties } from "@azure/keyvault-secrets";
import { developerToken, raw } from "../helpers/http.ts";
import { cli, type Lockbox, serveForFile } from "../helpers/server.ts";
import { collect, rejectsWith } from "../helpers/sdk.ts";

// The secrets API as a program written for Azure Key Vault uses it, through the official SDK
// against one real Lockbox server. Each test uses its own secret names; tests that need an
// empty vault or other vault settings create their own vault with the CLI, as a user would.
let lockbox: Lockbox;
let client: SecretClient;

serveForFile({}, async (started) => {
  lockbox = started;
  client = new SecretClient(lockbox.vaultUrl(), new DefaultAzureCredential());
});

const DAY_MS = 86_400_000;
const VERSION = /^[0-9a-f]{32}$/;

/** Creates a vault with the CLI (the server is running) and returns a client for it. */
function newVault(name: string, ...flags: string[]): SecretClient {
  const r = cli(["vault", "create", name, "--data-dir", lockbox.dataDir, ...flags]);
  assert.equal(r.status, 0, `lockbox vault create ${name} failed: ${r.stderr}`);
  return new SecretClient(lockbox.vaultUrl(name), new DefaultAzureCredential());
}

const versionsOf = (c: SecretClient, name: string): Promise<SecretProperties[]> => collect(c.listPropertiesOfSecretVersions(name));
const namesIn = async (c: SecretClient): Promise<string[]> => (await collect(c.listPropertiesOfSecrets())).map((p) => p.name).sort();
const deletedNamesIn = async (c: SecretClient): Promise<string[]> => (await collect(c.listDeletedSecrets())).map((d) => d.name).sort();

const byTime = (d: Date | undefined): number | undefined => d?.getTime();

describe("set and get", () => {
  test("contentType, tags, enabled, notBefore and expiresOn come back from set, get, get by version and the version list", async () => {
    const name = "props-round-trip";
    // Milliseconds are not kept: Key Vault timestamps are whole seconds.
    const nbf1 = new Date("2031-02-03T04:05:06.789Z");
    const exp1 = new Date("2035-06-07T08:09:10.000Z");
    const first = await client.setSecret(name, "first-value", {
      contentType: "text/plain",
      tags: { env: "test", owner: "team-a" },
      enabled: false,
      notBefore: nbf1,
      expiresOn: exp1,
    });
    assert.equal(first.value, "first-value");
    assert.match(first.properties.version!, VERSION);
    assert.equal(first.properties.contentType, "text/plain");
    assert.deepEqual(first.properties.tags, { env: "test", owner: "team-a" });
    assert.equal(first.properties.enabled, false);
    assert.equal(byTime(first.properties.notBefore), Date.parse("2031-02-03T04:05:06Z"));
    assert.equal(byTime(first.properties.expiresOn), exp1.getTime());

    const nbf2 = new Date("2030-01-02T03:04:05Z");
    const exp2 = new Date("2036-12-31T23:59:59Z");
    const second = await client.setSecret(name, "second-value", {
      contentType: "application/json",
      tags: { env: "prod" },
      enabled: true,
      notBefore: nbf2,
      expiresOn: exp2,
    });

    const checkSecond = (p: SecretProperties): void => {
      assert.equal(p.version, second.properties.version);
      assert.equal(p.contentType, "application/json");
      assert.deepEqual(p.tags, { env: "prod" });
      assert.equal(p.enabled, true);
      assert.equal(byTime(p.notBefore), nbf2.getTime());
      assert.equal(byTime(p.expiresOn), exp2.getTime());
    };
    const latest = await client.getSecret(name);
    assert.equal(latest.value, "second-value");
    checkSecond(latest.properties);
    const byVersion = await client.getSecret(name, { version: second.properties.version! });
    assert.equal(byVersion.value, "second-value");
    checkSecond(byVersion.properties);

    // The disabled first version keeps its own properties; Azure refuses to read its value.
    const listed = await versionsOf(client, name);
    assert.deepEqual(
      listed.map((p) => p.version),
      [first.properties.version, second.properties.version],
    );
    const [l1, l2] = listed as [SecretProperties, SecretProperties];
    assert.equal(l1.id, first.properties.id);
    assert.equal(l1.contentType, "text/plain");
    assert.deepEqual(l1.tags, { env: "test", owner: "team-a" });
    assert.equal(l1.enabled, false);
    assert.equal(byTime(l1.notBefore), Date.parse("2031-02-03T04:05:06Z"));
    assert.equal(byTime(l1.expiresOn), exp1.getTime());
    checkSecond(l2);
    await rejectsWith(client.getSecret(name, { version: first.properties.version! }), 403, "Forbidden");
  });

  test("an expiresOn after 2038 (2040-01-01) round-trips through the SDK", async () => {
    const name = "after-2038";
    const exp = new Date("2040-01-01T00:00:00Z");
    const nbf = new Date("2039-06-15T12:00:00Z");
    const set = await client.setSecret(name, "long-lived", { expiresOn: exp, notBefore: nbf });
    assert.equal(byTime(set.properties.expiresOn), exp.getTime());
    assert.equal(byTime(set.properties.notBefore), nbf.getTime());

    const got = await client.getSecret(name);
    assert.equal(byTime(got.properties.expiresOn), exp.getTime());
    assert.equal(byTime(got.properties.notBefore), nbf.getTime());
    const [listed] = await versionsOf(client, name);
    assert.equal(byTime(listed!.expiresOn), exp.getTime());

    // Other clients read the real Unix time, not the SDK's 32-bit truncation.
    const r = await raw(lockbox, { path: `/secrets/${name}/?api-version=7.6`, token: await developerToken(lockbox) });
    assert.equal(r.status, 200);
    assert.equal(r.json.attributes.exp, exp.getTime() / 1000);

    const later = new Date("2045-03-04T05:06:07Z");
    const updated = await client.updateSecretProperties(name, set.properties.version!, { expiresOn: later });
    assert.equal(byTime(updated.expiresOn), later.getTime());
    assert.equal(byTime((await client.getSecret(name)).properties.expiresOn), later.getTime());
  });

  test("getSecret by version returns that version's value, and the latest moves with each set", async () => {
    const name = "versions-values";
    const v1 = await client.setSecret(name, "alpha");
    const v2 = await client.setSecret(name, "beta");
    assert.notEqual(v1.properties.version, v2.properties.version);
    assert.match(v2.properties.version!, VERSION);
    assert.equal((await client.getSecret(name)).value, "beta");
    assert.equal((await client.getSecret(name, { version: v1.properties.version! })).value, "alpha");

    const v3 = await client.setSecret(name, "gamma");
    const latest = await client.getSecret(name);
    assert.equal(latest.value, "gamma");
    assert.equal(latest.properties.version, v3.properties.version);
    assert.equal((await client.getSecret(name, { version: v1.properties.version! })).value, "alpha");
    assert.equal((await client.getSecret(name, { version: v2.properties.version! })).value, "beta");
  });

  test("a name of 127 characters, the longest Azure allows, works through the SDK", async () => {
    const name = `long-${"n".repeat(122)}`;
    assert.equal(name.length, 127);
    const set = await client.setSecret(name, "longest-name-value");
    assert.equal(set.name, name);
    const got = await client.getSecret(name);
    assert.equal(got.value, "longest-name-value");
    assert.equal(got.properties.id, `${lockbox.vaultUrl()}/secrets/${name}/${set.properties.version}`);
    assert.deepEqual(
      (await versionsOf(client, name)).map((p) => p.version),
      [set.properties.version],
    );
  });

  test("names are case-insensitive: set CaseName, get casename", async () => {
    const set = await client.setSecret("CaseName", "case-value");
    const got = await client.getSecret("casename");
    assert.equal(got.value, "case-value");
    assert.equal(got.properties.version, set.properties.version);
    const again = await client.setSecret("CASENAME", "case-value-2");
    assert.deepEqual(
      (await versionsOf(client, "caseNAME")).map((p) => p.version),
      [set.properties.version, again.properties.version],
    );
    assert.equal((await client.getSecret("CaseName")).value, "case-value-2");
  });
});

describe("update properties", () => {
  test("updateSecretProperties changes tags, contentType, expiresOn and enabled of one version only; the value is unchanged", async () => {
    const name = "update-one-version";
    const v1 = await client.setSecret(name, "one", { tags: { a: "1" }, contentType: "text/plain" });
    const v2 = await client.setSecret(name, "two", { tags: { b: "2" }, contentType: "text/csv" });
    const exp = new Date("2033-03-03T03:03:03Z");

    const updated = await client.updateSecretProperties(name, v1.properties.version!, {
      tags: { c: "3" },
      contentType: "application/json",
      expiresOn: exp,
      enabled: false,
    });
    assert.equal(updated.version, v1.properties.version);
    assert.deepEqual(updated.tags, { c: "3" });
    assert.equal(updated.contentType, "application/json");
    assert.equal(byTime(updated.expiresOn), exp.getTime());
    assert.equal(updated.enabled, false);

    // The other version (the latest) is untouched.
    const latest = await client.getSecret(name);
    assert.equal(latest.properties.version, v2.properties.version);
    assert.equal(latest.value, "two");
    assert.deepEqual(latest.properties.tags, { b: "2" });
    assert.equal(latest.properties.contentType, "text/csv");
    assert.equal(latest.properties.expiresOn, undefined);
    assert.equal(latest.properties.enabled, true);

    const [l1, l2] = (await versionsOf(client, name)) as [SecretProperties, SecretProperties];
    assert.equal(l1.enabled, false);
    assert.deepEqual(l1.tags, { c: "3" });
    assert.equal(l1.contentType, "application/json");
    assert.equal(byTime(l1.expiresOn), exp.getTime());
    assert.equal(l2.enabled, true);
    assert.deepEqual(l2.tags, { b: "2" });

    // Re-enabling sends only `enabled`; the rest stays as updated and the value is the original.
    await client.updateSecretProperties(name, v1.properties.version!, { enabled: true });
    const back = await client.getSecret(name, { version: v1.properties.version! });
    assert.equal(back.value, "one");
    assert.deepEqual(back.properties.tags, { c: "3" });
    assert.equal(back.properties.contentType, "application/json");
    assert.equal(byTime(back.properties.expiresOn), exp.getTime());
    assert.equal(back.properties.enabled, true);
    assert.equal((await versionsOf(client, name)).length, 2);
  });
});

describe("list secrets", () => {
  test("listPropertiesOfSecrets: one item per name with the base id, deleted excluded, disabled included, no value", async () => {
    const vault = "listing";
    const c = newVault(vault);
    const base = lockbox.vaultUrl(vault);
    await c.setSecret("lst-multi", "m1", { tags: { n: "1" } });
    await c.setSecret("lst-multi", "m2", { tags: { n: "2" } });
    const multiLatest = await c.setSecret("lst-multi", "m3", { tags: { n: "3" }, contentType: "text/plain" });
    const disabled = await c.setSecret("lst-disabled", "d1");
    await c.updateSecretProperties("lst-disabled", disabled.properties.version!, { enabled: false });
    await c.setSecret("lst-deleted", "x1");
    await (await c.beginDeleteSecret("lst-deleted")).pollUntilDone();

    const items: SecretProperties[] = [];
    for await (const p of c.listPropertiesOfSecrets()) items.push(p);
    assert.deepEqual(items.map((p) => p.name).sort(), ["lst-disabled", "lst-multi"]);

    const multi = items.find((p) => p.name === "lst-multi")!;
    assert.equal(multi.id, `${base}/secrets/lst-multi`);
    assert.equal(multi.version, undefined);
    assert.deepEqual(multi.tags, { n: "3" }, "the item carries the latest version's properties");
    assert.equal(multi.contentType, "text/plain");
    assert.equal(byTime(multi.createdOn), byTime(multiLatest.properties.createdOn));
    const dis = items.find((p) => p.name === "lst-disabled")!;
    assert.equal(dis.id, `${base}/secrets/lst-disabled`);
    assert.equal(dis.enabled, false);

    // On the wire: no value anywhere in the list.
    const r = await raw(lockbox, {
      path: "/secrets?api-version=7.6",
      host: new URL(base).host,
      token: await developerToken(lockbox),
    });
    assert.equal(r.status, 200);
    assert.equal(r.json.value.length, 2);
    for (const item of r.json.value) assert.equal("value" in item, false, `list item ${item.id} carries a value`);
    assert.doesNotMatch(r.text, /"m3"|"d1"|"x1"/);
  });

  test("paging with byPage({maxPageSize: 2}) over 5 secrets gives pages of 2, 2 and 1, with nextLinks on the client's origin", async () => {
    const vault = "paging";
    const c = newVault(vault);
    const names = ["page-1", "page-2", "page-3", "page-4", "page-5"];
    for (const n of names) await c.setSecret(n, `value-of-${n}`);

    const sizes: number[] = [];
    const seen: string[] = [];
    for await (const page of c.listPropertiesOfSecrets().byPage({ maxPageSize: 2 })) {
      sizes.push(page.length);
      seen.push(...page.map((p) => p.name));
    }
    assert.deepEqual(sizes, [2, 2, 1]);
    assert.deepEqual(seen.sort(), names);

    // The nextLink itself: absolute, on the origin the client called, and it works.
    const origin = new URL(lockbox.vaultUrl(vault)).origin;
    const token = await developerToken(lockbox);
    const host = new URL(origin).host;
    const links: string[] = [];
    const rawSizes: number[] = [];
    let path: string | undefined = "/secrets?api-version=7.6&maxresults=2";
    while (path) {
      const r = await raw(lockbox, { path, host, token });
      assert.equal(r.status, 200, r.text);
      rawSizes.push(r.json.value.length);
      const next = r.json.nextLink as string | null | undefined;
      if (next) {
        links.push(next);
        const u = new URL(next);
        assert.equal(u.origin, origin);
        path = u.pathname + u.search;
      } else {
        path = undefined;
      }
    }
    assert.deepEqual(rawSizes, [2, 2, 1]);
    assert.equal(links.length, 2);
  });
});

describe("soft delete, recovery and purge", () => {
  test("beginDeleteSecret completes at once with recoveryId, deletedOn and scheduledPurgeDate = deletedOn + 90 days; recover restores every version", async () => {
    const name = "delete-recover";
    const v1 = await client.setSecret(name, "dr-one");
    const v2 = await client.setSecret(name, "dr-two");

    const poller = await client.beginDeleteSecret(name);
    // Lockbox applies the delete synchronously: the SDK's first poll already found it done.
    assert.equal(poller.isDone(), true);
    const deleted = await poller.pollUntilDone();
    assert.equal(deleted.name, name);
    assert.equal(deleted.recoveryId, `${lockbox.vaultUrl()}/deletedsecrets/${name}`);
    assert.ok(deleted.deletedOn instanceof Date, "deletedOn is not a Date");
    assert.ok(deleted.scheduledPurgeDate instanceof Date, "scheduledPurgeDate is not a Date");
    assert.equal(deleted.scheduledPurgeDate.getTime() - deleted.deletedOn.getTime(), 90 * DAY_MS);
    assert.equal(deleted.properties.recoveryLevel, "Recoverable+Purgeable");
    assert.equal(deleted.properties.recoverableDays, 90);

    await rejectsWith(client.getSecret(name), 404, "SecretNotFound");
    const got = await client.getDeletedSecret(name);
    assert.equal(got.recoveryId, deleted.recoveryId);
    assert.equal(byTime(got.deletedOn), byTime(deleted.deletedOn));
    assert.equal(byTime(got.scheduledPurgeDate), byTime(deleted.scheduledPurgeDate));
    assert.ok((await deletedNamesIn(client)).includes(name), "listDeletedSecrets lacks the deleted secret");
    assert.ok(!(await namesIn(client)).includes(name), "listPropertiesOfSecrets still lists the deleted secret");

    const recovered = await (await client.beginRecoverDeletedSecret(name)).pollUntilDone();
    assert.equal(recovered.name, name);
    assert.deepEqual(
      (await versionsOf(client, name)).map((p) => p.id),
      [v1.properties.id, v2.properties.id],
    );
    assert.equal((await client.getSecret(name)).value, "dr-two");
    assert.equal((await client.getSecret(name, { version: v1.properties.version! })).value, "dr-one");
    await rejectsWith(client.getDeletedSecret(name), 404, "SecretNotFound");
    assert.ok(!(await deletedNamesIn(client)).includes(name), "listDeletedSecrets still lists the recovered secret");
    assert.ok((await namesIn(client)).includes(name), "listPropertiesOfSecrets lacks the recovered secret");
  });

  test("purgeDeletedSecret removes a deleted secret for good, and the name can be reused", async () => {
    const name = "delete-purge";
    const old = await client.setSecret(name, "purge-me");
    await (await client.beginDeleteSecret(name)).pollUntilDone();
    await client.purgeDeletedSecret(name);

    await rejectsWith(client.getDeletedSecret(name), 404, "SecretNotFound");
    assert.ok(!(await deletedNamesIn(client)).includes(name), "listDeletedSecrets still lists the purged secret");
    await rejectsWith(client.getSecret(name), 404, "SecretNotFound");

    const fresh = await client.setSecret(name, "reborn");
    assert.notEqual(fresh.properties.version, old.properties.version);
    assert.equal((await client.getSecret(name)).value, "reborn");
    assert.deepEqual(
      (await versionsOf(client, name)).map((p) => p.version),
      [fresh.properties.version],
    );
  });

  test("a vault made with --retention-days 7 reports recoverableDays 7 and CustomizedRecoverable+Purgeable", async () => {
    const c = newVault("short-retention", "--retention-days", "7");
    const set = await c.setSecret("retained", "seven-days");
    assert.equal(set.properties.recoverableDays, 7);
    assert.equal(set.properties.recoveryLevel, "CustomizedRecoverable+Purgeable");
    const got = await c.getSecret("retained");
    assert.equal(got.properties.recoverableDays, 7);
    assert.equal(got.properties.recoveryLevel, "CustomizedRecoverable+Purgeable");

    const deleted = await (await c.beginDeleteSecret("retained")).pollUntilDone();
    assert.equal(deleted.scheduledPurgeDate!.getTime() - deleted.deletedOn!.getTime(), 7 * DAY_MS);
    await c.purgeDeletedSecret("retained");
    await rejectsWith(c.getDeletedSecret("retained"), 404, "SecretNotFound");
  });

  test("a vault made with --purge-protection refuses purgeDeletedSecret with 403 and keeps the deleted secret", async () => {
    const c = newVault("protected", "--purge-protection");
    const set = await c.setSecret("guarded", "cannot-purge");
    assert.equal(set.properties.recoveryLevel, "Recoverable");
    assert.equal(set.properties.recoverableDays, 90);
    await (await c.beginDeleteSecret("guarded")).pollUntilDone();

    await rejectsWith(c.purgeDeletedSecret("guarded"), 403, "Forbidden");
    const still = await c.getDeletedSecret("guarded");
    assert.equal(still.name, "guarded");
    await (await c.beginRecoverDeletedSecret("guarded")).pollUntilDone();
    assert.equal((await c.getSecret("guarded")).value, "cannot-purge");
  });
});

describe("backup and restore", () => {
  test("backupSecret, purge, restoreSecretBackup brings back every version with its id, value and properties", async () => {
    const name = "backup-cycle";
    const v1 = await client.setSecret(name, "b-one", { tags: { v: "1" } });
    const v2 = await client.setSecret(name, "b-two", { contentType: "text/plain" });
    const v3 = await client.setSecret(name, "b-three", { expiresOn: new Date("2040-01-01T00:00:00Z") });
    await client.updateSecretProperties(name, v2.properties.version!, { enabled: false });

    const blob = await client.backupSecret(name);
    assert.ok(blob instanceof Uint8Array && blob.length > 0, "backupSecret returned no blob");
    assert.ok(!Buffer.from(blob).toString("latin1").includes("b-three"), "the backup blob holds the value in clear text");

    await (await client.beginDeleteSecret(name)).pollUntilDone();
    await client.purgeDeletedSecret(name);
    await rejectsWith(client.getSecret(name), 404, "SecretNotFound");

    const restored = await client.restoreSecretBackup(blob);
    assert.equal(restored.name, name);
    assert.equal(restored.version, v3.properties.version);

    const listed = await versionsOf(client, name);
    assert.deepEqual(
      listed.map((p) => p.id),
      [v1.properties.id, v2.properties.id, v3.properties.id],
    );
    assert.deepEqual(listed[0]!.tags, { v: "1" });
    assert.equal(listed[1]!.contentType, "text/plain");
    assert.equal(listed[1]!.enabled, false);
    assert.equal(byTime(listed[2]!.expiresOn), Date.parse("2040-01-01T00:00:00Z"));
    assert.equal((await client.getSecret(name)).value, "b-three");
    assert.equal((await client.getSecret(name, { version: v1.properties.version! })).value, "b-one");
    await client.updateSecretProperties(name, v2.properties.version!, { enabled: true });
    assert.equal((await client.getSecret(name, { version: v2.properties.version! })).value, "b-two");
  });

  test("a backup from vault A restores into vault B of the same server; restoring over an existing name is 409 Conflict", async () => {
    const a = newVault("backup-a");
    const b = newVault("backup-b");
    const s1 = await a.setSecret("moving", "from-a-1");
    const s2 = await a.setSecret("moving", "from-a-2");
    const blob = (await a.backupSecret("moving"))!;

    const restored = await b.restoreSecretBackup(blob);
    assert.equal(restored.vaultUrl, lockbox.vaultUrl("backup-b"));
    assert.equal(restored.version, s2.properties.version);
    assert.deepEqual(
      (await versionsOf(b, "moving")).map((p) => p.version),
      [s1.properties.version, s2.properties.version],
    );
    assert.equal((await b.getSecret("moving")).value, "from-a-2");
    assert.equal((await b.getSecret("moving", { version: s1.properties.version! })).value, "from-a-1");
    // Vault A still has its own copy.
    assert.equal((await a.getSecret("moving")).value, "from-a-2");

    // Restoring where the name exists is refused, and changes nothing there.
    await rejectsWith(a.restoreSecretBackup(blob), 409, "Conflict");
    await b.setSecret("moving", "from-b-3");
    await rejectsWith(b.restoreSecretBackup(blob), 409, "Conflict");
    assert.equal((await versionsOf(b, "moving")).length, 3);
    assert.equal((await b.getSecret("moving")).value, "from-b-3");
  });

  test("a corrupted backup blob is 400 BadParameter and restores nothing", async () => {
    const name = "backup-corrupt";
    await client.setSecret(name, "corrupt-me");
    const blob = (await client.backupSecret(name))!;
    await (await client.beginDeleteSecret(name)).pollUntilDone();
    await client.purgeDeletedSecret(name);

    const flipped = Uint8Array.from(blob);
    const middle = Math.floor(flipped.length / 2);
    flipped[middle] = flipped[middle]! ^ 0xff;
    await rejectsWith(client.restoreSecretBackup(flipped), 400, "BadParameter");
    await rejectsWith(client.restoreSecretBackup(blob.subarray(0, blob.length - 10)), 400, "BadParameter");
    await rejectsWith(client.restoreSecretBackup(new TextEncoder().encode("not a backup at all")), 400, "BadParameter");
    await rejectsWith(client.getSecret(name), 404, "SecretNotFound");
    assert.ok(!(await namesIn(client)).includes(name), "a refused restore left the secret listed");

    // The intact blob still restores.
    await client.restoreSecretBackup(blob);
    assert.equal((await client.getSecret(name)).value, "corrupt-me");
  });
});

describe("vaults and concurrency", () => {
  test("two vaults hold the same secret name apart", async () => {
    const one = newVault("twin-one");
    const two = newVault("twin-two");
    await one.setSecret("shared-name", "value-in-one");
    await two.setSecret("shared-name", "value-in-two");
    assert.equal((await one.getSecret("shared-name")).value, "value-in-one");
    assert.equal((await two.getSecret("shared-name")).value, "value-in-two");

    await (await one.beginDeleteSecret("shared-name")).pollUntilDone();
    await rejectsWith(one.getSecret("shared-name"), 404, "SecretNotFound");
    assert.equal((await two.getSecret("shared-name")).value, "value-in-two");
    assert.deepEqual(await namesIn(two), ["shared-name"]);
    assert.deepEqual(await namesIn(one), []);
    await rejectsWith(two.getDeletedSecret("shared-name"), 404, "SecretNotFound");
  });

  test("200 concurrent setSecret calls on one name make 200 distinct versions, all listed", async () => {
    const name = "concurrent-sets";
    const c = new SecretClient(lockbox.vaultUrl(), new DefaultAzureCredential());
    // One call first: the SDK learns the challenge per client (sdk-probe-notes.md, last section).
    const first = await c.setSecret(name, "value-initial");
    const values = Array.from({ length: 200 }, (_, i) => `value-${i}`);
    const results = await Promise.all(values.map((v) => c.setSecret(name, v)));

    results.forEach((r, i) => assert.equal(r.value, values[i]));
    const versions = new Set(results.map((r) => r.properties.version));
    assert.equal(versions.size, 200);
    assert.ok(!versions.has(first.properties.version), "a concurrent set reused the first version id");

    const listed = await versionsOf(c, name);
    assert.equal(listed.length, 201);
    assert.deepEqual(new Set(listed.map((p) => p.version)), new Set([first.properties.version, ...versions]));
    const latest = await c.getSecret(name);
    assert.ok(values.includes(latest.value!), `the latest value ${latest.value} is none of the values set`);
    assert.equal(latest.properties.version, listed[listed.length - 1]!.version);
    // Each version holds the value its call sent.
    for (const i of [0, 57, 199]) {
      const r = results[i]!;
      assert.equal((await c.getSecret(name, { version: r.properties.version! })).value, values[i]);
    }
  });
});

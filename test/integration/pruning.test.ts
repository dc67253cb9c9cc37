import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { DefaultAzureCredential } from "@azure/identity";
import { KeyClient, type KeyProperties } from "@azure/keyvault-keys";
import { SecretClient, type SecretProperties } from "@azure/keyvault-secrets";
import { developerToken, raw, type RawResponse } from "../helpers/http.ts";
import { cli, type Lockbox, serveForFile } from "../helpers/server.ts";

// Version pruning, beyond Azure: `lockbox secret|key prune`, the admin prune endpoint and a
// per-object maximum number of versions. Azure's own delete still takes the whole secret.
// Results are read back with the official clients and DefaultAzureCredential, as a user
// would; each test uses its own names.
let lockbox: Lockbox;
let secrets: SecretClient;
let keys: KeyClient;

serveForFile({}, async (started) => {
  lockbox = started;
  secrets = new SecretClient(lockbox.vaultUrl(), new DefaultAzureCredential());
  keys = new KeyClient(lockbox.vaultUrl(), new DefaultAzureCredential());
});

async function admin(method: string, path: string, body?: object): Promise<RawResponse> {
  return raw(lockbox, { method, path: `/lockbox/v1${path}`, body, token: await developerToken(lockbox) });
}

function lockboxCli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return cli([...args, "--data-dir", lockbox.dataDir]);
}

/** Sets `count` versions value-1..value-N and returns their version ids, oldest first. */
async function secretWithVersions(name: string, count: number): Promise<string[]> {
  const versions: string[] = [];
  for (let i = 1; i <= count; i++) versions.push((await secrets.setSecret(name, `${name}-value-${i}`)).properties.version!);
  return versions;
}

async function secretVersions(name: string): Promise<string[]> {
  const out: SecretProperties[] = [];
  for await (const p of secrets.listPropertiesOfSecretVersions(name)) out.push(p);
  return out.map((p) => p.version!);
}

async function keyVersions(name: string): Promise<string[]> {
  const out: KeyProperties[] = [];
  for await (const p of keys.listPropertiesOfKeyVersions(name)) out.push(p);
  return out.map((p) => p.version!);
}

const sorted = (a: string[]): string[] => [...a].sort();

async function assertSecretGone(name: string, version: string): Promise<void> {
  await assert.rejects(secrets.getSecret(name, { version }), (e: any) => {
    assert.equal(e.statusCode, 404, `getSecret of pruned version ${version}: ${e.statusCode} ${e.message}`);
    assert.equal(e.code, "SecretNotFound");
    return true;
  });
}

async function assertKeyGone(name: string, version: string): Promise<void> {
  await assert.rejects(keys.getKey(name, { version }), (e: any) => {
    assert.equal(e.statusCode, 404, `getKey of pruned version ${version}: ${e.statusCode} ${e.message}`);
    assert.equal(e.code, "KeyNotFound");
    return true;
  });
}

describe("lockbox secret prune", () => {
  test("--keep 2 leaves exactly the newest two versions; the pruned ones are 404, the current value unchanged", async () => {
    const name = "prune-keep";
    const v = await secretWithVersions(name, 5);
    const r = lockboxCli("secret", "prune", "--yes", name, "--keep", "2");
    assert.equal(r.status, 0, `lockbox secret prune --keep 2 failed:\n${r.stdout}\n${r.stderr}`);
    for (const gone of v.slice(0, 3)) assert.ok(r.stdout.includes(gone), `the CLI names destroyed version ${gone}:\n${r.stdout}`);
    for (const kept of v.slice(3)) assert.ok(!r.stdout.includes(kept), `the CLI does not name kept version ${kept}:\n${r.stdout}`);

    assert.deepEqual(await secretVersions(name), v.slice(3));
    for (const gone of v.slice(0, 3)) await assertSecretGone(name, gone);
    const current = await secrets.getSecret(name);
    assert.equal(current.properties.version, v[4]);
    assert.equal(current.value, `${name}-value-5`);
    assert.equal((await secrets.getSecret(name, { version: v[3]! })).value, `${name}-value-4`);
  });

  test("--versions V1 V2 destroys exactly those versions", async () => {
    const name = "prune-listed";
    const v = await secretWithVersions(name, 5);
    const r = lockboxCli("secret", "prune", "--yes", name, "--versions", v[0]!, v[2]!);
    assert.equal(r.status, 0, `lockbox secret prune --versions failed:\n${r.stdout}\n${r.stderr}`);
    assert.deepEqual(await secretVersions(name), [v[1], v[3], v[4]]);
    await assertSecretGone(name, v[0]!);
    await assertSecretGone(name, v[2]!);
    assert.equal((await secrets.getSecret(name, { version: v[1]! })).value, `${name}-value-2`);
    assert.equal((await secrets.getSecret(name)).value, `${name}-value-5`);
  });

  test("the current version is never pruned: the CLI exits non-zero, the API answers 400, nothing is destroyed", async () => {
    const name = "prune-current";
    const v = await secretWithVersions(name, 3);
    const current = v[2]!;

    const alone = lockboxCli("secret", "prune", "--yes", name, "--versions", current);
    assert.notEqual(alone.status, 0, `pruning the current version must fail:\n${alone.stdout}`);
    assert.match(alone.stderr, /current version/);
    // An old version named before the current one is not destroyed either: all or nothing.
    const mixed = lockboxCli("secret", "prune", "--yes", name, "--versions", v[0]!, current);
    assert.notEqual(mixed.status, 0, `pruning a list with the current version must fail:\n${mixed.stdout}`);
    assert.deepEqual(await secretVersions(name), v, "the CLI destroyed nothing");

    const api = await admin("POST", `/vaults/default/secrets/${name}/prune`, { versions: [v[1]!, current] });
    assert.equal(api.status, 400, `pruning the current version: ${api.status} ${api.text}`);
    assert.equal(api.json?.error?.code, "BadParameter");
    const keepNone = await admin("POST", `/vaults/default/secrets/${name}/prune`, { keep: 0 });
    assert.equal(keepNone.status, 400, `keep 0 would take the current version: ${keepNone.status} ${keepNone.text}`);
    const noChoice = await admin("POST", `/vaults/default/secrets/${name}/prune`, {});
    assert.equal(noChoice.status, 400, `a prune that names nothing: ${noChoice.status} ${noChoice.text}`);

    assert.deepEqual(await secretVersions(name), v, "the API destroyed nothing");
    for (const [i, version] of v.entries()) assert.equal((await secrets.getSecret(name, { version })).value, `${name}-value-${i + 1}`);
  });

  test("an unknown version is 404 and nothing is destroyed", async () => {
    const name = "prune-unknown";
    const v = await secretWithVersions(name, 3);
    const unknown = "0123456789abcdef0123456789abcdef";

    const api = await admin("POST", `/vaults/default/secrets/${name}/prune`, { versions: [v[0]!, unknown] });
    assert.equal(api.status, 404, `pruning an unknown version: ${api.status} ${api.text}`);
    assert.equal(api.json?.error?.code, "SecretNotFound");
    const r = lockboxCli("secret", "prune", "--yes", name, "--versions", unknown);
    assert.notEqual(r.status, 0, `the CLI must refuse an unknown version:\n${r.stdout}`);
    assert.match(r.stderr, /was not found/);
    assert.deepEqual(await secretVersions(name), v);

    const noSecret = await admin("POST", "/vaults/default/secrets/prune-no-such-secret/prune", { keep: 1 });
    assert.equal(noSecret.status, 404, `pruning an unknown secret: ${noSecret.status} ${noSecret.text}`);
    assert.equal(noSecret.json?.error?.code, "SecretNotFound");
  });
});

describe("POST /lockbox/v1/vaults/{vault}/{secrets|keys}/{name}/prune", () => {
  test('secrets: {"keep":1} answers {"pruned":[...]} with the destroyed versions', async () => {
    const name = "api-prune-secret";
    const v = await secretWithVersions(name, 4);
    const r = await admin("POST", `/vaults/default/secrets/${name}/prune`, { keep: 1 });
    assert.equal(r.status, 200, `prune: ${r.status} ${r.text}`);
    assert.deepEqual(Object.keys(r.json), ["pruned"]);
    assert.deepEqual(sorted(r.json.pruned), sorted(v.slice(0, 3)));
    assert.deepEqual(await secretVersions(name), [v[3]]);
    for (const gone of v.slice(0, 3)) await assertSecretGone(name, gone);
    assert.equal((await secrets.getSecret(name)).value, `${name}-value-4`);

    const again = await admin("POST", `/vaults/default/secrets/${name}/prune`, { keep: 1 });
    assert.equal(again.status, 200, again.text);
    assert.deepEqual(again.json, { pruned: [] });
  });

  test('keys: after rotateKey three times, {"keep":1} leaves the current key version only', async () => {
    const name = "api-prune-key";
    const first = await keys.createKey(name, "EC", { curve: "P-256" });
    const rotated = [];
    for (let i = 0; i < 3; i++) rotated.push(await keys.rotateKey(name));
    const all = [first.properties.version!, ...rotated.map((k) => k.properties.version!)];
    assert.deepEqual(await keyVersions(name), all);
    const current = rotated[2]!;

    const r = await admin("POST", `/vaults/default/keys/${name}/prune`, { keep: 1 });
    assert.equal(r.status, 200, `prune: ${r.status} ${r.text}`);
    assert.deepEqual(sorted(r.json.pruned), sorted(all.slice(0, 3)));
    assert.deepEqual(await keyVersions(name), [current.properties.version]);
    for (const gone of all.slice(0, 3)) await assertKeyGone(name, gone);
    const latest = await keys.getKey(name);
    assert.equal(latest.properties.version, current.properties.version);
    assert.deepEqual(latest.key?.x, current.key?.x, "the current key material is unchanged");

    const refused = await admin("POST", `/vaults/default/keys/${name}/prune`, { versions: [current.properties.version!] });
    assert.equal(refused.status, 400, `pruning the current key version: ${refused.status} ${refused.text}`);
    const unknown = await admin("POST", `/vaults/default/keys/${name}/prune`, { versions: ["0123456789abcdef0123456789abcdef"] });
    assert.equal(unknown.status, 404, unknown.text);
    assert.equal(unknown.json?.error?.code, "KeyNotFound");
  });

  test("lockbox key prune --keep and --versions", async () => {
    const name = "cli-prune-key";
    const first = await keys.createKey(name, "EC", { curve: "P-256" });
    const all = [first.properties.version!];
    for (let i = 0; i < 4; i++) all.push((await keys.rotateKey(name)).properties.version!);

    const listed = lockboxCli("key", "prune", "--yes", name, "--versions", all[1]!);
    assert.equal(listed.status, 0, `lockbox key prune --versions failed:\n${listed.stdout}\n${listed.stderr}`);
    assert.deepEqual(await keyVersions(name), [all[0], all[2], all[3], all[4]]);
    await assertKeyGone(name, all[1]!);

    const kept = lockboxCli("key", "prune", "--yes", name, "--keep", "2");
    assert.equal(kept.status, 0, `lockbox key prune --keep failed:\n${kept.stdout}\n${kept.stderr}`);
    assert.ok(kept.stdout.includes(all[0]!) && kept.stdout.includes(all[2]!), `the CLI names what it destroyed:\n${kept.stdout}`);
    assert.deepEqual(await keyVersions(name), [all[3], all[4]]);
    await assertKeyGone(name, all[0]!);
    await assertKeyGone(name, all[2]!);
    assert.equal((await keys.getKey(name)).properties.version, all[4]);

    const current = lockboxCli("key", "prune", "--yes", name, "--versions", all[4]!);
    assert.notEqual(current.status, 0, `pruning the current key version must fail:\n${current.stdout}`);
    assert.deepEqual(await keyVersions(name), [all[3], all[4]]);
  });
});

describe("maxVersions", () => {
  test('PUT {"maxVersions":3} prunes at once, every setSecret then keeps 3 (oldest first), null lifts the limit', async () => {
    const name = "max-versions-api";
    const v = await secretWithVersions(name, 5);
    const path = `/vaults/default/secrets/${name}/maxversions`;

    const set = await admin("PUT", path, { maxVersions: 3 });
    assert.equal(set.status, 200, `maxversions: ${set.status} ${set.text}`);
    assert.equal(set.json.maxVersions, 3);
    assert.deepEqual(sorted(set.json.pruned), sorted(v.slice(0, 2)));
    assert.deepEqual(await secretVersions(name), v.slice(2));
    await assertSecretGone(name, v[0]!);

    for (let i = 6; i <= 7; i++) {
      v.push((await secrets.setSecret(name, `${name}-value-${i}`)).properties.version!);
      assert.deepEqual(await secretVersions(name), v.slice(-3), `after value ${i} only the newest 3 are left`);
    }
    await assertSecretGone(name, v[2]!);
    await assertSecretGone(name, v[3]!);
    assert.equal((await secrets.getSecret(name)).value, `${name}-value-7`);
    assert.equal((await secrets.getSecret(name, { version: v[4]! })).value, `${name}-value-5`);

    const lifted = await admin("PUT", path, { maxVersions: null });
    assert.equal(lifted.status, 200, `maxversions null: ${lifted.status} ${lifted.text}`);
    assert.equal(lifted.json.maxVersions, null);
    assert.deepEqual(lifted.json.pruned, []);
    for (let i = 8; i <= 9; i++) v.push((await secrets.setSecret(name, `${name}-value-${i}`)).properties.version!);
    assert.deepEqual(await secretVersions(name), v.slice(4), "without a limit every version stays");

    for (const bad of [0, -1]) {
      const r = await admin("PUT", path, { maxVersions: bad });
      assert.equal(r.status, 400, `maxVersions ${bad}: ${r.status} ${r.text}`);
    }
    assert.deepEqual(await secretVersions(name), v.slice(4), "a refused limit destroys nothing");
  });

  test("lockbox secret prune NAME --max-versions 2 does the same from the CLI; 'none' lifts it", async () => {
    const name = "max-versions-cli";
    const v = await secretWithVersions(name, 4);
    const r = lockboxCli("secret", "prune", "--yes", name, "--max-versions", "2");
    assert.equal(r.status, 0, `lockbox secret prune --max-versions failed:\n${r.stdout}\n${r.stderr}`);
    assert.deepEqual(await secretVersions(name), v.slice(2));

    v.push((await secrets.setSecret(name, `${name}-value-5`)).properties.version!);
    assert.deepEqual(await secretVersions(name), v.slice(3), "the limit holds for new versions");
    await assertSecretGone(name, v[2]!);

    const lifted = lockboxCli("secret", "prune", "--yes", name, "--max-versions", "none");
    assert.equal(lifted.status, 0, `--max-versions none failed:\n${lifted.stdout}\n${lifted.stderr}`);
    v.push((await secrets.setSecret(name, `${name}-value-6`)).properties.version!);
    assert.deepEqual(await secretVersions(name), v.slice(3), "no limit: nothing more is pruned");
  });

  test("keys: maxVersions holds across rotateKey", async () => {
    const name = "max-versions-key";
    const all = [(await keys.createKey(name, "EC", { curve: "P-256" })).properties.version!];
    const set = await admin("PUT", `/vaults/default/keys/${name}/maxversions`, { maxVersions: 2 });
    assert.equal(set.status, 200, `maxversions: ${set.status} ${set.text}`);
    assert.deepEqual(set.json.pruned, []);
    for (let i = 0; i < 3; i++) all.push((await keys.rotateKey(name)).properties.version!);
    assert.deepEqual(await keyVersions(name), all.slice(-2));
  });
});

describe("Azure's delete is not pruning", () => {
  test("beginDeleteSecret(name, {version}) deletes the whole secret, as Azure does; prune removes one version", async () => {
    const name = "azure-cleanup";
    const v = await secretWithVersions(name, 2);
    // The cleanup scripts written for Azure pass a version; the SDK and the service ignore it.
    const options = { version: v[0]!, intervalInMs: 100 };
    await (await secrets.beginDeleteSecret(name, options)).pollUntilDone();
    await assert.rejects(secrets.getSecret(name), (e: any) => e.statusCode === 404 && e.code === "SecretNotFound");
    await assert.rejects(secrets.getSecret(name, { version: v[1]! }), (e: any) => e.statusCode === 404 && e.code === "SecretNotFound");
    assert.equal((await secrets.getDeletedSecret(name)).properties.version, v[1]);

    await (await secrets.beginRecoverDeletedSecret(name, { intervalInMs: 100 })).pollUntilDone();
    assert.deepEqual(await secretVersions(name), v, "recovery brings back both versions");
    const pruned = await admin("POST", `/vaults/default/secrets/${name}/prune`, { versions: [v[0]!] });
    assert.equal(pruned.status, 200, pruned.text);
    assert.deepEqual(await secretVersions(name), [v[1]], "pruning takes the one version and leaves the secret");
    assert.equal((await secrets.getSecret(name)).value, `${name}-value-2`);
  });
});

describe("backup and restore", () => {
  test("a restored secret keeps its maxVersions", async () => {
    const name = "backup-max-versions";
    const v = await secretWithVersions(name, 3);
    const set = await admin("PUT", `/vaults/default/secrets/${name}/maxversions`, { maxVersions: 2 });
    assert.equal(set.status, 200, `maxversions: ${set.status} ${set.text}`);
    assert.deepEqual(await secretVersions(name), v.slice(1));

    const blob = await secrets.backupSecret(name);
    assert.ok(blob instanceof Uint8Array && blob.length > 0, "backupSecret returned no blob");
    await (await secrets.beginDeleteSecret(name, { intervalInMs: 100 })).pollUntilDone();
    await secrets.purgeDeletedSecret(name);
    await assert.rejects(secrets.getDeletedSecret(name), (e: any) => e.statusCode === 404, "the secret is purged before the restore");

    const restored = await secrets.restoreSecretBackup(blob);
    assert.equal(restored.version, v[2]);
    assert.deepEqual(await secretVersions(name), v.slice(1), "the restore brings back the versions the backup had");

    v.push((await secrets.setSecret(name, `${name}-value-4`)).properties.version!);
    assert.deepEqual(await secretVersions(name), v.slice(2), "the limit of 2 still holds after the restore");
    await assertSecretGone(name, v[1]!);
    assert.equal((await secrets.getSecret(name)).value, `${name}-value-4`);
  });
});

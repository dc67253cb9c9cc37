import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync, type JsonWebKey as NodeJsonWebKey } from "node:crypto";
import { DefaultAzureCredential } from "@azure/identity";
import {
  KeyClient,
  type JsonWebKey,
  type KeyProperties,
  type KeyRotationLifetimeAction,
  type KeyRotationPolicy,
  type KeyRotationPolicyProperties,
  type KeyVaultKey,
} from "@azure/keyvault-keys";
import { SecretClient } from "@azure/keyvault-secrets";
import { developerToken, raw } from "../helpers/http.ts";
import { cli, type Lockbox, serveForFile } from "../helpers/server.ts";
import { runProgram } from "../helpers/program.ts";
import { collect, rejectsWith } from "../helpers/sdk.ts";

// The keys API as a program written for Azure Key Vault uses it, through the official
// KeyClient against one real Lockbox server. Each test uses its own key names; tests that
// need an empty vault create their own with the CLI, as a user would.
let lockbox: Lockbox;
let client: KeyClient;

serveForFile({}, async (started) => {
  lockbox = started;
  client = new KeyClient(lockbox.vaultUrl(), new DefaultAzureCredential());
});

const DAY_MS = 86_400_000;
const DAY_S = 86_400;
const VERSION = /^[0-9a-f]{32}$/;
const RSA_OPS = ["encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"];
const EC_OPS = ["sign", "verify"];
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "k"] as const;

const b64 = (u: Uint8Array | undefined): string | undefined => (u ? Buffer.from(u).toString("base64url") : undefined);
const byTime = (d: Date | undefined): number | undefined => d?.getTime();
const seconds = (d: Date): number => Math.floor(d.getTime() / 1000);
/** A big-endian unsigned integer, so that [0, 3] and [3] are both 3. */
const bigEndian = (u: Uint8Array | undefined): bigint => (u && u.length ? BigInt(`0x${Buffer.from(u).toString("hex")}`) : -1n);

/** Creates a vault with the CLI (the server is running) and returns a client for it. */
function newVault(name: string, ...flags: string[]): KeyClient {
  const r = cli(["vault", "create", name, "--data-dir", lockbox.dataDir, ...flags]);
  assert.equal(r.status, 0, `lockbox vault create ${name} failed: ${r.stderr}`);
  return new KeyClient(lockbox.vaultUrl(name), new DefaultAzureCredential());
}

const versionsOf = (c: KeyClient, name: string): Promise<KeyProperties[]> => collect(c.listPropertiesOfKeyVersions(name));
const namesIn = async (c: KeyClient): Promise<string[]> => (await collect(c.listPropertiesOfKeys())).map((p) => p.name).sort();
const deletedNamesIn = async (c: KeyClient): Promise<string[]> => (await collect(c.listDeletedKeys())).map((d) => d.name).sort();

/** Lifetime actions without the members the SDK fills with undefined, for deepEqual. */
function actionsOf(policy: KeyRotationPolicyProperties): KeyRotationLifetimeAction[] | undefined {
  return policy.lifetimeActions?.map((a) => {
    const out: KeyRotationLifetimeAction = { action: a.action };
    if (a.timeAfterCreate !== undefined) out.timeAfterCreate = a.timeAfterCreate;
    if (a.timeBeforeExpiry !== undefined) out.timeBeforeExpiry = a.timeBeforeExpiry;
    return out;
  });
}

function assertNoPrivateParts(key: KeyVaultKey, where: string): void {
  for (const m of PRIVATE_MEMBERS) assert.equal(key.key?.[m], undefined, `${where}: the key carries its private member ${m}`);
}

/** The key as another client reads it on the wire: no private member anywhere. */
async function assertNoPrivatePartsOnTheWire(name: string, version = ""): Promise<void> {
  const r = await raw(lockbox, { path: `/keys/${name}/${version}?api-version=7.6`, token: await developerToken(lockbox) });
  assert.equal(r.status, 200, r.text);
  for (const m of PRIVATE_MEMBERS) assert.equal(m in r.json.key, false, `GET /keys/${name} returns the private member ${m}`);
}

/** A node:crypto JWK (base64url strings) as the SDK's JsonWebKey (Uint8Array members). */
function toSdkJwk(jwk: NodeJsonWebKey): JsonWebKey {
  const bytes = (s: string | undefined): Uint8Array | undefined =>
    s === undefined ? undefined : new Uint8Array(Buffer.from(s, "base64url"));
  const out: JsonWebKey = { kty: jwk.kty as JsonWebKey["kty"] };
  for (const m of ["n", "e", "d", "p", "q", "dp", "dq", "qi", "x", "y"] as const) {
    const v = bytes(jwk[m] as string | undefined);
    if (v) out[m] = v;
  }
  if (jwk.crv) out.crv = jwk.crv as JsonWebKey["crv"];
  return out;
}

describe("the seed flow: create with a rotation policy, rotate, update properties", () => {
  test("createRsaKey with expiresOn, tags, keySize and keyOps; the policy round-trips; rotateKey makes a new latest version expiring in 90 days; updates touch one version", async () => {
    const name = "seed-flow-key";
    const inOneYear = new Date(Date.now() + 365 * DAY_MS);
    const key = await client.createRsaKey(name, {
      enabled: true,
      expiresOn: inOneYear,
      exportable: false,
      tags: { project: "test-project" },
      keySize: 2048,
      keyOps: ["encrypt", "decrypt"],
    });
    assert.equal(key.name, name);
    assert.equal(key.keyType, "RSA");
    assert.match(key.properties.version!, VERSION);
    assert.equal(key.id, `${lockbox.vaultUrl()}/keys/${name}/${key.properties.version}`);
    assert.deepEqual(key.keyOperations, ["encrypt", "decrypt"]);
    assert.deepEqual(key.properties.tags, { project: "test-project" });
    assert.equal(key.properties.enabled, true);
    assert.equal(key.properties.exportable, false);
    assert.equal(byTime(key.properties.expiresOn), seconds(inOneYear) * 1000);
    assert.equal(key.key?.n?.length, 256);
    assert.equal(b64(key.key?.e), "AQAB");

    const submitted: KeyRotationPolicyProperties = {
      expiresIn: "P90D",
      lifetimeActions: [
        { action: "Rotate", timeAfterCreate: "P30D" },
        { action: "Notify", timeBeforeExpiry: "P7D" },
      ],
    };
    const put = await client.updateKeyRotationPolicy(name, submitted);
    assert.equal(put.id, `${lockbox.vaultUrl()}/keys/${name}/rotationpolicy`);
    assert.equal(put.expiresIn, "P90D");
    assert.deepEqual(actionsOf(put), submitted.lifetimeActions, "a policy with a Notify action keeps exactly the actions sent");
    assert.ok(put.createdOn instanceof Date, "the stored policy has no createdOn");
    assert.ok(put.updatedOn instanceof Date, "the stored policy has no updatedOn");

    const got = await client.getKeyRotationPolicy(name);
    assert.ok(got.id?.endsWith(`/keys/${name}/rotationpolicy`), `the policy id is ${got.id}`);
    assert.equal(got.id, put.id);
    assert.equal(got.expiresIn, put.expiresIn);
    assert.deepEqual(got.lifetimeActions, put.lifetimeActions);
    assert.equal(byTime(got.createdOn), byTime(put.createdOn));
    assert.equal(byTime(got.updatedOn), byTime(put.updatedOn));

    // Rotate: a new version, with new key material and its expiry from the policy.
    const rotateStarted = Math.floor(Date.now() / 1000);
    const rotated = await client.rotateKey(name);
    const rotateEnded = Math.ceil(Date.now() / 1000);
    assert.match(rotated.properties.version!, VERSION);
    assert.notEqual(rotated.properties.version, key.properties.version);

    const latest = await client.getKey(name);
    assert.equal(latest.properties.version, rotated.properties.version);
    assert.equal(latest.keyType, "RSA");
    assert.equal(latest.key?.n?.length, 256);
    assert.notEqual(b64(latest.key?.n), b64(key.key?.n), "the rotated version has the same modulus");
    assert.equal(b64(latest.key?.e), "AQAB");
    assert.deepEqual(latest.keyOperations, ["encrypt", "decrypt"]);
    assert.deepEqual(latest.properties.tags, { project: "test-project" });
    const exp = latest.properties.expiresOn;
    assert.ok(exp instanceof Date, "the rotated version has no expiresOn, though the policy has expiresIn P90D");
    const expS = seconds(exp);
    assert.ok(
      expS >= rotateStarted + 90 * DAY_S - 2 && expS <= rotateEnded + 90 * DAY_S + 2,
      `the rotated version expires at ${exp.toISOString()}, not 90 days after the rotation (${new Date(rotateStarted * 1000).toISOString()})`,
    );

    // The first version is unchanged and still readable by version.
    const first = await client.getKey(name, { version: key.properties.version! });
    assert.equal(b64(first.key?.n), b64(key.key?.n));
    assert.equal(byTime(first.properties.expiresOn), byTime(key.properties.expiresOn));
    assert.deepEqual(
      (await versionsOf(client, name)).map((p) => p.version),
      [key.properties.version, rotated.properties.version],
    );

    // updateKeyProperties without a version changes the latest version only.
    const disabled = await client.updateKeyProperties(name, {
      enabled: false,
      tags: { ...latest.properties.tags, subproject: "Health and wellness" },
    });
    assert.equal(disabled.properties.version, rotated.properties.version);
    assert.equal(disabled.properties.enabled, false);
    assert.deepEqual(disabled.properties.tags, { project: "test-project", subproject: "Health and wellness" });
    assert.equal(b64(disabled.key?.n), b64(latest.key?.n), "updating properties changed the key material");
    let [p1, p2] = (await versionsOf(client, name)) as [KeyProperties, KeyProperties];
    assert.equal(p1.enabled, true);
    assert.deepEqual(p1.tags, { project: "test-project" });
    assert.equal(p2.enabled, false);
    assert.deepEqual(p2.tags, { project: "test-project", subproject: "Health and wellness" });

    // updateKeyProperties with a version changes that version only.
    const firstUpdated = await client.updateKeyProperties(name, key.properties.version!, { tags: { pinned: "v1" }, keyOps: ["decrypt"] });
    assert.equal(firstUpdated.properties.version, key.properties.version);
    assert.deepEqual(firstUpdated.properties.tags, { pinned: "v1" });
    assert.deepEqual(firstUpdated.keyOperations, ["decrypt"]);
    assert.deepEqual((await client.getKey(name, { version: key.properties.version! })).keyOperations, ["decrypt"]);
    [p1, p2] = (await versionsOf(client, name)) as [KeyProperties, KeyProperties];
    assert.deepEqual(p1.tags, { pinned: "v1" });
    assert.equal(p1.enabled, true);
    assert.equal(p2.enabled, false, "updating the first version re-enabled the latest");
    assert.deepEqual(p2.tags, { project: "test-project", subproject: "Health and wellness" });

    // The seed's last step: enable the (latest) version by its version id; only `enabled` changes.
    const enabled = await client.updateKeyProperties(name, rotated.properties.version!, { enabled: true });
    assert.equal(enabled.properties.enabled, true);
    assert.deepEqual(enabled.properties.tags, { project: "test-project", subproject: "Health and wellness" });
    assert.deepEqual(enabled.keyOperations, ["encrypt", "decrypt"]);
    assert.equal(byTime(enabled.properties.expiresOn), byTime(exp));
    const again = await client.getKey(name);
    assert.equal(again.properties.version, rotated.properties.version);
    assert.deepEqual(again.keyOperations, ["encrypt", "decrypt"], "updating the first version's key_ops changed the latest's");
  });

  test("keys-seed.mjs: the seed program as a user writes it, run as its own process with `lockbox env`", async () => {
    const envOut = cli(["env", "--json", "--data-dir", lockbox.dataDir]);
    assert.equal(envOut.status, 0, `lockbox env failed:\n${envOut.stderr}`);
    const env = JSON.parse(envOut.stdout) as Record<string, string>;
    const run = await runProgram("keys-seed.mjs", [], env);
    assert.equal(run.code, 0, `keys-seed.mjs failed:\n${run.stdout}\n${run.stderr}`);
    const events = run.events;
    const only = (event: string): Record<string, any> => {
      const found = events.filter((e) => e.event === event);
      assert.equal(found.length, 1, `expected one "${event}" line, got ${found.length}:\n${run.stdout}\n${run.stderr}`);
      return found[0]!;
    };

    const created = only("created");
    assert.match(created.name, /^mykey-\d+$/);
    assert.equal(created.kty, "RSA");
    assert.deepEqual(created.keyOps, ["encrypt", "decrypt"]);
    assert.deepEqual(created.tags, { project: "test-project" });
    assert.equal(Date.parse(created.expiresOn), Math.floor(Date.parse(created.requestedExpiresOn) / 1000) * 1000);
    const name = created.name as string;

    const policy = only("policy");
    assert.equal(policy.id, `${lockbox.vaultUrl()}/keys/${name}/rotationpolicy`);
    assert.equal(policy.expiresIn, "P90D");
    assert.deepEqual(
      (policy.lifetimeActions as Array<Record<string, unknown>>).map((a) =>
        Object.fromEntries(Object.entries(a).filter(([, v]) => v !== undefined)),
      ),
      [
        { action: "Rotate", timeAfterCreate: "P30D" },
        { action: "Notify", timeBeforeExpiry: "P7D" },
      ],
    );

    const current = only("current");
    assert.equal(current.version, created.version);
    const rotated = only("rotated");
    assert.notEqual(rotated.version, created.version);
    assert.notEqual(rotated.n, created.n);
    assert.deepEqual(rotated.keyOps, ["encrypt", "decrypt"]);
    assert.deepEqual(rotated.tags, { project: "test-project" });
    assert.ok(rotated.expiresOn, "the rotated version has no expiresOn");
    const expS = Date.parse(rotated.expiresOn) / 1000;
    const startS = Math.floor(Date.parse(rotated.rotateStarted) / 1000);
    const endS = Math.ceil(Date.parse(rotated.rotateEnded) / 1000);
    assert.ok(
      expS >= startS + 90 * DAY_S - 2 && expS <= endS + 90 * DAY_S + 2,
      `the rotated version expires at ${rotated.expiresOn}, not 90 days after the rotation at ${rotated.rotateStarted}`,
    );

    const disabled = only("updated-latest");
    assert.equal(disabled.version, rotated.version);
    assert.equal(disabled.enabled, false);
    assert.deepEqual(disabled.tags, { project: "test-project", subproject: "Health and wellness" });
    const enabled = only("updated-version");
    assert.equal(enabled.version, rotated.version);
    assert.equal(enabled.enabled, true);
    assert.deepEqual(enabled.tags, { project: "test-project", subproject: "Health and wellness" });

    // Seen from this process: two versions, the first as created, the latest enabled with both tags.
    const versions = await versionsOf(client, name);
    assert.deepEqual(
      versions.map((p) => p.version),
      [created.version, rotated.version],
    );
    assert.deepEqual(versions[0]!.tags, { project: "test-project" });
    assert.equal(versions[0]!.enabled, true);
    assert.equal(versions[0]!.expiresOn?.toISOString(), created.expiresOn);
    const latest = await client.getKey(name);
    assert.equal(latest.properties.version, rotated.version);
    assert.equal(latest.properties.enabled, true);
    assert.deepEqual(latest.properties.tags, { project: "test-project", subproject: "Health and wellness" });
    const stored = await client.getKeyRotationPolicy(name);
    assert.equal(stored.expiresIn, "P90D");
    assert.deepEqual(actionsOf(stored), [
      { action: "Rotate", timeAfterCreate: "P30D" },
      { action: "Notify", timeBeforeExpiry: "P7D" },
    ]);
  });
});

describe("rotation policy defaults", () => {
  test("a policy without a Notify action gets Notify timeBeforeExpiry P30D added, and GET returns the same", async () => {
    const name = "policy-adds-notify";
    await client.createEcKey(name);
    const put = await client.updateKeyRotationPolicy(name, {
      expiresIn: "P60D",
      lifetimeActions: [{ action: "Rotate", timeBeforeExpiry: "P14D" }],
    });
    assert.equal(put.expiresIn, "P60D");
    assert.deepEqual(actionsOf(put), [
      { action: "Rotate", timeBeforeExpiry: "P14D" },
      { action: "Notify", timeBeforeExpiry: "P30D" },
    ]);
    const got = await client.getKeyRotationPolicy(name);
    assert.equal(got.expiresIn, put.expiresIn);
    assert.deepEqual(got.lifetimeActions, put.lifetimeActions);

    // A policy with no actions at all gets the same default Notify.
    const bare = await client.updateKeyRotationPolicy(name, { expiresIn: "P45D" });
    assert.equal(bare.expiresIn, "P45D");
    assert.deepEqual(actionsOf(bare), [{ action: "Notify", timeBeforeExpiry: "P30D" }]);
    assert.deepEqual(actionsOf(await client.getKeyRotationPolicy(name)), [{ action: "Notify", timeBeforeExpiry: "P30D" }]);
  });

  test("getKeyRotationPolicy of a key that never had a policy succeeds with Azure's default: a Notify 30 days before expiry, no expiresIn, no dates", async () => {
    // What Lockbox returns here is the default policy, as Get-AzKeyVaultKeyRotationPolicy
    // shows it for such a key: LifetimeActions {Notify, TimeBeforeExpiry P30D}, ExpiresIn,
    // CreatedOn and UpdatedOn empty. The id is the key's rotationpolicy URL.
    const name = "policy-never-set";
    await client.createRsaKey(name);
    const policy = await client.getKeyRotationPolicy(name);
    assert.equal(policy.id, `${lockbox.vaultUrl()}/keys/${name}/rotationpolicy`);
    assert.deepEqual(actionsOf(policy), [{ action: "Notify", timeBeforeExpiry: "P30D" }]);
    assert.equal(policy.expiresIn, undefined);
    assert.equal(policy.createdOn, undefined);
    assert.equal(policy.updatedOn, undefined);

    // A rotation without a policy expiry leaves the new version without an expiry.
    const rotated = await client.rotateKey(name);
    assert.equal(rotated.properties.expiresOn, undefined);
    assert.equal((await versionsOf(client, name)).length, 2);
  });
});

describe("create", () => {
  for (const [size, bytes] of [
    [2048, 256],
    [3072, 384],
    [4096, 512],
  ] as const) {
    test(`createRsaKey with keySize ${size} returns a ${bytes}-byte modulus, e = AQAB and the RSA default key_ops`, async () => {
      const name = `rsa-size-${size}`;
      const key = await client.createRsaKey(name, { keySize: size });
      assert.equal(key.keyType, "RSA");
      assert.equal(key.key?.n?.length, bytes);
      assert.equal(key.key?.n?.[0]! >= 0x80, true, "the modulus has a leading zero byte or fewer bits than asked");
      assert.equal(b64(key.key?.e), "AQAB");
      assert.deepEqual(key.keyOperations, RSA_OPS);
      assertNoPrivateParts(key, "createRsaKey");
      const got = await client.getKey(name);
      assert.equal(b64(got.key?.n), b64(key.key?.n));
      assert.deepEqual(got.keyOperations, RSA_OPS);
      assertNoPrivateParts(got, "getKey");
    });
  }

  test("createRsaKey without keySize makes a 2048-bit key", async () => {
    const key = await client.createRsaKey("rsa-default-size");
    assert.equal(key.key?.n?.length, 256);
    assert.equal(b64(key.key?.e), "AQAB");
  });

  test("public_exponent 3 gives e = 3 (sent raw: keyvault-keys 4.10.2 drops publicExponent)", async () => {
    const name = "rsa-exponent-3";
    const r = await raw(lockbox, {
      method: "POST",
      path: `/keys/${name}/create?api-version=7.6`,
      body: { kty: "RSA", key_size: 2048, public_exponent: 3, attributes: {} },
      token: await developerToken(lockbox),
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(bigEndian(Buffer.from(r.json.key.e, "base64url")), 3n, `e is ${r.json.key.e}`);
    const got = await client.getKey(name);
    assert.equal(bigEndian(got.key?.e), 3n, `e is ${b64(got.key?.e)}`);
    assert.equal(got.key?.n?.length, 256);
  });

  for (const [curve, size] of [
    ["P-256", 32],
    ["P-256K", 32],
    ["P-384", 48],
    ["P-521", 66],
  ] as const) {
    test(`createEcKey on ${curve} returns crv ${curve}, ${size}-byte x and y, and key_ops sign, verify`, async () => {
      const name = `ec-${curve.toLowerCase()}`;
      const key = await client.createEcKey(name, { curve });
      assert.equal(key.keyType, "EC");
      assert.equal(key.key?.crv, curve);
      assert.equal(key.key?.x?.length, size);
      assert.equal(key.key?.y?.length, size);
      assert.equal(key.key?.n, undefined);
      assert.deepEqual(key.keyOperations, EC_OPS);
      assertNoPrivateParts(key, "createEcKey");
      const got = await client.getKey(name);
      assert.equal(got.key?.crv, curve);
      assert.equal(b64(got.key?.x), b64(key.key?.x));
      assert.equal(b64(got.key?.y), b64(key.key?.y));
      assert.deepEqual(got.keyOperations, EC_OPS);
      await assertNoPrivatePartsOnTheWire(name);
    });
  }

  test("createEcKey without a curve makes a P-256 key", async () => {
    const key = await client.createEcKey("ec-default-curve");
    assert.equal(key.key?.crv, "P-256");
    assert.equal(key.key?.x?.length, 32);
  });

  for (const size of [128, 192, 256]) {
    test(`createOctKey with keySize ${size} returns kty oct and no key material`, async () => {
      const name = `oct-${size}`;
      const key = await client.createOctKey(name, { keySize: size });
      assert.equal(key.keyType, "oct");
      assert.equal(key.key?.kty, "oct");
      assert.equal(key.key?.k, undefined, "a symmetric key's k was returned");
      assertNoPrivateParts(key, "createOctKey");
      const got = await client.getKey(name);
      assert.equal(got.keyType, "oct");
      assertNoPrivateParts(got, "getKey");
      await assertNoPrivatePartsOnTheWire(name);
    });
  }

  test("hsm: true gives RSA-HSM, EC-HSM and oct-HSM, on create and on get", async () => {
    const rsa = await client.createRsaKey("hsm-rsa", { hsm: true });
    assert.equal(rsa.keyType, "RSA-HSM");
    assert.equal(rsa.key?.n?.length, 256);
    assert.deepEqual(rsa.keyOperations, RSA_OPS);
    const ec = await client.createEcKey("hsm-ec", { hsm: true, curve: "P-384" });
    assert.equal(ec.keyType, "EC-HSM");
    assert.equal(ec.key?.crv, "P-384");
    assert.deepEqual(ec.keyOperations, EC_OPS);
    const oct = await client.createOctKey("hsm-oct", { hsm: true, keySize: 256 });
    assert.equal(oct.keyType, "oct-HSM");
    assert.equal(oct.key?.k, undefined);

    assert.equal((await client.getKey("hsm-rsa")).keyType, "RSA-HSM");
    assert.equal((await client.getKey("hsm-ec")).keyType, "EC-HSM");
    assert.equal((await client.getKey("hsm-oct")).keyType, "oct-HSM");
  });

  test("createKey with keyOps returns only those operations; tags, notBefore and enabled come back", async () => {
    const name = "create-with-options";
    const nbf = new Date("2031-02-03T04:05:06Z");
    const key = await client.createKey(name, "EC", { keyOps: ["sign"], tags: { team: "a" }, notBefore: nbf, enabled: false });
    assert.deepEqual(key.keyOperations, ["sign"]);
    assert.deepEqual(key.properties.tags, { team: "a" });
    assert.equal(byTime(key.properties.notBefore), nbf.getTime());
    assert.equal(key.properties.enabled, false);
    const [listed] = await versionsOf(client, name);
    assert.equal(listed!.enabled, false);
    assert.equal(byTime(listed!.notBefore), nbf.getTime());
  });
});

describe("import", () => {
  test("importKey of an RSA 2048 JWK from node:crypto returns its n and e; no private member is ever returned", async () => {
    const name = "import-rsa";
    const jwk = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" });
    const imported = await client.importKey(name, toSdkJwk(jwk), { tags: { source: "node" } });
    assert.equal(imported.keyType, "RSA");
    assert.equal(b64(imported.key?.n), jwk.n);
    assert.equal(b64(imported.key?.e), jwk.e);
    assert.deepEqual(imported.properties.tags, { source: "node" });
    assert.match(imported.properties.version!, VERSION);
    assertNoPrivateParts(imported, "importKey");

    const got = await client.getKey(name);
    assert.equal(got.properties.version, imported.properties.version);
    assert.equal(b64(got.key?.n), jwk.n);
    assert.equal(b64(got.key?.e), jwk.e);
    assertNoPrivateParts(got, "getKey");
    assertNoPrivateParts(await client.getKey(name, { version: imported.properties.version! }), "getKey by version");
    await assertNoPrivatePartsOnTheWire(name);
    await assertNoPrivatePartsOnTheWire(name, imported.properties.version!);
  });

  test("importKey with hardwareProtected: true reports kty RSA-HSM", async () => {
    const name = "import-rsa-hsm";
    const jwk = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" });
    const imported = await client.importKey(name, toSdkJwk(jwk), { hardwareProtected: true });
    assert.equal(imported.keyType, "RSA-HSM");
    assert.equal(b64(imported.key?.n), jwk.n);
    const got = await client.getKey(name);
    assert.equal(got.keyType, "RSA-HSM");
    assertNoPrivateParts(got, "getKey");
  });

  test("importKey of an EC P-256 JWK returns its crv, x and y and never d", async () => {
    const name = "import-ec";
    const jwk = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "jwk" });
    const imported = await client.importKey(name, toSdkJwk(jwk));
    assert.equal(imported.keyType, "EC");
    assert.equal(imported.key?.crv, "P-256");
    assert.equal(b64(imported.key?.x), jwk.x);
    assert.equal(b64(imported.key?.y), jwk.y);
    assertNoPrivateParts(imported, "importKey");
    const got = await client.getKey(name);
    assert.equal(b64(got.key?.x), jwk.x);
    assert.equal(b64(got.key?.y), jwk.y);
    assertNoPrivateParts(got, "getKey");
    await assertNoPrivatePartsOnTheWire(name);
  });
});

describe("get and list", () => {
  test("getKey returns the latest version, and getKey by version returns that version", async () => {
    const name = "get-versions";
    const v1 = await client.createEcKey(name);
    const v2 = await client.createEcKey(name, { tags: { second: "yes" } });
    assert.notEqual(v1.properties.version, v2.properties.version);
    const latest = await client.getKey(name);
    assert.equal(latest.properties.version, v2.properties.version);
    assert.equal(latest.id, `${lockbox.vaultUrl()}/keys/${name}/${v2.properties.version}`);
    assert.equal(b64(latest.key?.x), b64(v2.key?.x));
    assert.deepEqual(latest.properties.tags, { second: "yes" });
    const first = await client.getKey(name, { version: v1.properties.version! });
    assert.equal(first.properties.version, v1.properties.version);
    assert.equal(first.id, v1.id);
    assert.equal(b64(first.key?.x), b64(v1.key?.x));
    assert.equal(first.properties.tags, undefined);
    assert.equal(first.properties.vaultUrl, lockbox.vaultUrl());
  });

  test("listPropertiesOfKeys: one item per name with the base kid, deleted excluded; pages of 2, 2, 1", async () => {
    const vault = "keys-listing";
    const c = newVault(vault);
    const base = lockbox.vaultUrl(vault);
    await c.createEcKey("lst-multi");
    await c.createEcKey("lst-multi", { tags: { n: "2" } });
    for (const n of ["lst-a", "lst-b", "lst-c", "lst-gone"]) await c.createEcKey(n);
    await (await c.beginDeleteKey("lst-gone")).pollUntilDone();

    const items: KeyProperties[] = [];
    for await (const p of c.listPropertiesOfKeys()) items.push(p);
    assert.deepEqual(items.map((p) => p.name).sort(), ["lst-a", "lst-b", "lst-c", "lst-multi"]);
    const multi = items.find((p) => p.name === "lst-multi")!;
    assert.equal(multi.id, `${base}/keys/lst-multi`);
    assert.equal(multi.version, undefined);
    assert.deepEqual(multi.tags, { n: "2" }, "the item carries the latest version's properties");

    const sizes: number[] = [];
    const seen: string[] = [];
    for await (const page of c.listPropertiesOfKeys().byPage({ maxPageSize: 2 })) {
      sizes.push(page.length);
      seen.push(...page.map((p) => p.name));
    }
    assert.deepEqual(sizes, [2, 2]);
    assert.deepEqual(seen.sort(), ["lst-a", "lst-b", "lst-c", "lst-multi"]);

    await c.createEcKey("lst-d");
    const sizes5: number[] = [];
    for await (const page of c.listPropertiesOfKeys().byPage({ maxPageSize: 2 })) sizes5.push(page.length);
    assert.deepEqual(sizes5, [2, 2, 1]);
  });

  test("listPropertiesOfKeyVersions lists every version with its versioned kid, in pages of 2 and 1", async () => {
    const name = "list-versions";
    const made: string[] = [];
    for (let i = 0; i < 3; i++) made.push((await client.createEcKey(name)).properties.version!);
    const listed = await versionsOf(client, name);
    assert.deepEqual(
      listed.map((p) => p.version),
      made,
    );
    assert.deepEqual(
      listed.map((p) => p.id),
      made.map((v) => `${lockbox.vaultUrl()}/keys/${name}/${v}`),
    );
    const sizes: number[] = [];
    const paged: string[] = [];
    for await (const page of client.listPropertiesOfKeyVersions(name).byPage({ maxPageSize: 2 })) {
      sizes.push(page.length);
      paged.push(...page.map((p) => p.version!));
    }
    assert.deepEqual(sizes, [2, 1]);
    assert.deepEqual(paged, made);
  });
});

describe("soft delete, recovery and purge", () => {
  test("beginDeleteKey, getDeletedKey, listDeletedKeys, beginRecoverDeletedKey bring back every version", async () => {
    const name = "key-delete-recover";
    const v1 = await client.createEcKey(name);
    const v2 = await client.createEcKey(name);

    const poller = await client.beginDeleteKey(name);
    assert.equal(poller.isDone(), true, "the delete poller is not done after its first poll");
    const deleted = await poller.pollUntilDone();
    assert.equal(deleted.name, name);
    assert.equal(deleted.properties.version, v2.properties.version);
    assert.equal(deleted.properties.recoveryId, `${lockbox.vaultUrl()}/deletedkeys/${name}`);
    assert.ok(deleted.properties.deletedOn instanceof Date, "deletedOn is not a Date");
    assert.ok(deleted.properties.scheduledPurgeDate instanceof Date, "scheduledPurgeDate is not a Date");
    assert.equal(deleted.properties.scheduledPurgeDate.getTime() - deleted.properties.deletedOn.getTime(), 90 * DAY_MS);
    assert.equal(deleted.properties.recoveryLevel, "Recoverable+Purgeable");

    await rejectsWith(client.getKey(name), 404, "KeyNotFound");
    await rejectsWith(client.getKey(name, { version: v1.properties.version! }), 404, "KeyNotFound");
    const got = await client.getDeletedKey(name);
    assert.equal(got.properties.recoveryId, deleted.properties.recoveryId);
    assert.equal(b64(got.key?.x), b64(v2.key?.x));
    assert.ok((await deletedNamesIn(client)).includes(name), "listDeletedKeys lacks the deleted key");
    assert.ok(!(await namesIn(client)).includes(name), "listPropertiesOfKeys still lists the deleted key");

    const recovered = await (await client.beginRecoverDeletedKey(name)).pollUntilDone();
    assert.equal(recovered.name, name);
    assert.equal(recovered.properties.version, v2.properties.version);
    assert.deepEqual(
      (await versionsOf(client, name)).map((p) => p.id),
      [v1.id, v2.id],
    );
    assert.equal(b64((await client.getKey(name, { version: v1.properties.version! })).key?.x), b64(v1.key?.x));
    await rejectsWith(client.getDeletedKey(name), 404, "KeyNotFound");
    assert.ok(!(await deletedNamesIn(client)).includes(name), "listDeletedKeys still lists the recovered key");
    assert.ok((await namesIn(client)).includes(name), "listPropertiesOfKeys lacks the recovered key");
  });

  test("purgeDeletedKey removes a deleted key for good, and the name can be reused", async () => {
    const name = "key-delete-purge";
    const old = await client.createRsaKey(name);
    await (await client.beginDeleteKey(name)).pollUntilDone();
    await client.purgeDeletedKey(name);
    await rejectsWith(client.getDeletedKey(name), 404, "KeyNotFound");
    assert.ok(!(await deletedNamesIn(client)).includes(name), "listDeletedKeys still lists the purged key");
    await rejectsWith(client.getKey(name), 404, "KeyNotFound");

    const fresh = await client.createEcKey(name);
    assert.notEqual(fresh.properties.version, old.properties.version);
    assert.equal(fresh.keyType, "EC");
    assert.deepEqual(
      (await versionsOf(client, name)).map((p) => p.version),
      [fresh.properties.version],
    );
  });
});

describe("backup and restore", () => {
  test("backupKey, purge, restoreKeyBackup brings back every version (same ids, same n) and the rotation policy", async () => {
    const name = "key-backup-cycle";
    const v1 = await client.createRsaKey(name, { tags: { v: "1" }, keyOps: ["sign", "verify"] });
    const policy = await client.updateKeyRotationPolicy(name, {
      expiresIn: "P60D",
      lifetimeActions: [{ action: "Rotate", timeAfterCreate: "P20D" }],
    });
    const v2 = await client.rotateKey(name);
    await client.updateKeyProperties(name, v1.properties.version!, { enabled: false });

    const blob = await client.backupKey(name);
    assert.ok(blob instanceof Uint8Array && blob.length > 0, "backupKey returned no blob");
    await (await client.beginDeleteKey(name)).pollUntilDone();
    await client.purgeDeletedKey(name);
    await rejectsWith(client.getKey(name), 404, "KeyNotFound");

    const restored = await client.restoreKeyBackup(blob);
    assert.equal(restored.name, name);
    assert.equal(restored.properties.version, v2.properties.version);
    assert.equal(b64(restored.key?.n), b64(v2.key?.n));

    const listed = await versionsOf(client, name);
    assert.deepEqual(
      listed.map((p) => p.id),
      [v1.id, v2.id],
    );
    assert.equal(listed[0]!.enabled, false);
    assert.deepEqual(listed[0]!.tags, { v: "1" });
    assert.equal(byTime(listed[1]!.expiresOn), byTime(v2.properties.expiresOn));
    const first = await client.getKey(name, { version: v1.properties.version! });
    assert.equal(b64(first.key?.n), b64(v1.key?.n));
    assert.deepEqual(first.keyOperations, ["sign", "verify"]);
    const latest = await client.getKey(name);
    assert.equal(b64(latest.key?.n), b64(v2.key?.n));
    assert.deepEqual(latest.keyOperations, ["sign", "verify"]);

    const back: KeyRotationPolicy = await client.getKeyRotationPolicy(name);
    assert.equal(back.expiresIn, "P60D");
    assert.deepEqual(back.lifetimeActions, policy.lifetimeActions);
    assert.equal(byTime(back.createdOn), byTime(policy.createdOn));

    // Restoring where the name exists is refused and changes nothing.
    await rejectsWith(client.restoreKeyBackup(blob), 409, "Conflict");
    await client.createEcKey(name);
    await rejectsWith(client.restoreKeyBackup(blob), 409, "Conflict");
    const after = await versionsOf(client, name);
    assert.equal(after.length, 3);
    assert.deepEqual(
      after.slice(0, 2).map((p) => p.id),
      [v1.id, v2.id],
    );
    assert.equal((await client.getKey(name)).keyType, "EC");
  });
});

describe("random bytes", () => {
  test("getRandomBytes(1) and getRandomBytes(128) return that many bytes, and two calls differ", async () => {
    const one = await client.getRandomBytes(1);
    assert.ok(one instanceof Uint8Array, "getRandomBytes did not return a Uint8Array");
    assert.equal(one.length, 1);
    const a = await client.getRandomBytes(128);
    const b = await client.getRandomBytes(128);
    assert.equal(a.length, 128);
    assert.equal(b.length, 128);
    assert.notDeepEqual(Buffer.from(a), Buffer.from(b));
    const mid = await client.getRandomBytes(33);
    assert.equal(mid.length, 33);
  });
});

describe("keys and secrets", () => {
  test("a key and a secret may have the same name, and each lives and dies on its own", async () => {
    const name = "key-and-secret";
    const secrets = new SecretClient(lockbox.vaultUrl(), new DefaultAzureCredential());
    const secret = await secrets.setSecret(name, "secret-value");
    const key = await client.createEcKey(name);
    assert.equal((await secrets.getSecret(name)).value, "secret-value");
    assert.equal((await client.getKey(name)).properties.version, key.properties.version);
    assert.notEqual(key.properties.version, secret.properties.version);

    await (await client.beginDeleteKey(name)).pollUntilDone();
    await rejectsWith(client.getKey(name), 404, "KeyNotFound");
    assert.equal((await secrets.getSecret(name)).value, "secret-value");
    await rejectsWith(secrets.getDeletedSecret(name), 404, "SecretNotFound");
    // A new secret version is allowed while the key of that name is deleted.
    await secrets.setSecret(name, "secret-value-2");

    await (await client.beginRecoverDeletedKey(name)).pollUntilDone();
    await (await secrets.beginDeleteSecret(name)).pollUntilDone();
    assert.equal((await client.getKey(name)).properties.version, key.properties.version);
    await client.createEcKey(name);
    assert.equal((await versionsOf(client, name)).length, 2);
    await (await secrets.beginRecoverDeletedSecret(name)).pollUntilDone();
    assert.equal((await secrets.getSecret(name)).value, "secret-value-2");
  });
});

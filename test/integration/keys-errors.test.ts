import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync, type JsonWebKey as NodeJsonWebKey } from "node:crypto";
import { DefaultAzureCredential } from "@azure/identity";
import {
  KeyClient,
  type JsonWebKey,
  type KeyRotationPolicy,
  type KeyRotationPolicyAction,
  type KeyRotationPolicyProperties,
} from "@azure/keyvault-keys";
import { assertError, developerToken, raw, type RawResponse } from "../helpers/http.ts";
import { type Lockbox, serveForFile } from "../helpers/server.ts";
import { collect, rejectsWith as rejects } from "../helpers/sdk.ts";

// The errors a Key Vault keys client meets, with Azure's status, code and inner error
// (spec keyvault-rest.md §7, §10), and proof that a refused request changed nothing. What the
// SDK can send goes through the SDK; bodies it never sends go through raw().
let lockbox: Lockbox;
let client: KeyClient;
let token: string;

serveForFile({}, async (started) => {
  lockbox = started;
  client = new KeyClient(lockbox.vaultUrl(), new DefaultAzureCredential());
  token = await developerToken(lockbox);
});

const API = "api-version=7.6";
const MISSING_VERSION = "0123456789abcdef0123456789abcdef";

/** A raw request to the vault `default` with the developer identity's token. */
function call(method: string, path: string, body?: string | object): Promise<RawResponse> {
  return raw(lockbox, { method, path, body, token });
}

/** Asserts that an SDK call fails with this status, RestError.code and inner error code (none if not given). */
const rejectsWith = (p: Promise<unknown>, status: number, code: string, innerCode?: string, message?: RegExp): Promise<void> =>
  rejects(p, status, code, { inner: innerCode ?? null, message });

const versionIds = async (name: string): Promise<string[]> =>
  (await collect(client.listPropertiesOfKeyVersions(name))).map((p) => p.version!);
const allNames = async (): Promise<string[]> => (await collect(client.listPropertiesOfKeys())).map((p) => p.name);

const b64 = (u: Uint8Array | undefined): string | undefined => (u ? Buffer.from(u).toString("base64url") : undefined);

/** An EC key with one version, to aim bad requests at; returns a check that it is unchanged. */
async function guard(name: string): Promise<() => Promise<void>> {
  const made = await client.createEcKey(name, { keyOps: ["sign", "verify"], tags: { guard: "yes" } });
  return async () => {
    assert.deepEqual(await versionIds(name), [made.properties.version], "a refused request added a version");
    const latest = await client.getKey(name);
    assert.equal(latest.properties.version, made.properties.version);
    assert.equal(latest.keyType, "EC");
    assert.equal(b64(latest.key?.x), b64(made.key?.x));
    assert.deepEqual(latest.keyOperations, ["sign", "verify"]);
    assert.deepEqual(latest.properties.tags, { guard: "yes" });
    assert.equal(latest.properties.enabled, true);
  };
}

/** A node:crypto JWK (base64url strings) as the SDK's JsonWebKey (Uint8Array members). */
function toSdkJwk(jwk: NodeJsonWebKey): JsonWebKey {
  const out: JsonWebKey = { kty: jwk.kty as JsonWebKey["kty"] };
  for (const m of ["n", "e", "d", "p", "q", "dp", "dq", "qi", "x", "y"] as const) {
    const v = jwk[m] as string | undefined;
    if (v !== undefined) out[m] = new Uint8Array(Buffer.from(v, "base64url"));
  }
  if (jwk.crv) out.crv = jwk.crv as JsonWebKey["crv"];
  return out;
}

const rsaJwk = (): NodeJsonWebKey => generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" });
const ecJwk = (): NodeJsonWebKey => generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "jwk" });

describe("not found and deleted", () => {
  test("getKey of an unknown name is 404 KeyNotFound", async () => {
    await rejectsWith(client.getKey("never-existed-key"), 404, "KeyNotFound");
    const r = await call("GET", `/keys/never-existed-key/?${API}`);
    assertError(r, 404, "KeyNotFound");
    assert.match(r.json.error.message, /never-existed-key/);
    assert.ok(!(await allNames()).includes("never-existed-key"), "a GET created the key");
  });

  test("getKey of an unknown version of a known name is 404 KeyNotFound", async () => {
    const unchanged = await guard("known-key");
    await rejectsWith(client.getKey("known-key", { version: MISSING_VERSION }), 404, "KeyNotFound");
    assertError(await call("GET", `/keys/known-key/${MISSING_VERSION}?${API}`), 404, "KeyNotFound");
    await unchanged();
  });

  test("getKeyRotationPolicy, updateKeyRotationPolicy and rotateKey on a missing key are 404 KeyNotFound, and create nothing", async () => {
    const name = "no-such-key-policy";
    await rejectsWith(client.getKeyRotationPolicy(name), 404, "KeyNotFound");
    await rejectsWith(
      client.updateKeyRotationPolicy(name, { expiresIn: "P90D", lifetimeActions: [{ action: "Rotate", timeAfterCreate: "P30D" }] }),
      404,
      "KeyNotFound",
    );
    await rejectsWith(client.rotateKey(name), 404, "KeyNotFound");
    assertError(await call("GET", `/keys/${name}/rotationpolicy?${API}`), 404, "KeyNotFound");
    assertError(await call("POST", `/keys/${name}/rotate?${API}`), 404, "KeyNotFound");

    await rejectsWith(client.getKey(name), 404, "KeyNotFound");
    assert.ok(!(await allNames()).includes(name), "a refused rotation request created the key");
    // The refused PUT left no policy behind: a key made now under that name has none.
    await client.createEcKey(name);
    const policy = await client.getKeyRotationPolicy(name);
    assert.equal(policy.expiresIn, undefined, "the refused PUT's expiresIn was stored");
    assert.equal(policy.createdOn, undefined, "the refused PUT's policy was stored");
    assert.equal((await versionIds(name)).length, 1);
  });

  test("createKey and importKey on a deleted-but-recoverable name are 409 Conflict / ObjectIsDeletedButRecoverable", async () => {
    const name = "deleted-key-name";
    const made = await client.createRsaKey(name);
    await (await client.beginDeleteKey(name)).pollUntilDone();

    await rejectsWith(client.createRsaKey(name), 409, "Conflict", "ObjectIsDeletedButRecoverable");
    await rejectsWith(client.createEcKey(name), 409, "Conflict", "ObjectIsDeletedButRecoverable");
    await rejectsWith(client.importKey(name, toSdkJwk(ecJwk())), 409, "Conflict", "ObjectIsDeletedButRecoverable");
    const r = await call("POST", `/keys/${name}/create?${API}`, { kty: "RSA", attributes: {} });
    assertError(r, 409, "Conflict", "ObjectIsDeletedButRecoverable");

    // Still deleted and recoverable, with exactly the version it had.
    assert.equal((await client.getDeletedKey(name)).properties.version, made.properties.version);
    await (await client.beginRecoverDeletedKey(name)).pollUntilDone();
    assert.deepEqual(await versionIds(name), [made.properties.version]);
    assert.equal(b64((await client.getKey(name)).key?.n), b64(made.key?.n));
  });
});

describe("bad create input: 400 BadParameter, no version added", () => {
  const cases: Array<{ what: string; body: object; message?: RegExp; sdk?: (name: string) => Promise<unknown> }> = [
    { what: "an unknown kty", body: { kty: "DSA", attributes: {} }, sdk: (n) => client.createKey(n, "DSA") },
    {
      what: "RSA key_size 1024",
      body: { kty: "RSA", key_size: 1024, attributes: {} },
      sdk: (n) => client.createRsaKey(n, { keySize: 1024 }),
    },
    { what: "oct key_size 100", body: { kty: "oct", key_size: 100, attributes: {} }, sdk: (n) => client.createOctKey(n, { keySize: 100 }) },
    { what: "an unknown crv", body: { kty: "EC", crv: "P-224", attributes: {} }, sdk: (n) => client.createEcKey(n, { curve: "P-224" }) },
    {
      what: "an unknown key_ops entry",
      body: { kty: "EC", key_ops: ["sign", "launch"], attributes: {} },
      sdk: (n) => client.createEcKey(n, { keyOps: ["sign", "launch"] }),
    },
    { what: "kty missing", body: { key_size: 2048, attributes: {} } },
    {
      what: "exportable true without release_policy",
      body: { kty: "RSA", attributes: { exportable: true } },
      message: /exportable/i,
      sdk: (n) => client.createRsaKey(n, { exportable: true }),
    },
    {
      what: "release_policy without exportable",
      body: {
        kty: "RSA",
        attributes: {},
        release_policy: {
          contentType: "application/json; charset=utf-8",
          data: Buffer.from('{"anyOf":[],"version":"1.0.0"}').toString("base64url"),
        },
      },
      sdk: (n) => client.createRsaKey(n, { releasePolicy: { encodedPolicy: new TextEncoder().encode('{"anyOf":[],"version":"1.0.0"}') } }),
    },
  ];

  cases.forEach(({ what, body, message, sdk }, i) => {
    test(`create with ${what} is 400 BadParameter`, async () => {
      const name = `bad-create-${i}`;
      const unchanged = await guard(name);
      const r = await call("POST", `/keys/${name}/create?${API}`, body);
      assertError(r, 400, "BadParameter");
      if (message) assert.match(r.json.error.message, message);
      if (sdk) await rejectsWith(sdk(name), 400, "BadParameter", undefined, message);
      await unchanged();
      // A new name is not created either.
      assertError(await call("POST", `/keys/${name}-new/create?${API}`, body), 400, "BadParameter");
      await rejectsWith(client.getKey(`${name}-new`), 404, "KeyNotFound");
    });
  });
});

describe("bad import input: 400 BadParameter, no version added", () => {
  test("an RSA JWK missing d, or missing p and q, is 400 BadParameter", async () => {
    const name = "bad-import-missing";
    const unchanged = await guard(name);
    const { d: _d, ...noD } = rsaJwk();
    await rejectsWith(client.importKey(name, toSdkJwk(noD)), 400, "BadParameter");
    const { p: _p, q: _q, ...noPQ } = rsaJwk();
    await rejectsWith(client.importKey(name, toSdkJwk(noPQ)), 400, "BadParameter");
    const { d: _ecD, ...ecNoD } = ecJwk();
    await rejectsWith(client.importKey(name, toSdkJwk(ecNoD)), 400, "BadParameter");
    assertError(await call("PUT", `/keys/${name}?${API}`, { key: noD, attributes: {} }), 400, "BadParameter");
    await unchanged();
  });

  test("a JWK whose n is not base64url is 400 BadParameter", async () => {
    const name = "bad-import-base64";
    const unchanged = await guard(name);
    const jwk = rsaJwk();
    assertError(await call("PUT", `/keys/${name}?${API}`, { key: { ...jwk, n: "not*base64url!" }, attributes: {} }), 400, "BadParameter");
    assertError(await call("PUT", `/keys/${name}?${API}`, { key: { ...jwk, n: 12345 }, attributes: {} }), 400, "BadParameter");
    await unchanged();
  });

  test("a JWK whose parts come from two different keys is 400 BadParameter", async () => {
    const name = "bad-import-mixed";
    const unchanged = await guard(name);
    const a = rsaJwk();
    const b = rsaJwk();
    // n from one key, everything else from another.
    await rejectsWith(client.importKey(name, toSdkJwk({ ...a, n: b.n })), 400, "BadParameter");
    // d from one key, everything else from another.
    await rejectsWith(client.importKey(name, toSdkJwk({ ...a, d: b.d })), 400, "BadParameter");
    // An EC key whose d does not belong to its x and y.
    const ea = ecJwk();
    const eb = ecJwk();
    await rejectsWith(client.importKey(name, toSdkJwk({ ...ea, d: eb.d })), 400, "BadParameter");
    await unchanged();
  });
});

describe("rotation policy validation: 400 BadParameter, the previous policy unchanged", () => {
  const valid: KeyRotationPolicyProperties = {
    expiresIn: "P90D",
    lifetimeActions: [
      { action: "Rotate", timeAfterCreate: "P30D" },
      { action: "Notify", timeBeforeExpiry: "P10D" },
    ],
  };

  /** A key with a valid policy; returns a check that GET still answers what that PUT stored. */
  async function policyGuard(name: string): Promise<() => Promise<void>> {
    await client.createEcKey(name);
    const stored: KeyRotationPolicy = await client.updateKeyRotationPolicy(name, valid);
    return async () => {
      const now = await client.getKeyRotationPolicy(name);
      assert.deepEqual(now, stored, "a refused policy PUT changed the stored policy");
      assert.equal((await versionIds(name)).length, 1, "a refused policy PUT added a version");
    };
  }

  const cases: Array<{ what: string; policy: KeyRotationPolicyProperties; accepted?: KeyRotationPolicyProperties }> = [
    {
      what: "expiresIn P27D",
      policy: { expiresIn: "P27D", lifetimeActions: [{ action: "Notify", timeBeforeExpiry: "P7D" }] },
      accepted: { expiresIn: "P28D", lifetimeActions: [{ action: "Notify", timeBeforeExpiry: "P7D" }] },
    },
    {
      what: "two Rotate actions",
      policy: {
        expiresIn: "P90D",
        lifetimeActions: [
          { action: "Rotate", timeAfterCreate: "P30D" },
          { action: "Rotate", timeAfterCreate: "P40D" },
        ],
      },
    },
    {
      what: "a Notify action with timeAfterCreate",
      policy: { expiresIn: "P90D", lifetimeActions: [{ action: "Notify", timeAfterCreate: "P30D" }] },
    },
    {
      what: "a Rotate action with timeAfterCreate P6D",
      policy: { expiresIn: "P90D", lifetimeActions: [{ action: "Rotate", timeAfterCreate: "P6D" }] },
      accepted: { expiresIn: "P90D", lifetimeActions: [{ action: "Rotate", timeAfterCreate: "P7D" }] },
    },
    {
      what: "a Rotate action with timeBeforeExpiry and no expiresIn",
      policy: { lifetimeActions: [{ action: "Rotate", timeBeforeExpiry: "P30D" }] },
      accepted: { expiresIn: "P90D", lifetimeActions: [{ action: "Rotate", timeBeforeExpiry: "P30D" }] },
    },
    {
      what: 'a timeAfterCreate that is not ISO 8601 ("30 days")',
      policy: { expiresIn: "P90D", lifetimeActions: [{ action: "Rotate", timeAfterCreate: "30 days" }] },
    },
    {
      what: 'an expiresIn that is not ISO 8601 ("90 days")',
      policy: { expiresIn: "90 days", lifetimeActions: [{ action: "Rotate", timeAfterCreate: "P30D" }] },
    },
  ];

  cases.forEach(({ what, policy, accepted }, i) => {
    test(`a policy with ${what} is 400 BadParameter`, async () => {
      const name = `bad-policy-${i}`;
      const unchanged = await policyGuard(name);
      await rejectsWith(client.updateKeyRotationPolicy(name, policy), 400, "BadParameter");
      await unchanged();
      if (accepted) {
        // The limit is where Azure puts it: the nearest valid policy is stored.
        const ok = await client.updateKeyRotationPolicy(name, accepted);
        assert.equal(ok.expiresIn, accepted.expiresIn);
        assert.deepEqual(ok.lifetimeActions?.[0]?.action, accepted.lifetimeActions?.[0]?.action);
        assert.equal((await client.getKeyRotationPolicy(name)).expiresIn, accepted.expiresIn);
      }
    });
  });

  test("the same refusals on the wire carry Azure's error body", async () => {
    const name = "bad-policy-raw";
    const unchanged = await policyGuard(name);
    const bodies = [
      { lifetimeActions: [], attributes: { expiryTime: "P27D" } },
      { lifetimeActions: [{ trigger: { timeAfterCreate: "P30D" }, action: { type: "Notify" } }], attributes: { expiryTime: "P90D" } },
      { lifetimeActions: [{ trigger: { timeAfterCreate: "P30D" }, action: { type: "Expire" } }], attributes: { expiryTime: "P90D" } },
      { lifetimeActions: [{ trigger: { timeAfterCreate: "30 days" }, action: { type: "Rotate" } }], attributes: { expiryTime: "P90D" } },
    ];
    for (const body of bodies) assertError(await call("PUT", `/keys/${name}/rotationpolicy?${API}`, body), 400, "BadParameter");
    await unchanged();
  });
});

describe("rotation policy action type case", () => {
  test('a lower-case action type ("rotate", "notify") is accepted and returned as "Rotate" / "Notify"', async () => {
    const name = "policy-lower-case";
    await client.createEcKey(name);
    const put = await client.updateKeyRotationPolicy(name, {
      expiresIn: "P90D",
      lifetimeActions: [
        { action: "rotate" as KeyRotationPolicyAction, timeAfterCreate: "P30D" },
        { action: "notify" as KeyRotationPolicyAction, timeBeforeExpiry: "P14D" },
      ],
    });
    assert.deepEqual(
      put.lifetimeActions?.map((a) => a.action),
      ["Rotate", "Notify"],
    );

    // The SDK maps any case to Rotate/Notify itself; on the wire Lockbox answers the canonical case.
    const r = await call("GET", `/keys/${name}/rotationpolicy?${API}`);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.lifetimeActions, [
      { trigger: { timeAfterCreate: "P30D" }, action: { type: "Rotate" } },
      { trigger: { timeBeforeExpiry: "P14D" }, action: { type: "Notify" } },
    ]);
    assert.equal(r.json.attributes.expiryTime, "P90D");

    const upper = await call("PUT", `/keys/${name}/rotationpolicy?${API}`, {
      lifetimeActions: [{ trigger: { timeAfterCreate: "P20D" }, action: { type: "ROTATE" } }],
      attributes: { expiryTime: "P60D" },
    });
    assert.equal(upper.status, 200, upper.text);
    assert.deepEqual(upper.json.lifetimeActions, [
      { trigger: { timeAfterCreate: "P20D" }, action: { type: "Rotate" } },
      { trigger: { timeBeforeExpiry: "P30D" }, action: { type: "Notify" } },
    ]);
    const got = await client.getKeyRotationPolicy(name);
    assert.deepEqual(
      got.lifetimeActions?.map((a) => [a.action, a.timeAfterCreate ?? a.timeBeforeExpiry]),
      [
        ["Rotate", "P20D"],
        ["Notify", "P30D"],
      ],
    );
  });
});

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { DefaultAzureCredential } from "@azure/identity";
import { SecretClient } from "@azure/keyvault-secrets";
import { assertError, developerToken, raw, type RawResponse } from "../helpers/http.ts";
import { type Lockbox, serveForFile } from "../helpers/server.ts";
import { collect, rejectsWith as rejects } from "../helpers/sdk.ts";

// The errors a Key Vault client meets, with Azure's status, code and inner error
// (spec keyvault-rest.md §7), and proof that a refused request changed nothing. What the SDK
// can send goes through the SDK; bad names, bodies and query strings go through raw().
let lockbox: Lockbox;
let client: SecretClient;
let token: string;

serveForFile({}, async (started) => {
  lockbox = started;
  client = new SecretClient(lockbox.vaultUrl(), new DefaultAzureCredential());
  token = await developerToken(lockbox);
});

const API = "api-version=7.6";

/** A raw request to the vault `default` with the developer identity's token. */
function call(method: string, path: string, body?: string | object, headers?: Record<string, string>): Promise<RawResponse> {
  return raw(lockbox, { method, path, body, token, headers });
}

/** Asserts that an SDK call fails with this status, RestError.code and inner error code (none if not given). */
const rejectsWith = (p: Promise<unknown>, status: number, code: string, innerCode?: string): Promise<void> =>
  rejects(p, status, code, { inner: innerCode ?? null });

const versionIds = async (name: string): Promise<string[]> =>
  (await collect(client.listPropertiesOfSecretVersions(name))).map((p) => p.version!);
const allNames = async (): Promise<string[]> => (await collect(client.listPropertiesOfSecrets())).map((p) => p.name);

/** A secret with one version, to aim bad requests at; returns a check that it is unchanged. */
async function guard(name: string, value: string): Promise<() => Promise<void>> {
  const set = await client.setSecret(name, value);
  const before = [set.properties.version!];
  return async () => {
    assert.deepEqual(await versionIds(name), before, "a refused request added a version");
    const latest = await client.getSecret(name);
    assert.equal(latest.value, value);
    assert.equal(latest.properties.version, set.properties.version);
  };
}

describe("not found, disabled, deleted", () => {
  test("getSecret of an unknown name is 404 SecretNotFound", async () => {
    await rejectsWith(client.getSecret("never-existed"), 404, "SecretNotFound");
    const r = await call("GET", `/secrets/never-existed/?${API}`);
    assertError(r, 404, "SecretNotFound");
    assert.match(r.json.error.message, /never-existed/);
    assert.ok(!(await allNames()).includes("never-existed"), "a GET created the secret");
  });

  test("getSecret of an unknown version of a known name is 404 SecretNotFound", async () => {
    const unchanged = await guard("known-name", "known-value");
    const missing = "0123456789abcdef0123456789abcdef";
    await rejectsWith(client.getSecret("known-name", { version: missing }), 404, "SecretNotFound");
    assertError(await call("GET", `/secrets/known-name/${missing}?${API}`), 404, "SecretNotFound");
    await unchanged();
  });

  test("getSecret of a disabled latest version is 403 Forbidden / SecretDisabled", async () => {
    const set = await client.setSecret("disabled-latest", "hidden-value");
    await client.updateSecretProperties("disabled-latest", set.properties.version!, { enabled: false });
    await rejectsWith(client.getSecret("disabled-latest"), 403, "Forbidden", "SecretDisabled");
    await rejectsWith(client.getSecret("disabled-latest", { version: set.properties.version! }), 403, "Forbidden", "SecretDisabled");

    const r = await call("GET", `/secrets/disabled-latest/?${API}`);
    assertError(r, 403, "Forbidden", "SecretDisabled");
    assert.ok(!("innerError" in r.json.error), "the inner error's JSON key must be lower-case innererror");
    assert.ok(!r.text.includes("hidden-value"), "the 403 body carries the disabled value");

    // The refused reads changed nothing: still one version, still disabled.
    assert.deepEqual(await versionIds("disabled-latest"), [set.properties.version]);
    for await (const p of client.listPropertiesOfSecretVersions("disabled-latest")) assert.equal(p.enabled, false);
  });

  test("setSecret on a deleted-but-recoverable name is 409 Conflict / ObjectIsDeletedButRecoverable", async () => {
    const set = await client.setSecret("deleted-name", "before-delete");
    await (await client.beginDeleteSecret("deleted-name")).pollUntilDone();

    await rejectsWith(client.setSecret("deleted-name", "after-delete"), 409, "Conflict", "ObjectIsDeletedButRecoverable");
    const r = await call("PUT", `/secrets/deleted-name?${API}`, { value: "after-delete-raw" });
    assertError(r, 409, "Conflict", "ObjectIsDeletedButRecoverable");

    // Still deleted and recoverable, with exactly the version it had.
    assert.equal((await client.getDeletedSecret("deleted-name")).name, "deleted-name");
    await (await client.beginRecoverDeletedSecret("deleted-name")).pollUntilDone();
    assert.deepEqual(await versionIds("deleted-name"), [set.properties.version]);
    assert.equal((await client.getSecret("deleted-name")).value, "before-delete");
  });
});

describe("BadParameter", () => {
  test("a name of 128 characters is 400 BadParameter", async () => {
    const long = "n".repeat(128);
    const r = await call("PUT", `/secrets/${long}?${API}`, { value: "too-long-name" });
    assertError(r, 400, "BadParameter");
    assert.match(r.json.error.message, /invalid name/);
    assertError(await call("GET", `/secrets/${long}/?${API}`), 400, "BadParameter");
    assert.ok(!(await allNames()).some((n) => n.length >= 128), "a name of 128 characters was stored");
  });

  for (const bad of ["bad_name", "bad.name"]) {
    test(`a name with "${bad.includes("_") ? "_" : "."}" (${bad}) is 400 BadParameter`, async () => {
      const r = await call("PUT", `/secrets/${bad}?${API}`, { value: "bad-name-value" });
      assertError(r, 400, "BadParameter");
      assert.match(r.json.error.message, /invalid name/);
      assertError(await call("GET", `/secrets/${bad}/?${API}`), 400, "BadParameter");
      const names = await allNames();
      assert.ok(!names.includes(bad), `${bad} was stored`);
    });
  }

  test("a value that cannot be stored exactly as sent is 400 BadParameter: a lone surrogate, bytes that are not UTF-8", async () => {
    const unchanged = await guard("exact-value", "exact");
    for (const body of [
      '{"value":"a\\ud800b"}',
      '{"value":"\\udc00"}',
      '{"value":"ok","tags":{"t\\ud800":"v"}}',
      '{"value":"ok","contentType":"\\ud83d"}',
    ]) {
      const r = await call("PUT", `/secrets/exact-value?${API}`, body);
      assertError(r, 400, "BadParameter");
      assert.match(r.json.error.message, /surrogate/, body);
    }
    const notUtf8 = Buffer.concat([Buffer.from('{"value":"a'), Buffer.from([0xff, 0xfe]), Buffer.from('b"}')]);
    const r = await call("PUT", `/secrets/exact-value?${API}`, notUtf8);
    assertError(r, 400, "BadParameter");
    assert.match(r.json.error.message, /UTF-8/);
    await unchanged();
    // A surrogate pair (an emoji, escaped or not) is a character like any other.
    const ok = await call("PUT", `/secrets/exact-value?${API}`, '{"value":"\\ud83d\\ude00 \u{1F600}"}');
    assert.equal(ok.status, 200, ok.text);
    assert.equal((await client.getSecret("exact-value")).value, "\u{1F600} \u{1F600}");
  });

  test("an empty name is 400 BadParameter", async () => {
    const before = await allNames();
    const r = await call("PUT", `/secrets/?${API}`, { value: "no-name-value" });
    assertError(r, 400, "BadParameter");
    assert.deepEqual(await allNames(), before);
  });

  test("a value of 25*1024+1 bytes is 400 BadParameter (25*1024 is accepted)", async () => {
    const unchanged = await guard("size-limit", "small");
    const r = await call("PUT", `/secrets/size-limit?${API}`, { value: "x".repeat(25 * 1024 + 1) });
    assertError(r, 400, "BadParameter");
    assert.match(r.json.error.message, /bytes/);
    // Multi-byte characters count in bytes: 12801 two-byte characters are 25602 bytes.
    assertError(await call("PUT", `/secrets/size-limit?${API}`, { value: "é".repeat(12_801) }), 400, "BadParameter");
    await unchanged();

    const max = "y".repeat(25 * 1024);
    const ok = await client.setSecret("size-limit-max", max);
    assert.equal((await client.getSecret("size-limit-max")).value, max);
    assert.equal(ok.value, max);
  });

  test("a contentType of 256 characters is 400 BadParameter (255 is accepted)", async () => {
    const unchanged = await guard("ctype-limit", "ctype-value");
    const r = await call("PUT", `/secrets/ctype-limit?${API}`, { value: "new", contentType: "c".repeat(256) });
    assertError(r, 400, "BadParameter");
    assert.match(r.json.error.message, /content ?type/i);
    await rejectsWith(client.setSecret("ctype-limit", "new", { contentType: "c".repeat(256) }), 400, "BadParameter");
    await unchanged();

    const ok = await client.setSecret("ctype-limit-max", "v", { contentType: "c".repeat(255) });
    assert.equal(ok.properties.contentType, "c".repeat(255));
  });

  test("a malformed JSON body is 400 BadParameter, and the message does not echo the body", async () => {
    const unchanged = await guard("bad-json", "json-value");
    const marker = "MARKER-7f3a91-do-not-echo";
    const r = await call("PUT", `/secrets/bad-json?${API}`, `{"value": "${marker}", "attributes": {`);
    assertError(r, 400, "BadParameter");
    assert.ok(!r.text.includes(marker), `the error echoes the body: ${r.text}`);
    const r2 = await call("PUT", `/secrets/bad-json?${API}`, `${marker}`);
    assertError(r2, 400, "BadParameter");
    assert.ok(!r2.text.includes(marker), `the error echoes the body: ${r2.text}`);
    await unchanged();
  });

  test("a value that is a number is 400 BadParameter", async () => {
    const unchanged = await guard("value-number", "string-value");
    assertError(await call("PUT", `/secrets/value-number?${API}`, { value: 12345 }), 400, "BadParameter");
    await unchanged();
  });

  test("attributes.enabled as a string is 400 BadParameter", async () => {
    const unchanged = await guard("enabled-string", "enabled-value");
    const r = await call("PUT", `/secrets/enabled-string?${API}`, { value: "new", attributes: { enabled: "false" } });
    assertError(r, 400, "BadParameter");
    await unchanged();
  });

  test("a missing value (an object without it, or no body at all) is 400 BadParameter", async () => {
    const unchanged = await guard("missing-value", "present-value");
    const r = await call("PUT", `/secrets/missing-value?${API}`, { contentType: "text/plain" });
    assertError(r, 400, "BadParameter");
    assert.match(r.json.error.message, /value/);
    assertError(await call("PUT", `/secrets/missing-value?${API}`, {}), 400, "BadParameter");
    // An authenticated PUT that arrives without its body (see sdk-probe-notes.md, last section).
    const empty = await call("PUT", `/secrets/missing-value?${API}`, undefined, {
      "content-type": "application/json",
      "content-length": "0",
    });
    assertError(empty, 400, "BadParameter");
    await unchanged();
  });

  test("maxresults=0 and maxresults=26 on GET /secrets are 400 BadParameter (25 is accepted)", async () => {
    await client.setSecret("paging-guard", "p");
    assertError(await call("GET", `/secrets?${API}&maxresults=0`), 400, "BadParameter");
    assertError(await call("GET", `/secrets?${API}&maxresults=26`), 400, "BadParameter");
    const ok = await call("GET", `/secrets?${API}&maxresults=25`);
    assert.equal(ok.status, 200, ok.text);
    assert.ok(Array.isArray(ok.json.value), "the list has no value array");
  });

  test("a garbage $skiptoken is 400 BadParameter", async () => {
    const unchanged = await guard("skiptoken-guard", "skip-value");
    assertError(await call("GET", `/secrets?${API}&$skiptoken=garbage!!not-a-token`), 400, "BadParameter");
    assertError(await call("GET", `/secrets/skiptoken-guard/versions?${API}&$skiptoken=garbage!!not-a-token`), 400, "BadParameter");
    await unchanged();
  });
});

describe("api-version and vault host", () => {
  test("api%2Dversion=7.6 (the percent-encoded name the SDK sends) works", async () => {
    await client.setSecret("encoded-query", "encoded-ok");
    const r = await call("GET", "/secrets/encoded-query/?api%2Dversion=7.6");
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.value, "encoded-ok");
  });

  test("every api-version the SDKs send is accepted (7.0 to 7.6, 7.6-preview.2, 2025-07-01, 2026-04-01)", async () => {
    await client.setSecret("api-known", "known-versions");
    for (const v of ["7.0", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6-preview.2", "7.6", "2025-07-01", "2026-04-01"]) {
      const r = await call("GET", `/secrets/api-known/?api-version=${v}`);
      assert.equal(r.status, 200, `api-version ${v}: ${r.text}`);
      assert.equal(r.json.value, "known-versions");
    }
  });

  test("an unknown api-version (7.99) is 400 BadParameter naming the version, and writes nothing", async () => {
    const unchanged = await guard("api-unknown", "api-value");
    const r = await call("PUT", `/secrets/api-unknown?api-version=7.99`, { value: "written-anyway" });
    assertError(r, 400, "BadParameter");
    assert.match(r.json.error.message, /7\.99/);
    assertError(await call("GET", `/secrets/api-unknown/?api-version=7.99`), 400, "BadParameter");
    await unchanged();
  });

  test("a missing api-version is 400 BadParameter, and writes nothing", async () => {
    const unchanged = await guard("api-missing", "api-value");
    assertError(await call("PUT", `/secrets/api-missing`, { value: "written-anyway" }), 400, "BadParameter");
    assertError(await call("GET", `/secrets/api-missing/`), 400, "BadParameter");
    await unchanged();
  });

  test("a request to an unknown vault host is 404 VaultNotFound, and writes nothing", async () => {
    const r = await raw(lockbox, {
      method: "PUT",
      path: `/secrets/lost-secret?${API}`,
      host: `nosuch.vault.localhost:${lockbox.port}`,
      body: { value: "nowhere" },
      token,
    });
    assertError(r, 404, "VaultNotFound");
    await rejectsWith(client.getSecret("lost-secret"), 404, "SecretNotFound");
  });
});

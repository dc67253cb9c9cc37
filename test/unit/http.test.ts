import { test } from "node:test";
import assert from "node:assert/strict";
import { checkApiVersion } from "../../src/http/apiVersion.ts";
import { challengeHeader, vaultResource } from "../../src/http/auth.ts";
import { encodeSkipToken, nextLink, pageRequest } from "../../src/http/paging.ts";
import { hostnameOf, vaultNameOf } from "../../src/http/routing.ts";
import { KvError } from "../../src/kernel/errors.ts";

const isBadParameter = (e: unknown): boolean => e instanceof KvError && e.status === 400 && e.code === "BadParameter";

test("vaults are named by host: {vault}.{suffix}, loopback names are the vault default", () => {
  assert.equal(vaultNameOf("payments.vault.localhost", "vault.localhost", "default"), "payments");
  assert.equal(vaultNameOf("localhost", "vault.localhost", "default"), "default");
  assert.equal(vaultNameOf("127.0.0.1", "vault.localhost", "default"), "default");
  assert.equal(vaultNameOf("[::1]", "vault.localhost", "default"), "default");
  assert.equal(vaultNameOf("a.b.vault.localhost", "vault.localhost", "default"), undefined);
  assert.equal(vaultNameOf("vault.localhost", "vault.localhost", "default"), undefined);
  assert.equal(vaultNameOf("kv1.kv.example.com", "kv.example.com", "default"), "kv1");
  assert.equal(vaultNameOf("evil.com", "vault.localhost", "default"), undefined);
});

test("the Host header is parsed without its port, and a malformed one is refused", () => {
  assert.equal(hostnameOf("Default.Vault.Localhost:8443"), "default.vault.localhost");
  assert.equal(hostnameOf("[::1]:8443"), "[::1]");
  assert.equal(hostnameOf("127.0.0.1"), "127.0.0.1");
  assert.throws(() => hostnameOf("a/b"), isBadParameter);
  assert.throws(() => hostnameOf(undefined), isBadParameter);
});

test("the challenge is written so keyvault-common parses it: comma and space, quoted, tenant as the path", () => {
  assert.equal(
    challengeHeader("https://a.vault.localhost:8443", "t-1", "https://vault.localhost"),
    'Bearer authorization="https://a.vault.localhost:8443/t-1", resource="https://vault.localhost"',
  );
});

test("the challenge's resource names the port the client called, unless it is 443", () => {
  assert.equal(vaultResource("vault.localhost", "https://default.vault.localhost:8443"), "https://vault.localhost:8443");
  assert.equal(vaultResource("kv.test", "https://a.kv.test:9000"), "https://kv.test:9000");
  assert.equal(vaultResource("vault.localhost", "https://default.vault.localhost"), "https://vault.localhost");
  assert.equal(vaultResource("vault.localhost", "https://default.vault.localhost:443"), "https://vault.localhost");
});

test("api-version: the SDKs' versions are accepted, others are BadParameter naming the version", () => {
  for (const v of ["7.0", "7.4", "7.6-preview.2", "7.6", "2025-07-01", "2026-04-01"]) assert.equal(checkApiVersion(v), v);
  // What released SDKs of other languages default to: Debian's Python KeyClient sends 7.4-preview.1.
  for (const v of ["2016-10-01", "7.3-preview", "7.4-preview.1", "7.5-preview.1", "7.6-preview.1"]) assert.equal(checkApiVersion(v), v);
  for (const v of ["7.4-preview.2", "2015-06-01", "7.6-preview"]) assert.throws(() => checkApiVersion(v), /not recognized/);
  assert.throws(
    () => checkApiVersion("7.99"),
    (e: KvError) => isBadParameter(e) && e.message.includes("(7.99)"),
  );
  assert.throws(() => checkApiVersion(undefined), isBadParameter);
});

test("paging: maxresults is 1 to 25 (default 25), the skip token round-trips and is validated", () => {
  assert.deepEqual(pageRequest({}), { limit: 25 });
  assert.deepEqual(pageRequest({ maxresults: "3" }), { limit: 3 });
  for (const bad of ["0", "26", "x", "2.5"]) assert.throws(() => pageRequest({ maxresults: bad }), isBadParameter);
  assert.deepEqual(pageRequest({ $skiptoken: encodeSkipToken("name-7") }), { limit: 25, cursor: "name-7" });
  assert.throws(() => pageRequest({ $skiptoken: "not-a-token" }), isBadParameter);
});

test("nextLink is absolute on the caller's origin and carries api-version, skip token and page size", () => {
  assert.equal(nextLink("https://a:1", "/secrets", "7.6", 2, undefined), null);
  const link = new URL(nextLink("https://a.vault.localhost:8443", "/secrets/n/versions", "2025-07-01", 2, "41")!);
  assert.equal(link.origin, "https://a.vault.localhost:8443");
  assert.equal(link.pathname, "/secrets/n/versions");
  assert.equal(link.searchParams.get("api-version"), "2025-07-01");
  assert.equal(link.searchParams.get("maxresults"), "2");
  assert.deepEqual(pageRequest(Object.fromEntries(link.searchParams)), { limit: 2, cursor: "41" });
});

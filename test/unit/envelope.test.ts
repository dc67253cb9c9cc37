import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Keyring, open, parseRootKey, seal } from "../../src/crypto/envelope.ts";

test("a sealed value opens only with the same key and associated data", () => {
  const key = randomBytes(32);
  const blob = seal(key, Buffer.from("hunter2"), "lockbox/v1/a/secret/n/v1");
  assert.equal(open(key, blob, "lockbox/v1/a/secret/n/v1").toString(), "hunter2");
  assert.throws(() => open(key, blob, "lockbox/v1/b/secret/n/v1"), /failed authentication/);
  assert.throws(() => open(randomBytes(32), blob, "lockbox/v1/a/secret/n/v1"), /failed authentication/);
  assert.ok(!blob.includes(Buffer.from("hunter2")));
});

test("a tampered blob does not open, and the error does not show the plaintext", () => {
  const key = randomBytes(32);
  const blob = seal(key, Buffer.from("do-not-print-me"), "aad");
  blob[blob.length - 1]! ^= 1;
  assert.throws(
    () => open(key, blob, "aad"),
    (e: Error) => !e.message.includes("do-not-print-me"),
  );
});

test("the root key is 32 bytes given as base64 or hex", () => {
  const key = randomBytes(32);
  assert.deepEqual(parseRootKey(key.toString("base64")), key);
  assert.deepEqual(parseRootKey(key.toString("hex")), key);
  assert.throws(() => parseRootKey(randomBytes(16).toString("base64")), /32 bytes/);
});

test("each vault's data key is its own: a value sealed for one vault does not open in another", async () => {
  const root = randomBytes(32);
  const wrapped = new Map<string, Buffer>();
  const keyring = new Keyring(root, async (vault) => wrapped.get(vault));
  wrapped.set("a", keyring.newWrappedDataKey("a"));
  wrapped.set("b", keyring.newWrappedDataKey("b"));
  const blob = await keyring.seal("a", "same-aad", Buffer.from("x"));
  assert.equal((await keyring.open("a", "same-aad", blob)).toString(), "x");
  await assert.rejects(keyring.open("b", "same-aad", blob), /failed authentication/);
  // A wrapped data key moved to another vault's record does not unwrap either.
  wrapped.set("c", wrapped.get("a")!);
  await assert.rejects(keyring.open("c", "same-aad", blob), /failed authentication/);
});

test("backups open under any keyring with the same root key, and not under another", () => {
  const root = randomBytes(32);
  const a = new Keyring(root, async () => undefined);
  const b = new Keyring(root, async () => undefined);
  const blob = a.sealBackup(Buffer.from("all versions"), "lockbox/v1/backup/secret");
  assert.equal(b.openBackup(blob, "lockbox/v1/backup/secret").toString(), "all versions");
  assert.throws(() => new Keyring(randomBytes(32), async () => undefined).openBackup(blob, "lockbox/v1/backup/secret"));
  assert.throws(() => b.openBackup(blob, "lockbox/v1/backup/key"));
});

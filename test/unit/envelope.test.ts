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

test("each vault's data key is its own: a value sealed for one vault does not open in another", () => {
  const keyring = new Keyring(randomBytes(32));
  const a = { name: "a", wrappedKey: keyring.newWrappedDataKey("a") };
  const b = { name: "b", wrappedKey: keyring.newWrappedDataKey("b") };
  const blob = keyring.seal(a, "same-aad", Buffer.from("x"));
  assert.equal(keyring.open(a, "same-aad", blob).toString(), "x");
  assert.throws(() => keyring.open(b, "same-aad", blob), /failed authentication/);
  // A wrapped data key moved to another vault's record does not unwrap either.
  assert.throws(() => keyring.open({ name: "c", wrappedKey: a.wrappedKey }, "same-aad", blob), /failed authentication/);
});

test("a vault made again under the same name gets a new data key, and the old one is not reused", () => {
  const keyring = new Keyring(randomBytes(32));
  const before = { name: "v", wrappedKey: keyring.newWrappedDataKey("v") };
  const old = keyring.seal(before, "aad", Buffer.from("old"));
  const after = { name: "v", wrappedKey: keyring.newWrappedDataKey("v") };
  const fresh = keyring.seal(after, "aad", Buffer.from("new"));
  assert.equal(keyring.open(after, "aad", fresh).toString(), "new");
  assert.throws(() => keyring.open(after, "aad", old), /failed authentication/);
});

test("backups open under any keyring with the same root key, and not under another", () => {
  const root = randomBytes(32);
  const a = new Keyring(root);
  const b = new Keyring(root);
  const blob = a.sealBackup(Buffer.from("all versions"), "lockbox/v1/backup/secret");
  assert.equal(b.openBackup(blob, "lockbox/v1/backup/secret").toString(), "all versions");
  assert.throws(() => new Keyring(randomBytes(32)).openBackup(blob, "lockbox/v1/backup/secret"));
  assert.throws(() => b.openBackup(blob, "lockbox/v1/backup/key"));
});

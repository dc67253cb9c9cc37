import { test } from "node:test";
import assert from "node:assert/strict";
import { newVersionId, canonicalName, canonicalVaultName, canonicalVersion } from "../../src/vault/names.ts";
import { validateTags } from "../../src/vault/objects.ts";
import { KvError } from "../../src/kernel/errors.ts";

const isBadParameter = (e: unknown): boolean => e instanceof KvError && e.status === 400 && e.code === "BadParameter";

test("object names are 1-127 of [0-9a-zA-Z-], compared without case", () => {
  assert.equal(canonicalName("My-Secret-1"), "my-secret-1");
  assert.equal(canonicalName("a".repeat(127)), "a".repeat(127));
  for (const bad of ["", "a".repeat(128), "has_underscore", "dot.ted", "spa ce", "ünï"]) {
    assert.throws(
      () => canonicalName(bad),
      (e: KvError) => isBadParameter(e) && e.message.includes("invalid name"),
    );
  }
});

test("versions are 32 lower-case hex characters; an empty version segment means latest", () => {
  const v = newVersionId();
  assert.match(v, /^[0-9a-f]{32}$/);
  assert.notEqual(newVersionId(), v);
  assert.equal(canonicalVersion(""), undefined);
  assert.equal(canonicalVersion(undefined), undefined);
  assert.equal(canonicalVersion("ABC"), "abc");
});

test("vault names follow Azure: 3-24 letters, digits, hyphens, starting with a letter", () => {
  assert.equal(canonicalVaultName("Payments-01"), "payments-01");
  for (const bad of ["ab", "a".repeat(25), "1abc", "abc-", "a--b", "has_underscore"])
    assert.throws(() => canonicalVaultName(bad), isBadParameter);
});

test("tags: at most 15, names up to 512 and values up to 256 characters", () => {
  validateTags({ a: "b" });
  validateTags(Object.fromEntries(Array.from({ length: 15 }, (_, i) => [`t${i}`, "v"])));
  assert.throws(() => validateTags(Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`t${i}`, "v"]))), isBadParameter);
  assert.throws(() => validateTags({ ["k".repeat(513)]: "v" }), isBadParameter);
  assert.throws(() => validateTags({ k: "v".repeat(257) }), isBadParameter);
});

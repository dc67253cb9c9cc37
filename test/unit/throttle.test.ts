import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { DevClock } from "../../src/kernel/clock.ts";
import { RequestThrottle, type KeyShapes } from "../../src/throttle/requests.ts";
import { throttleOf } from "../../src/server/config.ts";
import { throttled } from "../../src/kernel/errors.ts";
import { bucketOf, keyCost, scaled, ThrottleRule, type Bucket } from "../../src/throttle/rule.ts";

/** A dev clock at the start of a 10-second window, so a test's requests all fall in one. */
function windowStart(): DevClock {
  const clock = new DevClock();
  clock.follow(10_000 - (clock.nowMs() % 10_000) + 1);
  return clock;
}

/** How many requests of `cost` the rule admits for `vault` before its first refusal (at most `limit`). */
function admitted(rule: ThrottleRule, vault: string, bucket: Bucket, cost = 1, limit = 100_000): number {
  let n = 0;
  while (n < limit && rule.admit(vault, bucket, cost)) n++;
  return n;
}

/** A JWK modulus of `bits` bits (its top bit set, as an RSA modulus has). */
const rsaModulus = (bits: number): string => Buffer.alloc(bits / 8, 0xc5).toString("base64url");

describe("the throttling rule", () => {
  test("operations are counted against Azure's budgets: secret sets, key creates, other key operations, everything else", () => {
    assert.equal(bucketOf("SecretSet"), "secretCreate");
    for (const op of ["SecretGet", "SecretList", "SecretDelete", "CertificateCreate", "CertificateGet"])
      assert.equal(bucketOf(op), "other");
    for (const op of ["KeyCreate", "KeyImport", "KeyRotate"]) assert.equal(bucketOf(op), "keyCreate");
    for (const op of ["KeySign", "KeyEncrypt", "KeyGet", "KeyList", "RngGet"]) assert.equal(bucketOf(op), "keyOther");
  });

  test("a vault has Azure's budgets per 10 s: 300 secret sets, 4,000 other transactions, 20 key creates, 4,000 key units", () => {
    const clock = windowStart();
    const rule = new ThrottleRule(clock);
    assert.equal(admitted(rule, "v", "secretCreate"), 300);
    assert.equal(admitted(rule, "v", "other"), 4000);
    assert.equal(admitted(rule, "v", "keyCreate"), 20);
    assert.equal(admitted(rule, "v", "keyOther"), 4000);
  });

  test("key operations are weighted: RSA-2048 and EC cost 1, RSA-3072 4, RSA-4096 8, HSM keys twice that", () => {
    assert.equal(keyCost({ kty: "RSA", n: rsaModulus(2048) }), 1);
    assert.equal(keyCost({ kty: "RSA", n: rsaModulus(3072) }), 4);
    assert.equal(keyCost({ kty: "RSA", n: rsaModulus(4096) }), 8);
    assert.equal(keyCost({ kty: "RSA-HSM", n: rsaModulus(4096) }), 16);
    assert.equal(keyCost({ kty: "EC" }), 1);
    assert.equal(keyCost({ kty: "EC-HSM" }), 2);
    assert.equal(keyCost(undefined), 1);

    const clock = windowStart();
    const rule = new ThrottleRule(clock);
    assert.equal(admitted(rule, "a", "keyOther", 1), 4000);
    assert.equal(admitted(rule, "b", "keyOther", 4), 1000);
    assert.equal(admitted(rule, "c", "keyOther", 8), 500);
  });

  test("the window is fixed on the clock: moving it 10 s begins a new window with the whole budget", () => {
    const clock = windowStart();
    const rule = new ThrottleRule(clock);
    assert.equal(admitted(rule, "v", "secretCreate"), 300);
    clock.follow(clock.offset + 10_000);
    assert.equal(admitted(rule, "v", "secretCreate"), 300);
  });

  test("a refused request counts nothing: a cheaper one that still fits is admitted", () => {
    const clock = windowStart();
    const rule = new ThrottleRule(clock, 0.01); // 40 key units
    assert.equal(admitted(rule, "v", "keyOther", 8), 5);
    assert.equal(rule.admit("v", "keyOther", 8), false);
    const rule2 = new ThrottleRule(clock, 0.01);
    for (let i = 0; i < 4; i++) assert.ok(rule2.admit("v", "keyOther", 8));
    for (let i = 0; i < 10; i++) assert.equal(rule2.admit("v", "keyOther", 16), false);
    assert.equal(admitted(rule2, "v", "keyOther", 1), 8, "the ten refusals used none of the 8 units left");
  });

  test("the instance has 5 times a vault's budget across all vaults", () => {
    const clock = windowStart();
    const rule = new ThrottleRule(clock, 0.01); // 3 secret sets a vault, 15 for the instance
    const perVault = ["v1", "v2", "v3", "v4", "v5", "v6"].map((v) => admitted(rule, v, "secretCreate"));
    assert.deepEqual(perVault, [3, 3, 3, 3, 3, 0]);
    assert.equal(admitted(rule, "v1", "other"), 40, "other budgets are their own");
  });

  test("the scale multiplies every budget, rounded up, at least 1", () => {
    assert.equal(scaled(4000, 0.01), 40);
    assert.equal(scaled(20, 0.01), 1);
    assert.equal(scaled(300, 0.001), 1);
    assert.equal(scaled(300, 0.015), 5);
    const rule = new ThrottleRule(windowStart(), 2);
    assert.deepEqual(
      (["secretCreate", "other", "keyCreate", "keyOther"] as const).map((b) => rule.budget(b)),
      [600, 8000, 40, 8000],
    );
  });

  test("the 429 is Azure's, word for word", () => {
    const e = throttled();
    assert.equal(e.status, 429);
    assert.deepEqual(e.toBody(), {
      error: {
        code: "Throttled",
        message: "Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached",
      },
    });
  });
});

describe("a request's cost", () => {
  test("comes from the named key's current version, looked up once, and is 1 for a key that is not there", async () => {
    const clock = windowStart();
    const n4096 = rsaModulus(4096);
    const lookups: string[] = [];
    const shapes: KeyShapes = async (vault, name) => {
      lookups.push(`${vault}/${name}`);
      if (name === "big") return { kty: "RSA", n: n4096 };
      throw new Error("not found");
    };
    const requests = new RequestThrottle(new ThrottleRule(clock, 0.01), shapes, clock);
    let signs = 0;
    while (await requests.admit("v", "KeySign", "big", undefined)) signs++;
    assert.equal(signs, 5);
    assert.deepEqual(lookups, ["v/big"], "the shape is cached per (vault, name)");

    let missing = 0;
    while (await requests.admit("w", "KeyGet", "nothing", undefined)) missing++;
    assert.equal(missing, 40, "an unknown key costs 1");
  });

  test("a create asks for its body's key type: an HSM key costs twice a software key of the create budget", async () => {
    const clock = windowStart();
    const requests = new RequestThrottle(new ThrottleRule(clock, 0.1), async () => undefined, clock); // 2 create units
    assert.ok(await requests.admit("v", "KeyCreate", "a", { kty: "RSA-HSM" }));
    assert.equal(await requests.admit("v", "KeyCreate", "b", { kty: "RSA" }), false);
    assert.ok(await requests.admit("w", "KeyCreate", "a", { kty: "EC" }));
    assert.ok(await requests.admit("w", "KeyImport", "b", { key: { kty: "RSA" } }));
    assert.equal(await requests.admit("w", "KeyImport", "c", { key: { kty: "RSA" } }), false);
  });
});

describe("the throttle flags", () => {
  test("--throttle is off unless azure (the scale and Retry-After still serve vaults throttled on their own); --throttle-retry-after omit or whole seconds; --throttle-scale a positive factor", () => {
    assert.deepEqual(throttleOf({}, {}), { on: false, scale: 1, retryAfterSeconds: undefined });
    assert.deepEqual(throttleOf({ throttle: "off", throttleScale: "0.01" }, {}), { on: false, scale: 0.01, retryAfterSeconds: undefined });
    assert.deepEqual(throttleOf({ throttle: "azure" }, {}), { on: true, scale: 1, retryAfterSeconds: undefined });
    assert.deepEqual(throttleOf({}, { LOCKBOX_THROTTLE: "azure", LOCKBOX_THROTTLE_RETRY_AFTER: "5", LOCKBOX_THROTTLE_SCALE: "0.5" }), {
      on: true,
      scale: 0.5,
      retryAfterSeconds: 5,
    });
    assert.throws(() => throttleOf({ throttle: "random" }, {}), /invalid throttle mode: random/);
    assert.throws(() => throttleOf({ throttle: "azure", throttleRetryAfter: "1.5" }, {}), /invalid throttle Retry-After/);
    assert.throws(() => throttleOf({ throttle: "azure", throttleScale: "0" }, {}), /invalid throttle scale/);
  });
});

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { faultError, Faults, type FaultAnswer, type FaultTarget } from "../../src/faults/faults.ts";
import { KvError } from "../../src/kernel/errors.ts";

/** A clock the test moves by hand. */
const fakeClock = (startMs = 1_800_000_000_000) => {
  let now = startMs;
  return { nowMs: () => now, advance: (seconds: number) => (now += seconds * 1000) };
};

const get = (over: Partial<FaultTarget> = {}): FaultTarget => ({
  vault: "default",
  operation: "SecretGet",
  method: "GET",
  name: "db",
  ...over,
});

/** Which of `n` requests the rules fail (true) and which they let through. */
const pattern = (faults: Faults, n: number, target = get()): boolean[] =>
  Array.from({ length: n }, () => faults.match(target) !== undefined);

describe("fault rules", () => {
  test("a rule matches by vault, operation, method and object name; omitted ones match anything", () => {
    const faults = new Faults(fakeClock());
    faults.add({ vault: "Payments", operation: "SecretGet", method: "get", name: "DB", status: 503 });
    assert.equal(faults.match(get({ vault: "default" })), undefined, "another vault");
    assert.equal(faults.match(get({ vault: "payments", operation: "SecretSet", method: "PUT" })), undefined, "another operation");
    assert.equal(faults.match(get({ vault: "payments", method: "HEAD" })), undefined, "another method");
    assert.equal(faults.match(get({ vault: "payments", name: "other" })), undefined, "another name");
    assert.equal(faults.match(get({ vault: "payments", name: undefined })), undefined, "no name");
    assert.equal(faults.match(get({ vault: "payments", name: "db" }))?.status, 503, "vault and name are case-insensitive");

    const any = new Faults(fakeClock());
    any.add({ status: 500 });
    assert.equal(any.match(get({ vault: "x", operation: "KeySign", method: "POST", name: undefined }))?.status, 500);
  });

  test("count: the next N matching requests fail, then the rule is used up and listed so", () => {
    const seen: FaultAnswer[] = [];
    const faults = new Faults(fakeClock(), (s) => seen.push(s));
    const rule = faults.add({ operation: "SecretGet", status: 503, count: 3, retryAfter: 1, delayMs: 5 });
    assert.equal(faults.match(get({ operation: "SecretSet" })), undefined, "a request the rule does not match uses none of its count");
    assert.deepEqual(faults.match(get()), { ruleId: rule.id, status: 503, delayMs: 5, retryAfter: 1 });
    assert.deepEqual(pattern(faults, 4), [true, true, false, false]);
    assert.deepEqual(seen, [503, 503, 503]);
    const [listed] = faults.list();
    assert.equal(listed!.fired, 3);
    assert.equal(listed!.remaining, 0);
    assert.equal(listed!.state, "used-up");
  });

  test("fraction: the same seed fails the same requests; another seed others", () => {
    const run = (seed: number) => {
      const faults = new Faults(fakeClock());
      faults.add({ status: 429, fraction: 0.3, seed });
      return pattern(faults, 200);
    };
    const a = run(42);
    assert.deepEqual(run(42), a);
    assert.notDeepEqual(run(43), a);
    const failed = a.filter(Boolean).length;
    assert.ok(failed > 30 && failed < 90, `about 30% of 200 requests fail: ${failed}`);
  });

  test("a fraction rule without a seed gets one, shown in the list, that replays its pattern", () => {
    const faults = new Faults(fakeClock());
    const rule = faults.add({ status: 500, fraction: 0.5 });
    assert.equal(typeof rule.seed, "number");
    const first = pattern(faults, 50);
    const again = new Faults(fakeClock());
    again.add({ status: 500, fraction: 0.5, seed: rule.seed });
    assert.deepEqual(pattern(again, 50), first);
  });

  test("fraction and count together: a share of the requests, at most N", () => {
    const faults = new Faults(fakeClock());
    faults.add({ status: 502, fraction: 0.5, seed: 7, count: 2 });
    assert.equal(pattern(faults, 50).filter(Boolean).length, 2);
  });

  test("a rule expires on the clock", () => {
    const clock = fakeClock();
    const faults = new Faults(clock);
    faults.add({ status: 408, expiresInSeconds: 60 });
    clock.advance(59);
    assert.equal(faults.match(get())?.status, 408);
    clock.advance(1);
    assert.equal(faults.match(get()), undefined);
    assert.equal(faults.list()[0]!.state, "expired");
  });

  test("the first rule added that matches is the one that fires; clear and remove end rules", () => {
    const faults = new Faults(fakeClock());
    const a = faults.add({ status: 500, count: 1 });
    const b = faults.add({ status: "drop" });
    assert.equal(faults.match(get())?.ruleId, a.id);
    assert.equal(faults.match(get())?.ruleId, b.id);
    assert.equal(faults.remove(b.id), true);
    assert.equal(faults.remove(b.id), false);
    assert.equal(faults.match(get()), undefined);
    faults.add({ status: 503 });
    assert.equal(faults.clear(), 2);
    assert.deepEqual(faults.list(), []);
  });

  test("bad rules are refused with a message that says what is wrong", () => {
    const faults = new Faults(fakeClock());
    const refused = (rule: unknown, message: RegExp) =>
      assert.throws(
        () => faults.add(rule),
        (e: unknown) => e instanceof KvError && e.status === 400 && e.code === "BadParameter" && message.test(e.message),
      );
    refused(undefined, /JSON object/);
    refused({ status: 404 }, /status must be one of 429, 500, 502, 503, 408, drop/);
    refused({ status: 503, operation: "SecretFetch" }, /'SecretFetch' is not a Key Vault operation/);
    refused({ status: 503, count: 0 }, /count must be a whole number/);
    refused({ status: 503, fraction: 1.5 }, /fraction must be/);
    refused({ status: 503, seed: 1 }, /give fraction too/);
    refused({ status: "drop", retryAfter: 1 }, /no Retry-After/);
    refused({ status: 503, delayMs: -1 }, /delayMs/);
    refused({ status: 503, colour: "red" }, /unknown properties: colour/);
    assert.deepEqual(faults.list(), []);
  });

  test("the 429 carries Azure's exact throttling message, and every message names the rule", () => {
    const { code, message } = faultError(429, "fault-9");
    assert.equal(code, "Throttled");
    assert.ok(
      message.startsWith("Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached"),
    );
    assert.match(message, /Lockbox injected this fault by rule fault-9/);
    assert.equal(faultError(503, "x").code, "ServiceUnavailable");
    assert.equal(faultError(500, "x").code, "InternalServerError");
    assert.equal(faultError(502, "x").code, "BadGateway");
    assert.equal(faultError(408, "x").code, "RequestTimeout");
  });
});

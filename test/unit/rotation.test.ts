import { test } from "node:test";
import assert from "node:assert/strict";
import { durationSeconds } from "../../src/vault/durations.ts";
import { expiryFromPolicy, validatePolicy } from "../../src/vault/rotation.ts";
import { KvError } from "../../src/kernel/errors.ts";

const DAY = 86_400;
const isBadParameter = (e: unknown): boolean => e instanceof KvError && e.status === 400 && e.code === "BadParameter";

test("ISO 8601 durations: days, weeks, months of 30 days, years of 365, times", () => {
  assert.equal(durationSeconds("P90D", "x"), 90 * DAY);
  assert.equal(durationSeconds("P2W", "x"), 14 * DAY);
  assert.equal(durationSeconds("P3M", "x"), 90 * DAY);
  assert.equal(durationSeconds("P1Y10D", "x"), 375 * DAY);
  assert.equal(durationSeconds("PT48H", "x"), 2 * DAY);
  assert.equal(durationSeconds("P1DT1H1M1S", "x"), DAY + 3661);
  for (const bad of ["", "P", "PT", "90D", "P-1D", "P1.5D", "30 days", 30, null]) {
    assert.throws(() => durationSeconds(bad, "expiryTime"), isBadParameter, String(bad));
  }
});

test("a valid policy is stored as given, with action types normalised and a default Notify added", () => {
  const stored = validatePolicy(
    { lifetimeActions: [{ trigger: { timeAfterCreate: "P30D" }, action: { type: "rotate" } }], attributes: { expiryTime: "P90D" } },
    1000,
  );
  assert.deepEqual(stored, {
    lifetimeActions: [
      { trigger: { timeAfterCreate: "P30D" }, action: { type: "Rotate" } },
      { trigger: { timeBeforeExpiry: "P30D" }, action: { type: "Notify" } },
    ],
    expiryTime: "P90D",
    created: 1000,
    updated: 1000,
  });
});

test("a given Notify is kept as it is, and an update keeps the creation time", () => {
  const first = validatePolicy(
    { lifetimeActions: [{ trigger: { timeBeforeExpiry: "P7D" }, action: { type: "Notify" } }], attributes: { expiryTime: "P90D" } },
    10,
  );
  assert.deepEqual(first.lifetimeActions, [{ trigger: { timeBeforeExpiry: "P7D" }, action: { type: "Notify" } }]);
  const second = validatePolicy({ lifetimeActions: [], attributes: {} }, 20, first);
  assert.equal(second.created, 10);
  assert.equal(second.updated, 20);
  assert.equal(second.expiryTime, undefined);
});

test("Azure's rules: expiry at least 28 days, one action of each type, Notify only before expiry, 7-day triggers", () => {
  const rotate = (trigger: Record<string, string>) => ({ trigger, action: { type: "Rotate" } });
  const bad = [
    { attributes: { expiryTime: "P27D" } },
    { lifetimeActions: [rotate({ timeAfterCreate: "P30D" }), rotate({ timeAfterCreate: "P40D" })] },
    { lifetimeActions: [{ trigger: { timeAfterCreate: "P30D" }, action: { type: "Notify" } }] },
    { lifetimeActions: [rotate({ timeAfterCreate: "P6D" })] },
    { lifetimeActions: [rotate({ timeBeforeExpiry: "P30D" })] },
    { lifetimeActions: [rotate({ timeBeforeExpiry: "P6D" })], attributes: { expiryTime: "P90D" } },
    { lifetimeActions: [rotate({ timeBeforeExpiry: "P85D" })], attributes: { expiryTime: "P90D" } },
    { lifetimeActions: [rotate({ timeAfterCreate: "P85D" })], attributes: { expiryTime: "P90D" } },
    { lifetimeActions: [rotate({ timeAfterCreate: "P30D", timeBeforeExpiry: "P30D" })], attributes: { expiryTime: "P90D" } },
    { lifetimeActions: [rotate({})] },
    { lifetimeActions: [{ trigger: { timeAfterCreate: "P30D" }, action: { type: "Delete" } }] },
  ];
  for (const input of bad) assert.throws(() => validatePolicy(input, 0), isBadParameter, JSON.stringify(input));
  // The JS SDK's own test policies are accepted.
  validatePolicy({ lifetimeActions: [rotate({ timeAfterCreate: "P2M" })] }, 0);
  validatePolicy({ lifetimeActions: [rotate({ timeBeforeExpiry: "P30D" })], attributes: { expiryTime: "P90D" } }, 0);
});

test("a rotated version expires expiryTime after its creation, or never without one", () => {
  const policy = validatePolicy({ attributes: { expiryTime: "P90D" } }, 0);
  assert.equal(expiryFromPolicy(policy, 5000), 5000 + 90 * DAY);
  assert.equal(expiryFromPolicy(validatePolicy({}, 0), 5000), undefined);
  assert.equal(expiryFromPolicy(undefined, 5000), undefined);
});

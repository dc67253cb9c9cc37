import { test } from "node:test";
import assert from "node:assert/strict";
import { planActions } from "../../src/scheduler/planning.ts";
import { randomValue, validateGenerator } from "../../src/vault/generator.ts";
import { envelope } from "../../src/events/envelopes.ts";
import { EVENT_TYPES, eventTypeOf } from "../../src/events/types.ts";
import { retryDelay } from "../../src/events/delivery.ts";
import type { PlannedPolicy, PlannedVersion } from "../../src/vault/lifecycle.ts";
import { KvError } from "../../src/kernel/errors.ts";

const DAY = 86_400;
const view = (over: Partial<PlannedVersion> & { policy?: PlannedPolicy }): PlannedVersion => ({
  vault: "v",
  kind: "key",
  name: "k",
  version: "v1",
  seq: 1,
  created: 1000,
  updated: 1000,
  enabled: true,
  nbf: null,
  exp: null,
  contentType: null,
  tags: null,
  props: null,
  sealed: Buffer.alloc(0),
  ...over,
  object: {
    vault: "v",
    kind: "key",
    name: "k",
    displayName: "K",
    deletedAt: null,
    purgeAt: null,
    policy: over.policy,
    maxVersions: null,
  },
});

test("no expiry and no policy: nothing to plan", () => {
  assert.deepEqual(planActions(view({})), []);
});

test("an expiry alone: near-expiry 30 days before (Azure's default Notify) and the expiry itself", () => {
  assert.deepEqual(planActions(view({ exp: 100 * DAY })), [
    { action: "NearExpiry", version: "v1", dueAt: 70 * DAY },
    { action: "Expired", version: "v1", dueAt: 100 * DAY },
  ]);
});

test("the key-rotation guide's policy: rotate 30 days after creation, notify 7 days before expiry", () => {
  const policy: PlannedPolicy = {
    lifetimeActions: [
      { trigger: { timeAfterCreate: "P30D" }, action: { type: "Rotate" } },
      { trigger: { timeBeforeExpiry: "P7D" }, action: { type: "Notify" } },
    ],
    expiryTime: "P90D",
  };
  assert.deepEqual(planActions(view({ exp: 1000 + 90 * DAY, policy })), [
    { action: "Rotate", version: "v1", dueAt: 1000 + 30 * DAY },
    { action: "NearExpiry", version: "v1", dueAt: 1000 + 83 * DAY },
    { action: "Expired", version: "v1", dueAt: 1000 + 90 * DAY },
  ]);
});

test("rotate before expiry needs an expiry on the version", () => {
  const policy: PlannedPolicy = {
    lifetimeActions: [{ trigger: { timeBeforeExpiry: "P30D" }, action: { type: "Rotate" } }],
    expiryTime: "P90D",
  };
  assert.deepEqual(planActions(view({ policy })), []);
  assert.deepEqual(planActions(view({ exp: 90 * DAY, policy }))[0], { action: "Rotate", version: "v1", dueAt: 60 * DAY });
});

test("a secret version made by a rotation with an overlap disables its predecessor when the overlap ends", () => {
  const policy = { lifetimeActions: [], overlap: "P2D" };
  assert.deepEqual(planActions(view({ props: { rotatedFrom: "v0" }, policy })), [
    { action: "DisablePrevious", version: "v1", dueAt: 1000 + 2 * DAY },
  ]);
  assert.deepEqual(planActions(view({ props: null, policy })), [], "a version set by hand disables nothing");
});

test("random values: the length asked, every class present, nothing outside the classes", () => {
  for (let i = 0; i < 50; i++) {
    const v = randomValue({ length: 12, classes: ["lower", "digits"] });
    assert.equal(v.length, 12);
    assert.match(v, /^[a-z0-9]+$/);
    assert.match(v, /[a-z]/);
    assert.match(v, /[0-9]/);
  }
  assert.notEqual(randomValue({ length: 32, classes: ["lower"] }), randomValue({ length: 32, classes: ["lower"] }));
});

test("generators are validated", () => {
  const bad = (g: unknown) =>
    assert.throws(
      () => validateGenerator(g),
      (e: unknown) => e instanceof KvError && e.status === 400,
      JSON.stringify(g),
    );
  bad({ type: "random", length: 4 });
  bad({ type: "random", classes: ["emoji"] });
  bad({ type: "random", length: 8, classes: [] });
  bad({ type: "webhook", url: "ftp://x" });
  bad({ type: "magic" });
  assert.deepEqual(validateGenerator({ type: "webhook", url: "http://127.0.0.1:9/x" }), { type: "webhook", url: "http://127.0.0.1:9/x" });
  assert.equal(validateGenerator(undefined).type, "random");
});

test("Event Grid and CloudEvents envelopes carry Azure's fields and the vault's own URL in Id", () => {
  const ctx = { publicOrigin: (v: string) => `https://${v}.vault.localhost:8443`, subscriptionId: "sub" };
  const event = {
    seq: 1,
    id: "e1",
    vault: "payments",
    eventType: eventTypeOf("secret", "NewVersionCreated"),
    subject: "db-pass",
    time: 1700000000,
    data: { VaultName: "payments", ObjectType: "Secret", ObjectName: "db-pass", Version: "abc", NBF: null, EXP: 1800000000 },
  };
  const eg = JSON.parse(envelope(ctx, "eventgrid", event).body);
  assert.equal(eg.length, 1);
  assert.equal(eg[0].eventType, "Microsoft.KeyVault.SecretNewVersionCreated");
  assert.equal(eg[0].topic, "/subscriptions/sub/resourceGroups/lockbox/providers/Microsoft.KeyVault/vaults/payments");
  assert.equal(eg[0].data.Id, "https://payments.vault.localhost:8443/secrets/db-pass/abc");
  assert.equal(eg[0].eventTime, "2023-11-14T22:13:20.000Z");
  const ce = JSON.parse(envelope(ctx, "cloudevents", event).body);
  assert.equal(ce.specversion, "1.0");
  assert.equal(ce.type, "Microsoft.KeyVault.SecretNewVersionCreated");
  assert.equal(ce.source, eg[0].topic);
  assert.deepEqual(ce.data, eg[0].data);
  // New version, near expiry and expired, for each of the three kinds, as Azure names them.
  assert.equal(EVENT_TYPES.length, 9);
  assert.ok(EVENT_TYPES.includes("Microsoft.KeyVault.CertificateNearExpiry"));
});

test("deliveries are retried on Event Grid's schedule, then hourly", () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8, 20].map(retryDelay), [10, 30, 60, 300, 600, 1800, 3600, 3600, 3600]);
});

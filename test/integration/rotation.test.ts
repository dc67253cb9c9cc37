import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { EventGridDeserializer, isSystemEvent } from "@azure/eventgrid";
import { DefaultAzureCredential } from "@azure/identity";
import { CryptographyClient, KeyClient, type KeyProperties } from "@azure/keyvault-keys";
import { SecretClient } from "@azure/keyvault-secrets";
import { developerToken, raw } from "../helpers/http.ts";
import { removeDataDir, startLockbox, useEnvironment, type Lockbox, stopOrKill } from "../helpers/server.ts";
import { advanceClock, clockNow as clockNowOf } from "../helpers/clock.ts";
import { assertKeyVaultEventData, startWebhook, type ReceivedEvent, type Webhook } from "../helpers/webhook.ts";
import { eventually } from "../helpers/wait.ts";

// Rotation that runs (issue 4): key rotation policies and near-expiry / expiry events on
// the server's clock, moved forward with the dev clock, seen through the official SDKs and
// a local webhook. One server (and its dev clock) for the whole file: every test reads the
// clock's now before computing times, and looks only at its own objects' events.
let lockbox: Lockbox;

before(async () => {
  lockbox = await startLockbox({ args: ["--dev-clock"] });
  useEnvironment(lockbox);
});

after(async () => {
  await stopOrKill(lockbox);
  removeDataDir(lockbox.dataDir);
});

/** A test that waits on a stuck server fails at this limit instead of hanging the run. */
const LIMIT = { timeout: 120_000 };

const DAY = 86_400;
const KV = "Microsoft.KeyVault.";
const seconds = (d: Date | undefined): number | undefined => (d ? Math.floor(d.getTime() / 1000) : undefined);

const keyClient = (): KeyClient => new KeyClient(lockbox.vaultUrl(), new DefaultAzureCredential());
const secretClient = (): SecretClient => new SecretClient(lockbox.vaultUrl(), new DefaultAzureCredential());

const clockNow = (): Promise<number> => clockNowOf(lockbox);

const advance = (by: number): Promise<number> => advanceClock(lockbox, by);

/** Subscribes the webhook to the vault `default` and waits until the subscription is validated. */
async function subscribe(hook: Webhook, extra: object = {}): Promise<string> {
  const r = await raw(lockbox, {
    method: "POST",
    path: "/lockbox/v1/vaults/default/subscriptions",
    body: { endpoint: hook.url, ...extra },
    token: await developerToken(lockbox),
  });
  assert.equal(r.status, 201, `subscribe: ${r.status} ${r.text}`);
  const id = r.json.id as string;
  await hook.waitUntil(() => hook.validations + hook.optionsOrigins.length > 0, "the validation handshake");
  await eventually(`subscription ${id} validated`, 15_000, async () => {
    const listed = await raw(lockbox, { path: "/lockbox/v1/vaults/default/subscriptions", token: await developerToken(lockbox) });
    assert.equal(listed.status, 200, listed.text);
    const mine = (listed.json.value as Array<{ id: string; validated: boolean }>).find((s) => s.id === id);
    assert.ok(mine, `subscription ${id} is not listed: ${listed.text}`);
    assert.ok(mine.validated, `subscription ${id} is not validated: ${listed.text}`);
  });
  return id;
}

async function unsubscribe(id: string): Promise<void> {
  const r = await raw(lockbox, {
    method: "DELETE",
    path: `/lockbox/v1/vaults/default/subscriptions/${id}`,
    token: await developerToken(lockbox),
  });
  assert.equal(r.status, 204, `unsubscribe ${id}: ${r.status} ${r.text}`);
}

/** A webhook with a validated subscription for the test's duration; both go afterwards. */
async function withWebhook(fn: (hook: Webhook) => Promise<void>, extra: object = {}): Promise<void> {
  const hook = await startWebhook();
  let id: string | undefined;
  try {
    id = await subscribe(hook, extra);
    await fn(hook);
  } finally {
    if (id) await unsubscribe(id).catch(() => undefined);
    await hook.close();
  }
}

const is = (type: string, name: string, version?: string) => (e: ReceivedEvent) =>
  e.type === `${KV}${type}` && e.data.ObjectName === name && (version === undefined || e.data.Version === version);

async function versionsOf(c: KeyClient, name: string): Promise<KeyProperties[]> {
  const out: KeyProperties[] = [];
  for await (const p of c.listPropertiesOfKeyVersions(name)) out.push(p);
  return out;
}

/** What an Event Grid webhook gets: the header, an array @azure/eventgrid accepts, Azure's data. */
async function assertEventGrid(
  e: ReceivedEvent,
  type: string,
  collection: "keys" | "secrets",
  name: string,
  version: string,
): Promise<void> {
  assert.equal(e.schema, "eventgrid", `the ${type} event is not in the Event Grid schema: ${e.body}`);
  assert.equal(e.headers["aeg-event-type"], "Notification");
  assert.ok(Array.isArray(JSON.parse(e.body)), `an Event Grid delivery is an array: ${e.body}`);
  const events = await new EventGridDeserializer().deserializeEventGridEvents(e.body);
  const got = events.find((x) => x.id === e.id);
  assert.ok(got, `EventGridDeserializer lost event ${e.id}`);
  assert.ok(
    isSystemEvent(`${KV}${type}` as "Microsoft.KeyVault.KeyNewVersionCreated", got),
    `isSystemEvent(${KV}${type}) is false for ${e.body}`,
  );
  assert.ok(got.eventTime instanceof Date, `eventTime is not a date: ${e.body}`);
  assert.equal(got.subject, name);
  assert.ok(got.topic?.endsWith("/providers/Microsoft.KeyVault/vaults/default"), `the topic is ${got.topic}`);
  assertKeyVaultEventData(got.data as unknown as Record<string, unknown>, lockbox.vaultUrl(), collection, name, version);
}

/**
 * Stops the server and starts it again on the same data directory and the same port, as a
 * restarted service comes back: MSAL keeps the managed identity endpoint it first saw for
 * the life of the process, so a new port would strand this process's SDK clients.
 */
async function stopServer(): Promise<void> {
  const code = await lockbox.stop();
  assert.equal(code, 0, `Lockbox did not stop cleanly:\n${lockbox.output()}`);
}

async function startAgain(): Promise<void> {
  lockbox = await startLockbox({ dataDir: lockbox.dataDir, args: ["--dev-clock", "--port", String(lockbox.port)] });
  useEnvironment(lockbox);
}

async function restart(): Promise<void> {
  await stopServer();
  await startAgain();
}

describe("key rotation policies run on the clock", () => {
  test(
    "done when: the key-rotation guide's policy rotates 30 days after creation, with its expiry and an Event Grid KeyNewVersionCreated, without a restart",
    LIMIT,
    async () => {
      await withWebhook(async (hook) => {
        const client = keyClient();
        const name = "guide-rotated-key";
        const v1 = await client.createRsaKey(name);
        await client.updateKeyRotationPolicy(name, {
          expiresIn: "P90D",
          lifetimeActions: [
            { action: "Rotate", timeAfterCreate: "P30D" },
            { action: "Notify", timeBeforeExpiry: "P7D" },
          ],
        });
        const created = await hook.waitFor(
          is("KeyNewVersionCreated", name, v1.properties.version),
          "KeyNewVersionCreated for the created key",
        );
        await assertEventGrid(created, "KeyNewVersionCreated", "keys", name, v1.properties.version!);

        const now1 = await advance(31 * DAY);
        const v2 = await client.getKey(name);
        assert.notEqual(v2.properties.version, v1.properties.version, "31 days after creation the key was not rotated");
        const exp2 = seconds(v2.properties.expiresOn);
        assert.ok(exp2 !== undefined, "the rotated version has no expiresOn, though the policy has expiresIn P90D");
        assert.ok(
          Math.abs(exp2 - (now1 + 90 * DAY)) <= 60,
          `the rotated version expires at ${exp2}, not 90 days after the moved clock's now ${now1}`,
        );
        assert.equal(v2.keyType, "RSA");
        assert.equal(v2.key?.n?.length, v1.key?.n?.length, "the rotated version is not an RSA key of the same size");

        const rotated = await hook.waitFor(
          is("KeyNewVersionCreated", name, v2.properties.version),
          "KeyNewVersionCreated for the rotated version",
        );
        await assertEventGrid(rotated, "KeyNewVersionCreated", "keys", name, v2.properties.version!);
        assert.equal(Number(rotated.data.EXP), exp2, `the event's EXP is ${rotated.data.EXP}, the version's expiry ${exp2}`);
        assert.ok(lockbox.output().includes("KeyRotateIfDue"), "the scheduled rotation was not logged as operation KeyRotateIfDue");

        const now2 = await advance(31 * DAY);
        const versions = await versionsOf(client, name);
        assert.equal(versions.length, 3, `after another 31 days there are ${versions.length} versions, not 3`);
        const v3 = await client.getKey(name);
        assert.ok(
          ![v1.properties.version, v2.properties.version].includes(v3.properties.version),
          "the second rotation did not make a new latest version",
        );
        const exp3 = seconds(v3.properties.expiresOn)!;
        assert.ok(Math.abs(exp3 - (now2 + 90 * DAY)) <= 60, `the third version expires at ${exp3}, not 90 days after ${now2}`);
        await hook.waitFor(is("KeyNewVersionCreated", name, v3.properties.version), "KeyNewVersionCreated for the second rotation");

        await advance(10 * DAY);
        assert.equal((await versionsOf(client, name)).length, 3, "10 days after a rotation the key was rotated again");
        assert.equal((await client.getKey(name)).properties.version, v3.properties.version);

        for (const v of [v1, v2, v3]) {
          const n = hook.matching(is("KeyNewVersionCreated", name, v.properties.version)).length;
          assert.equal(n, 1, `KeyNewVersionCreated for ${v.properties.version} arrived ${n} times:\n${hook.describe()}`);
        }
      });
    },
  );

  test("an existing KeyClient keeps working after the clock moves 2 days (claims challenge, new token)", LIMIT, async () => {
    const client = keyClient();
    const name = "clock-moves-under-the-client";
    const created = await client.createRsaKey(name);
    const oldToken = await developerToken(lockbox);
    await advance(2 * DAY);
    const got = await client.getKey(name);
    assert.equal(got.properties.version, created.properties.version);
    await client.updateKeyProperties(name, created.properties.version!, { tags: { moved: "yes" } });

    const refused = await raw(lockbox, { path: "/lockbox/v1/clock", token: oldToken });
    assert.equal(refused.status, 401, `a token the moved clock expired is still accepted: ${refused.status}`);
    assert.match(String(refused.headers["www-authenticate"]), /insufficient_claims/);
  });

  test("Rotate timeBeforeExpiry P30D with expiresIn P90D: a key expiring in 90 days rotates after 60 days, not before", LIMIT, async () => {
    await withWebhook(async (hook) => {
      const client = keyClient();
      const name = "rotate-before-expiry";
      const now0 = await clockNow();
      const v1 = await client.createRsaKey(name, { expiresOn: new Date((now0 + 90 * DAY) * 1000) });
      await client.updateKeyRotationPolicy(name, { expiresIn: "P90D", lifetimeActions: [{ action: "Rotate", timeBeforeExpiry: "P30D" }] });

      await advance(59 * DAY);
      assert.equal((await client.getKey(name)).properties.version, v1.properties.version, "rotated 31 days before expiry, not 30");

      const now = await advance(2 * DAY);
      const v2 = await client.getKey(name);
      assert.notEqual(
        v2.properties.version,
        v1.properties.version,
        "61 days into a 90-day key with Rotate P30D before expiry, no rotation",
      );
      const exp2 = seconds(v2.properties.expiresOn)!;
      assert.ok(Math.abs(exp2 - (now + 90 * DAY)) <= 60, `the rotated version expires at ${exp2}, not 90 days after ${now}`);
      await hook.waitFor(is("KeyNewVersionCreated", name, v2.properties.version), "KeyNewVersionCreated for the rotation before expiry");
      assert.equal((await versionsOf(client, name)).length, 2);
    });
  });
});

describe("near-expiry and expiry events", () => {
  test(
    "a key with Notify P7D: KeyNearExpiry 7 days before exp, KeyExpired at exp, each once despite further advances and an update",
    LIMIT,
    async () => {
      await withWebhook(async (hook) => {
        const client = keyClient();
        const name = "key-near-expiry";
        const now0 = await clockNow();
        // 40 days, so that Azure's default Notify (30 days before expiry) is not due yet when
        // the key is made: the scheduler's next tick could otherwise send it before the policy is set.
        const exp = now0 + 40 * DAY;
        const key = await client.createRsaKey(name, { expiresOn: new Date(exp * 1000) });
        await client.updateKeyRotationPolicy(name, { lifetimeActions: [{ action: "Notify", timeBeforeExpiry: "P7D" }] });
        const version = key.properties.version!;

        await advance(32 * DAY);
        assert.equal(hook.matching(is("KeyNearExpiry", name)).length, 0, `KeyNearExpiry 8 days before expiry:\n${hook.describe()}`);

        await advance(1 * DAY);
        const near = await hook.waitFor(is("KeyNearExpiry", name, version), "KeyNearExpiry 7 days before expiry");
        await assertEventGrid(near, "KeyNearExpiry", "keys", name, version);
        assert.equal(Number(near.data.EXP), exp);
        assert.equal(hook.matching(is("KeyExpired", name)).length, 0, `KeyExpired 7 days before expiry:\n${hook.describe()}`);

        await client.updateKeyProperties(name, version, { tags: { touched: "before-expiry" } });
        await advance(7 * DAY);
        const expired = await hook.waitFor(is("KeyExpired", name, version), "KeyExpired at expiry");
        await assertEventGrid(expired, "KeyExpired", "keys", name, version);
        // Expiry checks follow the moved clock too: the key is expired for Lockbox, not yet in real time.
        const digest = createHash("sha256").update("after expiry").digest();
        await assert.rejects(new CryptographyClient(key, new DefaultAzureCredential()).sign("RS256", digest), (e: any) => {
          assert.equal(e.statusCode, 403, `signing with an expired key: ${e.statusCode} ${e.message}`);
          return true;
        });

        await client.updateKeyProperties(name, version, { tags: { touched: "after-expiry" } });
        await advance(10 * DAY);
        await advance(1);
        for (const type of ["KeyNearExpiry", "KeyExpired"]) {
          const n = hook.matching(is(type, name)).length;
          assert.equal(n, 1, `${type} arrived ${n} times:\n${hook.describe()}`);
        }
      });
    },
  );

  test(
    "a secret: SecretNearExpiry 30 days before its expiresOn, SecretExpired at it, each once despite further advances and updateSecretProperties",
    LIMIT,
    async () => {
      await withWebhook(async (hook) => {
        const client = secretClient();
        const name = "secret-near-expiry";
        const now0 = await clockNow();
        const exp = now0 + 45 * DAY;
        const set = await client.setSecret(name, "expiring", { expiresOn: new Date(exp * 1000) });
        const version = set.properties.version!;

        await advance(14 * DAY);
        assert.equal(hook.matching(is("SecretNearExpiry", name)).length, 0, `SecretNearExpiry 31 days before expiry:\n${hook.describe()}`);

        await advance(1 * DAY);
        const near = await hook.waitFor(is("SecretNearExpiry", name, version), "SecretNearExpiry 30 days before expiry");
        await assertEventGrid(near, "SecretNearExpiry", "secrets", name, version);
        assert.equal(Number(near.data.EXP), exp);

        await client.updateSecretProperties(name, version, { tags: { touched: "near" } });
        await advance(1 * DAY);
        assert.equal(hook.matching(is("SecretNearExpiry", name)).length, 1, `an update repeated SecretNearExpiry:\n${hook.describe()}`);
        assert.equal(hook.matching(is("SecretExpired", name)).length, 0, `SecretExpired 29 days early:\n${hook.describe()}`);

        await advance(29 * DAY);
        const expired = await hook.waitFor(is("SecretExpired", name, version), "SecretExpired at expiry");
        await assertEventGrid(expired, "SecretExpired", "secrets", name, version);

        await client.updateSecretProperties(name, version, { tags: { touched: "expired" } });
        await advance(10 * DAY);
        await advance(1);
        for (const type of ["SecretNearExpiry", "SecretExpired"]) {
          const n = hook.matching(is(type, name)).length;
          assert.equal(n, 1, `${type} arrived ${n} times:\n${hook.describe()}`);
        }
      });
    },
  );
});

describe("near-expiry and expiry concern the current version", () => {
  test("a key without a rotation policy gets KeyNearExpiry 30 days before exp (Azure's default Notify)", LIMIT, async () => {
    await withWebhook(async (hook) => {
      const client = keyClient();
      const name = "key-default-notify";
      const now0 = await clockNow();
      const key = await client.createRsaKey(name, { expiresOn: new Date((now0 + 40 * DAY) * 1000) });
      await advance(9 * DAY);
      assert.equal(hook.matching(is("KeyNearExpiry", name)).length, 0, `KeyNearExpiry 31 days before expiry:\n${hook.describe()}`);
      await advance(1 * DAY);
      await hook.waitFor(is("KeyNearExpiry", name, key.properties.version), "KeyNearExpiry 30 days before expiry");
    });
  });

  test("a secret whose expiring version was replaced by one without expiry gets no SecretNearExpiry nor SecretExpired", LIMIT, async () => {
    await withWebhook(async (hook) => {
      const client = secretClient();
      const name = "secret-replaced-before-expiry";
      const now0 = await clockNow();
      const v1 = await client.setSecret(name, "expiring", { expiresOn: new Date((now0 + 35 * DAY) * 1000) });
      const v2 = await client.setSecret(name, "lasting");
      await hook.waitFor(is("SecretNewVersionCreated", name, v2.properties.version), "SecretNewVersionCreated for the replacement");
      await advance(6 * DAY);
      await advance(30 * DAY);
      const about = hook.matching(
        (e) => e.data.ObjectName === name && e.data.Version === v1.properties.version && !e.type.endsWith("NewVersionCreated"),
      );
      assert.equal(about.length, 0, `events about a version that is no longer current:\n${hook.describe()}`);
    });
  });
});

describe("the dev clock", () => {
  test("GET /lockbox/v1/clock answers {now}, which POST moves forward", LIMIT, async () => {
    const startedMs = Date.now();
    const before = await clockNow();
    assert.ok(Number.isInteger(before), `now is not an integer: ${before}`);
    const moved = await advance(3600);
    assert.ok(moved >= before + 3600, `POST answered ${moved}, less than ${before} + 3600`);
    const after = await clockNow();
    const elapsed = Math.ceil((Date.now() - startedMs) / 1000);
    assert.ok(
      after >= moved && after <= before + 3600 + elapsed + 1,
      `GET after POST answered ${after}; before ${before}, ${elapsed} s passed`,
    );
    const zero = await advance(0);
    assert.ok(zero >= after, `advancing by 0 moved the clock back: ${zero} < ${after}`);
  });

  test("a deleted secret is purged once its 90-day retention has passed on the clock, and its name is free again", LIMIT, async () => {
    const client = secretClient();
    const name = "purged-by-retention";
    await client.setSecret(name, "first");
    const deleted = await (await client.beginDeleteSecret(name)).pollUntilDone();
    assert.ok(deleted.scheduledPurgeDate instanceof Date, "a deleted secret has a scheduled purge date");
    await advance(89 * DAY);
    assert.equal((await client.getDeletedSecret(name)).name, name, "purged before its retention ran out");
    await advance(2 * DAY);
    await assert.rejects(client.getDeletedSecret(name), (e: any) => e.statusCode === 404 && e.code === "SecretNotFound");
    assert.equal((await client.setSecret(name, "second")).value, "second");
  });

  test("timestamps written follow the moved clock", LIMIT, async () => {
    const moved = await advance(5 * DAY);
    const set = await secretClient().setSecret("written-on-the-dev-clock", "value");
    const later = await clockNow();
    const created = seconds(set.properties.createdOn)!;
    assert.ok(created >= moved && created <= later, `createdOn ${created} is not the dev clock's now (${moved}..${later})`);
    assert.equal(seconds(set.properties.updatedOn), created);
  });

  test("POST /lockbox/v1/clock refuses a negative, fractional, textual or missing advanceSeconds with 400", LIMIT, async () => {
    const token = await developerToken(lockbox);
    const before = await clockNow();
    for (const body of [{ advanceSeconds: -1 }, { advanceSeconds: 1.5 }, { advanceSeconds: "60" }, {}]) {
      const r = await raw(lockbox, { method: "POST", path: "/lockbox/v1/clock", body, token });
      assert.equal(r.status, 400, `POST /lockbox/v1/clock ${JSON.stringify(body)}: ${r.status} ${r.text}`);
      assert.equal(r.json?.error?.code, "BadParameter", r.text);
    }
    const after = await clockNow();
    assert.ok(after < before + 60, `a refused request moved the clock: ${before} -> ${after}`);
  });

  test("the admin API without a token is 401 with a challenge", LIMIT, async () => {
    for (const [method, path] of [
      ["GET", "/lockbox/v1/clock"],
      ["POST", "/lockbox/v1/clock"],
      ["GET", "/lockbox/v1/vaults/default/subscriptions"],
      ["POST", "/lockbox/v1/vaults/default/subscriptions"],
    ] as const) {
      const r = await raw(lockbox, {
        method,
        path,
        ...(method === "POST" ? { body: path.endsWith("clock") ? { advanceSeconds: 60 } : { endpoint: "http://127.0.0.1:9/x" } } : {}),
      });
      assert.equal(r.status, 401, `${method} ${path} without a token: ${r.status} ${r.text}`);
      assert.match(String(r.headers["www-authenticate"]), /^Bearer /, `${method} ${path}: no challenge`);
    }
    const listed = await raw(lockbox, { path: "/lockbox/v1/vaults/default/subscriptions", token: await developerToken(lockbox) });
    assert.ok(
      !(listed.json.value as Array<{ endpoint: string }>).some((s) => s.endpoint.startsWith("http://127.0.0.1:9/")),
      `a subscription was created without a token: ${listed.text}`,
    );
  });

  test("without --dev-clock the clock endpoints do not exist (404), while the admin API does", LIMIT, async () => {
    // A server of its own, queried with raw() only (never the SDK, whose identity cache is per process).
    const plain = await startLockbox();
    try {
      const token = await developerToken(plain);
      const get = await raw(plain, { path: "/lockbox/v1/clock", token });
      assert.equal(get.status, 404, `GET /lockbox/v1/clock without --dev-clock: ${get.status} ${get.text}`);
      const post = await raw(plain, { method: "POST", path: "/lockbox/v1/clock", body: { advanceSeconds: 60 }, token });
      assert.equal(post.status, 404, `POST /lockbox/v1/clock without --dev-clock: ${post.status} ${post.text}`);
      const subs = await raw(plain, { path: "/lockbox/v1/vaults/default/subscriptions", token });
      assert.equal(subs.status, 200, `the admin API is missing without --dev-clock: ${subs.status} ${subs.text}`);
    } finally {
      await plain.stop();
      removeDataDir(plain.dataDir);
    }
  });
});

describe("restarts in the middle of due work", () => {
  test("a policy key across a restart: after the trigger exactly one rotation happens, and its event arrives once", LIMIT, async () => {
    await withWebhook(async (hook) => {
      const name = "rotation-across-restart";
      const v1 = await keyClient().createRsaKey(name);
      await keyClient().updateKeyRotationPolicy(name, {
        expiresIn: "P90D",
        lifetimeActions: [{ action: "Rotate", timeAfterCreate: "P30D" }],
      });
      await hook.waitFor(is("KeyNewVersionCreated", name, v1.properties.version), "KeyNewVersionCreated before the restart");

      await restart();
      const client = keyClient();
      const now = await advance(31 * DAY);
      const versions = await versionsOf(client, name);
      assert.equal(versions.length, 2, `after the restart and 31 days there are ${versions.length} versions, not 2`);
      const v2 = await client.getKey(name);
      assert.notEqual(v2.properties.version, v1.properties.version);
      assert.ok(
        Math.abs(seconds(v2.properties.expiresOn)! - (now + 90 * DAY)) <= 60,
        `the rotated version expires at ${v2.properties.expiresOn?.toISOString()}`,
      );
      const e = await hook.waitFor(is("KeyNewVersionCreated", name, v2.properties.version), "KeyNewVersionCreated after the restart");
      await assertEventGrid(e, "KeyNewVersionCreated", "keys", name, v2.properties.version!);

      await advance(DAY);
      await advance(1);
      assert.equal((await versionsOf(client, name)).length, 2, "the rotation was repeated");
      const events = hook.matching(is("KeyNewVersionCreated", name));
      assert.deepEqual(
        events.map((x) => x.data.Version),
        [v1.properties.version, v2.properties.version],
        `KeyNewVersionCreated events for ${name}:\n${hook.describe()}`,
      );
    });
  });

  test("a rotation that fell due while the server was down is done at start, once, without moving the clock", LIMIT, async () => {
    await withWebhook(async (hook) => {
      const name = "due-while-down";
      const client = keyClient();
      const v1 = await client.createRsaKey(name);
      await client.updateKeyRotationPolicy(name, { expiresIn: "P90D", lifetimeActions: [{ action: "Rotate", timeAfterCreate: "P30D" }] });
      await hook.waitFor(is("KeyNewVersionCreated", name, v1.properties.version), "KeyNewVersionCreated for the created key");
      const due = seconds(v1.properties.createdOn)! + 30 * DAY;
      // First a minute short of the trigger, so that other tests' work falling due runs now;
      // then a few seconds short, a quick move with nothing due.
      await advance(due - 60 - (await clockNow()));
      const margin = 5;
      const now = await advance(due - margin - (await clockNow()));
      assert.ok(due - now >= 2, `the clock went too far: ${now}, due ${due}`);
      assert.equal((await versionsOf(client, name)).length, 1, "rotated before the trigger");

      await stopServer();
      assert.ok(
        !/rotated by policy/.test(
          lockbox
            .output()
            .split("\n")
            .filter((l) => l.includes(name))
            .join("\n"),
        ),
        "rotated before the server stopped",
      );
      // Real time passes the trigger while the server is down.
      await new Promise((r) => setTimeout(r, (due - now + 1) * 1000));
      await startAgain();

      const fresh = keyClient();
      await eventually("the rotation that fell due while the server was down, done at start", 15_000, async () =>
        assert.ok((await versionsOf(fresh, name)).length >= 2, "not rotated yet"),
      );
      const v2 = await fresh.getKey(name);
      await hook.waitFor(is("KeyNewVersionCreated", name, v2.properties.version), "KeyNewVersionCreated for the catch-up rotation");
      await advance(60);
      assert.equal((await versionsOf(fresh, name)).length, 2, "the catch-up rotation was repeated");
      assert.equal(
        hook.matching(is("KeyNewVersionCreated", name, v2.properties.version)).length,
        1,
        `the event was repeated:\n${hook.describe()}`,
      );
    });
  });

  test("a delivery failing when the server stops is not lost: after the restart and the retry delay it arrives, once", LIMIT, async () => {
    await withWebhook(async (hook) => {
      const name = "delivery-across-restart";
      hook.failNext(1_000);
      const set = await secretClient().setSecret(name, "must-arrive");
      const version = set.properties.version!;
      await hook.waitUntil(
        () => hook.failed.some(is("SecretNewVersionCreated", name, version)),
        "a failed delivery of SecretNewVersionCreated",
      );

      await restart();
      hook.failNext(0);
      // The next attempt is 10 s after the first failure, or 30 s after a second one (the dev
      // clock also runs in real time, and a slow restart can outlast the first 10 s): move the
      // clock until the delivery is due, each move running the due work before it answers.
      const e = await eventually("SecretNewVersionCreated after the restart", 15_000, async () => {
        await advance(11);
        const [arrived] = hook.matching(is("SecretNewVersionCreated", name, version));
        assert.ok(arrived, `not delivered yet:\n${hook.describe()}`);
        return arrived;
      });
      await assertEventGrid(e, "SecretNewVersionCreated", "secrets", name, version);

      await advance(3600);
      await advance(DAY);
      const n = hook.matching(is("SecretNewVersionCreated", name, version)).length;
      assert.equal(n, 1, `the event arrived ${n} times after it succeeded:\n${hook.describe()}`);
    });
  });
});

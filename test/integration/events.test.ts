import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { EventGridDeserializer, isSystemEvent } from "@azure/eventgrid";
import { DefaultAzureCredential } from "@azure/identity";
import { KeyClient } from "@azure/keyvault-keys";
import { SecretClient } from "@azure/keyvault-secrets";
import { developerToken, raw, type RawResponse } from "../helpers/http.ts";
import { cli, removeDataDir, startLockbox, useEnvironment, type Lockbox, stopOrKill } from "../helpers/server.ts";
import { advanceClock, clockNow as clockNowOf } from "../helpers/clock.ts";
import { assertKeyVaultEventData, startWebhook, type ReceivedEvent, type Webhook, type WebhookOptions } from "../helpers/webhook.ts";
import { eventually } from "../helpers/wait.ts";

// Key Vault events to webhooks (issue 4): subscriptions made with the CLI and the admin API,
// the Event Grid and CloudEvents envelopes as @azure/eventgrid reads them, type filters,
// order per object and retries. One server with the dev clock for the whole file; each test
// has its own webhook and secret names, and removes its subscriptions.
let lockbox: Lockbox;
let client: SecretClient;

before(async () => {
  lockbox = await startLockbox({ args: ["--dev-clock"] });
  useEnvironment(lockbox);
  client = new SecretClient(lockbox.vaultUrl(), new DefaultAzureCredential());
});

after(async () => {
  await stopOrKill(lockbox);
  removeDataDir(lockbox.dataDir);
});

/** A test that waits on a stuck server fails at this limit instead of hanging the run. */
const LIMIT = { timeout: 120_000 };

const DAY = 86_400;
const NEW_SECRET_VERSION = "Microsoft.KeyVault.SecretNewVersionCreated";
const SUBSCRIPTIONS = "/lockbox/v1/vaults/default/subscriptions";

interface Subscription {
  id: string;
  vault: string;
  endpoint: string;
  schema: string;
  types: string[] | null;
  validated: boolean;
}

const clockNow = (): Promise<number> => clockNowOf(lockbox);

const advance = (by: number): Promise<number> => advanceClock(lockbox, by);

async function postSubscription(body: unknown, vault = "default"): Promise<RawResponse> {
  return raw(lockbox, {
    method: "POST",
    path: `/lockbox/v1/vaults/${vault}/subscriptions`,
    body: body as object,
    token: await developerToken(lockbox),
  });
}

async function listSubscriptions(): Promise<Subscription[]> {
  const r = await raw(lockbox, { path: SUBSCRIPTIONS, token: await developerToken(lockbox) });
  assert.equal(r.status, 200, `GET ${SUBSCRIPTIONS}: ${r.status} ${r.text}`);
  return r.json.value as Subscription[];
}

/** Polls the admin API (15 s at most) until the subscription is validated. */
async function untilValidated(id: string): Promise<Subscription> {
  return eventually(`subscription ${id} validated`, 15_000, async () => {
    const mine = (await listSubscriptions()).find((s) => s.id === id);
    assert.ok(mine, `subscription ${id} is not listed`);
    assert.ok(mine.validated, `subscription ${id} is not validated`);
    return mine;
  });
}

/** Subscribes through the admin API and waits for the handshake to validate it. */
async function subscribe(hook: Webhook, extra: object = {}): Promise<Subscription> {
  const r = await postSubscription({ endpoint: hook.url, ...extra });
  assert.equal(r.status, 201, `subscribe: ${r.status} ${r.text}`);
  return untilValidated(r.json.id as string);
}

async function unsubscribe(id: string): Promise<void> {
  const r = await raw(lockbox, { method: "DELETE", path: `${SUBSCRIPTIONS}/${id}`, token: await developerToken(lockbox) });
  assert.equal(r.status, 204, `DELETE subscription ${id}: ${r.status} ${r.text}`);
}

/** Webhooks for the test's duration, closed afterwards with every subscription pointing at them. */
async function withWebhooks(count: number, fn: (...hooks: Webhook[]) => Promise<void>, options: WebhookOptions[] = []): Promise<void> {
  const hooks: Webhook[] = [];
  try {
    for (let i = 0; i < count; i++) hooks.push(await startWebhook(options[i]));
    await fn(...hooks);
  } finally {
    const urls = new Set(hooks.map((h) => h.url));
    for (const s of await listSubscriptions().catch(() => [] as Subscription[])) {
      if (urls.has(s.endpoint)) await unsubscribe(s.id).catch(() => undefined);
    }
    for (const h of hooks) await h.close();
  }
}

const newVersionOf = (name: string, version?: string) => (e: ReceivedEvent) =>
  e.type === NEW_SECRET_VERSION && e.data.ObjectName === name && (version === undefined || e.data.Version === version);
const ofSecret = (name: string) => (e: ReceivedEvent) => e.data.ObjectName === name;

describe("subscriptions from the CLI", () => {
  test(
    "lockbox events subscribe: the running server validates it; events list --json shows it validated; events delete stops the events",
    LIMIT,
    async () => {
      await withWebhooks(2, async (hook, control) => {
        const made = cli(["events", "subscribe", "--vault", "default", "--endpoint", hook.url, "--data-dir", lockbox.dataDir]);
        assert.equal(made.status, 0, `lockbox events subscribe failed: ${made.stderr}`);
        const id = /subscribed ([0-9a-f-]{36})/.exec(made.stdout)?.[1];
        assert.ok(id, `no subscription id in: ${made.stdout}`);

        await hook.waitUntil(() => hook.validations > 0, "the validation handshake of a subscription made with the CLI");
        const listed = await eventually(`events list --json showing ${id} validated`, 10_000, async () => {
          const r = cli(["events", "list", "--json", "--data-dir", lockbox.dataDir]);
          assert.equal(r.status, 0, `lockbox events list failed: ${r.stderr}`);
          const found = (JSON.parse(r.stdout) as Subscription[]).find((s) => s.id === id);
          assert.ok(found, `events list --json does not show ${id}: ${r.stdout}`);
          assert.equal(found.validated, true, `events list --json shows ${id} not validated`);
          return found;
        });
        assert.equal(listed.vault, "default");
        assert.equal(listed.endpoint, hook.url);
        assert.equal(listed.schema, "eventgrid");

        const name = "cli-subscribed";
        const first = await client.setSecret(name, "one");
        await hook.waitFor(newVersionOf(name, first.properties.version), "SecretNewVersionCreated through the CLI's subscription");

        const deleted = cli(["events", "delete", id, "--data-dir", lockbox.dataDir]);
        assert.equal(deleted.status, 0, `lockbox events delete failed: ${deleted.stderr}`);
        const after = cli(["events", "list", "--json", "--data-dir", lockbox.dataDir]);
        assert.ok(!(JSON.parse(after.stdout) as Subscription[]).some((s) => s.id === id), `events list still shows ${id}: ${after.stdout}`);
        assert.ok(!(await listSubscriptions()).some((s) => s.id === id), `the admin API still lists ${id}`);

        await subscribe(control);
        const second = await client.setSecret(name, "two");
        await control.waitFor(newVersionOf(name, second.properties.version), "SecretNewVersionCreated at the control webhook");
        await advance(60);
        assert.deepEqual(
          hook.matching(ofSecret(name)).map((e) => e.data.Version),
          [first.properties.version],
          `the deleted subscription still got events:\n${hook.describe()}`,
        );

        const again = cli(["events", "delete", id, "--data-dir", lockbox.dataDir]);
        assert.notEqual(again.status, 0, "deleting a deleted subscription succeeded");
      });
    },
  );

  test("lockbox events subscribe --vault for a vault that does not exist fails, and nothing is subscribed", LIMIT, async () => {
    const r = cli([
      "events",
      "subscribe",
      "--vault",
      "no-such-vault",
      "--endpoint",
      "http://127.0.0.1:9/hook",
      "--data-dir",
      lockbox.dataDir,
    ]);
    assert.notEqual(r.status, 0, `subscribing to a missing vault succeeded: ${r.stdout}`);
    assert.match(r.stderr, /no-such-vault/);
    const all = cli(["events", "list", "--json", "--data-dir", lockbox.dataDir]);
    assert.ok(!(JSON.parse(all.stdout) as Subscription[]).some((s) => s.vault === "no-such-vault"), all.stdout);
  });
});

describe("envelopes", () => {
  test(
    "Event Grid schema: setSecret sends an array EventGridDeserializer accepts, a system event SecretNewVersionCreated with Azure's data",
    LIMIT,
    async () => {
      await withWebhooks(1, async (hook) => {
        await subscribe(hook);
        const name = "eventgrid-envelope";
        const before = await clockNow();
        const nbf = before - 60;
        const exp = before + 365 * DAY;
        const set = await client.setSecret(name, "value", { notBefore: new Date(nbf * 1000), expiresOn: new Date(exp * 1000) });
        const version = set.properties.version!;
        const e = await hook.waitFor(newVersionOf(name, version), "SecretNewVersionCreated");
        const after = await clockNow();

        assert.equal(e.headers["aeg-event-type"], "Notification");
        assert.match(String(e.headers["content-type"]), /^application\/json/);
        const body = JSON.parse(e.body) as unknown;
        assert.ok(Array.isArray(body), `an Event Grid delivery is not an array: ${e.body}`);

        const events = await new EventGridDeserializer().deserializeEventGridEvents(e.body);
        const got = events.find((x) => x.id === e.id);
        assert.ok(got, `EventGridDeserializer lost event ${e.id}: ${e.body}`);
        assert.ok(isSystemEvent("Microsoft.KeyVault.SecretNewVersionCreated", got), `isSystemEvent is false for ${e.body}`);
        assert.equal(got.eventType, NEW_SECRET_VERSION);
        assert.equal(got.subject, name);
        assert.equal(got.dataVersion, "1");
        assert.equal(e.event.metadataVersion, "1");
        assert.ok(got.topic?.endsWith("/vaults/default"), `the topic ${got.topic} does not end with /vaults/default`);
        assert.match(got.topic ?? "", /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.KeyVault\/vaults\/default$/);
        assert.ok(got.eventTime instanceof Date, "eventTime is not a date");
        const time = Math.floor(got.eventTime.getTime() / 1000);
        assert.ok(
          time >= before && time <= after,
          `eventTime ${got.eventTime.toISOString()} is not on the dev clock (${before}..${after})`,
        );

        const data = got.data as unknown as Record<string, unknown>;
        assertKeyVaultEventData(data, lockbox.vaultUrl(), "secrets", name, version);
        assert.equal(Number(data.NBF), nbf, `NBF is ${String(data.NBF)}`);
        assert.equal(Number(data.EXP), exp, `EXP is ${String(data.EXP)}`);
      });
    },
  );

  test("CloudEvents 1.0: the OPTIONS handshake first, then events deserializeCloudEvents accepts", LIMIT, async () => {
    await withWebhooks(1, async (hook) => {
      const r = await postSubscription({ endpoint: hook.url, schema: "cloudevents" });
      assert.equal(r.status, 201, `subscribe cloudevents: ${r.status} ${r.text}`);
      assert.equal(r.json.schema, "cloudevents");
      await untilValidated(r.json.id as string);
      assert.ok(hook.optionsOrigins.length >= 1, `no OPTIONS handshake:\n${hook.describe()}`);
      assert.ok(
        hook.optionsOrigins.every((o) => o.length > 0),
        `an OPTIONS handshake had no WebHook-Request-Origin: ${JSON.stringify(hook.optionsOrigins)}`,
      );
      assert.equal(hook.validations, 0, "a CloudEvents webhook got the Event Grid validation event");

      const name = "cloudevents-envelope";
      const set = await client.setSecret(name, "value");
      const version = set.properties.version!;
      const e = await hook.waitFor(newVersionOf(name, version), "a CloudEvents SecretNewVersionCreated");
      assert.equal(e.schema, "cloudevents", `not a CloudEvent: ${e.body}`);
      assert.match(String(e.headers["content-type"]), /^application\/cloudevents(-batch)?\+json/);

      const events = await new EventGridDeserializer().deserializeCloudEvents(e.body);
      const got = events.find((x) => x.id === e.id);
      assert.ok(got, `deserializeCloudEvents lost event ${e.id}: ${e.body}`);
      assert.equal(e.event.specversion, "1.0");
      assert.equal(got.type, NEW_SECRET_VERSION);
      assert.ok(isSystemEvent("Microsoft.KeyVault.SecretNewVersionCreated", got), `isSystemEvent is false for ${e.body}`);
      assert.ok(got.source.endsWith("/providers/Microsoft.KeyVault/vaults/default"), `the source is ${got.source}`);
      assert.equal(got.subject, name);
      assert.ok(got.time instanceof Date, "time is not a date");
      assertKeyVaultEventData(got.data as unknown as Record<string, unknown>, lockbox.vaultUrl(), "secrets", name, version);
    });
  });

  test("a webhook that does not answer the handshake is not validated and gets no events", LIMIT, async () => {
    await withWebhooks(
      2,
      async (silent, control) => {
        const r = await postSubscription({ endpoint: silent.url });
        assert.equal(r.status, 201, r.text);
        await silent.waitUntil(() => silent.validations > 0, "the validation handshake");
        await subscribe(control);
        const name = "unvalidated-webhook";
        const set = await client.setSecret(name, "value");
        await control.waitFor(newVersionOf(name, set.properties.version), "the event at the control webhook");
        await advance(60);
        const mine = (await listSubscriptions()).find((s) => s.id === r.json.id);
        assert.equal(mine?.validated, false, "a webhook that did not echo the validation code is validated");
        assert.equal(silent.events.length + silent.failed.length, 0, `an unvalidated webhook got events:\n${silent.describe()}`);
      },
      [{ answerHandshakes: false }],
    );
  });
});

describe("what is delivered, and when", () => {
  test(
    "type filter: a SecretNearExpiry-only subscription gets no SecretNewVersionCreated, an all-types one does; the filtered one gets SecretNearExpiry",
    LIMIT,
    async () => {
      await withWebhooks(2, async (filtered, all) => {
        const sub = await subscribe(filtered, { types: ["SecretNearExpiry"] });
        assert.deepEqual(sub.types, ["Microsoft.KeyVault.SecretNearExpiry"]);
        await subscribe(all);

        const name = "filtered-secret";
        const now = await clockNow();
        const set = await client.setSecret(name, "value", { expiresOn: new Date((now + 40 * DAY) * 1000) });
        await all.waitFor(newVersionOf(name, set.properties.version), "SecretNewVersionCreated at the all-types webhook");
        await advance(60);
        assert.equal(filtered.matching(ofSecret(name)).length, 0, `the filtered webhook got:\n${filtered.describe()}`);

        await advance(11 * DAY);
        await filtered.waitFor(
          (e) => e.type === "Microsoft.KeyVault.SecretNearExpiry" && e.data.ObjectName === name,
          "SecretNearExpiry at the filtered webhook",
        );
        const types = new Set(filtered.events.map((e) => e.type));
        assert.deepEqual(
          [...types],
          ["Microsoft.KeyVault.SecretNearExpiry"],
          `the filtered webhook got other types:\n${filtered.describe()}`,
        );
      });
    },
  );

  test("order per object: 5 setSecret on one name arrive in version order, also when the first delivery fails", LIMIT, async () => {
    await withWebhooks(1, async (hook) => {
      await subscribe(hook);
      const name = "ordered-secret";
      const versions: string[] = [];
      for (let i = 1; i <= 5; i++) versions.push((await client.setSecret(name, `value-${i}`)).properties.version!);
      const arrived = await hook.waitForCount(ofSecret(name), 5, `5 events for ${name}`);
      assert.deepEqual(
        arrived.map((e) => e.data.Version),
        versions,
        `events arrived out of version order:\n${hook.describe()}`,
      );

      const held = "ordered-secret-held";
      hook.failNext(1);
      const later: string[] = [];
      for (let i = 1; i <= 5; i++) later.push((await client.setSecret(held, `value-${i}`)).properties.version!);
      await hook.waitUntil(() => hook.failed.some(ofSecret(held)), "the first, failing delivery");
      await advance(1);
      assert.deepEqual(
        hook.matching(ofSecret(held)).map((e) => e.data.Version),
        [],
        `later versions overtook the undelivered first one:\n${hook.describe()}`,
      );
      await advance(11);
      const all = await hook.waitForCount(ofSecret(held), 5, `5 events for ${held} after the retry`);
      assert.deepEqual(
        all.map((e) => e.data.Version),
        later,
        `events arrived out of version order after a failure:\n${hook.describe()}`,
      );
      assert.deepEqual(
        hook.failed.filter(ofSecret(held)).map((e) => e.data.Version),
        [later[0]],
      );
    });
  });

  test("a webhook failing three times (500) gets the event after the 10 s, 30 s and 60 s retries, then exactly once", LIMIT, async () => {
    await withWebhooks(1, async (hook) => {
      await subscribe(hook);
      hook.failNext(3);
      const name = "retried-secret";
      const set = await client.setSecret(name, "value");
      const version = set.properties.version!;
      const failures = (): number => hook.failed.filter(newVersionOf(name, version)).length;

      await hook.waitUntil(() => failures() === 1, "the first failed delivery");
      await advance(11);
      await hook.waitUntil(() => failures() === 2, "the retry 10 s later");
      await advance(31);
      await hook.waitUntil(() => failures() === 3, "the retry 30 s later");
      assert.equal(hook.matching(newVersionOf(name, version)).length, 0, `delivered while failing:\n${hook.describe()}`);
      await advance(61);
      const e = await hook.waitFor(newVersionOf(name, version), "the delivery after the webhook recovered");
      assert.equal(e.id, hook.failed.find(newVersionOf(name, version))!.id, "the retried delivery is a different event");

      await advance(3600);
      await advance(DAY);
      assert.equal(failures(), 3, `more failed attempts than the three:\n${hook.describe()}`);
      const n = hook.matching(newVersionOf(name, version)).length;
      assert.equal(n, 1, `the event was delivered ${n} times after it succeeded:\n${hook.describe()}`);
    });
  });

  test("a webhook answering 400 does not get that event again (as Event Grid), and later events still come", LIMIT, async () => {
    await withWebhooks(1, async (hook) => {
      await subscribe(hook);
      hook.failNext(1, 400);
      const name = "refused-secret";
      const first = (await client.setSecret(name, "one")).properties.version!;
      await hook.waitUntil(() => hook.failed.some(newVersionOf(name, first)), "the refused delivery");
      const second = (await client.setSecret(name, "two")).properties.version!;
      await hook.waitFor(newVersionOf(name, second), "the next event of the same secret");
      await advance(DAY);
      assert.equal(hook.matching(newVersionOf(name, first)).length, 0, `the refused event came again:\n${hook.describe()}`);
      assert.equal(hook.failed.filter(newVersionOf(name, first)).length, 1, `the refused event was retried:\n${hook.describe()}`);
      const delivery = hook.requests.find((r) => r.status === 200 && r.body.includes(second));
      assert.equal(delivery?.headers["aeg-delivery-count"], "0", "a first delivery says so in aeg-delivery-count");
    });
  });
});

describe("NewVersionCreated, whoever made the version", () => {
  test(
    "createKey, rotateKey, importKey, setSecret and `lockbox secret rotate` each raise one NewVersionCreated for the new version",
    LIMIT,
    async () => {
      await withWebhooks(1, async (hook) => {
        await subscribe(hook);
        const keys = new KeyClient(lockbox.vaultUrl(), new DefaultAzureCredential());
        const key = "made-by-anyone-key";
        const created = await keys.createEcKey(key);
        const rotated = await keys.rotateKey(key);
        const imported = await keys.importKey(key, { kty: "oct", k: new Uint8Array(32).fill(7), keyOps: ["wrapKey", "unwrapKey"] });
        const secret = "made-by-anyone-secret";
        const set = await client.setSecret(secret, "first");
        const r = cli(["secret", "rotate", secret, "--data-dir", lockbox.dataDir], {}, "second");
        assert.equal(r.status, 0, `lockbox secret rotate failed: ${r.stderr}`);
        const cliVersion = /new version ([0-9a-f]{32})/.exec(r.stdout)?.[1];
        assert.ok(cliVersion, `no version in: ${r.stdout}`);

        const keyVersions = [created, rotated, imported].map((k) => k.properties.version!);
        const keyEvents = await hook.waitForCount(
          (e) => e.type === "Microsoft.KeyVault.KeyNewVersionCreated" && e.data.ObjectName === key,
          3,
          "KeyNewVersionCreated",
        );
        assert.deepEqual(
          keyEvents.map((e) => e.data.Version),
          keyVersions,
          `KeyNewVersionCreated events:\n${hook.describe()}`,
        );
        assert.ok(
          keyEvents.every((e) => e.data.ObjectType === "Key"),
          "a key event's ObjectType is not Key",
        );
        const secretEvents = await hook.waitForCount(newVersionOf(secret), 2, "SecretNewVersionCreated");
        assert.deepEqual(
          secretEvents.map((e) => e.data.Version),
          [set.properties.version, cliVersion],
          `SecretNewVersionCreated events:\n${hook.describe()}`,
        );
        assert.equal((await client.getSecret(secret)).properties.version, cliVersion);
        await advance(60);
        assert.equal(hook.matching(ofSecret(secret)).length, 2, `repeated events:\n${hook.describe()}`);
      });
    },
  );
});

describe("subscriptions refused", () => {
  test("a vault that does not exist is 404; a malformed endpoint, an unknown schema or event type is 400", LIMIT, async () => {
    const missing = await postSubscription({ endpoint: "http://127.0.0.1:9/hook" }, "no-such-vault");
    assert.equal(missing.status, 404, `missing vault: ${missing.status} ${missing.text}`);
    const listMissing = await raw(lockbox, {
      path: "/lockbox/v1/vaults/no-such-vault/subscriptions",
      token: await developerToken(lockbox),
    });
    assert.equal(listMissing.status, 404, `listing a missing vault's subscriptions: ${listMissing.status} ${listMissing.text}`);

    const bad: Array<[string, unknown]> = [
      ["an endpoint that is not a URL", { endpoint: "not a url" }],
      ["an ftp endpoint", { endpoint: "ftp://127.0.0.1/hook" }],
      ["no endpoint", {}],
      ["an unknown schema", { endpoint: "http://127.0.0.1:9/hook", schema: "xml" }],
      ["an unknown event type", { endpoint: "http://127.0.0.1:9/hook", types: ["KeyRotated"] }],
      [
        "an unknown event type among known ones",
        { endpoint: "http://127.0.0.1:9/hook", types: ["SecretNearExpiry", "Microsoft.KeyVault.Nothing"] },
      ],
      ["types that are not strings", { endpoint: "http://127.0.0.1:9/hook", types: [1] }],
    ];
    for (const [what, body] of bad) {
      const r = await postSubscription(body);
      assert.equal(r.status, 400, `${what}: ${r.status} ${r.text}`);
      assert.equal(r.json?.error?.code, "BadParameter", `${what}: ${r.text}`);
    }
    const left = await listSubscriptions();
    assert.ok(!left.some((s) => s.endpoint.startsWith("http://127.0.0.1:9/")), `a refused subscription was kept: ${JSON.stringify(left)}`);

    const unknown = await raw(lockbox, {
      method: "DELETE",
      path: `${SUBSCRIPTIONS}/00000000-0000-0000-0000-000000000000`,
      token: await developerToken(lockbox),
    });
    assert.equal(unknown.status, 404, `deleting an unknown subscription: ${unknown.status} ${unknown.text}`);
  });
});

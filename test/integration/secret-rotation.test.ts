import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { DefaultAzureCredential } from "@azure/identity";
import { SecretClient, type SecretProperties } from "@azure/keyvault-secrets";
import { developerToken, raw, type RawResponse } from "../helpers/http.ts";
import { cli, type Lockbox, serveForFile } from "../helpers/server.ts";
import { advanceClock, clockNow as clockNowOf } from "../helpers/clock.ts";

// Secret rotation, beyond Azure: `lockbox secret rotate`, the admin rotate endpoint, and
// secret rotation policies run by the scheduler on the dev clock. Results are read back the
// way a user reads them, with the official SecretClient and DefaultAzureCredential. Every
// test uses its own secret names; the dev clock is shared, so each test checks what it
// caused before the next one moves time.
let lockbox: Lockbox;
let client: SecretClient;

serveForFile({ args: ["--dev-clock"] }, async (started) => {
  lockbox = started;
  client = new SecretClient(lockbox.vaultUrl(), new DefaultAzureCredential());
});

const DAY_S = 86_400;
const VERSION = /^[0-9a-f]{32}$/;
const seconds = (d: Date | undefined): number => {
  assert.ok(d instanceof Date, `expected a date, got ${String(d)}`);
  return Math.floor(d.getTime() / 1000);
};

/** Every value a rotation made in this file; none may show up in the server's output. */
const rotatedValues: string[] = [];

/** The admin API under /lockbox/v1, with a fresh developer token (tokens follow the dev clock). */
async function admin(method: string, path: string, body?: object): Promise<RawResponse> {
  return raw(lockbox, { method, path: `/lockbox/v1${path}`, body, token: await developerToken(lockbox) });
}

const clockNow = (): Promise<number> => clockNowOf(lockbox);

const advance = (by: number): Promise<number> => advanceClock(lockbox, by);

/** `lockbox secret ARGS`, with `value` on its standard input (never on the command line). */
function secretCli(args: string[], value = ""): { status: number | null; stdout: string; stderr: string } {
  return cli(["secret", ...args, "--data-dir", lockbox.dataDir], {}, value);
}

async function versionsOf(name: string): Promise<SecretProperties[]> {
  const out: SecretProperties[] = [];
  for await (const p of client.listPropertiesOfSecretVersions(name)) out.push(p);
  return out;
}

async function assertDisabled(name: string, version: string): Promise<void> {
  await assert.rejects(client.getSecret(name, { version }), (e: any) => {
    assert.equal(e.statusCode, 403, `getSecret of the disabled version ${version}: ${e.message}`);
    assert.equal(e.code, "Forbidden");
    assert.equal(e.details?.error?.innerError?.code, "SecretDisabled");
    return true;
  });
}

/** The single version in `after` that is not in `before`. */
function onlyNew(beforeList: SecretProperties[], afterList: SecretProperties[]): SecretProperties {
  const known = new Set(beforeList.map((p) => p.version));
  const fresh = afterList.filter((p) => !known.has(p.version));
  assert.equal(fresh.length, 1, `expected exactly one new version, got ${fresh.length}: ${fresh.map((p) => p.version).join(", ")}`);
  assert.equal(afterList.length, beforeList.length + 1, "no version may disappear in a rotation");
  return fresh[0]!;
}

const policyPath = (name: string): string => `/vaults/default/secrets/${name}/rotationpolicy`;

describe("lockbox secret rotate", () => {
  test("a value on standard input: the new value is current, the previous version is disabled, content type and tags carry over", async () => {
    const name = "cli-rotate-value";
    const first = await client.setSecret(name, "before-rotation-1b7e", {
      contentType: "text/plain",
      tags: { team: "payments", env: "test" },
    });
    const beforeList = await versionsOf(name);

    const r = secretCli(["rotate", name], "after-rotation-cli-5d21\n");
    assert.equal(r.status, 0, `lockbox secret rotate failed:\n${r.stdout}\n${r.stderr}`);
    rotatedValues.push("after-rotation-cli-5d21");

    const latest = await client.getSecret(name);
    assert.equal(latest.value, "after-rotation-cli-5d21");
    assert.notEqual(latest.properties.version, first.properties.version);
    assert.match(latest.properties.version!, VERSION);
    assert.ok(r.stdout.includes(latest.properties.version!), `the CLI names the new version:\n${r.stdout}`);
    assert.equal(latest.properties.contentType, "text/plain");
    assert.deepEqual(latest.properties.tags, { team: "payments", env: "test" });
    assert.equal(latest.properties.enabled, true);

    const afterList = await versionsOf(name);
    assert.equal(onlyNew(beforeList, afterList).version, latest.properties.version);
    assert.equal(afterList.find((p) => p.version === first.properties.version)?.enabled, false, "the previous version is disabled");
    await assertDisabled(name, first.properties.version!);
  });

  test("--generate: a new random value of 32 characters, different each time", async () => {
    const name = "cli-rotate-generate";
    await client.setSecret(name, "seed-value-for-generate");
    const values: string[] = [];
    for (let i = 0; i < 2; i++) {
      const beforeList = await versionsOf(name);
      const previous = (await client.getSecret(name)).properties.version!;
      const r = secretCli(["rotate", name, "--generate"]);
      assert.equal(r.status, 0, `lockbox secret rotate --generate failed:\n${r.stdout}\n${r.stderr}`);
      const latest = await client.getSecret(name);
      assert.equal(onlyNew(beforeList, await versionsOf(name)).version, latest.properties.version);
      assert.equal(latest.value!.length, 32, `a generated value has 32 characters, got ${JSON.stringify(latest.value)}`);
      await assertDisabled(name, previous);
      values.push(latest.value!);
    }
    rotatedValues.push(...values);
    assert.notEqual(values[0], values[1], "two generated values must differ");
    assert.ok(!values.includes("seed-value-for-generate"), "a generated value is not the old one");
  });

  test("--generate on a secret with a rotation policy uses the policy's generator and expiry", async () => {
    const name = "cli-rotate-policy-generator";
    const first = await client.setSecret(name, "seed-for-policy-generator");
    const put = await admin("PUT", policyPath(name), {
      lifetimeActions: [{ trigger: { timeAfterCreate: "P30D" }, action: { type: "Rotate" } }],
      attributes: { expiryTime: "P60D" },
      generator: { type: "random", length: 24, classes: ["upper"] },
    });
    assert.equal(put.status, 200, `PUT rotationpolicy: ${put.status} ${put.text}`);
    const start = await clockNow();
    const r = secretCli(["rotate", name, "--generate"]);
    assert.equal(r.status, 0, `lockbox secret rotate --generate failed:\n${r.stdout}\n${r.stderr}`);
    const end = await clockNow();
    const latest = await client.getSecret(name);
    assert.match(latest.value!, /^[A-Z]{24}$/, `the policy's generator made the value: ${JSON.stringify(latest.value)}`);
    rotatedValues.push(latest.value!);
    const expires = seconds(latest.properties.expiresOn);
    assert.ok(expires >= start + 60 * DAY_S && expires <= end + 60 * DAY_S, `expiresOn ${expires} is now + the policy's 60 days`);
    await assertDisabled(name, first.properties.version!);
  });

  test("with no value on standard input and no --generate it exits non-zero and changes nothing", async () => {
    const name = "cli-rotate-nothing";
    await client.setSecret(name, "unchanged-value");
    const beforeList = await versionsOf(name);
    const r = secretCli(["rotate", name]);
    assert.notEqual(r.status, 0, `rotate without a value must fail:\n${r.stdout}`);
    assert.match(r.stderr, /standard input|--generate/);
    assert.deepEqual(
      (await versionsOf(name)).map((p) => [p.version, p.enabled]),
      beforeList.map((p) => [p.version, p.enabled]),
    );
    assert.equal((await client.getSecret(name)).value, "unchanged-value");
  });

  test("an unknown secret exits non-zero with a SecretNotFound message", () => {
    const r = secretCli(["rotate", "no-such-secret-here"], "whatever-4411");
    assert.notEqual(r.status, 0, `rotating an unknown secret must fail:\n${r.stdout}`);
    assert.match(r.stderr, /no-such-secret-here/);
    assert.match(r.stderr, /SecretNotFound|was not found/i);
  });
});

describe("POST /lockbox/v1/vaults/{vault}/secrets/{name}/rotate", () => {
  test("with a value: rotates like the CLI and answers the bundle without the value", async () => {
    const name = "api-rotate-value";
    const first = await client.setSecret(name, "api-before-8c0d", { contentType: "application/json", tags: { owner: "api" } });
    const beforeList = await versionsOf(name);

    const r = await admin("POST", `/vaults/default/secrets/${name}/rotate`, { value: "api-after-rotation-93fe" });
    assert.equal(r.status, 200, `rotate: ${r.status} ${r.text}`);
    rotatedValues.push("api-after-rotation-93fe");
    assert.ok(!("value" in r.json), `the answer must not carry the value: ${r.text}`);
    assert.ok(!r.text.includes("api-after-rotation-93fe"), "the value appears nowhere in the answer");

    const latest = await client.getSecret(name);
    assert.equal(latest.value, "api-after-rotation-93fe");
    assert.equal(r.json.id, `${lockbox.vaultUrl()}/secrets/${name}/${latest.properties.version}`);
    assert.equal(r.json.attributes?.enabled, true);
    assert.equal(r.json.contentType, "application/json");
    assert.deepEqual(r.json.tags, { owner: "api" });
    assert.equal(latest.properties.contentType, "application/json");
    assert.deepEqual(latest.properties.tags, { owner: "api" });

    onlyNew(beforeList, await versionsOf(name));
    await assertDisabled(name, first.properties.version!);
  });

  test("without a value: a generated 32-character value, still not in the answer", async () => {
    const name = "api-rotate-generate";
    const first = await client.setSecret(name, "api-generate-before");
    const beforeList = await versionsOf(name);
    const r = await admin("POST", `/vaults/default/secrets/${name}/rotate`, {});
    assert.equal(r.status, 200, `rotate: ${r.status} ${r.text}`);
    assert.ok(!("value" in r.json), `the answer must not carry the value: ${r.text}`);
    const latest = await client.getSecret(name);
    rotatedValues.push(latest.value!);
    assert.equal(latest.value!.length, 32);
    assert.ok(!r.text.includes(latest.value!), "the generated value appears nowhere in the answer");
    assert.equal(onlyNew(beforeList, await versionsOf(name)).version, latest.properties.version);
    await assertDisabled(name, first.properties.version!);
  });

  test("an unknown secret is 404 SecretNotFound", async () => {
    const r = await admin("POST", "/vaults/default/secrets/api-no-such-secret/rotate", { value: "x-value-never-stored" });
    assert.equal(r.status, 404, r.text);
    assert.equal(r.json?.error?.code, "SecretNotFound");
  });
});

describe("secret rotation policies on the dev clock", () => {
  const randomPolicy = {
    lifetimeActions: [{ trigger: { timeAfterCreate: "P30D" }, action: { type: "Rotate" } }],
    attributes: { expiryTime: "P60D" },
    generator: { type: "random", length: 48, classes: ["digits"] },
  };

  test("GET returns the policy that was PUT, with a Notify 30 days before expiry added", async () => {
    const name = "policy-shape";
    await client.setSecret(name, "policy-shape-value");
    const put = await admin("PUT", policyPath(name), randomPolicy);
    assert.equal(put.status, 200, `PUT rotationpolicy: ${put.status} ${put.text}`);
    const got = await admin("GET", policyPath(name));
    assert.equal(got.status, 200, `GET rotationpolicy: ${got.status} ${got.text}`);
    assert.deepEqual(got.json, put.json, "GET answers what PUT answered");
    assert.deepEqual(got.json.lifetimeActions, [
      { trigger: { timeAfterCreate: "P30D" }, action: { type: "Rotate" } },
      { trigger: { timeBeforeExpiry: "P30D" }, action: { type: "Notify" } },
    ]);
    assert.deepEqual(got.json.generator, { type: "random", length: 48, classes: ["digits"] });
    assert.equal(
      got.json.attributes?.expiryTime,
      "P60D",
      `the policy's expiry comes back where it was given (attributes.expiryTime): ${got.text}`,
    );

    // What GET answers can be PUT back unchanged (read, modify, write).
    const again = await admin("PUT", policyPath(name), got.json);
    assert.equal(again.status, 200, `PUT of what GET answered: ${again.status} ${again.text}`);
    const reread = await admin("GET", policyPath(name));
    assert.deepEqual(reread.json.lifetimeActions, got.json.lifetimeActions);
    assert.deepEqual(reread.json.generator, got.json.generator);
    assert.equal(reread.json.attributes?.expiryTime, "P60D", `the expiry survives a GET-then-PUT round trip: ${reread.text}`);
  });

  test("Rotate after P30D, advanced 31 days: a new 48-digit version expiring 60 days on, the previous disabled at once", async () => {
    const name = "policy-random";
    const first = await client.setSecret(name, "policy-random-initial", { contentType: "text/plain", tags: { rotated: "by-policy" } });
    const put = await admin("PUT", policyPath(name), randomPolicy);
    assert.equal(put.status, 200, `PUT rotationpolicy: ${put.status} ${put.text}`);
    const beforeList = await versionsOf(name);

    // Nothing happens before the trigger.
    await advance(29 * DAY_S);
    assert.equal((await versionsOf(name)).length, 1, "no rotation 29 days after creation");

    const start = await clockNow();
    const moved = await advance(2 * DAY_S);
    const afterList = await versionsOf(name);
    const fresh = onlyNew(beforeList, afterList);

    const latest = await client.getSecret(name);
    assert.equal(latest.properties.version, fresh.version);
    assert.match(latest.value!, /^\d{48}$/, `the value follows the generator: ${JSON.stringify(latest.value)}`);
    rotatedValues.push(latest.value!);
    assert.equal(latest.properties.contentType, "text/plain");
    assert.deepEqual(latest.properties.tags, { rotated: "by-policy" });

    const created = seconds(latest.properties.createdOn);
    assert.ok(created >= start && created <= moved, `created ${created} is on the moved clock, between ${start} and ${moved}`);
    const expires = seconds(latest.properties.expiresOn);
    assert.ok(
      expires >= start + 60 * DAY_S && expires <= moved + 60 * DAY_S,
      `expiresOn ${expires} is the moved now + 60 days (between ${start + 60 * DAY_S} and ${moved + 60 * DAY_S})`,
    );

    // No overlap: the previous version is disabled at once.
    assert.equal(afterList.find((p) => p.version === first.properties.version)?.enabled, false, "the previous version is disabled");
    await assertDisabled(name, first.properties.version!);
  });

  test("with an overlap of P2D the previous version stays enabled until the overlap is over", async () => {
    const name = "policy-overlap";
    const first = await client.setSecret(name, "policy-overlap-initial");
    const put = await admin("PUT", policyPath(name), { ...randomPolicy, overlap: "P2D" });
    assert.equal(put.status, 200, `PUT rotationpolicy: ${put.status} ${put.text}`);
    assert.equal(put.json.overlap, "P2D");
    const beforeList = await versionsOf(name);

    await advance(31 * DAY_S);
    const fresh = onlyNew(beforeList, await versionsOf(name));
    const latest = await client.getSecret(name);
    assert.equal(latest.properties.version, fresh.version);
    assert.match(latest.value!, /^\d{48}$/);
    rotatedValues.push(latest.value!);
    const old = await client.getSecret(name, { version: first.properties.version! });
    assert.equal(old.value, "policy-overlap-initial", "during the overlap the previous version still gives its value");
    assert.equal(old.properties.enabled, true);

    await advance(3 * DAY_S);
    const afterOverlap = await versionsOf(name);
    assert.equal(afterOverlap.length, 2, "the overlap ending makes no new version");
    assert.equal(
      afterOverlap.find((p) => p.version === first.properties.version)?.enabled,
      false,
      "the previous version is disabled after the overlap",
    );
    await assertDisabled(name, first.properties.version!);
    const newest = await client.getSecret(name);
    assert.equal(newest.properties.version, fresh.version, "the newest version is still current");
    assert.equal(newest.properties.enabled, true);
    assert.equal(newest.value, latest.value);
  });

  test("a manual rotation during an overlap leaves no older version enabled once the overlap is over", async () => {
    const name = "policy-overlap-manual";
    const first = await client.setSecret(name, "overlap-manual-initial");
    const put = await admin("PUT", policyPath(name), { ...randomPolicy, overlap: "P2D" });
    assert.equal(put.status, 200, `PUT rotationpolicy: ${put.status} ${put.text}`);

    await advance(31 * DAY_S);
    const byPolicy = await client.getSecret(name);
    assert.notEqual(byPolicy.properties.version, first.properties.version, "the policy rotated the secret");
    rotatedValues.push(byPolicy.value!);
    assert.equal((await client.getSecret(name, { version: first.properties.version! })).properties.enabled, true, "the overlap is running");

    // Within the overlap, an operator rotates by hand: the version it replaces is disabled at once...
    const r = secretCli(["rotate", name], "overlap-manual-by-hand-62c0");
    assert.equal(r.status, 0, `lockbox secret rotate failed:\n${r.stdout}\n${r.stderr}`);
    rotatedValues.push("overlap-manual-by-hand-62c0");
    await assertDisabled(name, byPolicy.properties.version!);

    // ...and the version whose overlap was running does not stay enabled for good.
    await advance(3 * DAY_S);
    const listed = await versionsOf(name);
    assert.deepEqual(
      listed.filter((p) => p.enabled).map((p) => p.version),
      [(await client.getSecret(name)).properties.version],
      `only the current version is enabled after the overlap: ${JSON.stringify(listed.map((p) => [p.version, p.enabled]))}`,
    );
    await assertDisabled(name, first.properties.version!);
    assert.equal((await client.getSecret(name)).value, "overlap-manual-by-hand-62c0");
  });

  test("a webhook generator gives the value; when it fails, nothing is made and the rotation is retried once it recovers", async (t) => {
    const requests: Array<{ method: string; url: string; body: any }> = [];
    let failing = false;
    let served = 0;
    const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
      let text = "";
      req.on("data", (d: Buffer) => (text += d.toString()));
      req.on("end", () => {
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          body = text;
        }
        requests.push({ method: req.method ?? "", url: req.url ?? "", body });
        if (failing) {
          res.writeHead(500, { "content-type": "application/json" }).end('{"error":"rotator down"}');
          return;
        }
        served += 1;
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ value: `from-webhook-${served}` }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/rotate`;

    const name = "policy-webhook";
    const first = await client.setSecret(name, "policy-webhook-initial");
    const put = await admin("PUT", policyPath(name), {
      lifetimeActions: [{ trigger: { timeAfterCreate: "P30D" }, action: { type: "Rotate" } }],
      generator: { type: "webhook", url },
    });
    assert.equal(put.status, 200, `PUT rotationpolicy: ${put.status} ${put.text}`);
    assert.deepEqual(put.json.generator, { type: "webhook", url });

    // The first rotation takes the webhook's value and tells it what it replaces.
    let beforeList = await versionsOf(name);
    await advance(31 * DAY_S);
    const second = onlyNew(beforeList, await versionsOf(name));
    const latest = await client.getSecret(name);
    assert.equal(latest.properties.version, second.version);
    assert.equal(latest.value, "from-webhook-1");
    rotatedValues.push("from-webhook-1");
    await assertDisabled(name, first.properties.version!);
    assert.equal(requests.length, 1, `one request to the rotator: ${JSON.stringify(requests)}`);
    assert.equal(requests[0]!.method, "POST");
    assert.equal(requests[0]!.url, "/rotate");
    assert.deepEqual(requests[0]!.body, { vault: "default", name, version: first.properties.version });

    // The rotator fails: no version is made, and the action is not given up.
    failing = true;
    beforeList = await versionsOf(name);
    await advance(31 * DAY_S);
    const failedCalls = requests.length - 1;
    assert.ok(failedCalls >= 1, "the rotator was asked again when the next rotation fell due");
    assert.deepEqual(
      (await versionsOf(name)).map((p) => [p.version, p.enabled]),
      beforeList.map((p) => [p.version, p.enabled]),
      "a failed rotation makes no version and disables nothing",
    );
    assert.equal((await client.getSecret(name)).value, "from-webhook-1");

    // It recovers; the retry a minute later rotates, once.
    failing = false;
    await advance(90);
    const third = onlyNew(beforeList, await versionsOf(name));
    const current = await client.getSecret(name);
    assert.equal(current.properties.version, third.version);
    assert.equal(current.value, "from-webhook-2");
    rotatedValues.push("from-webhook-2");
    await assertDisabled(name, second.version!);
    const retry = requests[requests.length - 1]!;
    assert.deepEqual(retry.body, { vault: "default", name, version: second.version }, "the retry names the version it replaces");
    assert.equal(served, 2, "the rotator served exactly two values");

    // Done is done: time moving on (short of the next trigger) rotates nothing more.
    await advance(120);
    assert.equal((await versionsOf(name)).length, 3, "the recovered rotation happened once");
    assert.equal(served, 2, "the rotator was not asked again");

    // Leave nothing that calls this rotator once it is gone.
    await (await client.beginDeleteSecret(name, { intervalInMs: 100 })).pollUntilDone();
  });

  test("bad policies are 400 BadParameter and leave the policy as it was", async () => {
    const name = "policy-bad";
    await client.setSecret(name, "policy-bad-value");
    const good = await admin("PUT", policyPath(name), randomPolicy);
    assert.equal(good.status, 200, `PUT rotationpolicy: ${good.status} ${good.text}`);

    const bad: Array<[string, object]> = [
      ["expiryTime P10D", { ...randomPolicy, attributes: { expiryTime: "P10D" } }],
      ["generator length 4", { ...randomPolicy, generator: { type: "random", length: 4 } }],
      ["an unknown character class", { ...randomPolicy, generator: { type: "random", length: 16, classes: ["digits", "emoji"] } }],
      ["an unknown generator type", { ...randomPolicy, generator: { type: "dice", length: 16 } }],
      ["overlap 'two days'", { ...randomPolicy, overlap: "two days" }],
    ];
    for (const [what, policy] of bad) {
      const r = await admin("PUT", policyPath(name), policy);
      assert.equal(r.status, 400, `${what}: expected 400, got ${r.status} ${r.text}`);
      assert.equal(r.json?.error?.code, "BadParameter", `${what}: ${r.text}`);
    }
    const stored = await admin("GET", policyPath(name));
    assert.deepEqual(stored.json, good.json, "no bad policy was stored");
  });

  test("lockbox secret policy NAME --file sets a policy and prints it; without --file prints the current one", async () => {
    const name = "policy-cli";
    await client.setSecret(name, "policy-cli-value");
    const file = join(lockbox.dataDir, "policy-cli.json");
    writeFileSync(
      file,
      JSON.stringify({
        lifetimeActions: [{ trigger: { timeAfterCreate: "P45D" }, action: { type: "Rotate" } }],
        attributes: { expiryTime: "P90D" },
        generator: { type: "random", length: 20, classes: ["lower", "digits"] },
        overlap: "P1D",
      }),
    );
    const set = secretCli(["policy", name, "--file", file]);
    assert.equal(set.status, 0, `lockbox secret policy --file failed:\n${set.stdout}\n${set.stderr}`);
    const printed = JSON.parse(set.stdout);
    assert.deepEqual(printed.lifetimeActions, [
      { trigger: { timeAfterCreate: "P45D" }, action: { type: "Rotate" } },
      { trigger: { timeBeforeExpiry: "P30D" }, action: { type: "Notify" } },
    ]);
    assert.deepEqual(printed.generator, { type: "random", length: 20, classes: ["lower", "digits"] });
    assert.equal(printed.overlap, "P1D");

    const fromApi = await admin("GET", policyPath(name));
    assert.deepEqual(fromApi.json, printed, "the server has the policy the CLI printed");

    const shown = secretCli(["policy", name]);
    assert.equal(shown.status, 0, `lockbox secret policy failed:\n${shown.stdout}\n${shown.stderr}`);
    assert.deepEqual(JSON.parse(shown.stdout), printed);

    // What the CLI prints is a policy file: setting it again changes nothing.
    const reprintedFile = join(lockbox.dataDir, "policy-cli-again.json");
    writeFileSync(reprintedFile, shown.stdout);
    const again = secretCli(["policy", name, "--file", reprintedFile]);
    assert.equal(again.status, 0, `setting the printed policy failed:\n${again.stderr}`);
    const reprinted = JSON.parse(again.stdout);
    assert.deepEqual(reprinted.lifetimeActions, printed.lifetimeActions);
    assert.deepEqual(reprinted.generator, printed.generator);
    assert.equal(reprinted.overlap, "P1D");
    assert.equal(
      reprinted.attributes?.expiryTime ?? reprinted.expiryTime,
      "P90D",
      `setting the printed policy again keeps its expiry:\n${again.stdout}`,
    );

    const badFile = join(lockbox.dataDir, "policy-bad.json");
    writeFileSync(badFile, JSON.stringify({ generator: { type: "random", length: 4 } }));
    const refused = secretCli(["policy", name, "--file", badFile]);
    assert.notEqual(refused.status, 0, `a bad policy file must be refused:\n${refused.stdout}`);
    assert.deepEqual(JSON.parse(secretCli(["policy", name]).stdout), reprinted, "the refused file changed nothing");
  });
});

describe("secret values made by rotation", () => {
  test("never appear in the server's output", async () => {
    // One more scheduled rotation right before looking, so the scheduler's log of it is there.
    const name = "quiet-rotation";
    await client.setSecret(name, "quiet-initial");
    const put = await admin("PUT", `/vaults/default/secrets/${name}/rotationpolicy`, {
      lifetimeActions: [{ trigger: { timeAfterCreate: "P30D" }, action: { type: "Rotate" } }],
      generator: { type: "random", length: 40, classes: ["lower", "upper", "digits"] },
    });
    assert.equal(put.status, 200, `PUT rotationpolicy: ${put.status} ${put.text}`);
    await advance(31 * DAY_S);
    const latest = await client.getSecret(name);
    assert.notEqual(latest.value, "quiet-initial", "the policy rotated the secret");
    rotatedValues.push(latest.value!);

    assert.ok(rotatedValues.length >= 8, `the earlier tests made rotated values to look for (${rotatedValues.length})`);
    const output = lockbox.output();
    // The search is over a real log: the scheduler's record of this rotation is in it, by version.
    assert.ok(output.includes(latest.properties.version!), `the server logged the scheduled rotation of ${name}:\n${output.slice(-2000)}`);
    for (const value of rotatedValues) assert.ok(!output.includes(value), `the server printed a rotated value: ${value}`);
  });
});

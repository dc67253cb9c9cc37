import { afterEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { DefaultAzureCredential } from "@azure/identity";
import { SecretClient } from "@azure/keyvault-secrets";
import { advanceClock } from "../helpers/clock.ts";
import { assertError, developerToken, raw, type RawResponse } from "../helpers/http.ts";
import { rejectsWith } from "../helpers/sdk.ts";
import { cli, serveForFile, type Lockbox } from "../helpers/server.ts";

// Fault injection (issue 16) against one real server with the dev clock, through the official
// JS SDK: rules added over the admin API and the CLI make chosen requests fail as Azure's
// can, and a test sees what the SDK does, what the audit log says and that nothing was done.
// Every test uses its own secret names; the rules are cleared after each.
let lockbox: Lockbox;
let client: SecretClient;
/** A client that does not retry, for answers the SDK would retry for seconds (500, 503 without Retry-After). */
let once: SecretClient;

serveForFile({ args: ["--dev-clock"] }, async (started) => {
  lockbox = started;
  client = new SecretClient(lockbox.vaultUrl(), new DefaultAzureCredential());
  once = new SecretClient(lockbox.vaultUrl(), new DefaultAzureCredential(), { retryOptions: { maxRetries: 0 } });
});

const LIMIT = { timeout: 60_000 };

const admin = async (method: string, path: string, body?: object): Promise<RawResponse> =>
  raw(lockbox, { method, path, body, token: await developerToken(lockbox) });

async function addRule(rule: object): Promise<{ id: string }> {
  const r = await admin("POST", "/lockbox/v1/faults", rule);
  assert.equal(r.status, 201, `POST /lockbox/v1/faults: ${r.status} ${r.text}`);
  return r.json;
}

const rules = async (): Promise<any[]> => (await admin("GET", "/lockbox/v1/faults")).json.value;

/** The audit lines of one secret's requests, newest first, as `operation result status`. */
async function auditOf(name: string, operation: string, top: number): Promise<any[]> {
  const r = await admin("GET", `/lockbox/v1/audit?object=secrets%2F${name}&operation=${operation}&top=${top}`);
  assert.equal(r.status, 200, r.text);
  return r.json.value;
}
const summary = (e: any): string => `${e.operationName} ${e.resultType} ${e.properties.httpStatusCode}`;

afterEach(async () => {
  assert.equal((await admin("DELETE", "/lockbox/v1/faults")).status, 200);
});

describe("fault rules through the SDK", () => {
  test(
    "the next 3 getSecret calls answer 503 with Retry-After 1: the SDK retries and succeeds; the audit log has 3 injected failures, then the success",
    LIMIT,
    async () => {
      await client.setSecret("retried", "the value");
      const rule = await addRule({ operation: "SecretGet", name: "retried", status: 503, count: 3, retryAfter: 1 });

      const started = Date.now();
      assert.equal((await client.getSecret("retried")).value, "the value");
      assert.ok(Date.now() - started >= 2_500, `the SDK waited Retry-After (1 s) before each of its 3 retries: ${Date.now() - started} ms`);

      const lines = await auditOf("retried", "SecretGet", 4);
      assert.deepEqual(lines.map(summary), [
        "SecretGet Success 200",
        "SecretGet Failure 503",
        "SecretGet Failure 503",
        "SecretGet Failure 503",
      ]);
      for (const line of lines.slice(1)) {
        assert.match(line.resultDescription, new RegExp(`Lockbox injected this fault by rule ${rule.id}`));
        assert.equal(line.identity.claim.name, "developer", "the line names the caller");
      }
      const [listed] = await rules();
      assert.deepEqual([listed.id, listed.fired, listed.remaining, listed.state], [rule.id, 3, 0, "used-up"]);
      assert.equal((await client.getSecret("retried")).value, "the value", "a used-up rule fails nothing more");
    },
  );

  test(
    "a rule matches its operation and vault only: a setSecret, and the same getSecret on another vault, are untouched",
    LIMIT,
    async () => {
      const made = cli(["vault", "create", "faults-other", "--data-dir", lockbox.dataDir]);
      assert.equal(made.status, 0, made.stderr);
      const other = new SecretClient(lockbox.vaultUrl("faults-other"), new DefaultAzureCredential(), { retryOptions: { maxRetries: 0 } });
      await addRule({ vault: "default", operation: "SecretGet", status: 500 });

      await once.setSecret("matched", "v1");
      await other.setSecret("matched", "elsewhere");
      assert.equal((await other.getSecret("matched")).value, "elsewhere");
      await rejectsWith(once.getSecret("matched"), 500, "InternalServerError", { message: /Lockbox injected this fault by rule/ });
    },
  );

  test(
    "a faulted setSecret writes nothing; the 429 is Azure's exact body, without Retry-After unless the rule gives one",
    LIMIT,
    async () => {
      await client.setSecret("unwritten", "first");
      await addRule({ operation: "SecretSet", name: "unwritten", status: 429, count: 1 });
      await rejectsWith(once.setSecret("unwritten", "second"), 429, "Throttled", {
        message: /^Request was not processed because too many requests were received\. Reason: VaultRequestTypeLimitReached/,
      });
      const versions = [];
      for await (const v of client.listPropertiesOfSecretVersions("unwritten")) versions.push(v);
      assert.equal(versions.length, 1, "the faulted write made no version");
      assert.equal((await client.getSecret("unwritten")).value, "first");

      await addRule({ operation: "SecretSet", name: "unwritten", status: 429, count: 1 });
      const r = await raw(lockbox, {
        method: "PUT",
        path: "/secrets/unwritten?api-version=7.5",
        body: { value: "third" },
        token: await developerToken(lockbox),
      });
      assertError(r, 429, "Throttled");
      assert.equal(r.headers["retry-after"], undefined, "Azure's 429 has no Retry-After");
      assert.equal((await client.getSecret("unwritten")).value, "first");
    },
  );

  test("a dropped connection: no answer at all, audited as a Failure that names the caller, counted in the metrics", LIMIT, async () => {
    await client.setSecret("dropped", "v");
    const rule = await addRule({ operation: "SecretGet", name: "dropped", status: "drop", count: 1 });
    const token = await developerToken(lockbox);
    await assert.rejects(raw(lockbox, { path: "/secrets/dropped?api-version=7.5", token }), /socket hang up|ECONNRESET/);
    assert.equal((await raw(lockbox, { path: "/secrets/dropped?api-version=7.5", token })).status, 200, "the next request is answered");

    const [, line] = await auditOf("dropped", "SecretGet", 2);
    assert.deepEqual([line.resultType, line.resultSignature, line.identity.claim.name], ["Failure", "ConnectionDropped", "developer"]);
    assert.match(line.resultDescription, new RegExp(`dropped the connection.*rule ${rule.id}`));
    const metrics = await raw(lockbox, { path: "/metrics" });
    assert.match(metrics.text, /lockbox_faults_injected_total\{status="drop"\} 1/);
  });

  test("a delay holds the answer back before the fault", LIMIT, async () => {
    await client.setSecret("slow", "v");
    await addRule({ operation: "SecretGet", name: "slow", status: 408, count: 1, delayMs: 400 });
    const started = Date.now();
    await rejectsWith(once.getSecret("slow"), 408, "RequestTimeout");
    assert.ok(Date.now() - started >= 400, `answered after ${Date.now() - started} ms`);
  });

  test("a rule expires on the server's clock", LIMIT, async () => {
    await client.setSecret("expiring", "v");
    await addRule({ name: "expiring", status: 502, expiresInSeconds: 60 });
    await rejectsWith(once.getSecret("expiring"), 502, "BadGateway");
    await advanceClock(lockbox, 60);
    assert.equal((await once.getSecret("expiring")).value, "v");
    assert.equal((await rules())[0].state, "expired");
  });

  test("a fraction under a seed fails the same requests each time it is added", LIMIT, async () => {
    await client.setSecret("sampled", "v");
    const token = await developerToken(lockbox);
    const run = async (): Promise<number[]> => {
      const rule = await addRule({ operation: "SecretGet", name: "sampled", status: 503, fraction: 0.4, seed: 1234 });
      const statuses: number[] = [];
      for (let i = 0; i < 20; i++) statuses.push((await raw(lockbox, { path: "/secrets/sampled?api-version=7.5", token })).status);
      assert.equal((await admin("DELETE", `/lockbox/v1/faults/${rule.id}`)).status, 204);
      return statuses;
    };
    const first = await run();
    assert.ok(first.includes(503) && first.includes(200), `some fail, some not: ${first.join(" ")}`);
    assert.deepEqual(await run(), first);
  });

  test("a bad rule is refused with 400 BadParameter and a message saying what is wrong", LIMIT, async () => {
    const r = await admin("POST", "/lockbox/v1/faults", { status: 503, operation: "GetSecret" });
    assertError(r, 400, "BadParameter");
    assert.match(r.json.error.message, /'GetSecret' is not a Key Vault operation/);
    assert.deepEqual(await rules(), []);
  });
});

describe("lockbox faults", () => {
  test("add, list and clear against the running server", LIMIT, async () => {
    const d = ["--data-dir", lockbox.dataDir];
    const added = cli([
      "faults",
      "add",
      "--operation",
      "SecretGet",
      "--name",
      "by-cli",
      "--status",
      "503",
      "--count",
      "2",
      "--retry-after",
      "1",
      ...d,
    ]);
    assert.equal(added.status, 0, added.stderr);
    assert.match(
      added.stdout,
      /^fault-\d+ {2}active {2}503 {2}operation=SecretGet name=by-cli {2}next 2, Retry-After 1 {2}fired 0, 2 left\n$/,
    );

    await client.setSecret("by-cli", "v");
    await rejectsWith(once.getSecret("by-cli"), 503, "ServiceUnavailable");
    const listed = cli(["faults", "list", "--json", ...d]);
    assert.equal(listed.status, 0, listed.stderr);
    const [rule] = JSON.parse(listed.stdout);
    assert.deepEqual([rule.operation, rule.name, rule.status, rule.fired, rule.remaining], ["SecretGet", "by-cli", 503, 1, 1]);

    const bad = cli(["faults", "add", "--status", "503", "--fraction", "2", ...d]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /fraction must be a number greater than 0 and at most 1/);

    const cleared = cli(["faults", "clear", ...d]);
    assert.equal(cleared.status, 0, cleared.stderr);
    assert.match(cleared.stderr, /removed 1 fault rules/);
    assert.deepEqual(await rules(), []);
    assert.equal((await once.getSecret("by-cli")).value, "v");
  });
});

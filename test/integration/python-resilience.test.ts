import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KeyClient } from "@azure/keyvault-keys";
import { SecretClient } from "@azure/keyvault-secrets";
import { advanceClock, clockNow } from "../helpers/clock.ts";
import { developerToken, raw, type RawResponse } from "../helpers/http.ts";
import { runPython } from "../helpers/program.ts";
import { cli, serveForFile, type Lockbox } from "../helpers/server.ts";

// Issue 16 with the Azure SDK for Python (Debian's python3-azure): what a Python program meets
// under `--throttle azure` and under fault rules, and what its SDK does about it. The Python
// retry policy differs from the JS one: it retries 408/429/500/502/503/504 on GET, PUT and
// DELETE even without Retry-After, but on POST (sign, encrypt, ...) only 500/503/504 or an
// answer with Retry-After; it waits 0 s, then 1.6 s, 3.2 s... (0.8 s doubled), or what
// Retry-After says. resilience.py prints each call's attempts as the server answered them.
// With --throttle-scale 0.01 a vault has 3 secret sets and 40 units of key operations per
// 10-second window.
let lockbox: Lockbox;
serveForFile({ args: ["--dev-clock", "--throttle", "azure", "--throttle-scale", "0.01"] }, (started) => {
  lockbox = started;
});

const THROTTLED = {
  status: 429,
  code: "Throttled",
  message: "Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached",
};

interface Call {
  call: number;
  value?: string;
  error?: { status: number; code: string; message: string };
  attempts: number[];
  seconds: number;
}

/** Runs resilience.py with a plan, as a user's program with what `lockbox env` prints; its calls. */
async function python(plan: Record<string, unknown>): Promise<Call[]> {
  const env = cli(["env", "--json", "--data-dir", lockbox.dataDir]);
  assert.equal(env.status, 0, env.stderr);
  const userEnv = { ...(JSON.parse(env.stdout) as Record<string, string>), HOME: mkdtempSync(join(tmpdir(), "lockbox-python-home-")) };
  const run = await runPython("resilience.py", [JSON.stringify(plan)], userEnv);
  assert.equal(run.code, 0, `resilience.py failed:\n${run.stdout}\n${run.stderr}`);
  return run.events as unknown as Call[];
}

const admin = async (method: string, path: string, body?: object): Promise<RawResponse> =>
  raw(lockbox, { method, path, body, token: await developerToken(lockbox) });

async function newVault(name: string, throttle?: "off"): Promise<string> {
  const r = await admin("POST", "/lockbox/v1/vaults", { name });
  assert.equal(r.status, 201, `POST /lockbox/v1/vaults ${name}: ${r.status} ${r.text}`);
  if (throttle) assert.equal((await admin("PATCH", `/lockbox/v1/vaults/${name}`, { throttle })).status, 200);
  return lockbox.vaultUrl(name);
}

/** The test's own look at a vault, with the developer's token. */
const credential = {
  getToken: async () => ({ token: await developerToken(lockbox), expiresOnTimestamp: Date.now() + 600_000 }),
};

/** Moves the dev clock to the start of the next 10-second window: at least 9 s before the one after. */
async function freshWindow(): Promise<void> {
  await advanceClock(lockbox, 10 - ((await clockNow(lockbox)) % 10));
}

type AuditLine = { resultSignature: string; properties: { httpStatusCode: number } };

/** The vault's audit lines of one operation, oldest first, but for the SDK's 401 challenges. */
async function auditOf(vault: string, operation: string): Promise<AuditLine[]> {
  const r = await admin("GET", `/lockbox/v1/audit?vault=${vault}&operation=${operation}&top=50`);
  assert.equal(r.status, 200, r.text);
  return (r.json.value as AuditLine[]).filter((e) => e.properties.httpStatusCode !== 401).reverse();
}
const auditStatuses = async (vault: string, operation: string): Promise<number[]> =>
  (await auditOf(vault, operation)).map((e) => e.properties.httpStatusCode);
const auditResults = async (vault: string, operation: string): Promise<string[]> =>
  (await auditOf(vault, operation)).map((e) => e.resultSignature);

describe("--throttle azure, from Python", () => {
  test("the 4th set_secret of a window is Azure's 429, which the Python SDK retries (a PUT, though there is no Retry-After): every attempt is audited, none is written", async () => {
    const url = await newVault("py-sets");
    await freshWindow();
    const calls = await python({
      vault: url,
      op: "set",
      name: "s",
      value: "v",
      calls: 4,
      client: { retry_total: 2, retry_backoff_factor: 0.05 },
    });
    assert.deepEqual(
      calls.map((c) => c.attempts),
      [[200], [200], [200], [429, 429, 429]],
      "three sets, then the SDK's two retries of the throttled one",
    );
    assert.deepEqual(calls[3]!.error, THROTTLED);
    assert.deepEqual(await auditStatuses("py-sets", "SecretSet"), [200, 200, 200, 429, 429, 429]);
    const versions = [];
    for await (const v of new SecretClient(url, credential).listPropertiesOfSecretVersions("s")) versions.push(v.version);
    assert.equal(versions.length, 3, "the throttled set wrote no version");
  });

  test("sign until throttled: RSA-4096 spends the 40 units 8 times sooner than EC, and Python does not retry a POST's 429 without Retry-After", async () => {
    const url = await newVault("py-sign");
    const keys = new KeyClient(url, credential);
    await keys.createEcKey("ec", { curve: "P-256" });
    await advanceClock(lockbox, 10); // one key create per window
    await keys.createRsaKey("rsa", { keySize: 4096 });
    const signs: Record<string, Call[]> = {};
    for (const [name, algorithm] of [
      ["ec", "ES256"],
      ["rsa", "RS256"],
    ] as const) {
      await freshWindow();
      signs[name] = await python({ vault: url, op: "sign", name, algorithm, calls: 50 });
    }
    // The CryptographyClient first gets the key, which costs what a sign costs: 1 unit for EC, 8 for RSA-4096.
    const answered = (calls: Call[]) => calls.filter((c) => c.value !== undefined).length;
    assert.deepEqual({ ec: answered(signs.ec!), rsa: answered(signs.rsa!) }, { ec: 39, rsa: 4 });
    for (const calls of Object.values(signs)) {
      assert.deepEqual(calls.at(-1)!.error, THROTTLED);
      assert.deepEqual(calls.at(-1)!.attempts, [429], "no retry: a POST's 429 without Retry-After is final for the Python SDK");
    }
  });
});

describe("fault rules, from Python", () => {
  test("the next 2 get_secret answer 503 with Retry-After: 1: the default Python client waits the second each time and returns the value", async () => {
    const url = await newVault("py-faults", "off");
    await new SecretClient(url, credential).setSecret("waited", "worth-it");
    const added = await admin("POST", "/lockbox/v1/faults", {
      vault: "py-faults",
      operation: "SecretGet",
      status: 503,
      count: 2,
      retryAfter: 1,
    });
    assert.equal(added.status, 201, added.text);
    const [call] = await python({ vault: url, op: "get", name: "waited" });
    assert.equal(call!.value, "worth-it");
    assert.deepEqual(call!.attempts, [503, 503, 200]);
    assert.ok(call!.seconds >= 2, `it waited Retry-After twice: ${call!.seconds} s`);
  });

  test("a dropped connection on get_secret and a 500 on sign are retried by the Python SDK (a POST's 500 is retryable), and the calls succeed", async () => {
    const url = await newVault("py-drops", "off");
    await new SecretClient(url, credential).setSecret("dropped", "still-here");
    await new KeyClient(url, credential).createEcKey("signer", { curve: "P-256" });
    for (const rule of [
      { vault: "py-drops", operation: "SecretGet", status: "drop", count: 1 },
      { vault: "py-drops", operation: "KeySign", status: 500, count: 1 },
    ]) {
      assert.equal((await admin("POST", "/lockbox/v1/faults", rule)).status, 201);
    }
    const [got] = await python({ vault: url, op: "get", name: "dropped" });
    assert.equal(got!.value, "still-here");
    assert.deepEqual(got!.attempts, [200], "the dropped attempt had no answer; the retry had the value");
    assert.deepEqual(await auditResults("py-drops", "SecretGet"), ["ConnectionDropped", "OK"]);
    const [signed] = await python({ vault: url, op: "sign", name: "signer", algorithm: "ES256" });
    assert.ok(signed!.value, JSON.stringify(signed));
    assert.deepEqual(signed!.attempts, [200, 500, 200], "the key's GET, the sign's 500, and its retry");
  });
});

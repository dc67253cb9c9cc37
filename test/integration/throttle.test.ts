import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DefaultAzureCredential, type TokenCredential } from "@azure/identity";
import { CryptographyClient, KeyClient, type KeyVaultKey } from "@azure/keyvault-keys";
import { SecretClient, type SecretClientOptions } from "@azure/keyvault-secrets";
import { advanceClock, clockNow } from "../helpers/clock.ts";
import { developerToken, raw } from "../helpers/http.ts";
import { cli, type Lockbox, removeDataDir, serveForFile, startLockbox, stopOrKill } from "../helpers/server.ts";
import { rejectsWith } from "../helpers/sdk.ts";
import { eventually } from "../helpers/wait.ts";

// Issue 16's throttling: `lockbox serve --throttle azure` answers 429 as Azure does once a
// vault's (or the instance's) budget for the 10-second window is spent. With
// --throttle-scale 0.01 a vault has 40 units of key operations, 40 other transactions,
// 3 secret sets and 1 key create per window; the instance 5 times that. Each test begins
// a fresh window by moving the dev clock to the next 10-second step.
const THROTTLE = ["--dev-clock", "--throttle", "azure", "--throttle-scale", "0.01"];
const BODY =
  '{"error":{"code":"Throttled","message":"Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached"}}';

let lockbox: Lockbox;
let credential: DefaultAzureCredential;

serveForFile({ args: THROTTLE }, (started) => {
  lockbox = started;
  credential = new DefaultAzureCredential();
});

/** Moves the dev clock to the start of the next 10-second window: at least 9 s of real time before the one after. */
async function freshWindow(server: Lockbox = lockbox): Promise<void> {
  const now = await clockNow(server);
  await advanceClock(server, 10 - (now % 10));
}

async function newVault(name: string, server: Lockbox = lockbox): Promise<string> {
  const r = await raw(server, { method: "POST", path: "/lockbox/v1/vaults", body: { name }, token: await developerToken(server) });
  assert.equal(r.status, 201, `POST /lockbox/v1/vaults ${name}: ${r.status} ${r.text}`);
  return server.vaultUrl(name);
}

/** PATCH /lockbox/v1/vaults/NAME {"throttle": mode}: the vault's own throttling, whatever the server's. */
async function throttleVault(name: string, mode: "azure" | "off" | "server", server: Lockbox = lockbox): Promise<void> {
  const r = await raw(server, {
    method: "PATCH",
    path: `/lockbox/v1/vaults/${name}`,
    body: { throttle: mode },
    token: await developerToken(server),
  });
  assert.equal(r.status, 200, `PATCH /lockbox/v1/vaults/${name}: ${r.status} ${r.text}`);
  assert.equal(
    r.json.throttle,
    mode === "server" ? undefined : mode,
    "a vault that follows the server's throttling has no setting of its own",
  );
}

type Policy = NonNullable<SecretClientOptions["additionalPolicies"]>[number]["policy"];

/** Counts what each attempt (each retry too) was answered, by status. */
function statusCounter(): { policy: Policy; seen: number[] } {
  const seen: number[] = [];
  return {
    seen,
    policy: {
      name: "status-counter",
      async sendRequest(request, next) {
        const response = await next(request);
        seen.push(response.status);
        return response;
      },
    },
  };
}

const isThrottled = (e: unknown): boolean => (e as { statusCode?: number }).statusCode === 429;

/** Calls `op` until it is throttled (at most `limit` times); how many calls were answered before. */
async function untilThrottled(op: () => Promise<unknown>, limit = 200): Promise<number> {
  for (let n = 0; n < limit; n++) {
    try {
      await op();
    } catch (e) {
      if (isThrottled(e)) return n;
      throw e;
    }
  }
  assert.fail(`not throttled after ${limit} calls`);
}

function auditLines(server: Lockbox): { operationName: string; resultSignature: string; properties: { httpStatusCode?: number } }[] {
  return readFileSync(join(server.dataDir, "audit.log"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

describe("--throttle azure", () => {
  test("past a vault's 40 other transactions, the 41st is Azure's 429: its exact body, no Retry-After, audited, counted; the SDK does not retry it", async () => {
    const url = await newVault("budget-other");
    const counter = statusCounter();
    const client = new SecretClient(url, credential, { additionalPolicies: [{ policy: counter.policy, position: "perRetry" }] });
    await freshWindow();
    await client.setSecret("s", "v");
    assert.equal(await untilThrottled(() => client.getSecret("s")), 40);
    assert.deepEqual(
      counter.seen.filter((s) => s !== 401),
      [...Array(41).fill(200), 429],
      "one setSecret, 40 getSecret, and one 429 that the JS SDK did not retry (no Retry-After)",
    );

    const r = await raw(lockbox, {
      host: `budget-other.vault.localhost:${lockbox.port}`,
      path: "/secrets/s?api-version=7.6",
      token: await developerToken(lockbox),
    });
    assert.equal(r.status, 429);
    assert.equal(r.text, BODY);
    assert.equal(r.headers["retry-after"], undefined);
    assert.match(String(r.headers["content-type"]), /application\/json/);
    await rejectsWith(client.getSecret("s"), 429, "Throttled");

    const throttledLines = auditLines(lockbox).filter((l) => l.operationName === "SecretGet" && l.properties.httpStatusCode === 429);
    assert.ok(throttledLines.length >= 3, `the 429s are audited: ${throttledLines.length}`);
    const metrics = await raw(lockbox, { path: "/metrics" });
    assert.match(metrics.text, /lockbox_http_requests_throttled_total\{operation="SecretGet"\} [3-9]/);

    await freshWindow();
    assert.equal((await client.getSecret("s")).value, "v", "a new window has the whole budget again");
  });

  test("RSA-4096 operations spend the key budget 8 times sooner than RSA-2048 (and EC) ones", async () => {
    const spent: Record<string, number> = {};
    const keys: Record<string, KeyVaultKey> = {};
    for (const [vault, make] of [
      ["rsa2048", (c: KeyClient) => c.createRsaKey("k", { keySize: 2048 })],
      ["rsa4096", (c: KeyClient) => c.createRsaKey("k", { keySize: 4096 })],
      ["ec", (c: KeyClient) => c.createEcKey("k", { curve: "P-256" })],
    ] as const) {
      keys[vault] = await make(new KeyClient(await newVault(`weight-${vault}`), credential));
    }
    await freshWindow();
    const digest = createHash("sha256").update("throttle").digest();
    for (const [vault, key] of Object.entries(keys)) {
      const crypto = new CryptographyClient(key, credential);
      spent[vault] = await untilThrottled(() => crypto.sign(vault === "ec" ? "ES256" : "RS256", digest));
    }
    assert.deepEqual(spent, { rsa2048: 40, rsa4096: 5, ec: 40 });
  });

  test("the create budgets: 3 secret sets and 1 key create per vault per window; a throttled set writes nothing; the dev clock's 10 s begin a new window", async () => {
    const url = await newVault("budget-create");
    const secrets = new SecretClient(url, credential);
    const keys = new KeyClient(url, credential);
    await freshWindow();
    for (const n of [1, 2, 3]) await secrets.setSecret(`s${n}`, "v");
    await rejectsWith(secrets.setSecret("s4", "v"), 429, "Throttled");
    await keys.createEcKey("k1");
    await rejectsWith(keys.createEcKey("k2"), 429, "Throttled");
    // Other transactions have their own budget: the throttled writes left nothing behind.
    await rejectsWith(secrets.getSecret("s4"), 404, "SecretNotFound");
    await rejectsWith(keys.getKey("k2"), 404, "KeyNotFound");

    await advanceClock(lockbox, 10);
    await secrets.setSecret("s4", "v");
    await keys.createEcKey("k2");
    assert.equal((await secrets.getSecret("s4")).value, "v");
  });

  test("the instance has 5 times a vault's budget across its vaults: 15 secret sets in 6 vaults", async () => {
    const clients = await Promise.all([1, 2, 3, 4, 5, 6].map(async (n) => new SecretClient(await newVault(`instance-${n}`), credential)));
    await freshWindow();
    const sets: number[] = [];
    for (const client of clients) sets.push(await untilThrottled(() => client.setSecret("s", "v")));
    assert.deepEqual(sets, [3, 3, 3, 3, 3, 0]);
  });
});

describe("a vault's own throttling", () => {
  test('PATCH {"throttle":"off"} exempts a vault from the server\'s --throttle azure; lockbox vault throttle NAME azure puts it back', async () => {
    const client = new SecretClient(await newVault("exempt"), credential);
    await throttleVault("exempt", "off");
    await freshWindow();
    for (let n = 0; n < 5; n++) await client.setSecret("s", "v");
    for (let n = 0; n < 50; n++) await client.getSecret("s");
    // And back, with the CLI beside the running server (which sees it within its vault cache's second).
    const r = cli(["vault", "throttle", "exempt", "azure", "--data-dir", lockbox.dataDir]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /vault exempt is now throttled: azure/);
    await eventually("the server throttles the vault again", 5000, async () => {
      await freshWindow();
      assert.equal(await untilThrottled(() => client.getSecret("s")), 40);
    });
    // "server": no setting of its own; on this server that is still Azure's throttling.
    const back = cli(["vault", "throttle", "exempt", "server", "--data-dir", lockbox.dataDir]);
    assert.equal(back.status, 0, back.stderr);
    assert.match(back.stdout, /vault exempt is now throttled as lockbox serve --throttle says/);
    const listed = await raw(lockbox, { path: "/lockbox/v1/vaults", token: await developerToken(lockbox) });
    assert.deepEqual(
      listed.json.value.filter((v: { name: string }) => v.name === "exempt").map((v: { throttle?: string }) => v.throttle),
      [undefined],
    );
    await freshWindow();
    assert.equal(await untilThrottled(() => client.getSecret("s")), 40);
  });
});

describe("--throttle-retry-after 1", () => {
  test('on a server without --throttle, a vault throttled on its own: each 429 has Retry-After: 1, and the JS SDK retries it, with success once the window has moved on; "server" puts the vault back on the server\'s setting', async () => {
    const server = await startLockbox({ args: ["--dev-clock", "--throttle-scale", "0.01", "--throttle-retry-after", "1"] });
    try {
      // The developer identity of this second server (DefaultAzureCredential keeps the first one's token).
      const credential: TokenCredential = {
        getToken: async () => ({ token: await developerToken(server), expiresOnTimestamp: Date.now() + 600_000 }),
      };
      const url = await newVault("retried", server);
      await throttleVault("retried", "azure", server);
      let moved = false;
      const seen: number[] = [];
      const policy: Policy = {
        name: "move-on-429",
        async sendRequest(request, next) {
          const response = await next(request);
          seen.push(response.status);
          if (response.status === 429) {
            assert.equal(response.headers.get("retry-after"), "1");
            // While the SDK waits its second, the window ends.
            if (!moved) await advanceClock(server, 10);
            moved = true;
          }
          return response;
        },
      };
      const client = new SecretClient(url, credential, { additionalPolicies: [{ policy, position: "perRetry" }] });
      await freshWindow(server);
      for (const n of [1, 2, 3]) await client.setSecret(`s${n}`, "v");
      const started = Date.now();
      await client.setSecret("s4", "retried");
      assert.ok(Date.now() - started >= 900, "the SDK waited the second it was told");
      assert.deepEqual(
        seen.filter((s) => s !== 401),
        [200, 200, 200, 429, 200],
      );
      assert.equal((await client.getSecret("s4")).value, "retried");

      const unthrottled = new SecretClient(server.vaultUrl(), credential);
      for (let n = 0; n < 5; n++) await unthrottled.setSecret("s", "v");

      // {"throttle":"server"} drops the vault's own setting: it follows this server's (none) again.
      await throttleVault("retried", "server", server);
      await freshWindow(server);
      for (let n = 0; n < 5; n++) await client.setSecret("s5", `v${n}`);
      assert.equal(seen.filter((s) => s === 429).length, 1, "no 429 since the vault follows the server");
    } finally {
      await stopOrKill(server);
      removeDataDir(server.dataDir);
    }
  });
});

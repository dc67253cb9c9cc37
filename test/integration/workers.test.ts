import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createPublicKey, verify } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ClientSecretCredential, DefaultAzureCredential, type TokenCredential } from "@azure/identity";
import { createDefaultHttpClient } from "@azure/core-rest-pipeline";
import { CryptographyClient, KeyClient } from "@azure/keyvault-keys";
import { SecretClient, type SecretClientOptions } from "@azure/keyvault-secrets";
import { advanceClock, clockNow } from "../helpers/clock.ts";
import { base64url } from "../helpers/sdk.ts";
import { developerToken, raw } from "../helpers/http.ts";
import { cli, removeDataDir, startLockbox, stopOrKill, useEnvironment, type Lockbox } from "../helpers/server.ts";
import { eventually } from "../helpers/wait.ts";

// `lockbox serve --workers 2`: two processes serve HTTPS on one port, and a user's clients
// land on either (node:cluster hands out connections in turn). Each SDK client keeps its
// connections (the SDK shares one HTTP client, and so one pool, between clients unless it is
// given its own: these tests give each its own), so a client stays with one worker; the tests find which from the server's
// request log lines (their pid and reqId, the answer's x-ms-request-id) and make clients until
// they have one on each worker.
//
// One server for the file: MSAL keeps managed identity tokens in one cache per process, and a
// token of another instance would be sent to the next.
let lockbox: Lockbox;
let credential: DefaultAzureCredential;

before(async () => {
  lockbox = await startLockbox({ args: ["--workers", "2", "--dev-clock", "--throttle-scale", "0.01", "--log-format", "json"] });
  useEnvironment(lockbox);
  credential = new DefaultAzureCredential();
});
after(async () => {
  if (!lockbox) return;
  assert.equal(await stopOrKill(lockbox), 0, "SIGTERM stops every worker, then the primary, with exit code 0");
  removeDataDir(lockbox.dataDir);
});

/** The pid of the process whose request log line has this request id. */
function servedBy(requestId: string): Promise<number> {
  return eventually(`the request log line of ${requestId}`, 5000, async () => {
    for (const line of lockbox.output().split("\n")) {
      if (!line.includes(requestId)) continue;
      const entry = JSON.parse(line) as { reqId?: string; pid?: number };
      if (entry.reqId === requestId && entry.pid) return entry.pid;
    }
    throw new Error("not logged yet");
  });
}

/** The pids of every process that has written a log line so far. */
const loggedPids = (): Set<number> =>
  new Set(
    lockbox
      .output()
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => (JSON.parse(l) as { pid: number }).pid),
  );

/** A SecretClient with its own connections, and no retries (each answer is seen as it is). */
const newClient = (cred: TokenCredential, vault = "default", options: SecretClientOptions = {}): SecretClient =>
  new SecretClient(lockbox.vaultUrl(vault), cred, { httpClient: createDefaultHttpClient(), retryOptions: { maxRetries: 0 }, ...options });

interface Placed {
  client: SecretClient;
  pid: number;
}

/** A client and the worker its connection landed on (found by a getSecret of `probe`). */
/** SDK call options that note the answer's x-ms-request-id, and the pid of the process that served it. */
function servedByTracker(): {
  onResponse: (r: { headers: { get(name: string): string | undefined } }) => void;
  pid: () => Promise<number>;
} {
  let requestId = "";
  return {
    onResponse: (r) => void (requestId = r.headers.get("x-ms-request-id") ?? ""),
    pid: () => servedBy(requestId),
  };
}

async function placedClient(cred: TokenCredential, probe: string, vault = "default"): Promise<Placed> {
  const client = newClient(cred, vault);
  const served = servedByTracker();
  await client.getSecret(probe, { abortSignal: AbortSignal.timeout(10_000), onResponse: served.onResponse });
  return { client, pid: await served.pid() };
}

/** Clients on two different workers. */
async function clientsOnEachWorker(cred: TokenCredential, probe: string): Promise<[Placed, Placed]> {
  const first = await placedClient(cred, probe);
  for (let i = 0; i < 10; i++) {
    const other = await placedClient(cred, probe);
    if (other.pid !== first.pid) return [first, other];
  }
  throw new Error("ten new clients all landed on the first client's worker");
}

/** Whatever the SDK answered: the value, or the HTTP status it failed with. */
const statusOf = (p: Promise<unknown>): Promise<number> =>
  p.then(
    () => 200,
    (e: { statusCode?: number }) => e.statusCode ?? 0,
  );

describe("serve --workers 2", () => {
  test("a write through one worker is read at once through the other, both ways, version after version", async () => {
    await new SecretClient(lockbox.vaultUrl(), credential).setSecret("crossed", "v0");
    const [a, b] = await clientsOnEachWorker(credential, "crossed");
    for (let i = 1; i <= 10; i++) {
      const [writer, reader] = i % 2 ? [a, b] : [b, a];
      const set = await writer.client.setSecret("crossed", `v${i}`);
      const read = await reader.client.getSecret("crossed");
      assert.equal(read.value, `v${i}`, `write ${i} through pid ${writer.pid}, read through pid ${reader.pid}`);
      assert.equal(read.properties.version, set.properties.version);
    }
    const versions = [];
    for await (const p of a.client.listPropertiesOfSecretVersions("crossed")) versions.push(p.version);
    assert.equal(versions.length, 11, "every version, whichever worker wrote it");
  });

  test("a removed role is refused through every worker within a second", async () => {
    await new SecretClient(lockbox.vaultUrl(), credential).setSecret("guarded", "guarded-value");
    const r = cli(["sp", "create", "worker-app", "--json", "--data-dir", lockbox.dataDir]);
    assert.equal(r.status, 0, r.stderr);
    const sp = JSON.parse(r.stdout) as { clientId: string; clientSecret: string; tenantId: string };
    const assigned = cli([
      ...["role", "assign", "--vault", "default", "--assignee", "worker-app", "--role", "Key Vault Secrets User"],
      ...["--data-dir", lockbox.dataDir],
    ]);
    assert.equal(assigned.status, 0, assigned.stderr);
    const spCredential = new ClientSecretCredential(sp.tenantId, sp.clientId, sp.clientSecret, {
      authorityHost: `https://127.0.0.1:${lockbox.port}`,
      disableInstanceDiscovery: true,
    });
    const clients = await eventually("the role counts on both workers", 3000, () => clientsOnEachWorker(spCredential, "guarded"));

    const removed = cli(["role", "remove", "--vault", "default", "--assignee", "worker-app", "--data-dir", lockbox.dataDir]);
    assert.equal(removed.status, 0, removed.stderr);
    const since = Date.now();
    for (const { client, pid } of clients) {
      await eventually(`pid ${pid} refuses the removed role`, Math.max(0, 1000 - (Date.now() - since)), async () =>
        assert.equal(await statusOf(client.getSecret("guarded")), 403),
      );
    }
  });

  test("fault rules are one set for the server: a rule for the next 2 gets fires twice in all, whichever workers serve them", async () => {
    await new SecretClient(lockbox.vaultUrl(), credential).setSecret("faulty", "faulty-value");
    const [a, b] = await clientsOnEachWorker(credential, "faulty");
    const token = await developerToken(lockbox);
    const added = await raw(lockbox, {
      method: "POST",
      path: "/lockbox/v1/faults",
      token,
      body: { operation: "SecretGet", name: "faulty", status: 503, count: 2 },
    });
    assert.equal(added.status, 201, added.text);
    const statuses = [];
    for (const { client } of [a, b, a, b, a, b]) statuses.push(await statusOf(client.getSecret("faulty")));
    assert.deepEqual(statuses, [503, 503, 200, 200, 200, 200]);
    const listed = await raw(lockbox, { path: "/lockbox/v1/faults", token });
    assert.equal(listed.json.value[0].fired, 2);
    assert.equal(listed.json.value[0].state, "used-up");
    assert.equal((await raw(lockbox, { method: "DELETE", path: "/lockbox/v1/faults", token })).status, 200);
  });

  test("throttling counts once for the server: a vault's 3 secret sets per window in all, across both workers", async () => {
    const token = await developerToken(lockbox);
    assert.equal((await raw(lockbox, { method: "POST", path: "/lockbox/v1/vaults", body: { name: "counted" }, token })).status, 201);
    const throttled = await raw(lockbox, { method: "PATCH", path: "/lockbox/v1/vaults/counted", body: { throttle: "azure" }, token });
    assert.equal(throttled.status, 200, throttled.text);
    // A fresh window: the dev clock to the next 10-second step leaves at least 9 s of real time.
    await advanceClock(lockbox, 10 - ((await clockNow(lockbox)) % 10));
    const pids = new Set<number>();
    const statuses = [];
    for (let i = 0; i < 6; i++) {
      const client = newClient(credential, "counted");
      const served = servedByTracker();
      statuses.push(await statusOf(client.setSecret(`s${i}`, "v", { onResponse: served.onResponse })));
      pids.add(await served.pid());
    }
    assert.equal(pids.size, 2, "six new clients land on both workers");
    assert.deepEqual(statuses, [200, 200, 200, 429, 429, 429]);
  });

  test("a console sign-in holds on every worker, and its one-time link is spent for all", async () => {
    const token = await developerToken(lockbox);
    const link = await raw(lockbox, { method: "POST", path: "/lockbox/v1/console/links", token, body: {} });
    assert.equal(link.status, 201, link.text);
    const code = String(link.json.url).split("#signin=")[1]!;
    // A new connection for each request (connection: close), so they go to the workers in turn.
    const fresh = { connection: "close" };
    const signin = () => raw(lockbox, { method: "POST", path: "/console/api/signin", body: { code }, headers: fresh });
    const signedIn = await signin();
    assert.equal(signedIn.status, 200, signedIn.text);
    const cookie = String(signedIn.headers["set-cookie"]).split(";")[0]!;
    const pids = new Set<number>();
    for (let i = 0; i < 10 && pids.size < 2; i++) {
      const vaults = await raw(lockbox, { path: "/console/api/vaults", headers: { ...fresh, cookie } });
      assert.equal(vaults.status, 200, `the session is known to the worker that answered: ${vaults.text}`);
      pids.add(await servedBy(String(vaults.headers["x-ms-request-id"])));
    }
    assert.equal(pids.size, 2, "the session was used through both workers");
    for (let i = 0; i < 2; i++) assert.equal((await signin()).status, 401, "the link signs in once, whichever worker is asked again");
  });

  test("signatures and a decrypt through every worker are right: RSA-2048 and P-256 made on the worker's own thread, RSA-4096 on a pool thread", async () => {
    const keys = new KeyClient(lockbox.vaultUrl(), credential);
    const made = [
      { key: await keys.createRsaKey("workers-rsa-2048", { keySize: 2048 }), alg: "RS256" },
      { key: await keys.createRsaKey("workers-rsa-4096", { keySize: 4096 }), alg: "RS256" },
      { key: await keys.createEcKey("workers-p256", { curve: "P-256" }), alg: "ES256" },
    ];
    const data = Buffer.from("signed through a worker");
    const signedBy = new Set<number>();
    // New clients, new connections: node:cluster hands them to the workers in turn.
    for (let round = 0; round < 4; round++) {
      for (const { key, alg } of made) {
        const client = new CryptographyClient(key.id!, credential, {
          httpClient: createDefaultHttpClient(),
          retryOptions: { maxRetries: 0 },
        });
        const served = servedByTracker();
        const { result } = await client.signData(alg, data, { onResponse: served.onResponse });
        const jwk = key.key!;
        const publicKey = createPublicKey({
          key:
            jwk.kty === "EC"
              ? { kty: "EC", crv: jwk.crv, x: base64url(jwk.x!), y: base64url(jwk.y!) }
              : { kty: "RSA", n: base64url(jwk.n!), e: base64url(jwk.e!) },
          format: "jwk",
        });
        assert.ok(verify("sha256", data, { key: publicKey, dsaEncoding: "ieee-p1363" }, result), `${key.name}'s ${alg} signature verifies`);
        signedBy.add(await served.pid());
      }
    }
    assert.equal(signedBy.size, 2, "both workers signed");
    const rsa = new CryptographyClient(made[0]!.key.id!, credential, { httpClient: createDefaultHttpClient() });
    const secret = Buffer.from("a data key");
    const { result: ciphertext } = await rsa.encrypt({ algorithm: "RSA-OAEP-256", plaintext: secret });
    assert.deepEqual(Buffer.from((await rsa.decrypt({ algorithm: "RSA-OAEP-256", ciphertext })).result), secret);
  });

  // node:cluster hands a connection to a worker and closes its own copy when the worker says it took it: one
  // handed over as the worker dies stays open, unanswered, until the client gives up. Hence every write's timeout.
  test(
    "SIGKILL of a worker loses no acknowledged write; the primary starts another and the server goes on",
    { timeout: 90_000 },
    async () => {
      await new SecretClient(lockbox.vaultUrl(), credential).setSecret("storm-probe", "probe");
      const pidsBefore = loggedPids();
      const acknowledged: string[] = [];
      let stop = false;
      const writer = async (w: number): Promise<void> => {
        for (let i = 0; !stop; i++) {
          const name = `storm-${w}-${i}`;
          try {
            await newClient(credential).setSecret(name, `value-${w}-${i}`, { abortSignal: AbortSignal.timeout(10_000) });
            acknowledged.push(name);
          } catch {
            // A write cut off with its worker: not acknowledged, so nothing is promised of it.
          }
        }
      };
      const writers = Array.from({ length: 8 }, (_, w) => writer(w));
      let victim: number;
      try {
        await eventually("writes are acknowledged", 10_000, async () =>
          assert.ok(acknowledged.length >= 20, `${acknowledged.length} acknowledged`),
        );
        [{ pid: victim }] = await clientsOnEachWorker(credential, "storm-probe");
        process.kill(victim, "SIGKILL");
        const atKill = acknowledged.length;
        await eventually("writes are acknowledged after the kill", 20_000, async () =>
          assert.ok(acknowledged.length >= atKill + 40, `${acknowledged.length - atKill} since the kill`),
        );
      } finally {
        stop = true;
        await Promise.all(writers);
      }

      const reader = new SecretClient(lockbox.vaultUrl(), credential);
      for (const name of acknowledged) assert.equal((await reader.getSecret(name)).value, `value-${name.slice("storm-".length)}`, name);
      const audited = new Set(
        readFileSync(join(lockbox.dataDir, "audit.log"), "utf8")
          .split("\n")
          .filter(Boolean)
          .map((l) => JSON.parse(l) as { operationName: string; resultSignature: string; properties?: { id?: string } })
          .filter((e) => e.operationName === "SecretSet" && e.resultSignature === "OK")
          .map((e) => e.properties?.id?.split("/secrets/")[1]?.split("/")[0]),
      );
      for (const name of acknowledged) assert.ok(audited.has(name), `the audit log has the acknowledged write of ${name}`);
      const replacement = await eventually("a new worker serves", 10_000, async () => {
        const [x, y] = await clientsOnEachWorker(credential, "storm-probe");
        const fresh = [x.pid, y.pid].find((pid) => !pidsBefore.has(pid));
        assert.ok(fresh, "one of the two workers is new");
        return fresh;
      });
      assert.notEqual(replacement, victim);
    },
  );
});

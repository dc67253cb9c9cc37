import { after, before, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createPrivateKey, randomBytes } from "node:crypto";
import { join } from "node:path";
import { DefaultAzureCredential } from "@azure/identity";
import { CertificateClient, type CertificatePolicy } from "@azure/keyvault-certificates";
import { SecretClient, type SecretClientOptions } from "@azure/keyvault-secrets";
import { engineEnv, newDataDir, removeDataDir, ROOT, startLockbox, useEnvironment, type Lockbox } from "../helpers/server.ts";
import { containsAny, encodingsOf } from "../helpers/leaks.ts";
import { openRawStore, storedBytes } from "../helpers/storage.ts";

// What the README promises about data: an acknowledged write survives a crash, values are
// never at rest or in logs in the clear, a ciphertext only opens on its own record, and
// SIGTERM finishes the requests in flight. Every test starts and restarts servers on one
// data directory and the port the file's first server had (as a user's server keeps its
// port: the vault URL, and so the challenge's resource, stay the same), and every client
// after a restart is new.
//
// One data directory for the whole file, not one per test: MSAL keeps managed identity
// tokens in a single cache per process, and a token from another instance (another data
// directory, another signing key) would be sent to the next one. Names differ per test.
let dataDir: string;
/** The port of the file's first server, which every later one takes. */
let port: number | undefined;
before(() => {
  dataDir = newDataDir();
});
after(() => removeDataDir(dataDir));

/** Starts servers on the data directory; whichever still runs is killed after the test. */
function workspace(t: TestContext): { dataDir: string; start: (args?: string[]) => Promise<Lockbox> } {
  const servers: Lockbox[] = [];
  t.after(async () => {
    for (const s of servers) if (s.process.exitCode === null && s.process.signalCode === null) await s.kill();
  });
  return {
    dataDir,
    start: async (args = []) => {
      const lockbox = await startLockbox({ dataDir, args: [...(port ? ["--port", String(port)] : []), ...args] });
      port ??= lockbox.port;
      servers.push(lockbox);
      return lockbox;
    },
  };
}

/** What a user does after a (re)start: export the server's environment, make a new client. */
function clientFor(lockbox: Lockbox, options?: SecretClientOptions): SecretClient {
  useEnvironment(lockbox);
  return new SecretClient(lockbox.vaultUrl(), new DefaultAzureCredential(), options);
}

const randomValue = (label: string): string => `${label}-${randomBytes(16).toString("hex")}`;

test("kill -9 right after setSecret resolved: the value is there after a restart", async (t) => {
  const ws = workspace(t);
  const first = await ws.start();
  const value = randomValue("crash");
  const set = await clientFor(first).setSecret("crash-one", value);
  await first.kill();

  const second = await ws.start();
  const got = await clientFor(second).getSecret("crash-one");
  assert.equal(got.value, value);
  assert.equal(got.properties.version, set.properties.version);
  assert.equal(await second.stop(), 0);
});

test("kill -9 right after a burst of 50 concurrent setSecret calls resolved: every acknowledged value is there after a restart", async (t) => {
  const ws = workspace(t);
  const first = await ws.start();
  const client = clientFor(first);
  await client.setSecret("burst-warmup", "warm"); // token and connection, so the burst is 50 writes

  const values = Array.from({ length: 50 }, (_, i) => randomValue(`burst-${i}`));
  const acknowledged = await Promise.all(values.map((v, i) => client.setSecret(`burst-${i}`, v)));
  await first.kill();

  const second = await ws.start();
  const after = clientFor(second);
  const read = await Promise.all(values.map((_, i) => after.getSecret(`burst-${i}`)));
  read.forEach((got, i) => {
    assert.equal(got.value, values[i], `burst-${i}`);
    assert.equal(got.properties.version, acknowledged[i]!.properties.version, `burst-${i}`);
  });
  assert.equal(await second.stop(), 0);
});

test("no secret value in the clear at rest or in the logs (debug logging, versions, update, backup, delete, recover)", async (t) => {
  const ws = workspace(t);
  const marker = `marker-${randomBytes(24).toString("hex")}`;
  const needles = encodingsOf(marker);
  // The search itself finds the marker wherever and however it is written.
  for (const probe of [
    Buffer.from(`{"value":"${marker}"}`),
    Buffer.from(`xx${marker}yy`, "utf16le"),
    ...[0, 1, 2].flatMap((pad) => [
      Buffer.from(Buffer.from("x".repeat(pad) + marker + "!").toString("base64")),
      Buffer.from(Buffer.from("x".repeat(pad) + marker + "?").toString("base64url")),
    ]),
  ]) {
    assert.ok(containsAny(probe, needles), `the search misses ${probe.toString()}`);
  }

  const lockbox = await ws.start(["--log-level", "debug"]);
  const client = clientFor(lockbox);
  const name = "plaintext-probe";
  const v1 = await client.setSecret(name, marker);
  await client.setSecret(name, `${marker}-second`);
  await client.setSecret(name, `third-${marker}`, { contentType: "text/plain", tags: { purpose: "probe" } });
  const v4 = await client.setSecret(name, marker);
  await client.updateSecretProperties(name, v1.properties.version!, { enabled: false, tags: { rotated: "yes" } });
  await client.updateSecretProperties(name, v4.properties.version!, { contentType: "application/x-probe" });
  await assert.rejects(client.setSecret(name, marker.repeat(500)), (e: any) => e.statusCode === 400);
  const backup = await client.backupSecret(name);
  assert.ok(backup && backup.length > 0);
  assert.ok(!containsAny(Buffer.from(backup), needles), "the backup blob holds the value in the clear");
  await (await client.beginDeleteSecret(name, { intervalInMs: 100 })).pollUntilDone();
  await (await client.beginRecoverDeletedSecret(name, { intervalInMs: 100 })).pollUntilDone();
  assert.equal((await client.getSecret(name)).value, marker);
  assert.equal(await lockbox.stop(), 0);

  // Every file: root.key, tls/, server.json, and on SQLite lockbox.db and its -wal/-shm if
  // present; on PostgreSQL every table, and the cluster's files.
  const stored = await storedBytes(ws.dataDir);
  const places = stored.map((s) => s.where);
  assert.ok(
    places.includes(join(ws.dataDir, "lockbox.db")) || places.includes("table versions"),
    `the search does not reach the stored versions: ${places.join(", ")}`,
  );
  for (const { where, bytes } of stored) {
    assert.ok(!containsAny(bytes, needles), `${where} holds the secret value in the clear`);
  }

  const output = lockbox.output();
  assert.match(output, /incoming request/, "debug logging should log requests");
  assert.ok(!containsAny(Buffer.from(output, "utf8"), needles), "the server's output holds the secret value");
});

test("a certificate's private key, its secret and its issuer's password are never in the clear at rest or in the logs", async (t) => {
  const ws = workspace(t);
  const lockbox = await ws.start(["--log-level", "debug"]);
  useEnvironment(lockbox);
  const certificates = new CertificateClient(lockbox.vaultUrl(), new DefaultAzureCredential());
  const password = randomValue("issuer-password");
  await certificates.createIssuer("probe-issuer", "DigiCert", { accountId: "acct", password });
  await certificates.updateIssuer("probe-issuer", { accountId: "acct-2" });
  const policy: CertificatePolicy = {
    issuerName: "Self",
    subject: "CN=probe.contoso.test",
    keyType: "EC",
    keyCurveName: "P-256",
    contentType: "application/x-pem-file",
  };
  await (await certificates.beginCreateCertificate("probe-cert", policy)).pollUntilDone();
  const pem = (await clientFor(lockbox).getSecret("probe-cert")).value!;
  const d = Buffer.from(createPrivateKey(pem).export({ format: "jwk" }).d!, "base64url");
  const needles = [
    ...encodingsOf(password),
    ...encodingsOf(pem.split("\n")[2]!), // a line of the PEM secret's key
    d,
    Buffer.from(d.toString("base64url")),
    Buffer.from(d.toString("base64")),
    Buffer.from(d.toString("hex")),
  ];
  await (await certificates.beginDeleteCertificate("probe-cert")).pollUntilDone();
  await (await certificates.beginRecoverDeletedCertificate("probe-cert")).pollUntilDone();
  assert.equal(await lockbox.stop(), 0);

  for (const { where, bytes } of await storedBytes(ws.dataDir)) {
    assert.ok(!containsAny(bytes, needles), `${where} holds the certificate's key or the issuer's password in the clear`);
  }
  assert.ok(!containsAny(Buffer.from(lockbox.output(), "utf8"), needles), "the server's output holds the key or the password");
});

test("a ciphertext moved onto another secret's version does not open: 5xx, never the other secret's value", async (t) => {
  const ws = workspace(t);
  const first = await ws.start();
  const client = clientFor(first);
  const a1 = await client.setSecret("bound-a", "alpha-one");
  const a2 = await client.setSecret("bound-a", "alpha-two");
  const b1 = await client.setSecret("bound-b", "bravo-one");
  const b2 = await client.setSecret("bound-b", "bravo-two");
  assert.equal(await first.stop(), 0);

  // Swap the sealed values of the latest versions of the two secrets.
  const db = await openRawStore(ws.dataDir);
  try {
    const select = "SELECT sealed FROM versions WHERE vault = ? AND kind = ? AND name = ? AND version = ?";
    const update = "UPDATE versions SET sealed = ? WHERE vault = ? AND kind = ? AND name = ? AND version = ?";
    const [a] = (await db.all(select, ["default", "secret", "bound-a", a2.properties.version])) as Array<{ sealed: Buffer }>;
    const [b] = (await db.all(select, ["default", "secret", "bound-b", b2.properties.version])) as Array<{ sealed: Buffer }>;
    assert.ok(a && b, "both versions are in the versions table");
    assert.ok(!a.sealed.equals(b.sealed), "two versions have the same ciphertext");
    assert.equal(await db.run(update, [b.sealed, "default", "secret", "bound-a", a2.properties.version]), 1, "bound-a updated");
    assert.equal(await db.run(update, [a.sealed, "default", "secret", "bound-b", b2.properties.version]), 1, "bound-b updated");
  } finally {
    await db.close();
  }

  const second = await ws.start();
  const after = clientFor(second, { retryOptions: { maxRetries: 0 } });
  const refusesToOpen = (other: string) => (e: any) => {
    assert.ok(e.statusCode >= 500 && e.statusCode < 600, `expected a 5xx, got ${e.statusCode}: ${e.message}`);
    assert.ok(!String(e.message).includes(other));
    return true;
  };
  await assert.rejects(after.getSecret("bound-a"), refusesToOpen("bravo-two"));
  await assert.rejects(after.getSecret("bound-b"), refusesToOpen("alpha-two"));
  await assert.rejects(after.getSecret("bound-a", { version: a2.properties.version }), refusesToOpen("bravo-two"));
  await assert.rejects(after.getSecret("bound-b", { version: b2.properties.version }), refusesToOpen("alpha-two"));
  // The versions left alone still open.
  assert.equal((await after.getSecret("bound-a", { version: a1.properties.version })).value, "alpha-one");
  assert.equal((await after.getSecret("bound-b", { version: b1.properties.version })).value, "bravo-one");
  assert.equal(await second.stop(), 0);
});

/** Resolves once the server (request logging on) has logged an incoming request whose URL starts with `prefix`. */
function requestArrived(lockbox: Lockbox, prefix: string): Promise<void> {
  const seen = (): boolean => lockbox.output().includes(`"url":"${prefix}`);
  return new Promise((resolve) => {
    if (seen()) return resolve();
    const check = (): void => {
      if (!seen()) return;
      lockbox.process.stdout!.off("data", check);
      resolve();
    };
    lockbox.process.stdout!.on("data", check);
  });
}

test("SIGTERM with 20 setSecret calls in flight: exit code 0, and every call that resolved is there after a restart", async (t) => {
  const ws = workspace(t);
  const first = await ws.start(["--log-level", "debug"]);
  const client = clientFor(first);
  // One call first: the SDK learns the challenge per client, and concurrent first calls race in
  // it (one of them can go out with its body still stripped; sdk-probe-notes.md, last section).
  await client.setSecret("warmup", "warm");
  // Then a token and 20 open connections, so that the 20 calls go straight out.
  await Promise.all(Array.from({ length: 20 }, (_, i) => client.setSecret(`warmup-${i}`, "warm")));

  const values = Array.from({ length: 20 }, (_, i) => randomValue(`inflight-${i}`));
  const calls = values.map((v, i) => client.setSecret(`inflight-${i}`, v));
  // SIGTERM as soon as the first of them reached the server, so that requests are in flight.
  await requestArrived(first, "/secrets/inflight-");
  const received = new Set([...first.output().matchAll(/"url":"\/secrets\/inflight-(\d+)\?/g)].map((m) => Number(m[1])));
  const code = await first.stop();
  const outcomes = await Promise.allSettled(calls);
  assert.equal(code, 0, `exit code after SIGTERM (signal ${first.process.signalCode}); output:\n${first.output()}`);

  // A request the server had received before SIGTERM is finished, not dropped.
  assert.ok(received.size > 0);
  for (const i of received) {
    const o = outcomes[i]!;
    assert.equal(
      o.status,
      "fulfilled",
      `inflight-${i} reached the server before SIGTERM but failed: ${o.status === "rejected" ? String(o.reason) : ""}`,
    );
  }
  const resolved = outcomes.flatMap((o, i) => (o.status === "fulfilled" ? [{ i, version: o.value.properties.version }] : []));
  t.diagnostic(`${received.size} calls had reached the server at SIGTERM; ${resolved.length} of 20 resolved`);

  const second = await ws.start();
  const after = clientFor(second);
  for (const { i, version } of resolved) {
    const got = await after.getSecret(`inflight-${i}`);
    assert.equal(got.value, values[i], `inflight-${i}`);
    assert.equal(got.properties.version, version, `inflight-${i}`);
  }
  assert.equal(await second.stop(), 0);
});

test("SIGTERM as soon as the server says it is listening: it still shuts down cleanly, exit code 0", async () => {
  // The banner ("Lockbox listening on ...", then the environment) is what tells a user, a
  // supervisor or a script that the server is up; from then on SIGTERM means a clean stop.
  const exits: string[] = [];
  for (let attempt = 0; attempt < 5; attempt++) {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", join(ROOT, "src/cli/main.ts"), "serve", "--port", "0", "--data-dir", dataDir],
      {
        cwd: ROOT,
        env: { ...process.env, ...engineEnv(dataDir) },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    let sent = false;
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (!sent && out.includes("Lockbox listening on")) {
        sent = true;
        child.kill("SIGTERM");
      }
    });
    const guard = setTimeout(() => child.kill("SIGKILL"), 30_000); // a server that never starts fails, not hangs
    const exit = await new Promise<string>((resolve) => child.on("exit", (code, signal) => resolve(`code ${code}, signal ${signal}`)));
    clearTimeout(guard);
    assert.ok(sent, `the server never said it was listening:\n${out}`);
    exits.push(exit);
  }
  assert.deepEqual(exits, Array(5).fill("code 0, signal null"));
});

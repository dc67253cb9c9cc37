// The in-process API (src/index.ts): a test suite starts Lockbox in its own process and
// uses the Azure SDK with lb.credential() and nothing else. This file deliberately does not
// import test/helpers/dns.ts, and every server here has a fresh local CA that the test
// run's NODE_EXTRA_CA_CERTS does not name: trust and names come from startLockbox alone.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { watchOutput } from "../helpers/output.ts";
import { request } from "node:https";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { SecretClient } from "@azure/keyvault-secrets";
import { KeyClient } from "@azure/keyvault-keys";
import { startLockbox } from "../../src/index.ts";

// Not from helpers/server.ts, which patches DNS for the test process.
const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))));

/** Whether nothing listens on the port any more. */
function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => resolve(false));
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(true)));
  });
}

test("SecretClient and KeyClient work with lb.credential() alone; stop() frees the port and removes the temporary data directory", async () => {
  const lb = await startLockbox();
  try {
    assert.match(lb.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(lb.vaultUrl("default"), `https://default.vault.localhost:${lb.port}`);
    assert.equal(lb.vaultUrl(), lb.vaultUrl("default"));
    assert.ok(existsSync(join(lb.dataDir, "lockbox.db")));
    assert.equal(lb.env.KEYVAULT_URL, lb.vaultUrl("default"));
    assert.ok(lb.env.IDENTITY_HEADER);

    const secrets = new SecretClient(lb.vaultUrl("default"), lb.credential());
    await secrets.setSecret("db-password", "hunter2");
    assert.equal((await secrets.getSecret("db-password")).value, "hunter2");

    const keys = new KeyClient(lb.vaultUrl("default"), lb.credential());
    const created = await keys.createEcKey("signing", { curve: "P-256" });
    assert.equal((await keys.getKey("signing")).id, created.id);
  } finally {
    await lb.stop();
  }
  assert.equal(await portIsFree(lb.port), true, "the port is free after stop()");
  assert.equal(existsSync(lb.dataDir), false, "the temporary data directory is removed");
  await lb.stop(); // a second stop is a no-op
});

test("createVault makes a vault the SDK uses at its own URL; vaults keep their objects apart", async () => {
  const lb = await startLockbox();
  try {
    const url = await lb.createVault("orders");
    assert.equal(url, lb.vaultUrl("orders"));
    const orders = new SecretClient(url, lb.credential());
    await orders.setSecret("api-key", "in-orders");
    assert.equal((await orders.getSecret("api-key")).value, "in-orders");
    const defaults = new SecretClient(lb.vaultUrl(), lb.credential());
    await assert.rejects(defaults.getSecret("api-key"), (e: { statusCode?: number }) => e.statusCode === 404);
    // An access-policy vault: the developer identity is still its administrator.
    const legacy = await lb.createVault("legacy", { rbac: false, retentionDays: 7 });
    await new SecretClient(legacy, lb.credential()).setSecret("x", "y");
  } finally {
    await lb.stop();
  }
});

test("storage memory keeps no database on disk, and nothing at all after stop()", async () => {
  const lb = await startLockbox({ storage: "memory" });
  try {
    const secrets = new SecretClient(lb.vaultUrl(), lb.credential());
    await Promise.all(Array.from({ length: 20 }, (_, i) => secrets.setSecret(`s${i}`, `v${i}`)));
    const names: string[] = [];
    for await (const p of secrets.listPropertiesOfSecrets()) names.push(p.name);
    assert.equal(names.length, 20);
    assert.equal((await secrets.getSecret("s7")).value, "v7");
    const files = readdirSync(lb.dataDir);
    for (const f of ["lockbox.db", "root.key", "instance.json"]) assert.ok(!files.includes(f), `no ${f} in ${files.join(", ")}`);
  } finally {
    await lb.stop();
  }
  assert.equal(existsSync(lb.dataDir), false);
});

test("a given data directory is kept at stop(), and a second start finds its data", async () => {
  const dataDir = join(mkdtempSync(join(tmpdir(), "lockbox-inprocess-")), "data");
  try {
    const first = await startLockbox({ dataDir });
    await new SecretClient(first.vaultUrl(), first.credential()).setSecret("kept", "yes");
    await first.stop();
    assert.ok(existsSync(join(dataDir, "lockbox.db")));
    const second = await startLockbox({ dataDir });
    try {
      assert.equal((await new SecretClient(second.vaultUrl(), second.credential()).getSecret("kept")).value, "yes");
    } finally {
      await second.stop();
    }
  } finally {
    rmSync(join(dataDir, ".."), { recursive: true, force: true });
  }
});

test("two servers in one process at once, each with its own CA, and another after they stopped", async () => {
  const [a, b] = await Promise.all([startLockbox({ storage: "memory" }), startLockbox()]);
  try {
    assert.notEqual(a.ca, b.ca);
    await new SecretClient(a.vaultUrl(), a.credential()).setSecret("which", "a");
    await new SecretClient(b.vaultUrl(), b.credential()).setSecret("which", "b");
    assert.equal((await new SecretClient(a.vaultUrl(), a.credential()).getSecret("which")).value, "a");
    assert.equal((await new SecretClient(b.vaultUrl(), b.credential()).getSecret("which")).value, "b");
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
  const c = await startLockbox({ storage: "memory" });
  try {
    await new SecretClient(c.vaultUrl(), c.credential()).setSecret("again", "c");
  } finally {
    await c.stop();
  }
});

test("in a process with an empty environment (no NODE_EXTRA_CA_CERTS, no identity variables)", () => {
  const program = `
    import { startLockbox } from "./src/index.ts";
    import { SecretClient } from "@azure/keyvault-secrets";
    const lb = await startLockbox({ storage: "memory" });
    const client = new SecretClient(lb.vaultUrl("default"), lb.credential());
    await client.setSecret("hello", "world");
    console.log((await client.getSecret("hello")).value);
    await lb.stop();
  `;
  const run = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", program], {
    cwd: ROOT,
    env: { PATH: process.env.PATH },
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(run.stderr, "");
  assert.equal(run.stdout, "world\n");
  assert.equal(run.status, 0);
});

/** One HTTPS request that trusts `ca` alone. */
function call(
  url: string,
  ca: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, agent: false, method: init.method ?? "GET", headers: init.headers }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString("utf8")));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end(init.body);
  });
}

test("lockbox serve --in-memory: a temporary data directory with no store in it, lockbox env works, other commands say why they cannot, and all is gone at exit", async () => {
  const cli = (args: string[]) =>
    spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
  const server = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "serve", "--in-memory", "--port", "0"], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output = watchOutput(server);
  const { exited } = output;
  let dataDir = "";
  try {
    const [, port, dir] = await output.until(
      /listening on https:\/\/127\.0\.0\.1:(\d+) \(data in memory, gone at exit; TLS files in (.+)\)/,
    );
    dataDir = dir!;
    const files = readdirSync(dataDir);
    for (const f of ["lockbox.db", "root.key", "instance.json"]) assert.ok(!files.includes(f), `no ${f} in ${files.join(", ")}`);

    const env = cli(["env", "--json", "--data-dir", dataDir]);
    assert.equal(env.status, 0, env.stderr);
    const { IDENTITY_ENDPOINT, IDENTITY_HEADER } = JSON.parse(env.stdout) as Record<string, string>;
    const ca = readFileSync(join(dataDir, "tls/ca.pem"), "utf8");
    const resource = `https://vault.localhost:${port}`;
    const issued = await call(`${IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=${encodeURIComponent(resource)}`, ca, {
      headers: { "x-identity-header": IDENTITY_HEADER! },
    });
    assert.equal(issued.status, 200, issued.body);
    const token = (JSON.parse(issued.body) as { access_token: string }).access_token;
    const put = await call(`https://localhost:${port}/secrets/in-memory?api-version=7.5`, ca, {
      method: "PUT",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ value: "kept in memory" }),
    });
    assert.equal(put.status, 200, put.body);

    const list = cli(["vault", "list", "--data-dir", dataDir]);
    assert.equal(list.status, 1);
    assert.match(list.stderr, /keeps its data in its own memory \(serve --in-memory\)/);
  } finally {
    server.kill("SIGTERM");
  }
  assert.equal(await exited, 0, output.text());
  assert.ok(dataDir && !existsSync(dataDir), `${dataDir} is removed at exit`);
});

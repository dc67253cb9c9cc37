import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { createServer as createHttpsServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DefaultAzureCredential, type TokenCredential } from "@azure/identity";
import { SecretClient } from "@azure/keyvault-secrets";
import { developerToken, raw } from "../helpers/http.ts";
import { rejectsWith } from "../helpers/sdk.ts";
import { cli, removeDataDir, startLockbox, stopOrKill, useEnvironment, type Lockbox } from "../helpers/server.ts";
import { eventually } from "../helpers/wait.ts";

// Issue 14's observability: Prometheus metrics on GET /metrics (and --metrics-port), one log
// line per request at info that holds nothing secret, readable (pretty) logs, flags checked
// before anything is made, and webhook failures logged with their cause. One server (JSON
// logs, as stdout is a pipe) for most tests; the pretty test starts its own.
let lockbox: Lockbox;

before(async () => {
  lockbox = await startLockbox({ args: ["--metrics-port", "0"] });
  useEnvironment(lockbox);
});

after(async () => {
  if (!lockbox) return;
  await stopOrKill(lockbox);
  removeDataDir(lockbox.dataDir);
});

const LIMIT = { timeout: 120_000 };

/** The value of the samples of `name` whose labels include `labels` (summed), in Prometheus's text format. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) total += Number(m[3]);
  }
  return total;
}

async function scrape(): Promise<string> {
  const r = await raw(lockbox, { path: "/metrics" });
  assert.equal(r.status, 200, `GET /metrics: ${r.status} ${r.text}`);
  assert.match(String(r.headers["content-type"]), /^text\/plain/);
  return r.text;
}

/** The port the banner names for --metrics-port. */
const metricsPortOf = (server: Lockbox): number => {
  const m = /and http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(server.output());
  assert.ok(m, `the banner names no metrics port:\n${server.output()}`);
  return Number(m[1]);
};

function plainGet(port: number, path: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, path }, (res) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** The server's JSON log lines so far (the banner and other text left out). */
function logLines(server: Lockbox): Array<Record<string, any>> {
  return server
    .output()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, any>);
}

/** The AuditEvent lines so far. */
const auditLines = (server: Lockbox): Array<Record<string, any>> =>
  readFileSync(join(server.dataDir, "audit.log"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, any>);

describe("metrics", () => {
  test(
    "GET /metrics: request counts and latency histograms move for SecretSet, SecretGet and a 404, with store, token and process figures",
    LIMIT,
    async () => {
      const before = await scrape();
      const client = new SecretClient(lockbox.vaultUrl(), new DefaultAzureCredential());
      await client.setSecret("metrics-counted", "counted-value");
      assert.equal((await client.getSecret("metrics-counted")).value, "counted-value");
      await rejectsWith(client.getSecret("metrics-missing"), 404, "SecretNotFound");

      // The request's own observation follows its answer: wait for the counters, not a time.
      const after = await eventually("the requests counted", 10_000, async () => {
        const text = await scrape();
        const moved = (operation: string, status: string) =>
          sample(text, "lockbox_http_requests_total", { operation, status }) -
          sample(before, "lockbox_http_requests_total", { operation, status });
        assert.ok(moved("SecretSet", "200") >= 1, "SecretSet 200 not counted");
        assert.ok(moved("SecretGet", "200") >= 1, "SecretGet 200 not counted");
        assert.ok(moved("SecretGet", "404") >= 1, "SecretGet 404 not counted");
        return text;
      });
      for (const [operation, status] of [
        ["SecretSet", "200"],
        ["SecretGet", "200"],
        ["SecretGet", "404"],
      ] as const) {
        const labels = { operation, status };
        const count = sample(after, "lockbox_http_request_duration_seconds_count", labels);
        assert.ok(
          count - sample(before, "lockbox_http_request_duration_seconds_count", labels) >= 1,
          `no latency observed for ${operation} ${status}`,
        );
        assert.ok(sample(after, "lockbox_http_request_duration_seconds_sum", labels) > 0, `zero latency for ${operation} ${status}`);
        assert.equal(
          sample(after, "lockbox_http_request_duration_seconds_bucket", { ...labels, le: "+Inf" }),
          count,
          `the +Inf bucket of ${operation} ${status} is not its count`,
        );
      }
      // The SDK's first request has no token: the 401 is counted as itself.
      assert.ok(sample(after, "lockbox_http_requests_total", { status: "401" }) >= 1);
      assert.equal(sample(after, "lockbox_http_requests_failed_total"), 0, "a 5xx was counted");
      assert.ok(sample(after, "lockbox_tokens_issued_total", { kind: "managed" }) >= 1, "no token issuance counted");
      assert.ok(
        sample(after, "lockbox_store_commit_duration_seconds_count") > sample(before, "lockbox_store_commit_duration_seconds_count"),
        "no store commit observed for setSecret",
      );
      assert.ok(sample(after, "lockbox_store_group_commit_writes_sum") >= sample(after, "lockbox_store_group_commit_writes_count"));
      assert.ok(sample(after, "lockbox_cache_hits_total", { cache: "vaults" }) >= 1, "no vault cache hit counted");
      assert.ok(sample(after, "lockbox_scheduler_run_duration_seconds_count") >= 1, "no scheduler run observed");
      assert.match(after, /^lockbox_event_deliveries_pending 0$/m);
      assert.match(after, /^process_cpu_user_seconds_total /m, "no default process metrics");
      assert.match(after, /^nodejs_eventloop_lag_seconds /m, "no default Node.js metrics");
      // Nothing of the traffic but its shape: no object name is a label.
      assert.ok(!after.includes("metrics-counted") && !after.includes("metrics-missing"), "an object name is in the metrics");
    },
  );

  test("--metrics-port serves plain-HTTP GET /metrics on 127.0.0.1, and only that", LIMIT, async () => {
    const port = metricsPortOf(lockbox);
    assert.notEqual(port, lockbox.port);
    const r = await plainGet(port, "/metrics");
    assert.equal(r.status, 200);
    assert.ok(sample(r.text, "lockbox_http_requests_total") >= 1, r.text.slice(0, 500));
    assert.match(r.text, /^# TYPE lockbox_http_request_duration_seconds histogram$/m);
    assert.equal((await plainGet(port, "/healthz")).status, 404);
  });
});

describe("request log lines", () => {
  test(
    "at info, one line per request (operation, vault, name, status, duration, caller), and never a value, token or query secret",
    LIMIT,
    async () => {
      const name = `logged-${process.pid}`;
      const value = `value-${Math.random().toString(36).slice(2)}-never-logged`;
      const client = new SecretClient(lockbox.vaultUrl(), new DefaultAzureCredential());
      await client.setSecret(name, value);
      assert.equal((await client.getSecret(name)).value, value);
      const token = await developerToken(lockbox);
      const querySecret = `q${Math.random().toString(36).slice(2)}`;
      const r = await raw(lockbox, { path: `/secrets/${name}?api-version=7.5&code=${querySecret}`, token });
      assert.equal(r.status, 200);
      await rejectsWith(client.getSecret(`${name}-missing`), 404, "SecretNotFound");

      // One log line for each audited request of these names (the audit log has one line per request).
      const mine = (l: Record<string, any>) => l.msg === "request" && (l.name === name || l.name === `${name}-missing`);
      const audited = auditLines(lockbox).filter((a) => /\/secrets\/logged-\d+(-missing)?[/?]/.test(String(a.properties.requestUri)));
      assert.ok(audited.length >= 5, `expected at least 5 audited requests, got ${audited.length}`);
      const lines = await eventually("a log line per request", 10_000, async () => {
        const found = logLines(lockbox).filter(mine);
        assert.equal(found.length, audited.length, JSON.stringify(found));
        return found;
      });
      const pairs = (xs: Array<[string, number]>) => xs.map(([o, s]) => `${o} ${s}`).sort();
      assert.deepEqual(
        pairs(lines.map((l) => [l.operation, l.status])),
        pairs(audited.map((a) => [a.operationName, a.properties.httpStatusCode])),
      );
      assert.deepEqual(pairs(lines.filter((l) => l.name === `${name}-missing`).map((l) => [l.operation, l.status])), ["SecretGet 404"]);
      for (const l of lines) {
        assert.equal(l.level, 30, "not at info");
        assert.equal(l.vault, "default");
        assert.equal(typeof l.durationMs, "number");
        assert.ok(l.durationMs >= 0);
        if (l.status !== 401) assert.match(String(l.caller), /^[0-9a-f-]{36}$/, "no caller object id");
        for (const k of ["url", "req", "res", "headers", "query", "body"]) assert.equal(l[k], undefined, `the line has ${k}`);
      }

      const output = lockbox.output();
      assert.ok(!output.includes(value), "a secret value is in the log");
      assert.ok(!output.includes(token), "the bearer token is in the log");
      assert.ok(!output.includes(token.split(".")[2]!), "the token's signature is in the log");
      assert.ok(!/eyJ[A-Za-z0-9_-]{10,}\./.test(output), "a JWT is in the log");
      assert.ok(!output.includes(querySecret), "the query string is in the log");
      assert.ok(!output.includes(lockbox.env.IDENTITY_HEADER), "the identity header is in the log");
    },
  );

  test("one 'listening' line: the banner, not fastify's", () => {
    const listening = lockbox
      .output()
      .split("\n")
      .filter((l) => /listening/i.test(l));
    assert.equal(listening.length, 1, listening.join("\n"));
    assert.match(listening[0]!, /^Lockbox listening on https:\/\//);
  });

  test("--log-format pretty: one human line per event, no JSON", LIMIT, async () => {
    const pretty = await startLockbox({ args: ["--log-format", "pretty"] });
    try {
      // Its own identity endpoint: @azure/identity keeps managed identity tokens per process, and the file's server signs others.
      const credential: TokenCredential = {
        getToken: async () => ({ token: await developerToken(pretty), expiresOnTimestamp: Date.now() + 60_000 }),
      };
      const client = new SecretClient(pretty.vaultUrl(), credential);
      await client.setSecret("pretty-shown", "pretty-value");
      await rejectsWith(client.getSecret("pretty-absent"), 404, "SecretNotFound");
      const line = await eventually("the 404's line", 10_000, async () => {
        const found = pretty
          .output()
          .split("\n")
          .filter((l) => l.includes("pretty-absent"));
        assert.equal(found.length, 1, pretty.output());
        return found[0]!;
      });
      assert.match(
        line,
        /^\d\d:\d\d:\d\d\.\d{3} INFO {2}SecretGet default\/pretty-absent 404 \d+(\.\d)? ms caller=[0-9a-f-]{36} reqId=\S+$/,
      );
      assert.match(pretty.output(), /^\d\d:\d\d:\d\d\.\d{3} INFO {2}SecretSet default\/pretty-shown 200 /m);
      assert.ok(
        !pretty
          .output()
          .split("\n")
          .some((l) => l.startsWith("{")),
        "a JSON line in pretty mode",
      );
      assert.ok(!pretty.output().includes("pretty-value"));
    } finally {
      await stopOrKill(pretty);
      removeDataDir(pretty.dataDir);
    }
  });
});

describe("bad flags", () => {
  for (const [flag, value, message] of [
    ["--log-level", "nonsense", /^lockbox: invalid log level: nonsense \(fatal, error, warn, info, debug, trace, silent\)$/],
    ["--log-format", "xml", /^lockbox: invalid log format: xml \(pretty, json\)$/],
    ["--metrics-port", "http", /^lockbox: invalid metrics port: http$/],
  ] as const) {
    test(`${flag} ${value}: exit 1, one line, and no data directory made`, () => {
      const parent = mkdtempSync(join(tmpdir(), "lockbox-badflag-"));
      try {
        const dataDir = join(parent, "data");
        const r = cli(["serve", "--port", "0", "--data-dir", dataDir, flag, value]);
        assert.equal(r.status, 1, r.stdout + r.stderr);
        assert.equal(r.stdout, "");
        const lines = r.stderr.split("\n").filter(Boolean);
        assert.equal(lines.length, 1, r.stderr);
        assert.match(lines[0]!, message);
        assert.ok(!existsSync(dataDir), "the data directory was made");
      } finally {
        rmSync(parent, { recursive: true, force: true });
      }
    });
  }
});

describe("webhook failures", () => {
  let hook: Server | undefined;
  let dir: string | undefined;
  after(async () => {
    await new Promise((r) => (hook ? hook.close(r) : r(undefined)));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("a webhook whose certificate does not verify is logged with the TLS cause", LIMIT, async () => {
    dir = mkdtempSync(join(tmpdir(), "lockbox-selfsigned-"));
    const made = spawnSync(
      "openssl",
      ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=127.0.0.1", "-days", "1"].concat([
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
      ]),
      { encoding: "utf8" },
    );
    assert.equal(made.status, 0, made.stderr);
    const server = createHttpsServer({ key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")) }, (_req, res) =>
      res.end("{}"),
    );
    hook = server;
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const endpoint = `https://127.0.0.1:${(server.address() as AddressInfo).port}/hook?code=hook-key`;
    const token = await developerToken(lockbox);
    const r = await raw(lockbox, {
      method: "POST",
      path: "/lockbox/v1/vaults/default/subscriptions",
      token,
      body: { endpoint },
    });
    assert.equal(r.status, 201, r.text);

    const line = await eventually("the handshake's failure logged", 20_000, async () => {
      const found = logLines(lockbox).find((l) => l.level === 40 && String(l.msg).includes("could not be reached"));
      assert.ok(found, "no warning yet");
      return found;
    });
    assert.match(
      String(line.msg),
      new RegExp(`subscription ${r.json.id}'s validation: https://127\\.0\\.0\\.1:\\d+/hook could not be reached`),
    );
    const causes: Array<Record<string, any>> = [];
    for (let e = line.err; e; e = e.cause) causes.push(e);
    const tls = causes.find((c) => c.code === "DEPTH_ZERO_SELF_SIGNED_CERT");
    assert.ok(tls, `no TLS cause in ${JSON.stringify(line.err)}`);
    assert.equal(tls.message, "self-signed certificate");
    assert.ok(!lockbox.output().includes("hook-key"), "the webhook's key is in the log");
    await raw(lockbox, { method: "DELETE", path: `/lockbox/v1/vaults/default/subscriptions/${r.json.id}`, token });
  });
});

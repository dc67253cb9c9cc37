import { test } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolveConfig } from "../../src/server/config.ts";
import { createLogger, logRequest, prettyLine, safeError } from "../../src/server/logging.ts";
import { Metrics } from "../../src/server/metrics.ts";
import { SqliteStore } from "../../src/store/sqlite/engine.ts";

// The log's and the metrics' pure parts (issue 14): flags checked in resolveConfig, the
// default format, safeError's causes, the pretty line, and the observers the server wires.
const flags = { dataDir: "/nonexistent/lockbox-unit" };

test("resolveConfig refuses a bad log level, log format or metrics port in one line, and picks pretty only on a terminal", () => {
  assert.throws(() => resolveConfig({ ...flags, logLevel: "nonsense" }, {}), /^Error: invalid log level: nonsense \(fatal, error/);
  assert.throws(() => resolveConfig(flags, { LOCKBOX_LOG_LEVEL: "loud" }), /invalid log level: loud/);
  assert.throws(() => resolveConfig({ ...flags, logFormat: "xml" }, {}), /invalid log format: xml \(pretty, json\)/);
  assert.throws(() => resolveConfig(flags, { LOCKBOX_LOG_FORMAT: "text" }), /invalid log format: text/);
  assert.throws(() => resolveConfig({ ...flags, metricsPort: "70000" }, {}), /invalid metrics port: 70000/);
  assert.equal(resolveConfig(flags, {}, true).logFormat, "pretty");
  assert.equal(resolveConfig(flags, {}, false).logFormat, "json");
  assert.equal(resolveConfig({ ...flags, logFormat: "json" }, {}, true).logFormat, "json");
  assert.equal(resolveConfig(flags, { LOCKBOX_LOG_FORMAT: "PRETTY", LOCKBOX_LOG_LEVEL: "Debug" }, false).logFormat, "pretty");
  assert.equal(resolveConfig(flags, { LOCKBOX_LOG_LEVEL: "Debug" }).logLevel, "debug");
  assert.equal(resolveConfig(flags, {}).metricsPort, undefined);
  assert.equal(resolveConfig(flags, { LOCKBOX_METRICS_PORT: "9464" }).metricsPort, 9464);
});

/** fetch's error when a certificate does not verify: TypeError "fetch failed", caused by OpenSSL's. */
const tlsFailure = (): Error =>
  new TypeError("fetch failed", {
    cause: Object.assign(new Error("unable to verify the first certificate"), { code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" }),
  });

test("safeError shows a TLS or system cause's fixed text, and still no other error's message", () => {
  const shown = safeError(new Error("the rotator webhook https://x/hook could not be reached", { cause: tlsFailure() }));
  const cause = (shown.cause as Record<string, any>).cause as Record<string, unknown>;
  assert.equal(cause.code, "UNABLE_TO_VERIFY_LEAF_SIGNATURE");
  assert.equal(cause.message, "unable to verify the first certificate");
  assert.equal(shown.message, undefined, "a message Lockbox did not write as its own");
  let parsed: unknown;
  try {
    JSON.parse('{"value": "s3cret-value');
  } catch (e) {
    parsed = e;
  }
  assert.ok(!JSON.stringify(safeError(parsed)).includes("s3cret"), "a JSON parser's message (which quotes its input) is shown");
  const argument = Object.assign(new TypeError('The "data" argument must be a string. Received "s3cret-value"'), {
    code: "ERR_INVALID_ARG_TYPE",
  });
  assert.ok(!JSON.stringify(safeError(argument)).includes("s3cret"), "node's argument error (which quotes the value) is shown");
});

test("the pretty format: one line per event, a request as operation vault/name status duration, an error with its causes", () => {
  const written: string[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      written.push(chunk.toString());
      done();
    },
  });
  const log = createLogger("info", "pretty", out);
  logRequest(log, {
    operation: "SecretGet",
    vault: "default",
    name: "db-password",
    status: 404,
    durationMs: 3.14159,
    callerObjectId: "11111111-2222-3333-4444-555555555555",
    requestId: "r-1",
  });
  logRequest(log, { operation: "LockboxGET/healthz", vault: "", status: 200, durationMs: 1, requestId: "r-2" });
  log.warn({ err: new Error("outer", { cause: tlsFailure() }) }, "event e1: https://hook.test/x could not be reached");
  const text = written.join("");
  const lines = text.split("\n").filter(Boolean);
  assert.equal(lines.length, 2, text);
  assert.match(
    lines[0]!,
    /^\d\d:\d\d:\d\d\.\d{3} INFO {2}SecretGet default\/db-password 404 3\.1 ms caller=11111111-2222-3333-4444-555555555555 reqId=r-1$/,
  );
  assert.match(
    lines[1]!,
    /^\d\d:\d\d:\d\d\.\d{3} WARN {2}event e1: https:\/\/hook\.test\/x could not be reached err="Error <- TypeError <- Error UNABLE_TO_VERIFY_LEAF_SIGNATURE: unable to verify the first certificate"$/,
  );
  // A line that is not pino's JSON is passed on as it is.
  assert.equal(prettyLine("plain text"), "plain text\n");
});

test("the store's group commit tells its observer each transaction's writes, time and outcome", async () => {
  const seen: Array<[number, boolean]> = [];
  const dir = mkdtempSync(join(tmpdir(), "lockbox-commits-"));
  const store = new SqliteStore(join(dir, "a.db"), { transaction: (writes, _seconds, committed) => void seen.push([writes, committed]) });
  try {
    await Promise.all([1, 2, 3].map((i) => store.write((repo) => repo.keepMeta(`k${i}`, "v"))));
    await store.write(() => Promise.reject(new Error("undone"))).catch(() => undefined);
    assert.deepEqual(seen, [
      [3, true],
      [1, false],
    ]);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("each server's metrics are its own registry: two in one process do not share counts", async () => {
  const a = new Metrics();
  const b = new Metrics();
  a.request({ operation: "SecretGet", vault: "default", status: 200, durationMs: 2, requestId: "x" });
  a.request({ operation: "SecretSet", vault: "default", status: 503, durationMs: 2, requestId: "y" });
  a.request({ operation: "SecretSet", vault: "default", status: 429, durationMs: 2, requestId: "z" });
  a.commits.transaction(4, 0.002, true);
  a.cache("vaults", true);
  a.tokens.issued?.("managed");
  const textA = (await a.scrape()).body;
  const textB = (await b.scrape()).body;
  assert.match(textA, /^lockbox_http_requests_total\{operation="SecretGet",status="200"\} 1$/m);
  assert.match(textA, /^lockbox_http_requests_failed_total\{operation="SecretSet"\} 1$/m);
  assert.match(textA, /^lockbox_http_requests_throttled_total\{operation="SecretSet"\} 1$/m);
  assert.match(textA, /^lockbox_store_group_commit_writes_sum 4$/m);
  assert.match(textA, /^lockbox_cache_hits_total\{cache="vaults"\} 1$/m);
  assert.match(textA, /^lockbox_tokens_issued_total\{kind="managed"\} 1$/m);
  assert.doesNotMatch(textB, /^lockbox_http_requests_total\{/m);
  assert.match(textB, /^process_cpu_user_seconds_total /m);
});

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { STATUS_CODES } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ClientSecretCredential, DefaultAzureCredential, type TokenCredential } from "@azure/identity";
import { KeyClient } from "@azure/keyvault-keys";
import { SecretClient, type SecretClientOptions } from "@azure/keyvault-secrets";
import { decodeJwt } from "jose";
import { OPERATIONS } from "../../src/authz/operations.ts";
import { developerToken, raw } from "../helpers/http.ts";
import { cli, type Lockbox, removeDataDir, saveEnvironment, startLockbox, useEnvironment } from "../helpers/server.ts";
import { eventually } from "../helpers/wait.ts";
import type { AuditEvent } from "../../src/audit/audit.ts";

// The AuditEvent log (issue 5): one JSON line per request and per scheduled action, in
// Azure's shape, appended to --audit-log FILE (default DATA-DIR/audit.log), never holding a
// secret value. The tests run in order on one data directory: SDK requests by the developer
// and a service principal, then a restart with the dev clock for a scheduled rotation, then
// a restart without --audit-log.
let lockbox: Lockbox;
let auditDir: string;
let auditPath: string;
const restoreEnvironment = saveEnvironment();

before(async () => {
  auditDir = mkdtempSync(join(tmpdir(), "lockbox-audit-"));
  auditPath = join(auditDir, "audit.jsonl");
  lockbox = await startLockbox({ args: ["--audit-log", auditPath] });
  useEnvironment(lockbox);
});

after(async () => {
  restoreEnvironment();
  await lockbox.stop();
  removeDataDir(lockbox.dataDir);
  rmSync(auditDir, { recursive: true, force: true });
});

/** A line of the audit log as read back: Lockbox's AuditEvent, its properties as found. */
type AuditLine = Omit<AuditEvent, "properties"> & { properties: { requestUri?: string; id?: string; [k: string]: unknown } };

const OID = "http://schemas.microsoft.com/identity/claims/objectidentifier";

/** The file's lines, each parsed; a line that is not a JSON object fails the test. */
function linesOf(file: string): AuditLine[] {
  if (!existsSync(file)) return [];
  const text = readFileSync(file, "utf8");
  assert.ok(text === "" || text.endsWith("\n"), `the audit file does not end with a newline: ${JSON.stringify(text.slice(-200))}`);
  return text
    .split("\n")
    .filter((l, i, all) => i < all.length - 1 || l !== "")
    .map((l, i) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(l);
      } catch {
        assert.fail(`line ${i + 1} of ${file} is not JSON: ${l}`);
      }
      assert.ok(parsed !== null && typeof parsed === "object" && !Array.isArray(parsed), `line ${i + 1} is not a JSON object: ${l}`);
      return parsed as AuditLine;
    });
}

/** Waits (at most 5 s) until the file's lines satisfy `ready`: a scheduled action's line comes when the scheduler runs. */
function waitForLines(file: string, what: string, ready: (lines: AuditLine[]) => boolean): Promise<AuditLine[]> {
  return eventually(`${what} in ${file}`, 5000, async () => {
    const lines = linesOf(file);
    assert.ok(ready(lines), `it holds:\n${lines.map((l) => JSON.stringify(l)).join("\n")}`);
    return lines;
  });
}

/** One HTTP request as the SDK sent it, seen by a policy after authentication, next to the wire. */
interface Sent {
  who: "developer" | "sp";
  operationName: string;
  method: string;
  url: string;
  clientRequestId: string;
  status: number;
}

type Policy = NonNullable<SecretClientOptions["additionalPolicies"]>[number]["policy"];

describe("the audit log of SDK requests", () => {
  const sent: Sent[] = [];
  let expecting = "";
  const capture = (who: Sent["who"]): Policy => ({
    name: `capture-${who}`,
    async sendRequest(request, next) {
      const response = await next(request);
      sent.push({
        who,
        operationName: expecting,
        method: request.method,
        url: request.url,
        clientRequestId: request.headers.get("x-ms-client-request-id") ?? "",
        status: response.status,
      });
      return response;
    },
  });
  const clientFor = (who: Sent["who"], credential: TokenCredential): SecretClient =>
    new SecretClient(lockbox.vaultUrl(), credential, { additionalPolicies: [{ policy: capture(who), position: "perRetry" }] });

  const VALUE_A = `audit-value-a-${randomUUID()}`;
  const VALUE_DENIED = `audit-value-denied-${randomUUID()}`;
  let sp: { objectId: string; clientId: string; clientSecret: string; tenantId: string };
  let dev: { oid: string; appid: string };
  let lines: AuditLine[] = [];
  let mine: AuditLine[] = [];
  let batchStart = 0;
  let batchEnd = 0;

  before(async () => {
    const made = cli(["sp", "create", "auditor", "--json", "--data-dir", lockbox.dataDir]);
    assert.equal(made.status, 0, made.stderr);
    sp = JSON.parse(made.stdout);
    const assigned = cli([
      "role",
      "assign",
      "--vault",
      "default",
      "--assignee",
      "auditor",
      "--role",
      "Key Vault Secrets User",
      "--data-dir",
      lockbox.dataDir,
    ]);
    assert.equal(assigned.status, 0, assigned.stderr);
    const claims = decodeJwt(await developerToken(lockbox));
    dev = { oid: String(claims.oid), appid: String(claims.appid) };

    const developer = clientFor("developer", new DefaultAzureCredential());
    const app = clientFor(
      "sp",
      new ClientSecretCredential(sp.tenantId, sp.clientId, sp.clientSecret, {
        authorityHost: `https://127.0.0.1:${lockbox.port}`,
        disableInstanceDiscovery: true,
      }),
    );

    const baseline = linesOf(auditPath).length;
    batchStart = Date.now();
    expecting = "SecretSet";
    await developer.setSecret("audit-a", VALUE_A);
    expecting = "SecretGet";
    await developer.getSecret("audit-a");
    expecting = "SecretGet";
    await app.getSecret("audit-a");
    expecting = "SecretList";
    for await (const p of app.listPropertiesOfSecrets()) void p;
    expecting = "SecretSet";
    await assert.rejects(app.setSecret("audit-denied", VALUE_DENIED), (e: any) => e.statusCode === 403);
    expecting = "SecretGet";
    await assert.rejects(app.getSecret("no-such-secret"), (e: any) => e.statusCode === 404);

    lines = await waitForLines(auditPath, `${sent.length} lines for the requests sent`, (all) => all.length >= baseline + sent.length);
    batchEnd = Date.now();
    mine = lines.slice(baseline);
  });

  test("the SDK sent what the test expects: each client's first request is the unauthenticated 401", () => {
    assert.deepEqual(
      sent.map((s) => `${s.who} ${s.method} ${s.status}`),
      ["developer PUT 401", "developer PUT 200", "developer GET 200", "sp GET 401", "sp GET 200", "sp GET 200", "sp PUT 403", "sp GET 404"],
    );
    for (const s of sent)
      assert.match(s.clientRequestId, /^[0-9a-f-]{36}$/, `the SDK sent no x-ms-client-request-id with ${s.method} ${s.url}`);
  });

  test("exactly one line per request, matched by correlationId (x-ms-client-request-id) and result", () => {
    assert.equal(mine.length, sent.length, `expected ${sent.length} new lines, got:\n${mine.map((l) => JSON.stringify(l)).join("\n")}`);
    const key = (id: string, signature: string | undefined): string => `${id} ${signature}`;
    assert.deepEqual(
      mine.map((l) => key(l.correlationId, l.resultSignature)).sort(),
      sent.map((s) => key(s.clientRequestId, STATUS_CODES[s.status])).sort(),
    );
  });

  test("each line has Azure's AuditEvent fields, right for its request", () => {
    // Every field of every line is checked, and all that is wrong is reported at once.
    const problems: string[] = [];
    const vaultUrl = lockbox.vaultUrl().replace(/\./g, "\\.");
    for (const s of sent) {
      const label = `${s.who} ${s.operationName} ${s.method} ${s.url} -> ${s.status}`;
      const line = mine.find((l) => l.correlationId === s.clientRequestId && l.resultSignature === STATUS_CODES[s.status]);
      if (!line) {
        problems.push(`${label}: no line`);
        continue;
      }
      const check = (ok: boolean, field: string, shown: unknown): void => {
        if (!ok) problems.push(`${label}: ${field} is ${JSON.stringify(shown)}`);
      };
      const t = Date.parse(line.time);
      check(
        /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(line.time) && t >= batchStart - 1 && t <= batchEnd,
        "time (not the request's)",
        line.time,
      );
      check(
        /^\/SUBSCRIPTIONS\/[^/]+\/RESOURCEGROUPS\/[^/]+\/PROVIDERS\/MICROSOFT\.KEYVAULT\/VAULTS\/DEFAULT$/.test(line.resourceId),
        "resourceId (not the vault DEFAULT's)",
        line.resourceId,
      );
      check(
        line.operationName === s.operationName && OPERATIONS.has(line.operationName),
        `operationName (not ${s.operationName})`,
        line.operationName,
      );
      const apiVersion = new URL(s.url).searchParams.get("api-version");
      check(line.operationVersion === apiVersion, `operationVersion (not the api-version ${apiVersion})`, line.operationVersion);
      check(line.category === "AuditEvent", "category", line.category);
      check(line.resultType === (s.status < 400 ? "Success" : "Failure"), "resultType", line.resultType);
      check(typeof line.resultDescription === "string", "resultDescription", line.resultDescription);
      check(Number.isInteger(line.durationMs) && line.durationMs >= 0, "durationMs", line.durationMs);
      check(/^(::ffff:)?127\.0\.0\.1$/.test(line.callerIpAddress), "callerIpAddress", line.callerIpAddress);
      check(line.properties?.requestUri === s.url, "properties.requestUri", line.properties?.requestUri);
      if (s.operationName !== "SecretList") {
        const name = /\/secrets\/([^/?]+)/.exec(new URL(s.url).pathname)?.[1];
        check(
          new RegExp(`^${vaultUrl}/secrets/${name}(/[0-9a-f]{32})?$`).test(line.properties?.id ?? ""),
          `properties.id (not the id of the secret ${name})`,
          line.properties?.id,
        );
      }
      if (s.status === 401) {
        check(!line.identity?.claim?.[OID], "identity (a request without a token has none)", line.identity);
      } else {
        const who = s.who === "developer" ? { oid: dev.oid, appid: dev.appid } : { oid: sp.objectId, appid: sp.clientId };
        check(line.identity?.claim?.[OID] === who.oid, `identity.claim objectidentifier (not ${who.oid})`, line.identity?.claim?.[OID]);
        check(line.identity?.claim?.appid === who.appid, `identity.claim appid (not ${who.appid})`, line.identity?.claim?.appid);
      }
    }
    assert.deepEqual(problems, [], `wrong AuditEvent fields:\n${problems.join("\n")}`);
  });

  test("an operator can tell who read which secret", () => {
    const id = new RegExp(`^${lockbox.vaultUrl().replace(/\./g, "\\.")}/secrets/audit-a(/[0-9a-f]{32})?$`);
    const readers = lines
      .filter((l) => l.operationName === "SecretGet" && l.resultType === "Success" && id.test(l.properties?.id ?? ""))
      .map((l) => l.identity?.claim?.[OID]);
    const gets = lines
      .filter((l) => l.operationName === "SecretGet")
      .map((l) => `${l.resultType} ${l.properties?.id} by ${l.identity?.claim?.[OID]}`);
    assert.deepEqual(
      new Set(readers),
      new Set([dev.oid, sp.objectId]),
      `filtering SecretGet lines by the id ${lockbox.vaultUrl()}/secrets/audit-a[/VERSION] finds the readers ${JSON.stringify(readers)}; the SecretGet lines:\n${gets.join("\n")}`,
    );
    const denied = lines.filter(
      (l) => l.operationName === "SecretSet" && l.resultType === "Failure" && l.resultSignature === STATUS_CODES[403],
    );
    assert.deepEqual(
      denied.map((l) => l.identity?.claim?.[OID]),
      [sp.objectId],
      "the denied setSecret is not recorded with the service principal as its caller",
    );
  });

  test("no secret value appears in the audit file", () => {
    const text = readFileSync(auditPath, "utf8");
    for (const value of [VALUE_A, VALUE_DENIED]) {
      for (const form of [value, Buffer.from(value).toString("base64"), Buffer.from(value).toString("base64url")]) {
        assert.ok(!text.includes(form), `the audit file holds a secret value (${form})`);
      }
    }
  });
});

describe("log rotation", () => {
  test("after the log is moved away and the server gets SIGHUP, lines go to a new file at its path", async () => {
    const token = await developerToken(lockbox);
    const rotated = `${auditPath}.1`;
    renameSync(auditPath, rotated);
    const before = readFileSync(rotated, "utf8");
    lockbox.process.kill("SIGHUP");
    // The server has handled the signal once it has opened a new file at the path; a request
    // sent before that is rightly still written to the moved file.
    await eventually("a new file at the audit log's path", 5000, async () => assert.ok(existsSync(auditPath), "not yet"));
    const id = randomUUID();
    await eventually("a line in the new file", 5000, async () => {
      const r = await raw(lockbox, { path: "/secrets?api-version=7.6", token, headers: { "x-ms-client-request-id": id } });
      assert.equal(r.status, 200, r.text);
      assert.ok(
        linesOf(auditPath).some((l) => l.correlationId === id),
        "the request's line is not in the new file",
      );
    });
    assert.equal(readFileSync(rotated, "utf8"), before, "the moved file was written after SIGHUP");
  });
});

describe("after a restart", () => {
  /** A credential that asks the current server's managed identity endpoint each time (no MSAL cache). */
  const developerCredential: TokenCredential = {
    getToken: async () => ({ token: await developerToken(lockbox), expiresOnTimestamp: Date.now() + 60_000 }),
  };

  test("a scheduled rotation (dev clock) is audited as KeyRotateIfDue", async () => {
    const code = await lockbox.stop();
    assert.equal(code, 0, `Lockbox did not stop cleanly:\n${lockbox.output()}`);
    lockbox = await startLockbox({ dataDir: lockbox.dataDir, args: ["--dev-clock", "--audit-log", auditPath] });
    useEnvironment(lockbox);

    const keys = new KeyClient(lockbox.vaultUrl(), developerCredential);
    const key = await keys.createEcKey("audit-rotated");
    await keys.updateKeyRotationPolicy("audit-rotated", {
      expiresIn: "P90D",
      lifetimeActions: [{ action: "Rotate", timeAfterCreate: "P30D" }],
    });
    const moved = await raw(lockbox, {
      method: "POST",
      path: "/lockbox/v1/clock",
      body: { advanceSeconds: 2_678_400 },
      token: await developerToken(lockbox),
    });
    assert.equal(moved.status, 200, `POST /lockbox/v1/clock: ${moved.text}`);

    const versions: string[] = [];
    for await (const p of keys.listPropertiesOfKeyVersions("audit-rotated")) versions.push(p.version!);
    assert.equal(versions.length, 2, `the key was not rotated: versions ${versions.join(", ")}`);
    const rotatedTo = versions.find((v) => v !== key.properties.version);

    const keyId = `${lockbox.vaultUrl()}/keys/audit-rotated`;
    const all = await waitForLines(auditPath, "a KeyRotateIfDue line", (ls) => ls.some((l) => l.operationName === "KeyRotateIfDue"));
    const rotations = all.filter((l) => l.operationName === "KeyRotateIfDue");
    assert.equal(rotations.length, 1, `expected one KeyRotateIfDue line:\n${rotations.map((l) => JSON.stringify(l)).join("\n")}`);
    const line = rotations[0]!;
    assert.equal(line.category, "AuditEvent");
    assert.equal(line.resultType, "Success", JSON.stringify(line));
    assert.match(line.resourceId, /\/VAULTS\/DEFAULT$/, JSON.stringify(line));
    assert.ok(
      line.properties?.id === keyId || line.properties?.id === `${keyId}/${rotatedTo}`,
      `properties.id of the rotation: ${JSON.stringify(line)}`,
    );
    assert.ok(!Number.isNaN(Date.parse(line.time)), `time: ${line.time}`);
    assert.ok(Number.isInteger(line.durationMs) && line.durationMs >= 0, `durationMs: ${line.durationMs}`);
  });

  test("without --audit-log the lines go to DATA-DIR/audit.log", async () => {
    const code = await lockbox.stop();
    assert.equal(code, 0, `Lockbox did not stop cleanly:\n${lockbox.output()}`);
    const defaultPath = join(lockbox.dataDir, "audit.log");
    const before = linesOf(defaultPath).length;
    lockbox = await startLockbox({ dataDir: lockbox.dataDir });
    useEnvironment(lockbox);

    const correlationId = randomUUID();
    const r = await raw(lockbox, {
      path: "/secrets/audit-a?api-version=7.6",
      token: await developerToken(lockbox),
      headers: { "x-ms-client-request-id": correlationId },
    });
    assert.equal(r.status, 200, r.text);
    const lines = await waitForLines(defaultPath, `the line of request ${correlationId}`, (ls) =>
      ls.some((l) => l.correlationId === correlationId),
    );
    assert.equal(lines.length, before + 1, `expected one new line in ${defaultPath}`);
    const line = lines.at(-1)!;
    assert.equal(line.correlationId, correlationId);
    assert.equal(line.operationName, "SecretGet");
    assert.equal(line.resultType, "Success");
    assert.ok(!linesOf(auditPath).some((l) => l.correlationId === correlationId), "the line also went to the earlier --audit-log file");
  });
});

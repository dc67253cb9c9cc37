import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AuditEvent } from "../../src/audit/audit.ts";
import { assertError, developerToken, raw, type RawResponse } from "../helpers/http.ts";
import { startOnSmallFilesystem, type SmallFsLockbox } from "../helpers/smallfs.ts";
import { eventually, sleep } from "../helpers/wait.ts";

// Fail-closed auditing (issue 10): no result leaves Lockbox without its AuditEvent line. The
// server runs with its data directory on a small tmpfs of its own (test/helpers/smallfs.ts)
// that the test fills to the last byte, as a client that can write secrets could.

const linesOf = (file: string): AuditEvent[] =>
  existsSync(file)
    ? readFileSync(file, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as AuditEvent)
    : [];

const count = (text: string, pattern: RegExp): number => text.split("\n").filter((l) => pattern.test(l)).length;

describe("the audit log on a full filesystem", () => {
  let fs: SmallFsLockbox;
  let token: string;
  const VALUE = `fail-closed-${randomUUID()}`;
  /** Every request the test made, by its x-ms-client-request-id, with the answer it got. */
  const answered = new Map<string, RawResponse>();

  const call = async (method: string, path: string, body?: object): Promise<RawResponse> => {
    const id = randomUUID();
    const r = await raw(fs.lockbox, { method, path: `${path}?api-version=7.6`, body, token, headers: { "x-ms-client-request-id": id } });
    answered.set(id, r);
    return r;
  };

  before(async () => {
    fs = await startOnSmallFilesystem();
    token = await developerToken(fs.lockbox);
  });
  after(() => fs.remove());

  test("reads are refused with 503 and nothing of the secret while the line cannot be written; once there is room, every answer the client got is in the log", async () => {
    assert.equal((await call("PUT", "/secrets/guarded", { value: VALUE })).status, 200);
    assert.equal((await call("GET", "/secrets/guarded")).json.value, VALUE);
    // Due right away (30 days before its expiry) and done now, while the log is writable.
    const exp = Math.ceil(Date.now() / 1000) + 6;
    assert.equal((await call("PUT", "/secrets/expiring", { value: "soon", attributes: { exp } })).status, 200);
    const audit = fs.seen("audit.log");
    await eventually("the scheduler's SecretNearExpiry line", 5000, async () =>
      assert.ok(
        linesOf(audit).some((l) => l.operationName === "SecretNearExpiry"),
        "no SecretNearExpiry line",
      ),
    );

    const filled = fs.fill();
    assert.ok(filled > 0);
    // The log's last page may still hold a few lines (tmpfs allocates whole pages): each of
    // those reads is audited and answered; the first line that does not fit stops them.
    let fitted = 0;
    let first: RawResponse;
    while ((first = await call("GET", "/secrets/guarded")).status === 200)
      assert.ok(++fitted < 20, "reads go on long after the disk is full");
    // The first read whose line does not fit was carried out before that was known: its answer is withheld.
    const refused: RawResponse[] = [first];
    for (let i = 0; i < 10; i++) refused.push(await call("GET", "/secrets/guarded"));
    refused.push(await call("PUT", "/secrets/guarded", { value: "written-while-full" }));
    for (const r of refused) {
      assertError(r, 503, "ServiceUnavailable");
      assert.equal(r.headers["retry-after"], "1");
      assert.ok(!r.text.includes(VALUE), "a refused answer carries the secret's value");
    }
    // The server's output reaches the test through a pipe, so the line may come a moment after the answers.
    await eventually("one error line for the episode", 5000, async () => {
      const output = fs.lockbox.output();
      assert.equal(count(output, /audit log .* cannot be written \(ENOSPC/), 1, `not one error line for the episode:\n${output}`);
    });

    // The secret expires while the log is full: the scheduler must wait to do its part.
    while (Date.now() < exp * 1000 + 2500) await sleep(100);

    const freedAt = Date.now();
    fs.free();
    // The server finds out by itself (it retries every second), before any request comes.
    await eventually("the server telling that the log can be written again", 5000, async () =>
      assert.equal(count(fs.lockbox.output(), /audit log .* can be written again \(it failed with ENOSPC/), 1),
    );
    const back = await eventually("a read once there is room", 5000, async () => {
      const r = await call("GET", "/secrets/guarded");
      assert.equal(r.status, 200, r.text);
      return r;
    });
    assert.equal(back.json.value, VALUE, "the write refused while the disk was full was carried out");

    const lines = await eventually("the SecretExpired line, written after the log could be written again", 5000, async () => {
      const all = linesOf(audit);
      const expired = all.find((l) => l.operationName === "SecretExpired");
      assert.ok(expired, "no SecretExpired line");
      assert.ok(
        Date.parse(expired.time) >= freedAt - 1000,
        `SecretExpired was done at ${expired.time}, while the audit log was full (freed at ${new Date(freedAt).toISOString()})`,
      );
      return all;
    });

    const byCorrelation = new Map(lines.filter((l) => l.correlationId).map((l) => [l.correlationId, l]));
    let withheld = 0;
    for (const [id, r] of answered) {
      const line = byCorrelation.get(id);
      if (r.status === 200) {
        assert.ok(line, `a request answered 200 has no audit line (${id})`);
        assert.equal(line.properties.httpStatusCode, 200);
      } else if (line) {
        // Carried out, then its line could not be written: the answer was withheld, and the line says so.
        withheld++;
        assert.equal(line.properties.httpStatusCode, 503);
        assert.match(line.resultDescription, /withheld/);
      }
    }
    assert.equal(
      withheld,
      1,
      `${withheld} requests were carried out while the log could not be written (the first one only, whose line did not fit)`,
    );
  });
});

describe("the database on a full filesystem", () => {
  let fs: SmallFsLockbox;
  let token: string;
  let auditDir: string;

  before(async () => {
    // The audit log elsewhere, so that only the database's disk is full.
    auditDir = mkdtempSync(join(tmpdir(), "lockbox-audit-"));
    fs = await startOnSmallFilesystem({ engine: "sqlite", args: ["--audit-log", join(auditDir, "audit.log")] });
    token = await developerToken(fs.lockbox);
  });
  after(async () => {
    await fs.remove();
    rmSync(auditDir, { recursive: true, force: true });
  });

  test("writes are 503 ServiceUnavailable with Retry-After, the log says what is full, reads go on, and writes work again once there is room", async () => {
    const put = (name: string, value: string) =>
      raw(fs.lockbox, { method: "PUT", path: `/secrets/${name}?api-version=7.6`, body: { value }, token });
    assert.equal((await put("before-full", "kept")).status, 200);

    fs.fill();
    for (let i = 0; i < 3; i++) {
      const r = await put("while-full", `value-${i}`.padEnd(20_000, "x"));
      assertError(r, 503, "ServiceUnavailable");
      assert.equal(r.headers["retry-after"], "1");
      assert.match(r.json.error.message, /full/);
    }
    const output = fs.lockbox.output();
    assert.equal(
      count(output, /filesystem it writes to is full \(SQLITE_FULL\)/),
      1,
      `not one line saying the database's disk is full:\n${output}`,
    );
    const read = await raw(fs.lockbox, { path: "/secrets/before-full?api-version=7.6", token });
    assert.equal(read.json?.value, "kept", read.text);

    fs.free();
    const r = await put("while-full", "after-room");
    assert.equal(r.status, 200, r.text);
    const got = await raw(fs.lockbox, { path: "/secrets/while-full?api-version=7.6", token });
    assert.equal(got.json.value, "after-room");
    const versions = await raw(fs.lockbox, { path: "/secrets/while-full/versions?api-version=7.6", token });
    assert.equal(versions.json.value.length, 1, "a write refused for a full disk left a version behind");
  });
});

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { advanceClock, clockNow } from "../helpers/clock.ts";
import { assertError, developerToken, raw, type RawResponse } from "../helpers/http.ts";
import { removeDataDir, startLockbox, stopOrKill, type Lockbox } from "../helpers/server.ts";
import { eventually } from "../helpers/wait.ts";
import { startWebhook, type Webhook } from "../helpers/webhook.ts";

// The admin API routes the web console uses, over HTTPS against a real server with the dev
// clock: vaults (list, create, update, delete), the audit log read back, the upcoming work,
// and a subscription's deliveries. Each test uses names of its own.
let lockbox: Lockbox;

before(async () => {
  lockbox = await startLockbox({ args: ["--dev-clock"] });
});

after(async () => {
  await stopOrKill(lockbox);
  removeDataDir(lockbox.dataDir);
});

const LIMIT = { timeout: 120_000 };
const DAY = 86_400;

/** An admin-API request as the developer identity (a Lockbox administrator), with a token of now (the dev clock moves). */
const admin = async (method: string, path: string, body?: object): Promise<RawResponse> =>
  raw(lockbox, { method, path, body, token: await developerToken(lockbox) });

/** A data-plane request to a vault, as the developer identity. */
const vaultRequest = async (vault: string, method: string, path: string, body?: object): Promise<RawResponse> =>
  raw(lockbox, {
    method,
    path: `${path}?api-version=7.5`,
    host: `${vault}.vault.localhost:${lockbox.port}`,
    body,
    token: await developerToken(lockbox),
  });

function ok(r: RawResponse, status: number, what: string): any {
  assert.equal(r.status, status, `${what}: ${r.status} ${r.text}`);
  return r.json;
}

describe("vaults", () => {
  test("list, create, update and delete, in the shape vault list --json prints; the errors the Vaults service throws", LIMIT, async () => {
    const listed = ok(await admin("GET", "/lockbox/v1/vaults"), 200, "GET vaults");
    assert.deepEqual(
      listed.value.find((v: { name: string }) => v.name === "default"),
      {
        name: "default",
        url: lockbox.vaultUrl("default"),
        recoveryLevel: "Recoverable+Purgeable",
        retentionDays: 90,
        purgeProtection: false,
        authorization: "rbac",
      },
    );

    const made = ok(
      await admin("POST", "/lockbox/v1/vaults", { name: "Console-Made", retentionDays: 7, authorization: "access-policies" }),
      201,
      "POST vaults",
    );
    assert.deepEqual(made, {
      name: "console-made",
      url: lockbox.vaultUrl("console-made"),
      recoveryLevel: "CustomizedRecoverable+Purgeable",
      retentionDays: 7,
      purgeProtection: false,
      authorization: "access-policies",
    });
    assertError(await admin("POST", "/lockbox/v1/vaults", { name: "console-made" }), 409, "Conflict");
    assertError(await admin("POST", "/lockbox/v1/vaults", { name: "no_underscores" }), 400, "BadParameter");
    assertError(await admin("POST", "/lockbox/v1/vaults", { name: "short-retention", retentionDays: 3 }), 400, "BadParameter");
    assertError(await admin("POST", "/lockbox/v1/vaults", { name: "unknown-field", softDelete: false }), 400, "BadParameter");
    assertError(await admin("POST", "/lockbox/v1/vaults", { name: "bad-model", authorization: "acl" }), 400, "BadParameter");
    // The new vault serves the data plane at once, with access policies deciding.
    ok(await vaultRequest("console-made", "PUT", "/secrets/first", { value: "v" }), 200, "PUT a secret in the new vault");

    const updated = ok(
      await admin("PATCH", "/lockbox/v1/vaults/Console-Made", { authorization: "rbac", purgeProtection: true }),
      200,
      "PATCH vault",
    );
    assert.deepEqual([updated.authorization, updated.purgeProtection, updated.recoveryLevel], ["rbac", true, "CustomizedRecoverable"]);
    const refused = await admin("PATCH", "/lockbox/v1/vaults/console-made", { purgeProtection: false });
    assertError(refused, 400, "BadParameter");
    assert.match(refused.json.error.message, /Purge protection cannot be disabled once it is enabled/);
    const after = ok(await admin("GET", "/lockbox/v1/vaults"), 200, "GET vaults").value.find(
      (v: { name: string }) => v.name === "console-made",
    );
    assert.equal(after.purgeProtection, true, "a refused PATCH changed the vault");
    assertError(await admin("PATCH", "/lockbox/v1/vaults/console-made", { retentionDays: 30 }), 400, "BadParameter");
    assertError(await admin("PATCH", "/lockbox/v1/vaults/no-such-vault", { authorization: "rbac" }), 404, "VaultNotFound");

    assert.equal((await admin("DELETE", "/lockbox/v1/vaults/console-made")).status, 204);
    assertError(await admin("DELETE", "/lockbox/v1/vaults/console-made"), 404, "VaultNotFound");
    assertError(await vaultRequest("console-made", "GET", "/secrets/first"), 404, "VaultNotFound");
    const names = ok(await admin("GET", "/lockbox/v1/vaults"), 200, "GET vaults").value.map((v: { name: string }) => v.name);
    assert.ok(!names.includes("console-made"), names.join(", "));
  });

  test("a caller who is not a Lockbox administrator is refused every console route", LIMIT, async () => {
    const made = ok(await admin("POST", "/lockbox/v1/identities", { name: "console-outsider" }), 201, "POST identities");
    const r = await raw(lockbox, {
      path: `/msi/token?api-version=2019-08-01&resource=${encodeURIComponent("https://vault.localhost")}`,
      headers: { "x-identity-header": made.credential },
    });
    const outsider = ok(r, 200, "the outsider's token").access_token as string;
    for (const [method, path] of [
      ["GET", "/lockbox/v1/vaults"],
      ["POST", "/lockbox/v1/vaults"],
      ["PATCH", "/lockbox/v1/vaults/default"],
      ["DELETE", "/lockbox/v1/vaults/default"],
      ["GET", "/lockbox/v1/audit"],
      ["GET", "/lockbox/v1/schedule"],
      ["GET", "/lockbox/v1/vaults/default/subscriptions/x/deliveries"],
    ] as const) {
      const refused = await raw(lockbox, { method, path, token: outsider, body: method === "GET" || method === "DELETE" ? undefined : {} });
      assertError(refused, 403, "Forbidden", "NotLockboxAdministrator");
    }
    assert.ok(ok(await admin("GET", "/lockbox/v1/vaults"), 200, "GET vaults").value.some((v: { name: string }) => v.name === "default"));
  });
});

describe("the audit log", () => {
  test("GET /lockbox/v1/audit: this server's lines newest first, filtered and paged", LIMIT, async () => {
    ok(await admin("POST", "/lockbox/v1/vaults", { name: "audited-vault" }), 201, "POST vaults");
    assertError(await admin("POST", "/lockbox/v1/vaults", { name: "audited-vault" }), 409, "Conflict");
    ok(await vaultRequest("audited-vault", "PUT", "/secrets/audited-secret", { value: "never in the log" }), 200, "PUT secret");
    assertError(await vaultRequest("audited-vault", "GET", "/secrets/missing-secret"), 404, "SecretNotFound");

    const page = ok(await admin("GET", "/lockbox/v1/audit?vault=AUDITED-vault"), 200, "GET audit");
    assert.deepEqual([page.total, page.skip, page.top], [4, 0, 50]);
    assert.deepEqual(
      page.value.map((e: any) => `${e.operationName} ${e.resultType} ${e.properties.httpStatusCode}`),
      ["SecretGet Failure 404", "SecretSet Success 200", "VaultCreate Failure 409", "VaultCreate Success 201"],
    );
    const line = page.value[1];
    assert.equal(line.category, "AuditEvent");
    assert.equal(line.identity.claim.name, "developer");
    assert.equal(line.properties.id, `${lockbox.vaultUrl("audited-vault")}/secrets/audited-secret`);
    assert.ok(line.resourceId.endsWith("/VAULTS/AUDITED-VAULT"), line.resourceId);
    assert.ok(!JSON.stringify(page).includes("never in the log"), "a secret value is in the audit log");

    const failures = ok(await admin("GET", "/lockbox/v1/audit?vault=audited-vault&result=fail&operation=vaultcreate"), 200, "GET audit");
    assert.deepEqual([failures.total, failures.value[0].properties.httpStatusCode], [1, 409]);
    const byObject = ok(await admin("GET", "/lockbox/v1/audit?object=secrets%2Faudited-secret&caller=DEVEL"), 200, "GET audit");
    assert.deepEqual(
      byObject.value.map((e: any) => e.operationName),
      ["SecretSet"],
    );
    const second = ok(await admin("GET", "/lockbox/v1/audit?vault=audited-vault&top=1&skip=1"), 200, "GET audit");
    assert.deepEqual([second.total, second.top, second.skip, second.value.length], [4, 1, 1, 1]);
    assert.equal(second.value[0].operationName, "SecretSet");
    // The console's own reads are audited too.
    const reads = ok(await admin("GET", "/lockbox/v1/audit?operation=AuditList&top=500"), 200, "GET audit");
    assert.ok(reads.total >= 4, `AuditList lines: ${reads.total}`);
    for (const bad of ["top=0", "top=501", "top=ten", "skip=-1"])
      assertError(await admin("GET", `/lockbox/v1/audit?${bad}`), 400, "BadParameter");
  });
});

describe("upcoming work", () => {
  test("GET /lockbox/v1/schedule: pending lifetime actions and deleted objects' purges, soonest first", LIMIT, async () => {
    ok(await admin("POST", "/lockbox/v1/vaults", { name: "scheduled-vault", retentionDays: 7 }), 201, "POST vaults");
    const now = await clockNow(lockbox);
    const expiring = ok(
      await vaultRequest("scheduled-vault", "PUT", "/secrets/Expiring", { value: "v", attributes: { exp: now + 40 * DAY } }),
      200,
      "PUT Expiring",
    );
    const version = (expiring.id as string).split("/").pop();
    ok(await vaultRequest("scheduled-vault", "PUT", "/secrets/Doomed", { value: "v" }), 200, "PUT Doomed");
    const deleted = ok(await vaultRequest("scheduled-vault", "DELETE", "/secrets/Doomed"), 200, "DELETE Doomed");

    const listed = ok(await admin("GET", "/lockbox/v1/schedule?vault=Scheduled-Vault"), 200, "GET schedule").value;
    const origin = lockbox.vaultUrl("scheduled-vault");
    assert.deepEqual(listed, [
      {
        vault: "scheduled-vault",
        kind: "secret",
        name: "Doomed",
        action: "Purge",
        due: deleted.scheduledPurgeDate,
        deletedAt: deleted.deletedDate,
        id: `${origin}/deletedsecrets/Doomed`,
      },
      {
        vault: "scheduled-vault",
        kind: "secret",
        name: "Expiring",
        action: "NearExpiry",
        version,
        due: now + 10 * DAY,
        operationName: "SecretNearExpiry",
        id: `${origin}/secrets/Expiring/${version}`,
      },
      {
        vault: "scheduled-vault",
        kind: "secret",
        name: "Expiring",
        action: "Expired",
        version,
        due: now + 40 * DAY,
        operationName: "SecretExpired",
        id: `${origin}/secrets/Expiring/${version}`,
      },
    ]);
    assert.equal(deleted.scheduledPurgeDate, deleted.deletedDate + 7 * DAY);
    const everywhere = ok(await admin("GET", "/lockbox/v1/schedule"), 200, "GET schedule").value;
    assert.ok(everywhere.some((u: any) => u.vault === "scheduled-vault" && u.action === "Purge"));
    assert.deepEqual(
      everywhere.map((u: any) => u.due),
      everywhere.map((u: any) => u.due).sort((a: number, b: number) => a - b),
      "not soonest first",
    );
    assert.equal(ok(await admin("GET", "/lockbox/v1/schedule?vault=scheduled-vault&top=1"), 200, "GET schedule").value.length, 1);
    assertError(await admin("GET", "/lockbox/v1/schedule?vault=no-such-vault"), 404, "VaultNotFound");
    assertError(await admin("GET", "/lockbox/v1/schedule?top=1001"), 400, "BadParameter");

    // Past the purge date the scheduler purges it, and the timeline no longer shows it.
    await advanceClock(lockbox, 8 * DAY);
    await eventually("the purge done and gone from the schedule", 15_000, async () => {
      const rest = ok(await admin("GET", "/lockbox/v1/schedule?vault=scheduled-vault"), 200, "GET schedule").value;
      assert.deepEqual(
        rest.map((u: any) => `${u.name} ${u.action}`),
        ["Expiring NearExpiry", "Expiring Expired"],
      );
    });
    assertError(await vaultRequest("scheduled-vault", "GET", "/deletedsecrets/Doomed"), 404, "SecretNotFound");
  });
});

describe("event deliveries", () => {
  test("GET .../subscriptions/:id/deliveries: delivered, failed with its status and next attempt, then delivered", LIMIT, async () => {
    const hook: Webhook = await startWebhook();
    try {
      const sub = ok(
        await admin("POST", "/lockbox/v1/vaults/default/subscriptions", { endpoint: hook.url, types: ["SecretNewVersionCreated"] }),
        201,
        "POST subscription",
      );
      const deliveries = `/lockbox/v1/vaults/default/subscriptions/${sub.id}/deliveries`;
      await hook.waitUntil(() => hook.validations > 0, "the validation handshake");
      ok(await vaultRequest("default", "PUT", "/secrets/delivered-once", { value: "v" }), 200, "PUT secret");
      await hook.waitFor((e) => e.subject === "delivered-once", "the first event");
      const first = await eventually("the delivery in the history", 15_000, async () => {
        const [d] = ok(await admin("GET", deliveries), 200, "GET deliveries").value;
        assert.equal(d?.status, "delivered");
        return d;
      });
      assert.equal(first.subject, "delivered-once");
      assert.equal(first.eventType, "Microsoft.KeyVault.SecretNewVersionCreated");
      assert.equal(first.eventId, hook.events.find((e) => e.subject === "delivered-once")!.id);
      assert.deepEqual([first.attempts, first.lastStatus, first.lastError, first.nextAttemptAt], [1, 200, undefined, undefined]);
      assert.equal(typeof first.lastAttemptAt, "number");

      hook.failNext(1, 503);
      await advanceClock(lockbox, 1);
      ok(await vaultRequest("default", "PUT", "/secrets/delivered-later", { value: "v" }), 200, "PUT secret");
      const failed = await eventually("the failed attempt listed", 15_000, async () => {
        const [d] = ok(await admin("GET", deliveries), 200, "GET deliveries").value;
        assert.equal(d?.status, "failed");
        return d;
      });
      assert.deepEqual(
        [failed.subject, failed.attempts, failed.lastStatus, failed.lastError, failed.nextAttemptAt],
        ["delivered-later", 1, 503, "HTTP 503", failed.lastAttemptAt + 10],
      );
      await advanceClock(lockbox, 10);
      await hook.waitFor((e) => e.subject === "delivered-later", "the retried event");
      const listed = await eventually("the retry delivered", 15_000, async () => {
        const value = ok(await admin("GET", deliveries), 200, "GET deliveries").value;
        assert.equal(value[0]?.status, "delivered");
        return value;
      });
      assert.deepEqual(
        listed.map((d: any) => `${d.subject} ${d.status} ${d.attempts}`),
        ["delivered-later delivered 2", "delivered-once delivered 1"],
      );
      assertError(await admin("GET", "/lockbox/v1/vaults/default/subscriptions/no-such-id/deliveries"), 404, "NotFound");
      assertError(await admin("GET", `/lockbox/v1/vaults/no-such-vault/subscriptions/${sub.id}/deliveries`), 404, "VaultNotFound");
      assert.equal((await admin("DELETE", `/lockbox/v1/vaults/default/subscriptions/${sub.id}`)).status, 204);
      assertError(await admin("GET", deliveries), 404, "NotFound");
    } finally {
      await hook.close();
    }
  });
});

import { after, test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuditLog, AuditReader, requestEvent, scheduledEvent, type AuditQuery, type FinishedRequest } from "../../src/audit/audit.ts";
import { nowSeconds } from "../../src/kernel/clock.ts";
import { KvError } from "../../src/kernel/errors.ts";
import type { UpcomingAction } from "../../src/scheduler/upcoming.ts";
import { DAY, inProcess, schedulerOf } from "../helpers/instance.ts";

// The rules beneath the admin API's console routes, on the services in this process: vault
// settings, the audit log reader, the upcoming work, delivery history, and which vaults an
// identity can see.

const p = await inProcess();

const refusedWith = (status: number, pattern: RegExp) => (e: unknown) =>
  e instanceof KvError && e.status === status && pattern.test(e.message);

test("purge protection can be turned on, never off again; the authorization model switches both ways", async () => {
  const { vaults } = p.instance;
  await vaults.create("guarded", { retentionDays: 7 });
  const on = await vaults.update("guarded", { purgeProtection: true, rbac: false });
  assert.equal(on.purgeProtection, true);
  assert.equal(on.rbac, false);
  assert.equal(on.recoveryLevel, "CustomizedRecoverable");
  await assert.rejects(vaults.update("guarded", { purgeProtection: false }), refusedWith(400, /cannot be disabled once it is enabled/));
  // A refused change changes nothing, not even what came with it.
  await assert.rejects(vaults.update("guarded", { purgeProtection: false, rbac: true }), refusedWith(400, /cannot be disabled/));
  const kept = (await vaults.list()).find((v) => v.name === "guarded")!;
  assert.equal(kept.purgeProtection, true);
  assert.equal(kept.rbac, false);
  // Saying what it already is, is no change.
  assert.equal((await vaults.update("guarded", { purgeProtection: true, rbac: true })).rbac, true);
  assert.equal((await vaults.update("guarded", {})).purgeProtection, true);
  await assert.rejects(vaults.update("no-such-vault", { rbac: true }), refusedWith(404, /does not exist/));
  // Without purge protection, false is no change either.
  await vaults.create("open-vault");
  assert.equal((await vaults.update("open-vault", { purgeProtection: false })).recoveryLevel, "Recoverable+Purgeable");
});

test("the audit log reads back newest first, filtered by case-insensitive substrings, paged with a total", async () => {
  const dir = mkdtempSync(join(tmpdir(), "lockbox-audit-read-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "audit.log");
  const log = new AuditLog(file, { failed: () => undefined, recovered: () => undefined });
  const caller = (name: string) => ({ objectId: `oid-${name}`, clientId: `app-${name}`, tenantId: "t", name });
  const line = (i: number, over: Partial<FinishedRequest> = {}) =>
    requestEvent({
      timeMs: 1_700_000_000_000 + i * 1000,
      subscription: "sub",
      vault: i % 2 ? "payments" : "default",
      operationName: i % 3 ? "SecretGet" : "SecretSet",
      operationVersion: "7.5",
      status: i % 5 ? 200 : 403,
      errorMessage: "",
      durationMs: 1,
      callerIp: "127.0.0.1",
      correlationId: "",
      caller: caller(i % 4 ? "alice" : 'Bob "the builder"'),
      requestUri: `https://x.vault.localhost:8443/secrets/s${i}?api-version=7.5`,
      objectId: `https://x.vault.localhost:8443/secrets/s${i}`,
      userAgent: "test",
      ...over,
    });
  // Enough lines (about 3 MB) that reading back crosses the reader's 1 MiB chunks many times.
  const COUNT = 6000;
  for (let i = 0; i < COUNT; i++) assert.ok(log.record(line(i)));
  log.record(
    scheduledEvent(
      { operationName: "KeyRotateIfDue", vault: "payments", kind: "key", name: "k1", durationMs: 3 },
      { timeMs: 1, subscription: "sub", origin: "https://payments.vault.localhost:8443" },
    ),
  );
  log.close();
  const reader = new AuditReader(file);

  const all = await reader.list();
  assert.equal(all.total, COUNT + 1);
  assert.equal(all.top, 50);
  assert.equal(all.skip, 0);
  assert.equal(all.value.length, 50);
  assert.equal(all.value[0]!.operationName, "KeyRotateIfDue", "newest first");
  assert.equal(all.value[1]!.properties.id, `https://x.vault.localhost:8443/secrets/s${COUNT - 1}`);

  const deep = await reader.list({ skip: 3000, top: 500 });
  assert.equal(deep.value.length, 500);
  assert.equal(deep.value[0]!.properties.id, `https://x.vault.localhost:8443/secrets/s${COUNT - 3000}`);
  assert.equal(deep.value[499]!.properties.id, `https://x.vault.localhost:8443/secrets/s${COUNT - 3499}`);
  assert.equal((await reader.list({ skip: COUNT + 1 })).value.length, 0);

  const count = (q: AuditQuery) => reader.list(q).then((page) => page.total);
  const expected = (pred: (i: number) => boolean) => Array.from({ length: COUNT }, (_, i) => i).filter(pred).length;
  assert.equal(
    await count({ operation: "secretset" }),
    expected((i) => i % 3 === 0),
  );
  assert.equal(
    await count({ result: "FAIL" }),
    expected((i) => i % 5 === 0),
  );
  assert.equal(await count({ vault: "PAY" }), expected((i) => i % 2 === 1) + 1, "the scheduler's line names its vault too");
  assert.equal(
    await count({ caller: 'bob "THE' }),
    expected((i) => i % 4 === 0),
    "a needle with a quote in it",
  );
  assert.equal(
    await count({ caller: "oid-alice" }),
    expected((i) => i % 4 !== 0),
    "the object id claim",
  );
  assert.equal(
    await count({ caller: "APP-alice" }),
    expected((i) => i % 4 !== 0),
    "the appid claim",
  );
  assert.equal(await count({ caller: "lockbox-scheduler" }), 1);
  assert.equal(await count({ object: "/secrets/s5999" }), 1, "properties.id");
  assert.equal(await count({ object: "api-version=7.5" }), COUNT, "the requestUri");
  assert.equal(await count({ object: "keys/k1" }), 1);
  // A needle that is only elsewhere in the line does not match.
  assert.equal(await count({ operation: "alice" }), 0);
  assert.equal(await count({ vault: "secrets" }), 0);
  const both = await reader.list({ operation: "SecretSet", vault: "payments", result: "failure", top: 5 });
  assert.equal(
    both.total,
    expected((i) => i % 3 === 0 && i % 2 === 1 && i % 5 === 0),
  );
  assert.ok(
    both.value.every((e) => e.operationName === "SecretSet" && e.resultType === "Failure" && e.resourceId.endsWith("/VAULTS/PAYMENTS")),
  );
  assert.deepEqual(
    both.value.map((e) => e.properties.id),
    [5985, 5955, 5925, 5895, 5865].map((i) => `https://x.vault.localhost:8443/secrets/s${i}`),
  );

  for (const bad of [{ top: 0 }, { top: 501 }, { top: 1.5 }, { skip: -1 }, { top: Number.NaN }])
    await assert.rejects(reader.list(bad), refusedWith(400, /top|skip/));
  // A name whose lower case is longer ("İ" is "i̇") changes no match of the lines around it.
  const more = new AuditLog(file, { failed: () => undefined, recovered: () => undefined });
  more.record(line(COUNT, { caller: caller("İzmir ops") }));
  more.close();
  assert.equal(await count({ caller: "ZMIR OPS" }), 1);
  assert.equal(await count({ operation: "secretset" }), expected((i) => i % 3 === 0) + (COUNT % 3 === 0 ? 1 : 0));
  assert.equal((await reader.list({ object: "/secrets/s5999" })).value[0]!.identity!.claim.name, "alice");
  // A line cut short (a crash mid-write) or a file that is gone is passed over.
  appendFileSync(file, '{"operationName":"Cut');
  assert.equal((await reader.list()).total, COUNT + 2);
  assert.equal((await new AuditReader(join(dir, "none.log")).list()).total, 0);
});

test("upcoming work: pending actions and deleted objects' purges, soonest first, of one vault or all", async () => {
  const { vaults, keys, secrets, upcoming } = p.instance;
  const vault = await vaults.create("timeline", { retentionDays: 7 });
  const now = nowSeconds(p.clock);
  const key = await keys.create(vault, "Rotated-Key", { kty: "EC", exp: now + 90 * DAY });
  await keys.setRotationPolicy(vault, "Rotated-Key", {
    lifetimeActions: [{ trigger: { timeAfterCreate: "P30D" }, action: { type: "Rotate" } }],
  });
  await secrets.set(vault, "Gone-Soon", { value: "x", exp: now + 200 * DAY });
  await secrets.objects.delete(vault, "Gone-Soon");
  await secrets.set(p.vault, "elsewhere", { value: "y", exp: now + 10 * DAY });

  const shown = (list: UpcomingAction[]) => list.map((u) => `${u.vault}/${u.kind}/${u.name} ${u.action} ${u.due - now}`);
  assert.deepEqual(shown(await upcoming.list("TimeLine")), [
    `timeline/secret/Gone-Soon Purge ${7 * DAY}`,
    `timeline/key/Rotated-Key Rotate ${30 * DAY}`,
    `timeline/key/Rotated-Key NearExpiry ${60 * DAY}`,
    `timeline/key/Rotated-Key Expired ${90 * DAY}`,
  ]);
  const [purge, rotate] = await upcoming.list("timeline", 2);
  assert.deepEqual(purge, { vault: "timeline", kind: "secret", name: "Gone-Soon", action: "Purge", due: now + 7 * DAY, deletedAt: now });
  assert.deepEqual(rotate, {
    vault: "timeline",
    kind: "key",
    name: "Rotated-Key",
    action: "Rotate",
    version: key.version,
    due: now + 30 * DAY,
    operationName: "KeyRotateIfDue",
  });
  const all = shown(await upcoming.list());
  assert.ok(
    all.includes(`default/secret/elsewhere NearExpiry ${-20 * DAY}`) && all.includes(`default/secret/elsewhere Expired ${10 * DAY}`),
    all.join("\n"),
  );
  assert.ok(all.indexOf(`timeline/secret/Gone-Soon Purge ${7 * DAY}`) < all.indexOf(`default/secret/elsewhere Expired ${10 * DAY}`));
  for (const bad of [0, 1001, Number.NaN]) await assert.rejects(upcoming.list(undefined, bad), refusedWith(400, /top/));

  // Once done, a row leaves the list; the purge goes with its object when its date has come.
  const probe = schedulerOf(p);
  await p.advance(8 * DAY);
  await probe.scheduler.kick();
  const later = shown(await upcoming.list("timeline"));
  assert.ok(!later.some((l) => l.includes("Purge")), later.join("\n"));
  await p.advance(23 * DAY);
  await probe.scheduler.kick();
  const rotated = (await upcoming.list("timeline")).filter((u) => u.action === "Rotate");
  assert.equal(rotated.length, 1);
  assert.notEqual(rotated[0]!.version, key.version, "the Rotate shown is the new version's");
});

test("deliveries: pending and failed ones with why, and a history of ended ones kept to the newest 200", async () => {
  // The webhook answers the handshake, then each notification with the next of `answers` (200 once they run out).
  const answers: Array<number | Error> = [];
  const fetchImpl = (async (_url: string | URL | Request, init?: RequestInit) => {
    const headers = (init?.headers ?? {}) as Record<string, string>;
    if (headers["aeg-event-type"] === "SubscriptionValidation") {
      const code = (JSON.parse(String(init?.body)) as Array<{ data: { validationCode: string } }>)[0]!.data.validationCode;
      return new Response(JSON.stringify({ validationResponse: code }), { status: 200 });
    }
    const answer = answers.shift() ?? 200;
    if (answer instanceof Error) throw answer;
    return new Response("", { status: answer });
  }) as typeof fetch;
  const probe = schedulerOf(p, { fetchImpl });
  const { subscriptions, secrets } = p.instance;
  const sub = await subscriptions.subscribe({
    vault: "default",
    endpoint: "https://hook.test/history?code=function-key",
    types: ["SecretNewVersionCreated"],
  });
  await secrets.set(p.vault, "before-validation", { value: "v" });
  const waiting = await subscriptions.deliveries(sub.id, "default");
  assert.deepEqual(
    waiting.map((d) => [d.subject, d.status, d.attempts, d.lastAttemptAt]),
    [["before-validation", "pending", 0, null]],
  );
  await probe.scheduler.kick();

  const MADE = 205;
  for (let i = 0; i < MADE; i++) await secrets.set(p.vault, `history-${i}`, { value: "v" });
  await probe.scheduler.kick();
  const delivered = await subscriptions.deliveries(sub.id, "DEFAULT");
  assert.equal(delivered.length, 200, "the history keeps the newest 200");
  assert.ok(delivered.every((d) => d.status === "delivered" && d.attempts === 1 && d.lastStatus === 200 && d.lastError === undefined));
  assert.ok(delivered.every((d) => d.eventType === "Microsoft.KeyVault.SecretNewVersionCreated" && d.nextAttemptAt === undefined));
  const subjects = new Set(delivered.map((d) => d.subject));
  for (let i = MADE - 200; i < MADE; i++) assert.ok(subjects.has(`history-${i}`), `history-${i} is missing`);
  assert.ok(!subjects.has("before-validation") && !subjects.has("history-4"), "an older delivery was kept");

  // A failing delivery shows why, each attempt in turn, until it is abandoned.
  await p.advance(1);
  answers.push(
    500,
    Object.assign(new TypeError("fetch failed"), {
      cause: Object.assign(new Error("connect refused https://hook.test/history?code=function-key"), { code: "ECONNREFUSED" }),
    }),
    400,
  );
  await secrets.set(p.vault, "troubled", { value: "v" });
  await probe.scheduler.kick();
  const newest = async () => (await subscriptions.deliveries(sub.id, "default"))[0]!;
  let first = await newest();
  assert.equal(first.subject, "troubled");
  assert.deepEqual([first.status, first.attempts, first.lastStatus, first.lastError], ["failed", 1, 500, "HTTP 500"]);
  assert.equal(first.nextAttemptAt, nowSeconds(p.clock) + 10);
  assert.equal(first.lastAttemptAt, nowSeconds(p.clock));
  await p.advance(10);
  await probe.scheduler.kick();
  first = await newest();
  assert.deepEqual(
    [first.status, first.attempts, first.lastStatus, first.lastError],
    ["failed", 2, undefined, "unreachable (ECONNREFUSED)"],
  );
  await p.advance(30);
  await probe.scheduler.kick();
  first = await newest();
  assert.deepEqual([first.status, first.attempts, first.lastStatus, first.lastError], ["abandoned", 3, 400, "HTTP 400"]);
  assert.equal(first.nextAttemptAt, undefined);
  const all = await subscriptions.deliveries(sub.id, "default");
  assert.equal(all.length, 200);
  assert.ok(!JSON.stringify(all).includes("function-key"), "a delivery shows the webhook's key");

  await assert.rejects(subscriptions.deliveries(sub.id, "timeline"), refusedWith(404, /no event subscription/));
  await assert.rejects(subscriptions.deliveries("no-such-id", "default"), refusedWith(404, /no event subscription/));
  await subscriptions.delete(sub.id);
  assert.equal(
    (await p.instance.store.read((repo) => repo.listDeliveryHistory(sub.id, 500))).length,
    0,
    "a deleted subscription kept its history",
  );
});

test("vaultsVisibleTo: the vaults where an identity has a role assignment at any scope or an access policy", async () => {
  const { vaults, identities, access } = p.instance;
  const { identity: reader } = await identities.create("console-reader", "managed");
  const { identity: stranger } = await identities.create("console-stranger", "sp");
  const roles = await vaults.create("seen-by-role");
  const scoped = await vaults.create("seen-by-scope");
  const policies = await vaults.create("seen-by-policy", { rbac: false });
  await vaults.create("unseen");
  assert.deepEqual(await access.vaultsVisibleTo(reader.id), []);
  await access.assignRole(roles, reader, "Key Vault Secrets User");
  await access.assignRole(scoped, reader, "Key Vault Reader", "/secrets/one");
  await access.setPolicy(policies, reader, { secrets: ["get"] });
  await access.assignRole(roles, stranger, "Key Vault Reader");
  assert.deepEqual(await access.vaultsVisibleTo(reader.id), ["seen-by-policy", "seen-by-role", "seen-by-scope"]);
  assert.deepEqual(await access.vaultsVisibleTo(stranger.id), ["seen-by-role"]);
  assert.deepEqual(await access.vaultsVisibleTo("no-such-identity"), []);
  // Gone with the grant, and with the vault.
  await access.removePolicy(policies, reader);
  await vaults.delete("seen-by-scope");
  assert.deepEqual(await access.vaultsVisibleTo(reader.id), ["seen-by-role"]);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { inProcess, schedulerOf } from "../helpers/instance.ts";

// Event delivery on the services in this process, its HTTP a fake fetch and time the dev
// clock: Event Grid's handshake first, retries on Event Grid's schedule, a 400 not retried.

const p = await inProcess();

interface Call {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** A webhook that answers the Event Grid handshake and then the notifications with `answers`, in turn (200 once they run out). */
function webhook(answers: number[]) {
  const calls: Call[] = [];
  const fetchImpl = (async (url: string | URL | Request, init?: RequestInit) => {
    const headers = Object.fromEntries(Object.entries((init?.headers ?? {}) as Record<string, string>));
    const call = { method: init?.method ?? "GET", url: String(url), headers, body: String(init?.body ?? "") };
    calls.push(call);
    if (headers["aeg-event-type"] === "SubscriptionValidation") {
      const code = (JSON.parse(call.body) as Array<{ data: { validationCode: string } }>)[0]!.data.validationCode;
      return new Response(JSON.stringify({ validationResponse: code }), { status: 200 });
    }
    return new Response("", { status: answers.shift() ?? 200 });
  }) as typeof fetch;
  const notifications = () => calls.filter((c) => c.headers["aeg-event-type"] === "Notification");
  return { calls, fetchImpl, notifications };
}

test("after the handshake, a failing delivery is retried 10 s and then 30 s later, and not in between", async () => {
  const hook = webhook([500, 500]);
  const probe = schedulerOf(p, { fetchImpl: hook.fetchImpl });
  const sub = await p.instance.subscriptions.subscribe({
    vault: "default",
    endpoint: "https://hook.test/retried",
    types: ["SecretNewVersionCreated"],
  });
  await probe.scheduler.kick();
  assert.equal(hook.calls[0]?.headers["aeg-event-type"], "SubscriptionValidation");
  assert.equal((await p.instance.subscriptions.list("default")).find((s) => s.id === sub.id)?.validated, true);

  await p.instance.secrets.set(p.vault, "announced", { value: "v" });
  await probe.scheduler.kick();
  assert.equal(hook.notifications().length, 1);
  await probe.scheduler.kick();
  assert.equal(hook.notifications().length, 1, "retried before its time");
  await p.advance(10);
  await probe.scheduler.kick();
  assert.equal(hook.notifications().length, 2);
  await p.advance(29);
  await probe.scheduler.kick();
  assert.equal(hook.notifications().length, 2, "retried before 30 s");
  await p.advance(1);
  await probe.scheduler.kick();
  const sent = hook.notifications();
  assert.equal(sent.length, 3);
  assert.deepEqual(
    sent.map((c) => c.headers["aeg-delivery-count"]),
    ["0", "1", "2"],
  );
  assert.ok(
    sent.every((c) => c.body === sent[0]!.body),
    "a retry sent another event",
  );
  const event = (JSON.parse(sent[0]!.body) as Array<{ eventType: string; subject: string }>)[0]!;
  assert.equal(event.eventType, "Microsoft.KeyVault.SecretNewVersionCreated");
  assert.equal(event.subject, "announced");
  await p.advance(3600);
  await probe.scheduler.kick();
  assert.equal(hook.notifications().length, 3, "a delivered event was sent again");
  await p.instance.subscriptions.delete(sub.id);
});

test("a 400 is not retried: the event is dropped with a warning", async () => {
  const hook = webhook([400]);
  const probe = schedulerOf(p, { fetchImpl: hook.fetchImpl });
  const sub = await p.instance.subscriptions.subscribe({
    vault: "default",
    endpoint: "https://hook.test/refuses?code=function-key",
    types: ["KeyNewVersionCreated"],
  });
  await probe.scheduler.kick();
  await p.instance.keys.create(p.vault, "refused-event", { kty: "EC" });
  await probe.scheduler.kick();
  await p.advance(3600);
  await probe.scheduler.kick();
  assert.equal(hook.notifications().length, 1);
  assert.ok(
    probe.warnings.some((w) => /dropped event .* answered 400/.test(w)),
    probe.warnings.join("\n"),
  );
  assert.ok(!probe.warnings.some((w) => w.includes("function-key")), "a warning shows the webhook's key");
  await p.instance.subscriptions.delete(sub.id);
});

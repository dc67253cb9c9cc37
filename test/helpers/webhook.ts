import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { eventually } from "./wait.ts";

/**
 * A local webhook receiver, as an application behind an Event Grid subscription writes it:
 * it answers Event Grid's SubscriptionValidation handshake (echoing data.validationCode)
 * and the CloudEvents abuse-protection OPTIONS handshake (WebHook-Allowed-Origin), and
 * records every request and every event delivered. Listens on 127.0.0.1 only.
 */

/** One HTTP request the receiver got, with the status it answered. */
export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  status: number;
}

/** One event out of a notification request (an Event Grid array holds several). */
export interface ReceivedEvent {
  schema: "eventgrid" | "cloudevents";
  id: string;
  /** eventType (Event Grid) or type (CloudEvents). */
  type: string;
  subject: string;
  data: Record<string, any>;
  /** The event object as it came over the wire. */
  event: Record<string, any>;
  /** The whole request body, as sent. */
  body: string;
  headers: IncomingHttpHeaders;
  /** true when the receiver answered 200; false when it was told to fail. */
  accepted: boolean;
}

export interface Webhook {
  /** http://127.0.0.1:PORT/hook */
  url: string;
  /** Every request, handshakes and failed deliveries included, in arrival order. */
  requests: RecordedRequest[];
  /** Events of notifications answered 200, in arrival order. */
  events: ReceivedEvent[];
  /** Events of notifications answered 500 (told to fail), in arrival order. */
  failed: ReceivedEvent[];
  /** Event Grid validation handshakes received. */
  validations: number;
  /** CloudEvents OPTIONS handshakes received: the WebHook-Request-Origin of each. */
  optionsOrigins: string[];
  /** The next `n` notification deliveries are answered 500 (handshakes are still answered). */
  failNext(n: number, status?: number): void;
  /** Accepted events matching `match`. */
  matching(match: (e: ReceivedEvent) => boolean): ReceivedEvent[];
  /** Waits (15 s at most) until an accepted event matches; fails with what arrived. */
  waitFor(match: (e: ReceivedEvent) => boolean, what: string, timeoutMs?: number): Promise<ReceivedEvent>;
  /** Waits (15 s at most) until `count` accepted events match. */
  waitForCount(match: (e: ReceivedEvent) => boolean, count: number, what: string, timeoutMs?: number): Promise<ReceivedEvent[]>;
  /** Waits (15 s at most) until `condition()` holds; fails with `what` and what arrived. */
  waitUntil(condition: () => boolean, what: string, timeoutMs?: number): Promise<void>;
  /** What arrived, for failure messages. */
  describe(): string;
  close(): Promise<void>;
}

const WAIT_MS = 15_000;

const header = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
};

function eventsOf(body: string, headers: IncomingHttpHeaders, accepted: boolean): ReceivedEvent[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return [];
  }
  const list = (Array.isArray(parsed) ? parsed : [parsed]).filter((e): e is Record<string, any> => typeof e === "object" && e !== null);
  return list.map((e) => {
    const cloud = e.specversion !== undefined;
    return {
      schema: cloud ? "cloudevents" : "eventgrid",
      id: String(e.id),
      type: String(cloud ? e.type : e.eventType),
      subject: String(e.subject ?? ""),
      data: (e.data ?? {}) as Record<string, any>,
      event: e,
      body,
      headers,
      accepted,
    };
  });
}

const isValidation = (body: string): { code: unknown } | undefined => {
  try {
    const parsed = JSON.parse(body) as unknown;
    const first = (Array.isArray(parsed) ? parsed[0] : parsed) as Record<string, any> | undefined;
    if (first?.eventType === "Microsoft.EventGrid.SubscriptionValidationEvent") return { code: first.data?.validationCode };
  } catch {
    // not JSON: not a handshake
  }
  return undefined;
};

export interface WebhookOptions {
  /** false: the Event Grid handshake is answered 200 without the validation code, and CloudEvents' OPTIONS with 403. */
  answerHandshakes?: boolean;
}

export async function startWebhook(options: WebhookOptions = {}): Promise<Webhook> {
  const answerHandshakes = options.answerHandshakes ?? true;
  let failing = 0;
  let failStatus = 500;
  const hook: Webhook = {
    url: "",
    requests: [],
    events: [],
    failed: [],
    validations: 0,
    optionsOrigins: [],
    failNext(n: number, status = 500) {
      failing = n;
      failStatus = status;
    },
    matching(match) {
      return hook.events.filter(match);
    },
    async waitFor(match, what, timeoutMs = WAIT_MS) {
      const [first] = await hook.waitForCount(match, 1, what, timeoutMs);
      return first!;
    },
    async waitForCount(match, count, what, timeoutMs = WAIT_MS) {
      await hook.waitUntil(() => hook.events.filter(match).length >= count, `${count} × ${what}`, timeoutMs);
      return hook.events.filter(match);
    },
    async waitUntil(condition, what, timeoutMs = WAIT_MS) {
      await eventually(`${what} at ${hook.url}`, timeoutMs, async () => {
        if (!condition()) throw new Error(`arrived:\n${hook.describe()}`);
      });
    },
    describe() {
      if (hook.requests.length === 0) return "  (nothing)";
      return hook.requests
        .map((r) => {
          const kind = header(r.headers, "aeg-event-type") ?? "";
          const events = r.method === "POST" ? eventsOf(r.body, r.headers, r.status === 200) : [];
          const what = events.map((e) => `${e.type} ${e.subject} v=${String(e.data.Version ?? "")}`).join("; ");
          return `  ${r.method} ${r.path} -> ${r.status} ${kind} ${what}`;
        })
        .join("\n");
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const record = (status: number): void => {
        hook.requests.push({ method: req.method ?? "", path: req.url ?? "", headers: req.headers, body, status });
      };
      if (req.method === "OPTIONS") {
        const origin = header(req.headers, "webhook-request-origin") ?? "";
        hook.optionsOrigins.push(origin);
        if (!answerHandshakes) {
          record(403);
          res.writeHead(403).end();
          return;
        }
        record(200);
        res.writeHead(200, { "webhook-allowed-origin": origin || "*", allow: "POST, OPTIONS" });
        res.end();
        return;
      }
      if (req.method !== "POST") {
        record(405);
        res.writeHead(405).end();
        return;
      }
      const validation = isValidation(body);
      if (validation) {
        hook.validations += 1;
        record(200);
        res.writeHead(200, { "content-type": "application/json" });
        res.end(answerHandshakes ? JSON.stringify({ validationResponse: validation.code }) : "{}");
        return;
      }
      const fail = failing > 0;
      if (fail) failing -= 1;
      const status = fail ? failStatus : 200;
      record(status);
      const events = eventsOf(body, req.headers, !fail);
      (fail ? hook.failed : hook.events).push(...events);
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  hook.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return hook;
}

/**
 * The data of a Key Vault event, as Azure's Event Grid schema for Key Vault has it: the
 * version's id under `vaultUrl`, the vault, object type, name and version, NBF and EXP.
 */
export function assertKeyVaultEventData(
  data: Record<string, unknown>,
  vaultUrl: string,
  collection: "keys" | "secrets",
  name: string,
  version: string,
): void {
  assert.equal(data.Id, `${vaultUrl}/${collection}/${name}/${version}`);
  assert.equal(data.VaultName, "default");
  assert.equal(data.ObjectType, collection === "keys" ? "Key" : "Secret");
  assert.equal(data.ObjectName, name);
  assert.equal(data.Version, version);
  assert.ok("NBF" in data && "EXP" in data, `NBF and EXP are missing: ${JSON.stringify(data)}`);
}

import { randomUUID } from "node:crypto";
import type { DueDelivery, Repo, Store, SubscriptionRecord } from "../store/store.ts";
import { nowSeconds, type Clock } from "../kernel/clock.ts";
import { endpointForLog, sendWebhook, unreachableReason, type Fetch } from "../webhooks/send.ts";
import { envelope, topicOf, type EnvelopeContext } from "./envelopes.ts";

/** Event Grid's retry schedule (seconds after each failure), then hourly, for a day. */
const RETRY_AFTER = [10, 30, 60, 300, 600, 1800, 3600];
const GIVE_UP_AFTER = 24 * 3600;
const BATCH = 100;
/** How many ended deliveries (delivered or abandoned) each subscription's history keeps, newest first. */
export const DELIVERY_HISTORY_KEPT = 200;
/**
 * What is about to be sent is claimed first, in one write transaction, by moving its next
 * attempt this far ahead: another process sharing the database does not send it too, and
 * if this one dies before recording the outcome, the claim runs out and it is sent again.
 */
const LEASE_SECONDS = 90;

export const retryDelay = (attempts: number): number => RETRY_AFTER[Math.min(attempts, RETRY_AFTER.length) - 1] ?? 3600;

export interface DeliveryLog {
  /** `error`: why a webhook could not be reached (its cause chain says e.g. which TLS check failed). */
  warn(message: string, error?: unknown): void;
}

/** Told how deliveries go (the server counts them as metrics). */
export interface DeliveryObserver {
  /** One attempt to deliver an event: delivered, failed (retried later), or dropped (a 400/413, or given up after a day). */
  attempt(outcome: "delivered" | "failed" | "dropped"): void;
}

/**
 * Sends the outbox to webhooks: at least once, each object's events in order (an event
 * waits while an earlier one of the same object is undelivered), retried on Event Grid's
 * schedule, with the subscription's validation handshake first. All state is in the store,
 * so nothing is lost across a restart.
 */
export class Deliverer {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly ctx: EnvelopeContext,
    private readonly log: DeliveryLog,
    private readonly fetchImpl: Fetch = fetch,
    private readonly observer?: DeliveryObserver,
  ) {}

  /** Deliveries still to be made, and how many of them have failed at least once. */
  pending(): Promise<{ pending: number; failing: number }> {
    return this.store.read((repo) => repo.countDeliveries());
  }

  /** Why `url` could not be reached, for the log: never its query (endpointForLog). */
  private unreachable(url: string, what: string): (error: unknown) => void {
    return (error) => this.log.warn(`${what}: ${endpointForLog(url)} could not be reached`, error);
  }

  /** Validates waiting subscriptions and delivers what is due, until nothing more can go now. */
  async runOnce(): Promise<void> {
    const waiting = await this.claim(
      (repo, now, limit) => repo.listSubscriptionsToValidate(now, limit),
      (repo, s, until) => repo.updateSubscription(s.id, false, s.attempts, until),
    );
    await Promise.all(waiting.map((s) => this.validate(s)));
    for (;;) {
      const due = await this.claim(
        (repo, now, limit) => repo.listDueDeliveries(now, limit),
        (repo, d, until) => repo.leaseDelivery(d.subscription, d.eventSeq, until),
      );
      if (due.length === 0) return;
      const delivered = await Promise.all(due.map((d) => this.deliver(d)));
      if (!delivered.some(Boolean)) return;
    }
  }

  /**
   * What `list` finds due, leased to this process by `lease` in one write transaction. A
   * read comes first: most runs find nothing, and then take no write lock.
   */
  private async claim<T>(
    list: (repo: Repo, now: number, limit: number) => Promise<T[]>,
    lease: (repo: Repo, item: T, until: number) => Promise<void>,
  ): Promise<T[]> {
    if ((await this.store.read((repo) => list(repo, nowSeconds(this.clock), 1))).length === 0) return [];
    return this.store.write(async (repo) => {
      const now = nowSeconds(this.clock);
      const found = await list(repo, now, BATCH);
      for (const item of found) await lease(repo, item, now + LEASE_SECONDS);
      return found;
    });
  }

  private post(url: string, body: string, headers: Record<string, string>, what: string): Promise<Response | undefined> {
    return sendWebhook(this.fetchImpl, url, { method: "POST", body, headers }, this.unreachable(url, what));
  }

  private async deliver(d: DueDelivery): Promise<boolean> {
    const { body, contentType } = envelope(this.ctx, d.target.schema, d.event);
    let why: unknown;
    const unreachable = this.unreachable(d.target.endpoint, `event ${d.event.id} (${d.event.eventType}), attempt ${d.attempts + 1}`);
    const res = await sendWebhook(
      this.fetchImpl,
      d.target.endpoint,
      {
        method: "POST",
        body,
        headers: {
          "content-type": contentType,
          "aeg-event-type": "Notification",
          "aeg-delivery-count": String(d.attempts),
          "aeg-subscription-name": d.target.id,
        },
      },
      (error) => {
        why = error;
        unreachable(error);
      },
    );
    const ok = res !== undefined && res.ok;
    await res?.body?.cancel().catch(() => undefined);
    const now = nowSeconds(this.clock);
    // What the attempt came to, as the delivery's history and the admin API show it.
    const last = {
      attempts: d.attempts + 1,
      lastAttemptAt: now,
      lastStatus: res?.status ?? null,
      lastError: ok ? null : res ? `HTTP ${res.status}` : unreachableReason(why),
    };
    const ended = (outcome: "delivered" | "abandoned") => async (repo: Repo) => {
      await repo.deleteDelivery(d.subscription, d.eventSeq);
      const { id: eventId, eventType, subject, time: eventTime } = d.event;
      await repo.recordDeliveryOutcome(
        { subscription: d.subscription, eventId, eventType, subject, eventTime, outcome, ...last },
        DELIVERY_HISTORY_KEPT,
      );
    };
    const outcome = await this.store.write(async (repo): Promise<"delivered" | "failed" | "dropped"> => {
      if (ok) {
        await ended("delivered")(repo);
        return "delivered";
      }
      // As Event Grid: a 400 or 413 will not get better by retrying.
      if (res && (res.status === 400 || res.status === 413)) {
        this.log.warn(`dropped event ${d.event.id} (${d.event.eventType}): ${endpointForLog(d.target.endpoint)} answered ${res.status}`);
        await ended("abandoned")(repo);
        return "dropped";
      }
      const first = d.firstAttemptAt ?? now;
      if (now - first >= GIVE_UP_AFTER) {
        this.log.warn(
          `gave up delivering event ${d.event.id} (${d.event.eventType}) to ${endpointForLog(d.target.endpoint)} after ${d.attempts + 1} attempts`,
        );
        await ended("abandoned")(repo);
        return "dropped";
      }
      await repo.updateDelivery(d.subscription, d.eventSeq, {
        ...last,
        firstAttemptAt: first,
        nextAttemptAt: now + retryDelay(d.attempts + 1),
      });
      return "failed";
    });
    this.observer?.attempt(outcome);
    return ok;
  }

  /**
   * The handshake Event Grid does before delivering to a webhook: a SubscriptionValidation
   * event whose validationCode the endpoint echoes; for CloudEvents, the abuse-protection
   * OPTIONS request answered with WebHook-Allowed-Origin.
   */
  private async validate(s: SubscriptionRecord): Promise<void> {
    let ok = false;
    if (s.schema === "cloudevents") {
      const origin = new URL(this.ctx.publicOrigin(s.vault)).host;
      const res = await sendWebhook(
        this.fetchImpl,
        s.endpoint,
        { method: "OPTIONS", headers: { "webhook-request-origin": origin } },
        this.unreachable(s.endpoint, `subscription ${s.id}'s validation`),
      );
      const allowed = res?.headers.get("webhook-allowed-origin");
      ok = res !== undefined && res.ok && (allowed === "*" || allowed === origin);
      await res?.body?.cancel().catch(() => undefined);
    } else {
      const code = randomUUID();
      const body = JSON.stringify([
        {
          id: randomUUID(),
          topic: topicOf(this.ctx, s.vault),
          subject: "",
          data: { validationCode: code },
          eventType: "Microsoft.EventGrid.SubscriptionValidationEvent",
          eventTime: new Date(this.clock.nowMs()).toISOString(),
          metadataVersion: "1",
          dataVersion: "2",
        },
      ]);
      const res = await this.post(
        s.endpoint,
        body,
        { "content-type": "application/json; charset=utf-8", "aeg-event-type": "SubscriptionValidation" },
        `subscription ${s.id}'s validation`,
      );
      if (res?.ok) {
        const answer = (await res.json().catch(() => undefined)) as { validationResponse?: unknown } | undefined;
        ok = answer?.validationResponse === code;
      } else {
        await res?.body?.cancel().catch(() => undefined);
      }
    }
    const now = nowSeconds(this.clock);
    await this.store.write(async (repo) => {
      if (!(await repo.getSubscription(s.id))) return;
      await repo.updateSubscription(s.id, ok, ok ? 0 : s.attempts + 1, ok ? now : now + retryDelay(s.attempts + 1));
    });
    if (!ok) this.log.warn(`subscription ${s.id}: ${endpointForLog(s.endpoint)} did not answer the validation handshake; retrying`);
  }
}

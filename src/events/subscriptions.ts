import { randomUUID } from "node:crypto";
import type { EventSchema, Store, SubscriptionRecord } from "../store/store.ts";
import { nowSeconds, type Clock } from "../kernel/clock.ts";
import { badParameter, notFound, vaultNotFound } from "../kernel/errors.ts";
import { DELIVERY_HISTORY_KEPT } from "./delivery.ts";
import { EVENT_TYPES } from "./types.ts";

export interface SubscribeInput {
  vault: string;
  endpoint: string;
  schema?: string;
  /** Event types, full (Microsoft.KeyVault.SecretNewVersionCreated) or short (SecretNewVersionCreated); none for all. */
  types?: string[];
}

/**
 * Where a delivery stands: pending (not tried yet), failed (tried, to be tried again at
 * nextAttemptAt), delivered, or abandoned (refused with a 400 or 413, or given up after a day).
 */
export type DeliveryStatus = "pending" | "failed" | "delivered" | "abandoned";

/** One event's delivery to a subscription, as the admin API lists them. */
export interface DeliveryView {
  eventId: string;
  eventType: string;
  /** The object's name, as the event's subject. */
  subject: string;
  /** When the event happened, epoch seconds. */
  eventTime: number;
  status: DeliveryStatus;
  /** Attempts made so far. */
  attempts: number;
  lastAttemptAt: number | null;
  /** When it is tried next (pending and failed only). */
  nextAttemptAt?: number;
  /** The HTTP status of the last attempt, when the endpoint answered. */
  lastStatus?: number;
  /** Why the last attempt failed: "HTTP 503", "timed out", "unreachable (ECONNREFUSED)". */
  lastError?: string;
}

/** Per-vault webhook subscriptions: validated by a handshake before anything is delivered. */
export class Subscriptions {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly vaultExists: (vault: string) => Promise<boolean>,
  ) {}

  async subscribe(input: SubscribeInput): Promise<SubscriptionRecord> {
    const vault = input.vault.toLowerCase();
    if (!(await this.vaultExists(vault))) throw vaultNotFound(vault);
    let url: URL;
    try {
      url = new URL(input.endpoint);
    } catch {
      throw badParameter(`The endpoint '${input.endpoint}' is not a URL.`);
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") throw badParameter("The endpoint must be an http or https URL.");
    const schema = (input.schema ?? "eventgrid").toLowerCase();
    if (schema !== "eventgrid" && schema !== "cloudevents") throw badParameter("The schema must be eventgrid or cloudevents.");
    let types: string[] | null = null;
    if (input.types && input.types.length > 0) {
      types = input.types.map((t) => (t.startsWith("Microsoft.KeyVault.") ? t : `Microsoft.KeyVault.${t}`));
      const unknown = types.filter((t) => !EVENT_TYPES.includes(t));
      if (unknown.length) throw badParameter(`Unknown event types: ${unknown.join(", ")}. Known: ${EVENT_TYPES.join(", ")}.`);
    }
    const now = nowSeconds(this.clock);
    const record: SubscriptionRecord = {
      id: randomUUID(),
      vault,
      endpoint: url.toString(),
      schema: schema as EventSchema,
      types,
      validated: false,
      attempts: 0,
      nextAttemptAt: now,
      created: now,
    };
    await this.store.write((repo) => repo.insertSubscription(record));
    return record;
  }

  list(vault?: string): Promise<SubscriptionRecord[]> {
    return this.store.read((repo) => repo.listSubscriptions(vault ? vault.toLowerCase() : null));
  }

  /**
   * A subscription's deliveries, newest event first: those still to be made (at most
   * DELIVERY_HISTORY_KEPT, the newest), then merged in, the ended ones its history keeps.
   */
  async deliveries(id: string, vault: string): Promise<DeliveryView[]> {
    const [pending, ended] = await this.store.read(async (repo) => {
      const s = await repo.getSubscription(id);
      if (!s || s.vault !== vault.toLowerCase()) throw noSubscription(id, vault);
      return [await repo.listPendingDeliveries(id, DELIVERY_HISTORY_KEPT), await repo.listDeliveryHistory(id, DELIVERY_HISTORY_KEPT)];
    });
    const optional = (lastStatus: number | null, lastError: string | null) => ({
      ...(lastStatus !== null ? { lastStatus } : {}),
      ...(lastError !== null ? { lastError } : {}),
    });
    const views: DeliveryView[] = [
      ...pending.map((d) => ({
        eventId: d.event.id,
        eventType: d.event.eventType,
        subject: d.event.subject,
        eventTime: d.event.time,
        status: (d.attempts > 0 ? "failed" : "pending") as DeliveryStatus,
        attempts: d.attempts,
        lastAttemptAt: d.lastAttemptAt,
        nextAttemptAt: d.nextAttemptAt,
        ...optional(d.lastStatus, d.lastError),
      })),
      ...ended.map((h) => ({
        eventId: h.eventId,
        eventType: h.eventType,
        subject: h.subject,
        eventTime: h.eventTime,
        status: h.outcome,
        attempts: h.attempts,
        lastAttemptAt: h.lastAttemptAt,
        ...optional(h.lastStatus, h.lastError),
      })),
    ];
    // Stable: within one second, pending before ended, each newest first as read.
    return views.sort((a, b) => b.eventTime - a.eventTime);
  }

  /** Deletes a subscription; with `vault`, only one of that vault. */
  async delete(id: string, vault?: string): Promise<void> {
    const removed = await this.store.write(async (repo) => {
      const s = await repo.getSubscription(id);
      return s !== undefined && (vault === undefined || s.vault === vault.toLowerCase()) && (await repo.deleteSubscription(id));
    });
    if (!removed) throw noSubscription(id, vault);
  }
}

const noSubscription = (id: string, vault?: string) =>
  notFound("NotFound", `There is no event subscription with id ${id}${vault ? ` on the vault ${vault.toLowerCase()}` : ""}.`);

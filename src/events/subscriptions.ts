import { randomUUID } from "node:crypto";
import type { EventSchema, Store, SubscriptionRecord } from "../store/store.ts";
import { nowSeconds, type Clock } from "../kernel/clock.ts";
import { badParameter, notFound, vaultNotFound } from "../kernel/errors.ts";
import { EVENT_TYPES } from "./types.ts";

export interface SubscribeInput {
  vault: string;
  endpoint: string;
  schema?: string;
  /** Event types, full (Microsoft.KeyVault.SecretNewVersionCreated) or short (SecretNewVersionCreated); none for all. */
  types?: string[];
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

  /** Deletes a subscription; with `vault`, only one of that vault. */
  async delete(id: string, vault?: string): Promise<void> {
    const removed = await this.store.write(async (repo) => {
      const s = await repo.getSubscription(id);
      return s !== undefined && (vault === undefined || s.vault === vault.toLowerCase()) && (await repo.deleteSubscription(id));
    });
    if (!removed)
      throw notFound("NotFound", `There is no event subscription with id ${id}${vault ? ` on the vault ${vault.toLowerCase()}` : ""}.`);
  }
}

import { kindNamed } from "../kernel/kinds.ts";
import type { EventRecord, EventSchema } from "../store/store.ts";
import type { StoredEventData } from "./types.ts";

/**
 * Event Grid and CloudEvents 1.0 envelopes, as Azure Event Grid delivers Key Vault events.
 * `publicOrigin` is the vault's URL (https://{vault}.{dns-suffix}[:port]); `subscriptionId`
 * stands for the Azure subscription in the topic.
 */
export interface EnvelopeContext {
  publicOrigin: (vault: string) => string;
  subscriptionId: string;
}

export const topicOf = (ctx: EnvelopeContext, vault: string): string =>
  `/subscriptions/${ctx.subscriptionId}/resourceGroups/lockbox/providers/Microsoft.KeyVault/vaults/${vault}`;

function dataOf(ctx: EnvelopeContext, e: EventRecord) {
  const d = e.data as unknown as StoredEventData;
  const collection = kindNamed(d.ObjectType)!.collection;
  return { Id: `${ctx.publicOrigin(e.vault)}/${collection}/${d.ObjectName}/${d.Version}`, ...d };
}

const iso = (seconds: number): string => new Date(seconds * 1000).toISOString();

/** The HTTP body and content type one event is delivered with. */
export function envelope(ctx: EnvelopeContext, schema: EventSchema, e: EventRecord): { body: string; contentType: string } {
  if (schema === "cloudevents") {
    return {
      contentType: "application/cloudevents+json; charset=utf-8",
      body: JSON.stringify({
        specversion: "1.0",
        id: e.id,
        source: topicOf(ctx, e.vault),
        subject: e.subject,
        type: e.eventType,
        time: iso(e.time),
        datacontenttype: "application/json",
        data: dataOf(ctx, e),
      }),
    };
  }
  return {
    contentType: "application/json; charset=utf-8",
    body: JSON.stringify([
      {
        id: e.id,
        topic: topicOf(ctx, e.vault),
        subject: e.subject,
        eventType: e.eventType,
        eventTime: iso(e.time),
        data: dataOf(ctx, e),
        dataVersion: "1",
        metadataVersion: "1",
      },
    ]),
  };
}

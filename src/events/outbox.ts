import { randomUUID } from "node:crypto";
import type { ObjectKind, Repo } from "../store/store.ts";
import { KINDS } from "../kernel/kinds.ts";
import { eventTypeOf, type LifecycleEvent, type StoredEventData } from "./types.ts";

/**
 * Records an event about an object's current version in the transaction that caused it,
 * with one delivery per subscription of the vault that wants its type: the outbox.
 * Nothing is written when no subscription wants it.
 */
/** What an event tells of the version it is about. */
export interface EventSource {
  vault: string;
  kind: ObjectKind;
  name: string;
  version: string;
  nbf: number | null;
  exp: number | null;
  object: { displayName: string };
}

export async function recordEvent(repo: Repo, v: EventSource, what: LifecycleEvent, now: number): Promise<void> {
  const eventType = eventTypeOf(v.kind, what);
  const targets = (await repo.listSubscriptions(v.vault)).filter((s) => !s.types || s.types.includes(eventType));
  if (targets.length === 0) return;
  const data: StoredEventData = {
    VaultName: v.vault,
    ObjectType: KINDS[v.kind].Noun,
    ObjectName: v.object.displayName,
    Version: v.version,
    NBF: v.nbf,
    EXP: v.exp,
  };
  const seq = await repo.insertEvent({
    id: randomUUID(),
    vault: v.vault,
    eventType,
    subject: v.object.displayName,
    time: now,
    data: data as unknown as Record<string, unknown>,
  });
  for (const s of targets) {
    await repo.insertDelivery({
      subscription: s.id,
      eventSeq: seq,
      object: `${v.vault}/${v.kind}/${v.name}`,
      attempts: 0,
      firstAttemptAt: null,
      nextAttemptAt: now,
      lastAttemptAt: null,
      lastStatus: null,
      lastError: null,
    });
  }
}

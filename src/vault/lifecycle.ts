import type { ObjectKind, Repo } from "../store/store.ts";
import type { LifetimePolicy } from "./rotation.ts";
import type { Version } from "./versions.ts";

/** What any kind's rotation policy carries for planning: a secret's may keep the replaced version enabled a while. */
export type PlannedPolicy = LifetimePolicy & { overlap?: string };

/** A version as planning and events see it, whatever its kind (its props are the kind's own). */
export type PlannedVersion = Version<unknown, PlannedPolicy>;

/**
 * What the write already read in its transaction (Repo.getObjectForWrite), so that planning
 * and events need not read it again: whether the vault has event subscriptions, whether the
 * object has schedule rows.
 */
export interface KnownState {
  subscribed: boolean;
  scheduled: boolean;
}

/**
 * What happens around a change to an object, inside the transaction that makes it: the
 * scheduler plans the object's next lifetime actions, the outbox records its events. The
 * domain calls these; scheduler/ and events/ implement them.
 */
export interface Lifecycle {
  /** `latest` was just added as the object's current version (created, imported, rotated). */
  versionCreated(repo: Repo, latest: PlannedVersion, known?: KnownState): Promise<void>;
  /**
   * Anything else changed the object (properties, policy, deletion, recovery, restore,
   * pruning); `latest` is its current version now, undefined once it is deleted.
   */
  objectChanged(repo: Repo, object: { vault: string; kind: ObjectKind; name: string }, latest: PlannedVersion | undefined): Promise<void>;
}

export const noLifecycle: Lifecycle = {
  versionCreated: async () => undefined,
  objectChanged: async () => undefined,
};

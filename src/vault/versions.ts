import type { ObjectRecord, VersionRecord } from "../store/store.ts";

/** An object as the domain sees it: the store's record with its rotation policy read as its kind keeps it. */
export interface ObjectOf<Q> extends Omit<ObjectRecord, "policy"> {
  policy: Q | undefined;
}

/** A version as the domain sees it: the store's record with its props, and its object's policy, typed by its kind. */
export interface Version<P, Q> extends Omit<VersionRecord, "props"> {
  props: P;
  object: ObjectOf<Q>;
}

/** A version of any kind, for what every kind shares (ids, attributes, lists). */
export type AnyVersion = Version<unknown, unknown>;

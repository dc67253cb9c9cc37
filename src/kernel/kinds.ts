/** The kinds of versioned object Lockbox keeps. */
export type ObjectKind = "secret" | "key";

/** How Azure names a kind, in every room: messages, paths, operation and event names. */
export interface KindNames {
  kind: ObjectKind;
  /** As messages word it: "secret". */
  noun: string;
  /** As operation and event names start: "Secret" (SecretGet, SecretNearExpiry). */
  Noun: "Secret" | "Key";
  /** The URL collection: /secrets, /keys (and /deletedsecrets, /deletedkeys). */
  collection: "secrets" | "keys";
}

/** The one kind table. */
export const KINDS: Record<ObjectKind, KindNames> = {
  secret: { kind: "secret", noun: "secret", Noun: "Secret", collection: "secrets" },
  key: { kind: "key", noun: "key", Noun: "Key", collection: "keys" },
};

export const OBJECT_KINDS: readonly ObjectKind[] = ["secret", "key"];

/** The names of the kind whose operation prefix is `Noun` (Secret, Key), or undefined. */
export const kindNamed = (Noun: string): KindNames | undefined => OBJECT_KINDS.map((k) => KINDS[k]).find((k) => k.Noun === Noun);

/** The kind a URL collection names (secrets, keys), or undefined. */
export const kindOfCollection = (collection: string): ObjectKind | undefined =>
  OBJECT_KINDS.find((k) => KINDS[k].collection === collection);

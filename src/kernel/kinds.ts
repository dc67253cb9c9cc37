/** The kinds of versioned object Lockbox keeps. */
export type ObjectKind = "secret" | "key" | "certificate";

/** How Azure names a kind, in every room: messages, paths, operation and event names. */
export interface KindNames {
  kind: ObjectKind;
  /** As messages word it: "secret". */
  noun: string;
  /** As operation and event names start: "Secret" (SecretGet, SecretNearExpiry). */
  Noun: "Secret" | "Key" | "Certificate";
  /** The URL collection: /secrets, /keys, /certificates (and /deletedsecrets, ...). */
  collection: "secrets" | "keys" | "certificates";
}

/** The one kind table. */
export const KINDS: Record<ObjectKind, KindNames> = {
  secret: { kind: "secret", noun: "secret", Noun: "Secret", collection: "secrets" },
  key: { kind: "key", noun: "key", Noun: "Key", collection: "keys" },
  certificate: { kind: "certificate", noun: "certificate", Noun: "Certificate", collection: "certificates" },
};

export const OBJECT_KINDS: readonly ObjectKind[] = ["secret", "key", "certificate"];

/** The names of the kind whose operation prefix is `Noun` (Secret, Key, Certificate), or undefined. */
export const kindNamed = (Noun: string): KindNames | undefined => OBJECT_KINDS.map((k) => KINDS[k]).find((k) => k.Noun === Noun);

/** The kind a URL collection names (secrets, keys, certificates), or undefined. */
export const kindOfCollection = (collection: string): ObjectKind | undefined =>
  OBJECT_KINDS.find((k) => KINDS[k].collection === collection);

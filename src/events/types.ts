import { KINDS, OBJECT_KINDS, type KindNames, type ObjectKind } from "../kernel/kinds.ts";

/** Key Vault's Event Grid event types, as Azure names them. */
export type LifecycleEvent = "NewVersionCreated" | "NearExpiry" | "Expired";

export const eventTypeOf = (kind: ObjectKind, what: LifecycleEvent): string => `Microsoft.KeyVault.${KINDS[kind].Noun}${what}`;

export const EVENT_TYPES: readonly string[] = OBJECT_KINDS.flatMap((kind) =>
  (["NewVersionCreated", "NearExpiry", "Expired"] as const).map((what) => eventTypeOf(kind, what)),
);

/** The data of a Key Vault event, as stored; `Id` is added on delivery from the vault's public URL. */
export interface StoredEventData {
  VaultName: string;
  ObjectType: KindNames["Noun"];
  ObjectName: string;
  Version: string;
  NBF: number | null;
  EXP: number | null;
}

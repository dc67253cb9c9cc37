import { fromB64url, KeyInputError } from "../crypto/keys.ts";
import { nextLink } from "../http/paging.ts";
import { badParameter } from "../kernel/errors.ts";
import type { VersionRecord } from "../store/store.ts";
import type { AnyVersion } from "../vault/versions.ts";
import type { Page } from "../vault/objects.ts";
import type { Vault } from "../vault/vaults.ts";
import type { VaultRequest } from "../http/pipeline.ts";

/**
 * Wire shapes shared by secrets and keys: identifiers, attributes and the deleted-object
 * fields, always built on the caller's own origin.
 */
export const objectId = (origin: string, collection: string, name: string, version?: string): string =>
  version ? `${origin}/${collection}/${name}/${version}` : `${origin}/${collection}/${name}`;

export interface WireAttributes {
  enabled: boolean;
  nbf?: number;
  exp?: number;
  created: number;
  updated: number;
  recoveryLevel: string;
  recoverableDays: number;
}

export function attributesOf(v: Pick<VersionRecord, "enabled" | "nbf" | "exp" | "created" | "updated">, vault: Vault): WireAttributes {
  return {
    enabled: v.enabled,
    ...(v.nbf !== null ? { nbf: v.nbf } : {}),
    ...(v.exp !== null ? { exp: v.exp } : {}),
    created: v.created,
    updated: v.updated,
    recoveryLevel: vault.recoveryLevel,
    recoverableDays: vault.retentionDays,
  };
}

export function deletedFieldsOf(origin: string, deletedCollection: string, v: AnyVersion) {
  return {
    recoveryId: objectId(origin, deletedCollection, v.object.displayName),
    deletedDate: v.object.deletedAt ?? undefined,
    scheduledPurgeDate: v.object.purgeAt ?? undefined,
  };
}

/** A vault as the admin API (/lockbox/v1/vaults) and the CLI's `vault list|create --json` show it, with the URL a client gives its SDK. */
export interface VaultWire {
  name: string;
  url: string;
  recoveryLevel: string;
  retentionDays: number;
  purgeProtection: boolean;
  authorization: "rbac" | "access-policies";
  /** Present when the vault has its own throttling. */
  throttle?: "azure" | "off";
}

export const vaultWire = (v: Vault, origin: (vault: string) => string): VaultWire => ({
  name: v.name,
  url: origin(v.name),
  recoveryLevel: v.recoveryLevel,
  retentionDays: v.retentionDays,
  purgeProtection: v.purgeProtection,
  authorization: v.rbac ? "rbac" : "access-policies",
  ...(v.throttle ? { throttle: v.throttle } : {}),
});

/**
 * The SDK truncates dates to signed 32 bits, so a date after 2038-01-19 arrives negative.
 * Read such a value as the unsigned number the user meant.
 */
export const fromWireTime = (t: number | undefined): number | undefined => (t !== undefined && t < 0 ? t + 2 ** 32 : t);

/** JSON schema pieces for request bodies. */
export const tagsSchema = { type: "object", additionalProperties: { type: "string" } } as const;
export const timeSchema = { type: "integer" } as const;

/**
 * A list response: `value` always present, `nextLink` absolute on the caller's origin or null,
 * carrying the list's own query options (`query`) to the next page.
 */
export function listBody<V>(req: VaultRequest, page: Page<V>, limit: number, item: (v: V) => object, query: Record<string, string> = {}) {
  return {
    value: page.items.map(item),
    nextLink: nextLink(req.origin, req.url.split("?")[0]!, req.apiVersion, limit, page.cursor, query),
  };
}

/** A boolean query option (`includePending=true`): absent is false; anything but true or false is BadParameter. */
export function booleanQuery(value: unknown, name: string): boolean {
  if (value === undefined || value === "" || value === "false") return false;
  if (value === "true") return true;
  throw badParameter(`Invalid value for ${name}: ${String(value)}. It must be true or false.`);
}

/** Binary fields travel as base64url; anything else is BadParameter. */
export function fromWireBytes(value: string | undefined, what: string): Buffer | undefined {
  if (value === undefined) return undefined;
  try {
    return fromB64url(value, what);
  } catch (e) {
    throw e instanceof KeyInputError ? badParameter(e.message) : e;
  }
}

// The console's calls to its server: the console API (/console/api), and through it the Key
// Vault data plane of a vault (/console/api/kv/VAULT/...) and the Lockbox admin API
// (/console/api/admin/... = /lockbox/v1/...), all as the signed-in identity.

/** The api-version the console speaks to the data plane. */
export const API_VERSION = "7.6";

/** A refused or failed call, with Azure's error code and message as the server sent them. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface Identity {
  id: string;
  name: string;
  kind: "managed" | "sp";
  clientId: string;
  admin: boolean;
}

export interface Session {
  identity: Identity;
  csrf: string;
  expiresAt: number;
  devClock: boolean;
}

let csrf = "";
/** Called when a call finds the session gone (401): the page goes back to sign-in. */
let onSignedOut: () => void = () => {};

export function useSession(session: Session | undefined, signedOut: () => void): void {
  csrf = session?.csrf ?? "";
  onSignedOut = signedOut;
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (method !== "GET") headers["x-lockbox-csrf"] = csrf;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    cache: "no-store",
  });
  const text = await res.text();
  const parsed = text ? (JSON.parse(text) as unknown) : undefined;
  if (!res.ok) {
    const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
    if (res.status === 401 && !path.endsWith("/signin")) onSignedOut();
    throw new ApiError(res.status, error?.code ?? String(res.status), error?.message ?? `The server answered ${res.status}.`);
  }
  return parsed as T;
}

const withVersion = (path: string): string => `${path}${path.includes("?") ? "&" : "?"}api-version=${API_VERSION}`;

export const api = {
  session: () => call<Session>("GET", "/console/api/session"),
  signIn: (body: { code: string } | { clientId: string; clientSecret: string }) =>
    call<{ identity: Identity }>("POST", "/console/api/signin", body),
  signOut: () => call<void>("POST", "/console/api/signout"),
  vaults: () => call<{ value: VaultSummary[] }>("GET", "/console/api/vaults"),

  /** A data-plane call on a vault: `kv("GET", "myvault", "/secrets")`. The api-version is added. */
  kv: <T>(method: string, vault: string, path: string, body?: unknown) =>
    call<T>(method, withVersion(`/console/api/kv/${encodeURIComponent(vault)}${path}`), body),
  /** A page that the data plane's nextLink names (it keeps its own query, api-version included). */
  kvNext: <T>(vault: string, nextLink: string) => {
    const u = new URL(nextLink);
    return call<T>("GET", `/console/api/kv/${encodeURIComponent(vault)}${u.pathname}${u.search}`);
  },
  /** An admin-API call: `admin("GET", "/identities")` is GET /lockbox/v1/identities. */
  admin: <T>(method: string, path: string, body?: unknown) => call<T>(method, `/console/api/admin${path}`, body),
};

export interface VaultSummary {
  name: string;
  url: string;
  authorization: "rbac" | "access-policies";
  /** The data-plane operations (e.g. "SecretSet") the signed-in identity may perform on the whole vault. */
  operations: string[];
}

/** The attributes of a secret, key or certificate version, as Key Vault's wire has them (epoch seconds). */
export interface Attributes {
  enabled?: boolean;
  nbf?: number;
  exp?: number;
  created?: number;
  updated?: number;
  recoveryLevel?: string;
  recoverableDays?: number;
}

export interface Page<T> {
  value: T[];
  nextLink?: string | null;
}

/** The last path segments of a Key Vault id: https://v.vault.localhost:8443/secrets/NAME/VERSION -> [NAME, VERSION]. */
export function idParts(id: string): { name: string; version?: string } {
  const parts = new URL(id).pathname.split("/").filter(Boolean);
  return { name: decodeURIComponent(parts[1] ?? ""), version: parts[2] ? decodeURIComponent(parts[2]) : undefined };
}

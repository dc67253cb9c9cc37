import { isoSeconds } from "../kernel/clock.ts";
import { createPrivateKey } from "node:crypto";
import { existsSync, readFileSync, statSync, writeFileSync, chmodSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { checkPermissions, normalizeScope } from "../authz/access.ts";
import { PERMISSIONS, type PermissionKind } from "../authz/operations.ts";
import { BUILT_IN_ROLES, roleNamed } from "../authz/roles.ts";
import { privateJwkOf, shapeOf, type PrivateJwk } from "../crypto/keys.ts";
import { checkIdentityName } from "../identity/identities.ts";
import { KvError } from "../kernel/errors.ts";
import { isRecord } from "../kernel/json.ts";
import type { IdentityKind, IdentityRecord } from "../store/store.ts";
import { importedKeyOf, keySpecOf, type KeyCreateInput, type KeyImportInput, type KeyVersion } from "../vault/keys.ts";
import { canonicalName, canonicalVaultName } from "../vault/names.ts";
import { validateTags } from "../vault/objects.ts";
import { checkSecretInput, type SecretVersion } from "../vault/secrets.ts";
import { checkRetentionDays, type Vault } from "../vault/vaults.ts";
import type { Instance } from "./instance.ts";

/*
 * A seed file: vaults, their secrets, keys, role assignments and access policies, and the
 * identities they name, applied idempotently through the same services (and so the same
 * rules) as the API. The whole file is checked first, against itself and then against the
 * store; nothing is written unless every part is acceptable. The format is in README.md
 * ("Seeding a vault from a file").
 */

export type SeedKind = "vault" | "secret" | "key" | "managed identity" | "service principal" | "role assignment" | "access policy";

/** One thing a seed changed (or, in a dry run, would change). */
export interface SeedChange {
  action: "create" | "update" | "new-version";
  /** The vault it is in; absent for identities. */
  vault?: string;
  kind: SeedKind;
  name: string;
  /** What was updated (attribute names), or what a role assignment grants. Never a value. */
  detail?: string;
}

/** Something the seed left as it is although the file asks otherwise (a key is never regenerated). */
export interface SeedNote {
  vault?: string;
  kind: SeedKind;
  name: string;
  note: string;
}

/** The credential of an identity the seed created: shown once, or written to the seed's credentialsFile. */
export interface SeedCredential {
  identity: IdentityRecord;
  credential: string;
}

export interface SeedResult {
  changes: SeedChange[];
  notes: SeedNote[];
  credentials: SeedCredential[];
  /** Where the credentials were written, when the seed names a credentialsFile (absolute). */
  credentialsFile?: string;
}

/** A seed that cannot be applied: every problem found, each naming its JSON path. Nothing was written. */
export class SeedError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join("\n"));
    this.name = "SeedError";
  }
}

// ---------------------------------------------------------------------------------------------
// The file, checked on its own

interface Attributes {
  tags?: Record<string, string>;
  enabled?: boolean;
  exp?: number;
  nbf?: number;
}

interface SeedIdentity {
  path: string;
  name: string;
  kind: IdentityKind;
  admin?: boolean;
}

interface SeedSecret extends Attributes {
  path: string;
  name: string;
  value: string;
  contentType?: string;
}

interface SeedKey extends Attributes {
  path: string;
  name: string;
  ops?: string[];
  generate?: KeyCreateInput;
  import?: { input: KeyImportInput; material: PrivateJwk };
}

interface SeedRole {
  path: string;
  assignee: string;
  role: string;
  scope: string;
}

interface SeedPolicy {
  path: string;
  assignee: string;
  permissions: Record<PermissionKind, string[]>;
}

interface SeedVault {
  path: string;
  name: string;
  retentionDays?: number;
  purgeProtection?: boolean;
  rbac?: boolean;
  secrets: SeedSecret[];
  keys: SeedKey[];
  roles: SeedRole[];
  policies: SeedPolicy[];
}

/** A seed file checked on its own: every value read (from the file, files beside it, or the environment). */
export interface ParsedSeed {
  identities: SeedIdentity[];
  vaults: SeedVault[];
  credentialsFile?: string;
}

/** Collects problems, each with its path, so that one run reports them all. */
class Problems {
  readonly list: string[] = [];

  add(path: string, message: string): void {
    this.list.push(`${path}: ${message}`);
  }

  /** Runs a check; a KvError or Error it throws becomes a problem at `path`. */
  check<T>(path: string, fn: () => T): T | undefined {
    try {
      return fn();
    } catch (e) {
      this.add(path, e instanceof KvError || e instanceof Error ? e.message : String(e));
      return undefined;
    }
  }

  /** The object at `path`, with no members but `allowed`; undefined (and a problem) when it is not one. */
  object(value: unknown, path: string, allowed: readonly string[]): Record<string, unknown> | undefined {
    if (!isRecord(value)) {
      this.add(path, "must be an object");
      return undefined;
    }
    for (const key of Object.keys(value))
      if (!allowed.includes(key))
        this.add(path === "" ? key : `${path}.${key}`, `is not a seed field here; expected ${allowed.join(", ")}`);
    return value;
  }

  string(value: unknown, path: string): string | undefined {
    if (value === undefined) return undefined;
    if (typeof value === "string") return value;
    this.add(path, "must be a string");
    return undefined;
  }

  boolean(value: unknown, path: string): boolean | undefined {
    if (value === undefined) return undefined;
    if (typeof value === "boolean") return value;
    this.add(path, "must be true or false");
    return undefined;
  }

  integer(value: unknown, path: string): number | undefined {
    if (value === undefined) return undefined;
    if (typeof value === "number" && Number.isInteger(value)) return value;
    this.add(path, "must be a whole number");
    return undefined;
  }

  strings(value: unknown, path: string): string[] | undefined {
    if (value === undefined) return undefined;
    if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value as string[];
    this.add(path, "must be an array of strings");
    return undefined;
  }

  array(value: unknown, path: string): unknown[] {
    if (value === undefined) return [];
    if (Array.isArray(value)) return value;
    this.add(path, "must be an array");
    return [];
  }

  /** An object keyed by name (secrets, keys). */
  named(value: unknown, path: string): [string, unknown][] {
    if (value === undefined) return [];
    if (isRecord(value)) return Object.entries(value);
    this.add(path, "must be an object keyed by name");
    return [];
  }

  /** An ISO 8601 date and time, as Unix seconds. */
  time(value: unknown, path: string): number | undefined {
    if (value === undefined) return undefined;
    const seconds = isoSeconds(value);
    if (seconds !== undefined) return seconds;
    this.add(path, "must be an ISO 8601 date and time, e.g. 2030-01-01T00:00:00Z");
    return undefined;
  }
}

const join = (path: string, key: string): string => `${path}.${key}`;

function attributesOf(p: Problems, o: Record<string, unknown>, path: string): Attributes {
  const tags = o.tags === undefined ? undefined : p.object(o.tags, join(path, "tags"), isRecord(o.tags) ? Object.keys(o.tags) : []);
  if (tags) {
    const wrong = Object.keys(tags).filter((k) => typeof tags[k] !== "string");
    for (const k of wrong) p.add(join(join(path, "tags"), k), "must be a string");
    if (!wrong.length) p.check(join(path, "tags"), () => validateTags(tags as Record<string, string>));
  }
  return {
    ...(tags ? { tags: tags as Record<string, string> } : {}),
    ...definedMember("enabled", p.boolean(o.enabled, join(path, "enabled"))),
    ...definedMember("exp", p.time(o.expires, join(path, "expires"))),
    ...definedMember("nbf", p.time(o.notBefore, join(path, "notBefore"))),
  };
}

const definedMember = <K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> =>
  value === undefined ? {} : ({ [key]: value } as Record<K, V>);

/** A file named by the seed, relative to the seed file's folder. */
function readBeside(p: Problems, baseDir: string, file: unknown, path: string): Buffer | undefined {
  if (typeof file !== "string" || file === "") {
    p.add(path, "must be a file name (relative to the seed file)");
    return undefined;
  }
  const full = resolve(baseDir, file);
  try {
    return readFileSync(full);
  } catch (e) {
    p.add(path, `cannot read ${full} (${(e as NodeJS.ErrnoException).code ?? "error"})`);
    return undefined;
  }
}

/** A secret's value: inline, `{"file": PATH}` (its exact bytes, as UTF-8) or `{"env": NAME}`. Never echoed. */
function valueOf(p: Problems, value: unknown, path: string, baseDir: string, env: NodeJS.ProcessEnv): string | undefined {
  if (typeof value === "string") return value;
  const form = 'must be a string, {"file": PATH} or {"env": NAME}';
  if (!isRecord(value) || Object.keys(value).length !== 1 || !("file" in value || "env" in value)) {
    p.add(path, form);
    return undefined;
  }
  if ("file" in value) return readBeside(p, baseDir, value.file, join(path, "file"))?.toString("utf8");
  const name = value.env;
  if (typeof name !== "string" || name === "") {
    p.add(join(path, "env"), "must be the name of an environment variable");
    return undefined;
  }
  const found = env[name];
  if (found === undefined) p.add(join(path, "env"), `the environment variable ${name} is not set`);
  return found;
}

const IDENTITY_FIELDS = ["name", "admin"] as const;
const VAULT_FIELDS = ["name", "retentionDays", "purgeProtection", "rbac", "secrets", "keys", "roleAssignments", "accessPolicies"];
const ATTRIBUTE_FIELDS = ["tags", "enabled", "expires", "notBefore"];
const SECRET_FIELDS = ["value", "contentType", ...ATTRIBUTE_FIELDS];
const KEY_FIELDS = ["kty", "size", "curve", "ops", "jwk", "pem", ...ATTRIBUTE_FIELDS];

function parseSecret(p: Problems, name: string, raw: unknown, path: string, baseDir: string, env: NodeJS.ProcessEnv) {
  p.check(path, () => canonicalName(name));
  const o = p.object(raw, path, SECRET_FIELDS);
  if (!o) return undefined;
  if (o.value === undefined) {
    p.add(join(path, "value"), 'is required: a string, {"file": PATH} or {"env": NAME}');
    return undefined;
  }
  const value = valueOf(p, o.value, join(path, "value"), baseDir, env);
  const contentType = p.string(o.contentType, join(path, "contentType"));
  const secret: SeedSecret = { path, name, value: value ?? "", ...attributesOf(p, o, path), ...definedMember("contentType", contentType) };
  if (value !== undefined) p.check(join(path, "value"), () => checkSecretInput({ value, contentType }));
  return secret;
}

function parseKey(p: Problems, name: string, raw: unknown, path: string, baseDir: string): SeedKey | undefined {
  p.check(path, () => canonicalName(name));
  const o = p.object(raw, path, KEY_FIELDS);
  if (!o) return undefined;
  const ops = p.strings(o.ops, join(path, "ops"));
  const key: SeedKey = { path, name, ...attributesOf(p, o, path), ...definedMember("ops", ops) };
  const forms = ["kty", "jwk", "pem"].filter((f) => o[f] !== undefined);
  if (forms.length !== 1) {
    p.add(path, 'give exactly one of "kty" (a generated key), "jwk" or "pem" (an imported key)');
    return undefined;
  }
  if (o.kty !== undefined) {
    const kty = p.string(o.kty, join(path, "kty"));
    const size = p.integer(o.size, join(path, "size"));
    const crv = p.string(o.curve, join(path, "curve"));
    if (kty === undefined) return undefined;
    const input: KeyCreateInput = { kty, ...definedMember("keySize", size), ...definedMember("crv", crv), ...definedMember("keyOps", ops) };
    if (!p.check(path, () => keySpecOf(input))) return undefined;
    return { ...key, generate: input };
  }
  for (const f of ["size", "curve"]) if (o[f] !== undefined) p.add(join(path, f), "is for generated keys (with kty) only");
  let jwk: Record<string, unknown> | undefined;
  if (o.jwk !== undefined) {
    if (!isRecord(o.jwk)) p.add(join(path, "jwk"), "must be a JSON Web Key object");
    else jwk = { ...o.jwk };
  } else {
    const pem = readBeside(p, baseDir, o.pem, join(path, "pem"));
    if (pem) {
      jwk = p.check(join(path, "pem"), () => {
        let keyObject;
        try {
          keyObject = createPrivateKey(pem);
        } catch {
          throw new Error("is not an unencrypted private key in PEM");
        }
        if (keyObject.asymmetricKeyType !== "rsa" && keyObject.asymmetricKeyType !== "ec")
          throw new Error("holds a key that is neither RSA nor EC");
        return { ...privateJwkOf(keyObject) };
      });
    }
  }
  if (!jwk) return undefined;
  if (ops) jwk.key_ops = ops;
  const input: KeyImportInput = { key: jwk };
  const imported = p.check(o.jwk !== undefined ? join(path, "jwk") : join(path, "pem"), () => importedKeyOf(input));
  return imported ? { ...key, import: { input, material: imported.material } } : undefined;
}

function parseVault(p: Problems, raw: unknown, path: string, baseDir: string, env: NodeJS.ProcessEnv): SeedVault | undefined {
  const o = p.object(raw, path, VAULT_FIELDS);
  if (!o) return undefined;
  const given = p.string(o.name, join(path, "name"));
  if (given === undefined) {
    if (o.name === undefined) p.add(join(path, "name"), "is required");
    return undefined;
  }
  const name = p.check(join(path, "name"), () => canonicalVaultName(given));
  const retentionDays = p.integer(o.retentionDays, join(path, "retentionDays"));
  if (retentionDays !== undefined) p.check(join(path, "retentionDays"), () => checkRetentionDays(retentionDays));
  const vault: SeedVault = {
    path,
    name: name ?? given,
    ...definedMember("retentionDays", retentionDays),
    ...definedMember("purgeProtection", p.boolean(o.purgeProtection, join(path, "purgeProtection"))),
    ...definedMember("rbac", p.boolean(o.rbac, join(path, "rbac"))),
    secrets: [],
    keys: [],
    roles: [],
    policies: [],
  };
  const unique = (seen: Set<string>, key: string, at: string, what: string): boolean => {
    if (seen.has(key)) {
      p.add(at, `names the same ${what} as another entry (names are case-insensitive)`);
      return false;
    }
    seen.add(key);
    return true;
  };
  const secretNames = new Set<string>();
  for (const [n, s] of p.named(o.secrets, join(path, "secrets"))) {
    const at = join(join(path, "secrets"), n);
    const secret = parseSecret(p, n, s, at, baseDir, env);
    if (secret && unique(secretNames, n.toLowerCase(), at, "secret")) vault.secrets.push(secret);
  }
  const keyNames = new Set<string>();
  for (const [n, k] of p.named(o.keys, join(path, "keys"))) {
    const at = join(join(path, "keys"), n);
    const key = parseKey(p, n, k, at, baseDir);
    if (key && unique(keyNames, n.toLowerCase(), at, "key")) vault.keys.push(key);
  }
  const grants = new Set<string>();
  for (const [i, r] of p.array(o.roleAssignments, join(path, "roleAssignments")).entries()) {
    const at = `${path}.roleAssignments[${i}]`;
    const a = p.object(r, at, ["assignee", "role", "scope"]);
    if (!a) continue;
    const assignee = p.string(a.assignee, join(at, "assignee"));
    const roleName = p.string(a.role, join(at, "role"));
    if (assignee === undefined || roleName === undefined) {
      for (const f of ["assignee", "role"]) if (a[f] === undefined) p.add(join(at, f), "is required");
      continue;
    }
    const role = roleNamed(roleName);
    if (!role) p.add(join(at, "role"), `'${roleName}' is not a Key Vault role. Roles: ${Object.keys(BUILT_IN_ROLES).join(", ")}.`);
    const scope = p.check(join(at, "scope"), () => normalizeScope(p.string(a.scope, join(at, "scope")) ?? "/"));
    if (!role || scope === undefined) continue;
    if (unique(grants, `${assignee.toLowerCase()}|${role}|${scope}`, at, "assignee, role and scope"))
      vault.roles.push({ path: at, assignee, role, scope });
  }
  const policyOf = new Set<string>();
  for (const [i, r] of p.array(o.accessPolicies, join(path, "accessPolicies")).entries()) {
    const at = `${path}.accessPolicies[${i}]`;
    const a = p.object(r, at, ["assignee", "secrets", "keys", "certificates"]);
    if (!a) continue;
    const assignee = p.string(a.assignee, join(at, "assignee"));
    if (assignee === undefined) {
      if (a.assignee === undefined) p.add(join(at, "assignee"), "is required");
      continue;
    }
    const permissions = {} as Record<PermissionKind, string[]>;
    let ok = true;
    for (const kind of Object.keys(PERMISSIONS) as PermissionKind[]) {
      const given = p.strings(a[kind], join(at, kind)) ?? [];
      const checked = p.check(join(at, kind), () => checkPermissions(kind, given));
      if (checked) permissions[kind] = checked;
      else ok = false;
    }
    if (ok && unique(policyOf, assignee.toLowerCase(), at, "assignee")) vault.policies.push({ path: at, assignee, permissions });
  }
  return vault;
}

/**
 * Checks a seed file's content on its own (shapes, names, values and key material, by the
 * services' rules), reading the files it names relative to `baseDir` and `{"env": NAME}`
 * from `env`. Throws a SeedError listing every problem.
 */
export function parseSeed(seed: unknown, baseDir: string, env: NodeJS.ProcessEnv = process.env): ParsedSeed {
  const p = new Problems();
  const parsed: ParsedSeed = { identities: [], vaults: [] };
  const o = p.object(seed, "", ["vaults", "identities", "servicePrincipals", "credentialsFile"]);
  if (!o) throw new SeedError(["the seed must be a JSON object"]);
  const names = new Set<string>();
  for (const [field, kind] of [
    ["identities", "managed"],
    ["servicePrincipals", "sp"],
  ] as const) {
    for (const [i, raw] of p.array(o[field], field).entries()) {
      const at = `${field}[${i}]`;
      const x = p.object(raw, at, IDENTITY_FIELDS);
      if (!x) continue;
      const name = p.string(x.name, join(at, "name"));
      if (name === undefined) {
        if (x.name === undefined) p.add(join(at, "name"), "is required");
        continue;
      }
      const refused = p.list.length;
      p.check(join(at, "name"), () => checkIdentityName(name));
      if (p.list.length > refused) continue;
      if (names.has(name)) {
        p.add(join(at, "name"), `another identity or service principal of the seed is named '${name}'`);
        continue;
      }
      names.add(name);
      parsed.identities.push({ path: at, name, kind, ...definedMember("admin", p.boolean(x.admin, join(at, "admin"))) });
    }
  }
  const vaultNames = new Set<string>();
  for (const [i, raw] of p.array(o.vaults, "vaults").entries()) {
    const vault = parseVault(p, raw, `vaults[${i}]`, baseDir, env);
    if (!vault) continue;
    if (vaultNames.has(vault.name)) p.add(`vaults[${i}].name`, `another vault of the seed is named '${vault.name}'`);
    else {
      vaultNames.add(vault.name);
      parsed.vaults.push(vault);
    }
  }
  const file = p.string(o.credentialsFile, "credentialsFile");
  if (file !== undefined) {
    const full = resolve(baseDir, file);
    if (!existsSync(dirname(full)) || !statSync(dirname(full)).isDirectory())
      p.add("credentialsFile", `the folder ${dirname(full)} does not exist`);
    else if (existsSync(full)) p.check("credentialsFile", () => readCredentialsFile(full));
    parsed.credentialsFile = full;
  }
  if (p.list.length) throw new SeedError(p.list);
  return parsed;
}

/** The seed file as JSON, and the folder the files it names are relative to. Its text is never echoed. */
export function readSeedFile(file: string): { seed: unknown; baseDir: string } {
  const full = resolve(file);
  let text: string;
  try {
    text = readFileSync(full, "utf8");
  } catch (e) {
    throw new SeedError([`cannot read the seed file ${full} (${(e as NodeJS.ErrnoException).code ?? "error"})`]);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  try {
    return { seed: JSON.parse(text), baseDir: dirname(full) };
  } catch (e) {
    // Only the position: the parser's message may quote the text, which may hold secret values.
    const at = /at position (\d+)/.exec(e instanceof Error ? e.message : "");
    let where = "";
    if (at) {
      const before = text.slice(0, Number(at[1]));
      const line = before.split("\n").length;
      where = ` (line ${line}, column ${before.length - before.lastIndexOf("\n")})`;
    }
    throw new SeedError([`${full} is not valid JSON${where}`]);
  }
}

// ---------------------------------------------------------------------------------------------
// The credentials file

interface CredentialEntry {
  kind: IdentityKind;
  objectId: string;
  clientId: string;
  tenantId: string;
  identityHeader?: string;
  clientSecret?: string;
}

function readCredentialsFile(file: string): Record<string, CredentialEntry> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch {
    throw new Error(`${file} exists but is not a JSON object of credentials`);
  }
  if (!isRecord(parsed)) throw new Error(`${file} exists but is not a JSON object of credentials`);
  return parsed as Record<string, CredentialEntry>;
}

/** Why a seed leaves an existing object alone: it is deleted, or else a certificate's. */
const whyLeftAlone = (latest: unknown, kind: string, name: string): string =>
  latest === "deleted"
    ? `the ${kind} ${name} is deleted (and recoverable): recover or purge it first`
    : `the ${kind} ${name} belongs to a certificate; a seed does not change it`;

/** Adds the credentials to the file (mode 0600), keeping the entries of identities made before. */
function writeCredentials(file: string, tenantId: string, credentials: SeedCredential[]): void {
  const all = existsSync(file) ? readCredentialsFile(file) : {};
  for (const { identity, credential } of credentials) {
    all[identity.name] = {
      kind: identity.kind,
      objectId: identity.id,
      clientId: identity.clientId,
      tenantId,
      ...(identity.kind === "managed" ? { identityHeader: credential } : { clientSecret: credential }),
    };
  }
  writeFileSync(file, JSON.stringify(all, null, 2) + "\n", { mode: 0o600 });
  chmodSync(file, 0o600);
}

// ---------------------------------------------------------------------------------------------
// Planning against the store, then applying

const identityKind = (kind: IdentityKind): SeedKind => (kind === "managed" ? "managed identity" : "service principal");

async function latestOf<V>(
  objects: { get(vault: Vault, name: string): Promise<V>; getDeleted(vault: Vault, name: string): Promise<unknown> },
  vault: Vault,
  name: string,
): Promise<V | "deleted" | undefined> {
  const missing = (e: unknown): boolean => e instanceof KvError && e.status === 404;
  try {
    return await objects.get(vault, name);
  } catch (e) {
    if (!missing(e)) throw e;
  }
  try {
    await objects.getDeleted(vault, name);
    return "deleted";
  } catch (e) {
    if (!missing(e)) throw e;
    return undefined;
  }
}

const sameTags = (a: Record<string, string> | null | undefined, b: Record<string, string> | null | undefined): boolean => {
  const ea = Object.entries(a ?? {}).sort(([x], [y]) => x.localeCompare(y));
  const eb = Object.entries(b ?? {}).sort(([x], [y]) => x.localeCompare(y));
  return JSON.stringify(ea) === JSON.stringify(eb);
};

const sameSet = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && [...a].sort().join("\n") === [...b].sort().join("\n");

const canonicalJson = (o: object): string => JSON.stringify(Object.entries(o).sort(([x], [y]) => x.localeCompare(y)));

/** The attributes the seed gives that differ from the version's: the names of those that would change. */
function changedAttributes(
  want: Attributes & { contentType?: string; ops?: string[] },
  have: { tags: Record<string, string> | null; enabled: boolean; exp: number | null; nbf: number | null; contentType?: string | null },
  keyOps?: string[],
): string[] {
  const changed: string[] = [];
  if (want.contentType !== undefined && want.contentType !== (have.contentType ?? undefined)) changed.push("contentType");
  if (want.tags !== undefined && !sameTags(want.tags, have.tags)) changed.push("tags");
  if (want.enabled !== undefined && want.enabled !== have.enabled) changed.push("enabled");
  if (want.exp !== undefined && want.exp !== have.exp) changed.push("expires");
  if (want.nbf !== undefined && want.nbf !== have.nbf) changed.push("notBefore");
  if (want.ops !== undefined && keyOps !== undefined && !sameSet(want.ops, keyOps)) changed.push("ops");
  return changed;
}

const describeKey = (kty: string, shape: { size?: number; crv?: string }): string =>
  [kty, shape.crv ?? (shape.size !== undefined ? String(shape.size) : undefined)].filter(Boolean).join(" ");

/** What applying needs as it goes: the vaults and identities, found or made. */
interface Context {
  vaults: Map<string, Vault>;
  identities: Map<string, IdentityRecord>;
}

type Step = (ctx: Context) => Promise<void>;

interface Plan {
  changes: SeedChange[];
  notes: SeedNote[];
  steps: Step[];
  identities: Map<string, IdentityRecord>;
}

/** Compares the seed with the store (reads only) and lists the changes and the steps that make them. */
async function plan(instance: Instance, seed: ParsedSeed, credentials: SeedCredential[]): Promise<Plan> {
  const p = new Problems();
  const changes: SeedChange[] = [];
  const notes: SeedNote[] = [];
  const steps: Step[] = [];
  const change = (c: SeedChange, step: Step): void => {
    changes.push(c);
    steps.push(step);
  };

  const stored = await instance.identities.list();
  const known = new Map<string, IdentityRecord>();
  const seeded = new Set<string>();
  for (const x of seed.identities) {
    const existing = stored.find((s) => s.name === x.name);
    if (existing) {
      if (existing.kind !== x.kind)
        p.add(join(x.path, "name"), `'${x.name}' exists as a ${identityKind(existing.kind)}, not a ${identityKind(x.kind)}`);
      else if (x.admin !== undefined && x.admin !== existing.admin)
        p.add(
          join(x.path, "admin"),
          `'${x.name}' exists ${existing.admin ? "as" : "not as"} an administrator; a seed does not change that`,
        );
      known.set(x.name, existing);
      continue;
    }
    seeded.add(x.name);
    change({ action: "create", kind: identityKind(x.kind), name: x.name }, async (ctx) => {
      const made = await instance.identities.create(x.name, x.kind, { admin: x.admin });
      ctx.identities.set(x.name, made.identity);
      credentials.push(made);
    });
  }
  if (seed.credentialsFile && seeded.size)
    steps.push(async () => {
      if (credentials.length) writeCredentials(seed.credentialsFile!, instance.tenantId, credentials);
    });

  /** An assignee: an identity of the seed, or one in the store by name, object id or client id. */
  const assigneeOf = (assignee: string, path: string): { existing?: IdentityRecord; name: string } | undefined => {
    if (seeded.has(assignee)) return { name: assignee };
    const existing = known.get(assignee) ?? stored.find((s) => s.name === assignee || s.id === assignee || s.clientId === assignee);
    if (existing) return { existing, name: existing.name };
    p.add(join(path, "assignee"), `there is no identity '${assignee}', in the seed or in Lockbox`);
    return undefined;
  };
  const identityIn = (ctx: Context, who: { existing?: IdentityRecord; name: string }): IdentityRecord =>
    who.existing ?? ctx.identities.get(who.name)!;

  for (const v of seed.vaults) {
    const existing = await instance.vaults.find(v.name);
    const vaultOf = (ctx: Context): Vault => ctx.vaults.get(v.name)!;
    if (existing) {
      if (v.retentionDays !== undefined && v.retentionDays !== existing.retentionDays)
        p.add(
          join(v.path, "retentionDays"),
          `the vault ${v.name} exists with ${existing.retentionDays} days; a vault's retention cannot be changed`,
        );
      if (v.purgeProtection !== undefined && v.purgeProtection !== existing.purgeProtection)
        p.add(
          join(v.path, "purgeProtection"),
          `the vault ${v.name} exists ${existing.purgeProtection ? "with" : "without"} purge protection; a seed does not change it`,
        );
      steps.push(async (ctx) => void ctx.vaults.set(v.name, existing));
      if (v.rbac !== undefined && v.rbac !== existing.rbac)
        change({ action: "update", kind: "vault", name: v.name, detail: v.rbac ? "Azure RBAC" : "access policies" }, async () => {
          await instance.vaults.setRbac(v.name, v.rbac!);
        });
    } else {
      change({ action: "create", kind: "vault", name: v.name }, async (ctx) => {
        const options = { retentionDays: v.retentionDays, purgeProtection: v.purgeProtection, rbac: v.rbac };
        ctx.vaults.set(v.name, await instance.vaults.create(v.name, options));
      });
    }
    const rbac = v.rbac ?? existing?.rbac ?? true;
    if (!rbac && v.roles.length)
      p.add(join(v.path, "roleAssignments"), `the vault ${v.name} uses access policies: give accessPolicies instead, or rbac true`);
    if (rbac && v.policies.length)
      p.add(join(v.path, "accessPolicies"), `the vault ${v.name} uses Azure RBAC: give roleAssignments instead, or rbac false`);

    for (const s of v.secrets) {
      const where = { vault: v.name, kind: "secret" as const, name: s.name };
      const input = { value: s.value, contentType: s.contentType, tags: s.tags, enabled: s.enabled, exp: s.exp, nbf: s.nbf };
      const latest = existing ? await latestOf<SecretVersion>(instance.secrets.objects, existing, s.name) : undefined;
      if (latest === "deleted" || latest?.props.managed) {
        p.add(s.path, whyLeftAlone(latest, "secret", s.name));
        continue;
      }
      if (!latest || !existing) {
        change({ ...where, action: "create" }, async (ctx) => void (await instance.secrets.set(vaultOf(ctx), s.name, input)));
        continue;
      }
      if (!instance.secrets.objects.open(existing, latest).equals(Buffer.from(s.value, "utf8"))) {
        change({ ...where, action: "new-version" }, async (ctx) => void (await instance.secrets.set(vaultOf(ctx), s.name, input)));
        continue;
      }
      const changed = changedAttributes(s, latest);
      if (changed.length)
        change({ ...where, action: "update", detail: changed.join(", ") }, async (ctx) => {
          const { contentType, tags, enabled, exp, nbf } = input;
          await instance.secrets.update(vaultOf(ctx), s.name, undefined, { contentType, tags, enabled, exp, nbf });
        });
    }

    for (const k of v.keys) {
      const where = { vault: v.name, kind: "key" as const, name: k.name };
      const attributes = { tags: k.tags, enabled: k.enabled, exp: k.exp, nbf: k.nbf };
      const latest = existing ? await latestOf<KeyVersion>(instance.keys.objects, existing, k.name) : undefined;
      if (latest === "deleted" || latest?.props.managed) {
        p.add(k.path, whyLeftAlone(latest, "key", k.name));
        continue;
      }
      const add = async (ctx: Context): Promise<void> => {
        if (k.generate) await instance.keys.create(vaultOf(ctx), k.name, { ...k.generate, ...attributes });
        else await instance.keys.import(vaultOf(ctx), k.name, { ...k.import!.input, ...attributes });
      };
      if (!latest || !existing) {
        change({ ...where, action: "create" }, add);
        continue;
      }
      const material = instance.keys.material(existing, latest);
      if (k.import && canonicalJson(material) !== canonicalJson(k.import.material)) {
        change({ ...where, action: "new-version" }, add);
        continue;
      }
      if (k.generate) {
        const have = describeKey(latest.props.kty, shapeOf(material));
        const want = describeKey(k.generate.kty, keySpecOf(k.generate).shape);
        if (have !== want)
          notes.push({
            ...where,
            note: `exists as ${have}; the seed asks for ${want}, but a seed never regenerates a key (delete and purge it, then seed again, to change it)`,
          });
      }
      const changed = changedAttributes(k, latest, latest.props.keyOps);
      if (changed.length)
        change({ ...where, action: "update", detail: changed.join(", ") }, async (ctx) => {
          await instance.keys.update(vaultOf(ctx), k.name, undefined, { ...attributes, ...definedMember("keyOps", k.ops) });
        });
    }

    const assignments = existing && rbac ? await instance.access.listRoles(existing) : [];
    for (const r of v.roles) {
      const who = assigneeOf(r.assignee, r.path);
      if (!who) continue;
      if (who.existing && assignments.some((a) => a.principal === who.existing!.id && a.role === r.role && a.scope === r.scope)) continue;
      const detail = `${r.role} to ${who.name}${r.scope === "/" ? "" : ` on ${r.scope}`}`;
      change({ action: "create", vault: v.name, kind: "role assignment", name: detail }, async (ctx) => {
        await instance.access.assignRole(vaultOf(ctx), identityIn(ctx, who), r.role, r.scope);
      });
    }

    const policies = existing && !rbac ? await instance.access.listPolicies(existing) : [];
    for (const a of v.policies) {
      const who = assigneeOf(a.assignee, a.path);
      if (!who) continue;
      const current = who.existing && policies.find((x) => x.principal === who.existing!.id);
      const kinds = Object.keys(a.permissions) as PermissionKind[];
      if (current && kinds.every((kind) => sameSet(current[kind], a.permissions[kind]))) continue;
      change({ action: current ? "update" : "create", vault: v.name, kind: "access policy", name: who.name }, async (ctx) => {
        await instance.access.setPolicy(vaultOf(ctx), identityIn(ctx, who), a.permissions);
      });
    }
  }
  if (p.list.length) throw new SeedError(p.list);
  return { changes, notes, steps, identities: known };
}

/**
 * Applies a seed (the JSON of a seed file; files it names are relative to `baseDir`)
 * idempotently, through the instance's services: what exists as the seed says is left alone,
 * a secret whose value changed gets a new version, changed attributes are updated in place, an
 * imported key with other material gets a new version, a generated key that exists is kept
 * (a note says so when the seed asks for another type or size). The whole seed is checked,
 * on its own and against the store, before anything is written: a SeedError lists every
 * problem with its JSON path. `dryRun` checks and lists the changes, and writes nothing.
 * Prints nothing: the caller shows the changes (and the credentials, unless written to the
 * seed's credentialsFile).
 */
export async function applySeed(
  instance: Instance,
  seed: unknown,
  baseDir: string,
  options: { dryRun?: boolean; env?: NodeJS.ProcessEnv } = {},
): Promise<SeedResult> {
  const parsed = parseSeed(seed, baseDir, options.env ?? process.env);
  const credentials: SeedCredential[] = [];
  const { changes, notes, steps, identities } = await plan(instance, parsed, credentials);
  if (!options.dryRun) {
    const ctx: Context = { vaults: new Map(), identities };
    for (const step of steps) await step(ctx);
  }
  return {
    changes,
    notes,
    credentials,
    ...(parsed.credentialsFile && credentials.length ? { credentialsFile: parsed.credentialsFile } : {}),
  };
}

const VERBS: Record<SeedChange["action"], [done: string, planned: string]> = {
  create: ["created", "would create"],
  update: ["updated", "would update"],
  "new-version": ["new version of", "would add a new version of"],
};

/** One line for a change: `created secret db-password in vault app`. */
export function describeChange(c: SeedChange, dryRun = false): string {
  const verb = VERBS[c.action][dryRun ? 1 : 0];
  if (c.kind === "role assignment") return `${verb} role assignment in vault ${c.vault}: ${c.name}`;
  const detail = c.detail ? ` (${c.detail})` : "";
  return `${verb} ${c.kind} ${c.name}${c.vault && c.kind !== "vault" ? ` in vault ${c.vault}` : ""}${detail}`;
}

/** One line for a note: `note: key signing in vault app exists as RSA 2048; ...`. */
export const describeNote = (n: SeedNote): string => `note: ${n.kind} ${n.name}${n.vault ? ` in vault ${n.vault}` : ""} ${n.note}`;

/** A seed that failed, for one message: what the file was, and (for a SeedError) that nothing was changed. */
export function seedFailure(file: string, e: unknown): Error {
  if (e instanceof SeedError) return new Error(`the seed ${file} was not applied, and nothing was changed:\n  ${e.problems.join("\n  ")}`);
  const message = e instanceof KvError || e instanceof Error ? e.message : String(e);
  return new Error(`the seed ${file} failed part way (apply it again once the cause is fixed: what is done stays done): ${message}`);
}

/** Reads and checks a seed file on its own (before a server starts on it), for applySeed later. */
export function loadSeed(file: string, env: NodeJS.ProcessEnv = process.env): { seed: unknown; baseDir: string } {
  try {
    const read = readSeedFile(file);
    parseSeed(read.seed, read.baseDir, env);
    return read;
  } catch (e) {
    throw seedFailure(file, e);
  }
}

import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import https from "node:https";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import type { Instance } from "./instance.ts";
import { DEFAULT_VAULT } from "../vault/vaults.ts";

/** What a client program needs in its environment to reach Lockbox with DefaultAzureCredential. */
export interface ClientEnvironment {
  NODE_EXTRA_CA_CERTS?: string;
  /** OpenSSL, Go, .NET on Linux and Python's aiohttp: the system's CAs and Lockbox's. */
  SSL_CERT_FILE?: string;
  /** Python's requests (the Azure SDK for Python, az): the same bundle. */
  REQUESTS_CA_BUNDLE?: string;
  /** curl: the same bundle. */
  CURL_CA_BUNDLE?: string;
  IDENTITY_ENDPOINT: string;
  IDENTITY_HEADER: string;
  /** The older App Service managed-identity protocol (2017-09-01), which `az login --identity` speaks. */
  MSI_ENDPOINT: string;
  MSI_SECRET: string;
  /** What makes az take MSI_ENDPOINT as App Service's. */
  APPSETTING_WEBSITE_SITE_NAME: string;
  TENANT_ID: string;
  KEYVAULT_URL: string;
}

/** Written by a running server so that `lockbox env` can tell its port and CA without flags. */
export interface RuntimeInfo {
  pid: number;
  /** Absent while the server starts. */
  port?: number;
  dnsSuffix?: string;
  caFile?: string;
  /** Where the server appends AuditEvent lines; the CLI appends its own there too. */
  auditLog?: string;
  /** The store is in the server's memory (`serve --in-memory`): see MEMORY_IDENTITY_FILE. */
  memory?: boolean;
}

/**
 * A server with an in-memory store writes its developer identity here (in its data
 * directory, mode 0600, removed at stop), as no other process can read that store.
 */
export const MEMORY_IDENTITY_FILE = "memory-identity.json";

export interface MemoryIdentity {
  tenantId: string;
  identityHeader: string;
}

/** What clientEnvironment needs of an instance: an Instance, or a memory server's MemoryIdentity. */
export type InstanceIdentity = Pick<Instance, "tenantId" | "developerHeader">;

/** The developer identity of the in-memory server running on this data directory. */
export function memoryIdentity(dataDir: string): InstanceIdentity {
  const { tenantId, identityHeader } = JSON.parse(readFileSync(join(dataDir, MEMORY_IDENTITY_FILE), "utf8")) as MemoryIdentity;
  return { tenantId, developerHeader: async () => identityHeader };
}

const runtimeFile = (dataDir: string): string => join(dataDir, "server.json");

/** Whether a process with this id runs (one of another user's counts). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

function parseRuntime(file: string): RuntimeInfo | undefined {
  try {
    const info = JSON.parse(readFileSync(file, "utf8")) as RuntimeInfo;
    return Number.isInteger(info.pid) ? info : undefined;
  } catch {
    return undefined; // a torn or foreign file describes no server
  }
}

/** The server running on this data directory, from its server.json; a file left by a server that is gone is ignored (and `stale` told). */
export function readRuntimeInfo(dataDir: string, stale?: (info: RuntimeInfo) => void): RuntimeInfo | undefined {
  const file = runtimeFile(dataDir);
  if (!existsSync(file)) return undefined;
  const info = parseRuntime(file);
  if (info && alive(info.pid)) return info;
  if (info) stale?.(info);
  return undefined;
}

/**
 * Every running server of this user, listed in a folder of their own (in XDG_RUNTIME_DIR
 * when set, else under the system's temporary folder; one file per process), so that a
 * command run outside any data directory can find it.
 */
const registryDir = (): string =>
  join(process.env.XDG_RUNTIME_DIR || join(tmpdir(), `lockbox-${process.getuid?.() ?? "user"}`), "lockbox-servers");

/**
 * Whether a registry folder is this user's alone: in a shared temporary folder another user
 * could have made it first and listed a data directory of theirs, to which the CLI would
 * then write secrets. A folder that is not is neither read nor written.
 */
function ours(dir: string): boolean {
  return [dir, dirname(dir)].every((d) => {
    const st = statSync(d);
    return (!process.getuid || st.uid === process.getuid()) && (st.mode & 0o022) === 0;
  });
}

export interface RegisteredServer {
  pid: number;
  port: number;
  dataDir: string;
}

function register(entry: RegisteredServer): string | undefined {
  const dir = registryDir();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!ours(dir)) return undefined;
  const file = join(dir, `${entry.pid}-${entry.port}.json`);
  writeFileSync(file, JSON.stringify(entry) + "\n", { mode: 0o600 });
  return file;
}

/** The servers of this user that run now (files of servers that died are removed). */
export function runningServers(): RegisteredServer[] {
  const dir = registryDir();
  if (!existsSync(dir) || !ours(dir)) return [];
  const found: RegisteredServer[] = [];
  for (const name of readdirSync(dir)) {
    const file = join(dir, name);
    let entry: RegisteredServer;
    try {
      entry = JSON.parse(readFileSync(file, "utf8")) as RegisteredServer;
    } catch {
      continue;
    }
    if (alive(entry.pid) && readRuntimeInfo(entry.dataDir)?.pid === entry.pid) found.push(entry);
    else rmSync(file, { force: true });
  }
  return found;
}

/** The CA a client must trust: the running server's (none with an operator's certificate), else the data directory's local CA, if made. */
export function caFileOf(dataDir: string, running: RuntimeInfo | undefined): string | undefined {
  if (running) return running.caFile;
  const localCa = join(dataDir, "tls", "ca.pem");
  return existsSync(localCa) ? localCa : undefined;
}

/** A data directory's server, claimed by the one that serves it (server.json, made exclusively). */
export interface RuntimeClaim {
  /** Tells clients where the server listens. */
  publish(info: Omit<RuntimeInfo, "pid">): void;
  /** The server is gone: server.json is removed (only if it is still this claim's). */
  release(): void;
}

/**
 * One server per data directory: server.json is made with O_EXCL and names this process;
 * one naming a live process is refused with its pid and port, one left by a process that
 * died (kill -9, a power cut) is taken over.
 */
export function claimRuntime(dataDir: string): RuntimeClaim {
  const file = runtimeFile(dataDir);
  const write = (info: RuntimeInfo, flag: string): void => writeFileSync(file, JSON.stringify(info, null, 2) + "\n", { flag, mode: 0o600 });
  for (let attempt = 0; ; attempt++) {
    try {
      write({ pid: process.pid }, "wx");
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST" || attempt > 2) throw e;
      const other = parseRuntime(file);
      if (other && alive(other.pid))
        throw new Error(
          `another Lockbox server (pid ${other.pid}${other.port ? `, port ${other.port}` : ", starting"}) serves ${dataDir}: nothing was started. Use that one, stop it first, or give this server a --data-dir of its own.`,
        );
      rmSync(file, { force: true });
    }
  }
  let released = false;
  let listed: string | undefined;
  const mine = (): boolean => parseRuntime(file)?.pid === process.pid;
  return {
    publish(info) {
      if (released) return;
      write({ pid: process.pid, ...info }, "w");
      if (info.port !== undefined) listed = register({ pid: process.pid, port: info.port, dataDir: resolve(dataDir) });
    },
    release() {
      if (released) return;
      released = true;
      if (listed) rmSync(listed, { force: true });
      if (mine()) rmSync(file, { force: true });
    },
  };
}

/** Where Debian, Fedora/RHEL, Alpine and others keep the system's CA bundle. */
const SYSTEM_BUNDLES = ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"];

/** A PEM text that ends with a newline, so that files can be joined. */
export const endLine = (pem: string): string => (pem.endsWith("\n") ? pem : `${pem}\n`);

/** Writes `text` to `file` unless it already holds exactly that; returns the file. */
function keep(file: string, text: string): string {
  if (!existsSync(file) || readFileSync(file, "utf8") !== text) writeFileSync(file, text);
  return file;
}

/**
 * The CA files a client needs to trust Lockbox's local CA: for Node, the CA itself, or (when
 * the user already had NODE_EXTRA_CA_CERTS) a file with theirs and Lockbox's; for everything
 * else, a bundle of the system's CAs (or the user's SSL_CERT_FILE) and Lockbox's. The files
 * live beside ca.pem and are rebuilt whenever what they join changes.
 */
export function trustFiles(
  caFile: string,
  env: NodeJS.ProcessEnv,
): Pick<ClientEnvironment, "NODE_EXTRA_CA_CERTS" | "SSL_CERT_FILE" | "REQUESTS_CA_BUNDLE" | "CURL_CA_BUNDLE"> {
  const dir = dirname(caFile);
  const ca = endLine(readFileSync(caFile, "utf8"));
  const joined = join(dir, "node-extra-ca.pem");
  const extra = env.NODE_EXTRA_CA_CERTS;
  // The user's own file is joined with Lockbox's CA; a file this printed before is kept as it is.
  const nodeFile =
    !extra || !existsSync(extra) || resolve(extra) === resolve(caFile)
      ? caFile
      : resolve(extra) === resolve(joined)
        ? joined
        : keep(joined, endLine(readFileSync(extra, "utf8")) + ca);
  const sslFile = env.SSL_CERT_FILE;
  const userBundle = sslFile && resolve(dirname(sslFile)) !== resolve(dir) ? sslFile : undefined;
  const system = [userBundle, ...SYSTEM_BUNDLES].find((f): f is string => f !== undefined && existsSync(f));
  const bundle = keep(join(dir, "ca-bundle.pem"), (system ? endLine(readFileSync(system, "utf8")) : "") + ca);
  return { NODE_EXTRA_CA_CERTS: nodeFile, SSL_CERT_FILE: bundle, REQUESTS_CA_BUNDLE: bundle, CURL_CA_BUNDLE: bundle };
}

export async function clientEnvironment(
  instance: InstanceIdentity,
  port: number,
  dnsSuffix: string,
  caFile: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ClientEnvironment> {
  const header = await instance.developerHeader();
  return {
    ...(caFile ? trustFiles(caFile, env) : {}),
    IDENTITY_ENDPOINT: `https://127.0.0.1:${port}/msi/token`,
    IDENTITY_HEADER: header,
    MSI_ENDPOINT: `https://127.0.0.1:${port}/msi/token`,
    MSI_SECRET: header,
    APPSETTING_WEBSITE_SITE_NAME: "lockbox",
    TENANT_ID: instance.tenantId,
    KEYVAULT_URL: `https://${DEFAULT_VAULT}.${dnsSuffix}:${port}`,
  };
}

/** The az CLI lines that take this server as a cloud and log in with the developer identity. */
export function azLines(port: number, dnsSuffix: string, tenantId: string): string {
  const rm = `https://127.0.0.1:${port}/`;
  return [
    '# az reads REQUESTS_CA_BUNDLE, MSI_ENDPOINT, MSI_SECRET and APPSETTING_WEBSITE_SITE_NAME from `eval "$(lockbox env)"`.',
    `az cloud register --name Lockbox --endpoint-resource-manager ${rm} --suffix-keyvault-dns .${dnsSuffix}:${port}`,
    "az cloud set --name Lockbox",
    "az login --identity --allow-no-subscriptions",
    `# or a service principal (the tenant as its id: az resolves a name through Azure's own directory):`,
    `# az login --service-principal --username CLIENT_ID --password=SECRET --tenant ${tenantId} --allow-no-subscriptions`,
  ].join("\n");
}

export const shellQuote = (v: string): string => `'${v.replaceAll("'", `'\\''`)}'`;

/** The shells `lockbox env --shell` writes for. */
export const SHELLS = ["sh", "fish", "powershell", "cmd"] as const;
export type Shell = (typeof SHELLS)[number];

/** The environment as lines a shell runs to set it (`eval "$(lockbox env)"`, `lockbox env --shell fish | source`, ...). */
export function asShell(env: ClientEnvironment, shell: Shell = "sh"): string {
  const line = (k: string, v: string): string => {
    switch (shell) {
      case "sh":
        return `export ${k}=${shellQuote(v)}`;
      case "fish":
        return `set -gx ${k} ${shellQuote(v).replaceAll(`'\\''`, `\\'`)}`;
      case "powershell":
        return `$env:${k} = '${v.replaceAll("'", "''")}'`;
      case "cmd":
        return `set "${k}=${v}"`;
    }
  };
  return Object.entries(env)
    .map(([k, v]) => line(k, String(v)))
    .join("\n");
}

/** A token from the server's managed-identity endpoint (2019-08-01), as @azure/identity gets one; the server's CA is trusted for this request only. */
export function managedIdentityToken(
  url: string,
  ca: string | Buffer | undefined,
  header: string,
  resource: string,
): Promise<{ access_token: string; expires_on: string }> {
  const target = new URL("/msi/token", url);
  target.searchParams.set("api-version", "2019-08-01");
  target.searchParams.set("resource", resource);
  return new Promise((resolve, reject) => {
    const req = https.get(target, { ca, agent: false, headers: { "x-identity-header": header } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", reject);
      res.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        if (res.statusCode !== 200) {
          // The error's description is Lockbox's own (never the token or the header).
          let described: string | undefined;
          try {
            described = (JSON.parse(body) as { error_description?: string }).error_description;
          } catch {
            described = undefined;
          }
          return reject(new Error(`Lockbox's managed identity endpoint answered ${res.statusCode}: ${described ?? "no description"}`));
        }
        resolve(JSON.parse(body) as { access_token: string; expires_on: string });
      });
    });
    req.on("error", reject);
  });
}

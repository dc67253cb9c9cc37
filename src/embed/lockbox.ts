import { readFileSync } from "node:fs";
import { resolveConfig } from "../server/config.ts";
import { clientEnvironment, managedIdentityToken, type ClientEnvironment } from "../server/environment.ts";
import { createLogger } from "../server/logging.ts";
import { startServer, temporaryDataDir, type RunningServer } from "../server/serve.ts";
import { DEFAULT_VAULT, type VaultOptions } from "../vault/vaults.ts";
import { reachInProcess } from "./connect.ts";

export type { ClientEnvironment } from "../server/environment.ts";
export type { VaultOptions } from "../vault/vaults.ts";

export interface LockboxOptions {
  /**
   * "sqlite" (the default): SQLite in the data directory. "memory": an in-memory SQLite
   * database, gone at stop(); the data directory then holds only the TLS files, the audit
   * log and the server's runtime state.
   */
  storage?: "sqlite" | "memory";
  /** Kept as it is at stop(). Default: a new temporary directory, removed at stop(). */
  dataDir?: string;
  /** Default 0: any free port. The server listens on 127.0.0.1. */
  port?: number;
  /** Vault hosts are `{vault}.{dnsSuffix}`. Default vault.localhost. */
  dnsSuffix?: string;
  /** A clock the tests can move (GET/POST /lockbox/v1/clock). */
  devClock?: boolean;
  /** pino's level for the server's log (on stdout). Default "warn". */
  logLevel?: string;
  /**
   * Default true: this process trusts the server's local CA and resolves its vault names
   * to 127.0.0.1 (see embed/connect.ts), so that the Azure SDK needs no environment.
   * false leaves node's TLS alone: trust `ca` yourself (e.g. the SDK's `tlsOptions: { ca }`,
   * or NODE_EXTRA_CA_CERTS=env.NODE_EXTRA_CA_CERTS in a child process).
   */
  reachInProcess?: boolean;
}

/** The shape of @azure/core-auth's AccessToken. */
export interface AccessToken {
  token: string;
  /** Epoch milliseconds. */
  expiresOnTimestamp: number;
  tokenType?: "Bearer";
}

/** The shape of @azure/core-auth's TokenCredential, so that Lockbox needs no @azure package at run time. */
export interface TokenCredential {
  getToken(scopes: string | string[], options?: unknown): Promise<AccessToken>;
}

export interface Lockbox {
  /** https://127.0.0.1:PORT: the identity endpoints and the admin API (/lockbox/v1). */
  url: string;
  port: number;
  dataDir: string;
  /** The local CA's certificate (PEM), which the server's certificate is issued by. */
  ca: string;
  /** https://{name}.{dnsSuffix}:PORT (name default "default"). */
  vaultUrl(name?: string): string;
  /** The environment a child program needs (NODE_EXTRA_CA_CERTS, IDENTITY_ENDPOINT, IDENTITY_HEADER, ...), as `lockbox env` prints it. */
  env: ClientEnvironment;
  /** The developer identity (it may do everything), for any Azure SDK client. */
  credential(): TokenCredential;
  /** Creates a vault (RBAC unless `rbac: false`) and returns its URL. */
  createVault(name: string, options?: VaultOptions): Promise<string>;
  /** Stops the server and frees its port; removes the data directory unless it was given. */
  stop(): Promise<void>;
}

/**
 * Starts a Lockbox server in this process, for test suites: a free port on 127.0.0.1 and a
 * temporary data directory unless told otherwise. It ignores the LOCKBOX_* environment.
 */
export async function startLockbox(options: LockboxOptions = {}): Promise<Lockbox> {
  const temporary = options.dataDir === undefined;
  const dataDir = options.dataDir ?? temporaryDataDir();
  const config = resolveConfig(
    {
      port: options.port ?? 0,
      dataDir,
      dnsSuffix: options.dnsSuffix,
      devClock: options.devClock ?? false,
      logLevel: options.logLevel ?? "warn",
      inMemory: options.storage === "memory",
      storage: options.storage === "memory" ? undefined : "sqlite",
    },
    {},
  );
  const server = await startServer(config, createLogger(config.logLevel), { removeDataDir: temporary });
  try {
    return await embedded(server, options.reachInProcess ?? true);
  } catch (e) {
    await server.stop();
    throw e;
  }
}

async function embedded(server: RunningServer, reach: boolean): Promise<Lockbox> {
  const { port, config, instance } = server;
  // startServer always has a local CA here: startLockbox takes no operator certificate.
  const ca = readFileSync(server.caFile!, "utf8");
  const url = `https://127.0.0.1:${port}`;
  const env = await clientEnvironment(instance, port, config.dnsSuffix, server.caFile);
  const header = env.IDENTITY_HEADER;
  const unreach = reach ? reachInProcess({ port, address: "127.0.0.1", dnsSuffix: config.dnsSuffix, ca }) : () => undefined;

  const credential = (): TokenCredential => ({
    async getToken(scopes) {
      const scope = (Array.isArray(scopes) ? scopes[0] : scopes) ?? "";
      const resource = scope.endsWith("/.default") ? scope.slice(0, -"/.default".length) : scope;
      const { access_token, expires_on } = await managedIdentityToken(url, ca, header, resource);
      return { token: access_token, expiresOnTimestamp: Number(expires_on) * 1000, tokenType: "Bearer" };
    },
  });

  let stopped: Promise<void> | undefined;
  return {
    url,
    port,
    dataDir: config.dataDir,
    ca,
    vaultUrl: (name = DEFAULT_VAULT) => server.publicOrigin(name.toLowerCase()),
    env,
    credential,
    async createVault(name, vaultOptions) {
      const vault = await instance.vaults.create(name, vaultOptions);
      return server.publicOrigin(vault.name);
    },
    stop() {
      stopped ??= server.stop().finally(unreach);
      return stopped;
    },
  };
}

import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Instance } from "./instance.ts";
import { DEFAULT_VAULT } from "../vault/vaults.ts";

/** What a client program needs in its environment to reach Lockbox with DefaultAzureCredential. */
export interface ClientEnvironment {
  NODE_EXTRA_CA_CERTS?: string;
  IDENTITY_ENDPOINT: string;
  IDENTITY_HEADER: string;
  TENANT_ID: string;
  KEYVAULT_URL: string;
}

/** Written by a running server so that `lockbox env` can tell its port and CA without flags. */
export interface RuntimeInfo {
  pid: number;
  port: number;
  dnsSuffix: string;
  caFile?: string;
}

const runtimeFile = (dataDir: string): string => join(dataDir, "server.json");

export function writeRuntimeInfo(dataDir: string, info: RuntimeInfo): void {
  writeFileSync(runtimeFile(dataDir), JSON.stringify(info, null, 2) + "\n");
}

export function readRuntimeInfo(dataDir: string): RuntimeInfo | undefined {
  const file = runtimeFile(dataDir);
  return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as RuntimeInfo) : undefined;
}

export async function clientEnvironment(
  instance: Instance,
  port: number,
  dnsSuffix: string,
  caFile: string | undefined,
): Promise<ClientEnvironment> {
  return {
    ...(caFile ? { NODE_EXTRA_CA_CERTS: caFile } : {}),
    IDENTITY_ENDPOINT: `https://127.0.0.1:${port}/msi/token`,
    IDENTITY_HEADER: await instance.developerHeader(),
    TENANT_ID: instance.tenantId,
    KEYVAULT_URL: `https://${DEFAULT_VAULT}.${dnsSuffix}:${port}`,
  };
}

export const shellQuote = (v: string): string => `'${v.replaceAll("'", `'\\''`)}'`;

export const asShell = (env: ClientEnvironment): string =>
  Object.entries(env)
    .map(([k, v]) => `export ${k}=${shellQuote(String(v))}`)
    .join("\n");

import { Option } from "commander";
import { dataDirOf } from "../server/config.ts";
import { openInstance, type Instance } from "../server/instance.ts";
import { hasLockboxData } from "../server/datadir.ts";
import { readRuntimeInfo, runningServers } from "../server/environment.ts";
import { vaultNotFound } from "../kernel/errors.ts";

export const dataDirOption = () => new Option("--data-dir <dir>", "data directory (env LOCKBOX_DATA_DIR, default ./.lockbox)");

/**
 * The data directory a command works on: --data-dir, else LOCKBOX_DATA_DIR, else ./.lockbox
 * when it holds Lockbox data, else the one of this user's running server (on `port`, when
 * given). Several running servers and no way to choose is an error that lists them.
 */
export function resolveDataDir(flag: string | undefined, port?: number): string {
  if (flag !== undefined || process.env.LOCKBOX_DATA_DIR) return dataDirOf(flag);
  const here = dataDirOf(undefined);
  if (hasLockboxData(here)) return here;
  const servers = runningServers().filter((s) => port === undefined || s.port === port);
  const [only] = servers;
  if (only && servers.length === 1) {
    console.error(`lockbox: using the server on port ${only.port} (data in ${only.dataDir})`);
    return only.dataDir;
  }
  if (servers.length > 1)
    throw new Error(
      `${here} holds no Lockbox data, and ${servers.length} Lockbox servers run: ${servers.map((s) => `port ${s.port} (data in ${s.dataDir})`).join(", ")}. Give --data-dir DIR (or set LOCKBOX_DATA_DIR).`,
    );
  return here; // openInstance says it holds no data, and how to point at a server's
}

/** Runs a command against the data directory's store; works while a server runs on it. */
export async function withInstance(dataDir: string | undefined, fn: (i: Instance) => Promise<void>): Promise<void> {
  const dir = resolveDataDir(dataDir);
  if (readRuntimeInfo(dir)?.memory)
    throw new Error(
      `the server of ${dir} keeps its data in its own memory (serve --in-memory): no other process can read or change it. Use its REST API, or a server with a store on disk.`,
    );
  const instance = await openInstance(dir, process.env, { existing: true });
  try {
    await fn(instance);
  } finally {
    await instance.close();
  }
}

export const vaultOption = () => new Option("--vault <name>", "the vault").default("default");

export async function inVault(instance: Instance, name: string) {
  const v = await instance.vaults.find(name);
  if (!v) throw vaultNotFound(name.toLowerCase());
  return v;
}

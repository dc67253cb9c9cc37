import { Option } from "commander";
import { dataDirOf } from "../server/config.ts";
import { openInstance, type Instance } from "../server/instance.ts";
import { hasLockboxData } from "../server/datadir.ts";
import { readRuntimeInfo, runningServers } from "../server/environment.ts";
import { KvError, vaultNotFound } from "../kernel/errors.ts";
import { AuditLog, requestEvent, WITHHELD } from "../audit/audit.ts";
import { DEFAULT_DNS_SUFFIX, DEFAULT_PORT } from "../server/config.ts";
import { DEFAULT_VAULT } from "../vault/vaults.ts";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { userInfo } from "node:os";

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

/** What a CLI action is done to, for its AuditEvent line. */
export interface AuditTarget {
  vault?: string;
  /** With `name`: the object's id in the line (https://VAULT.SUFFIX:PORT/COLLECTION/NAME). */
  collection?: "secrets" | "keys" | "certificates";
  name?: string;
  /** The command, as `requestUri`: `lockbox secret prune`. */
  command: string;
}

/** Runs one CLI action and writes its AuditEvent line (Success, or Failure with the error's message) before it returns or throws. */
export type Audited = <T>(operationName: string, target: AuditTarget, run: () => Promise<T>) => Promise<T>;

const osUser = (): string => {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? "unknown");
  }
};

/**
 * Writes the AuditEvent lines of CLI actions into the audit log of the data directory's
 * server (server.json's, LOCKBOX_AUDIT_LOG, or DATA-DIR/audit.log), appended beside the
 * server's own lines. The caller is the operator at the terminal: the CLI acts with the
 * data directory's keys, so its user is a Lockbox administrator.
 */
function cliAuditor(instance: Instance): Audited {
  const runtime = readRuntimeInfo(instance.dataDir);
  const file = process.env.LOCKBOX_AUDIT_LOG ?? runtime?.auditLog ?? join(instance.dataDir, "audit.log");
  const port = runtime?.port ?? DEFAULT_PORT;
  const suffix = runtime?.dnsSuffix ?? DEFAULT_DNS_SUFFIX;
  return async <T>(operationName: string, target: AuditTarget, run: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    let outcome: { ok: true; value: T } | { ok: false; error: unknown };
    try {
      outcome = { ok: true, value: await run() };
    } catch (error) {
      outcome = { ok: false, error };
    }
    const status = outcome.ok ? 200 : outcome.error instanceof KvError ? outcome.error.status : 500;
    const message = outcome.ok ? "" : outcome.error instanceof Error ? outcome.error.message : String(outcome.error);
    const vault = target.vault?.toLowerCase() ?? "";
    const origin = `https://${vault || DEFAULT_VAULT}.${suffix}${port === 443 ? "" : `:${port}`}`;
    const line = requestEvent({
      timeMs: instance.clock.nowMs(),
      subscription: instance.tenantId,
      vault,
      operationName,
      operationVersion: "lockbox-cli",
      status,
      errorMessage: message,
      durationMs: Math.round(performance.now() - started),
      callerIp: "local",
      correlationId: randomUUID(),
      caller: { objectId: "lockbox-cli", clientId: "lockbox-cli", tenantId: instance.tenantId, name: `${osUser()} (lockbox CLI)` },
      requestUri: `lockbox ${target.command}`,
      objectId: target.collection && target.name ? `${origin}/${target.collection}/${target.name}` : undefined,
      userAgent: "lockbox-cli",
    });
    const log = new AuditLog(file, { failed: (m) => console.error(`lockbox: ${m}`), recovered: () => undefined });
    const written = log.record(line);
    log.close();
    if (!outcome.ok) throw outcome.error;
    if (!written) throw new Error(`${WITHHELD} (${file})`);
    return outcome.value;
  };
}

/** Runs a command against the data directory's store (it works while a server runs on it); `audited` writes the lines of its actions. */
export async function withInstance(dataDir: string | undefined, fn: (i: Instance, audited: Audited) => Promise<void>): Promise<void> {
  const dir = resolveDataDir(dataDir);
  if (readRuntimeInfo(dir)?.memory)
    throw new Error(
      `the server of ${dir} keeps its data in its own memory (serve --in-memory): no other process can read or change it. Use its REST API, or a server with a store on disk.`,
    );
  const instance = await openInstance(dir, process.env, { existing: true });
  try {
    await fn(instance, cliAuditor(instance));
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

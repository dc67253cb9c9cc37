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
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline/promises";

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

/** https://VAULT.SUFFIX:PORT of the data directory's server (as it runs, else the defaults), for object ids. */
export function publicOrigin(dataDir: string): (vault: string) => string {
  const runtime = readRuntimeInfo(dataDir);
  const port = runtime?.port ?? DEFAULT_PORT;
  const suffix = runtime?.dnsSuffix ?? DEFAULT_DNS_SUFFIX;
  return (vault) => `https://${vault}.${suffix}${port === 443 ? "" : `:${port}`}`;
}

/**
 * A secret value, never from the command line (argv is seen by every user in `ps` and kept
 * in shell history): the file named (exactly as it is; `-` for stdin), else standard input
 * piped in, less one final newline (what `echo` adds).
 */
export async function readValue(file: string | undefined): Promise<string> {
  if (file !== undefined && file !== "-") return readFileSync(file, "utf8");
  if (file === undefined && process.stdin.isTTY)
    throw new Error('give the value on standard input (printf %s "$VALUE" | lockbox ...) or with --file FILE; never on the command line');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString("utf8");
  // Nothing at all on stdin is a command run without its value, not an empty secret
  // (an empty value is `--file /dev/null`).
  if (text === "")
    throw new Error(
      'no value on standard input: pipe it in (printf %s "$VALUE" | lockbox ...), or give --file FILE, or --generate where it applies',
    );
  return file === "-" ? text : text.replace(/\r?\n$/, "");
}

/**
 * A destructive command goes ahead with --yes, or when the person at the terminal types the
 * name asked for; without a terminal and without --yes it is refused.
 */
export async function confirm(yes: boolean | undefined, what: string, typed: string): Promise<void> {
  if (yes) return;
  if (!process.stdin.isTTY) throw new Error(`${what}: give --yes to go ahead (there is no terminal to ask)`);
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`${what}. Type ${typed} to go ahead: `);
    if (answer.trim() !== typed) throw new Error("not confirmed: nothing was done");
  } finally {
    rl.close();
  }
}

/**
 * Writes the AuditEvent lines of CLI actions into the audit log of the data directory's
 * server (server.json's, LOCKBOX_AUDIT_LOG, or DATA-DIR/audit.log), appended beside the
 * server's own lines. The caller is the operator at the terminal: the CLI acts with the
 * data directory's keys, so its user is a Lockbox administrator.
 */
function cliAuditor(instance: Instance): Audited {
  const file = process.env.LOCKBOX_AUDIT_LOG ?? readRuntimeInfo(instance.dataDir)?.auditLog ?? join(instance.dataDir, "audit.log");
  const originOf = publicOrigin(instance.dataDir);
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
    const origin = originOf(vault || DEFAULT_VAULT);
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

import { closeSync, fstatSync, ftruncateSync, mkdirSync, openSync, writeSync } from "node:fs";
import { open } from "node:fs/promises";
import { STATUS_CODES } from "node:http";
import { dirname } from "node:path";
import { badParameter } from "../kernel/errors.ts";
import { KINDS, type ObjectKind } from "../kernel/kinds.ts";

/**
 * One line of Key Vault's AuditEvent log. Never holds a secret value or key material: only
 * names, ids, the caller and the outcome.
 */
export interface AuditEvent {
  time: string;
  resourceId: string;
  operationName: string;
  operationVersion: string;
  category: "AuditEvent";
  resultType: "Success" | "Failure";
  resultSignature: string;
  resultDescription: string;
  durationMs: number;
  callerIpAddress: string;
  correlationId: string;
  identity: { claim: Record<string, string> } | null;
  properties: Record<string, unknown>;
}

export interface AuditCaller {
  objectId: string;
  clientId: string;
  tenantId: string;
  name: string;
}

export const claimsOf = (c: AuditCaller): { claim: Record<string, string> } => ({
  claim: {
    "http://schemas.microsoft.com/identity/claims/objectidentifier": c.objectId,
    appid: c.clientId,
    "http://schemas.microsoft.com/identity/claims/tenantid": c.tenantId,
    name: c.name,
  },
});

/** Azure's resourceId of a vault, with this instance's tenant standing for the subscription. */
export const vaultResourceId = (subscription: string, vault: string): string =>
  `/SUBSCRIPTIONS/${subscription}/RESOURCEGROUPS/LOCKBOX/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/${vault}`.toUpperCase();

/** The vault a line's resourceId names (as the resourceId spells it, upper case), or "" for none. */
export const vaultOfResourceId = (resourceId: string): string => {
  const at = resourceId.toUpperCase().lastIndexOf("/VAULTS/");
  return at < 0 ? "" : resourceId.slice(at + "/VAULTS/".length);
};

/** Which lines to list: each filter is a case-insensitive substring of what it names; all given must match. */
export interface AuditFilters {
  /** operationName, e.g. SecretGet. */
  operation?: string;
  /** The caller's identity claims: name, objectidentifier or appid. */
  caller?: string;
  /** The object's id (properties.id) or the requestUri. */
  object?: string;
  /** resultType: Success or Failure. */
  result?: string;
  /** The vault of the resourceId. */
  vault?: string;
}

export interface AuditQuery extends AuditFilters {
  /** How many lines to answer: 50 unless given, at most 500. */
  top?: number;
  /** How many matching lines to pass over first, newest first. */
  skip?: number;
}

/** Matching lines, newest first: `top` of them after `skip`, and how many match in all. */
export interface AuditPage {
  value: AuditEvent[];
  total: number;
  skip: number;
  top: number;
}

export const AUDIT_TOP_DEFAULT = 50;
export const AUDIT_TOP_MAX = 500;
const FILTERS = ["operation", "caller", "object", "result", "vault"] as const;
const CLAIMS = ["name", "http://schemas.microsoft.com/identity/claims/objectidentifier", "appid"];

/** What each filter is matched against in a line. */
function fieldsOf(event: AuditEvent, filter: (typeof FILTERS)[number]): unknown[] {
  switch (filter) {
    case "operation":
      return [event.operationName];
    case "caller":
      return CLAIMS.map((c) => event.identity?.claim?.[c]);
    case "object":
      return [event.properties?.id, event.properties?.requestUri];
    case "result":
      return [event.resultType];
    case "vault":
      return [typeof event.resourceId === "string" ? vaultOfResourceId(event.resourceId) : undefined];
  }
}

/** Whether a line matches every filter given (needles in lower case). */
function matches(event: AuditEvent, needles: Array<[(typeof FILTERS)[number], string]>): boolean {
  return needles.every(([filter, needle]) =>
    fieldsOf(event, filter).some((value) => typeof value === "string" && value.toLowerCase().includes(needle)),
  );
}

const CHUNK_BYTES = 1 << 20;
const NEWLINE = 0x0a;

/**
 * Lines of an audit log file as they were written (the AuditLog's file at the path it writes
 * now, not files a rotation moved away), newest first. The file is read from its end in 1 MiB
 * chunks, so memory stays at a chunk and a page however long the log is, and every line is
 * looked at once for the total. With filters, a chunk is lower-cased once and searched for
 * each needle (as it appears in JSON text), and a line is parsed only when its text holds
 * every needle; without filters, only the lines of the page are parsed. A line that is not an
 * AuditEvent (cut short, written by hand) is passed over.
 */
export class AuditReader {
  constructor(readonly file: string) {}

  async list(query: AuditQuery = {}): Promise<AuditPage> {
    const top = query.top ?? AUDIT_TOP_DEFAULT;
    const skip = query.skip ?? 0;
    if (!Number.isInteger(top) || top < 1 || top > AUDIT_TOP_MAX)
      throw badParameter(`top must be a whole number from 1 to ${AUDIT_TOP_MAX}.`);
    if (!Number.isInteger(skip) || skip < 0) throw badParameter("skip must be a whole number, 0 or more.");
    const needles = FILTERS.flatMap((f): Array<[(typeof FILTERS)[number], string]> => {
      const v = query[f];
      return v ? [[f, v.toLowerCase()]] : [];
    });
    // How each needle appears in a line's JSON text, lower-cased: JSON escapes only quotes,
    // backslashes and control characters, which lower-casing leaves alone.
    const raw = needles.map(([, n]) => JSON.stringify(n).slice(1, -1));
    const value: AuditEvent[] = [];
    let total = 0;
    for await (const text of this.chunksNewestFirst()) {
      const lower = raw.length > 0 ? text.toLowerCase() : "";
      if (!raw.every((r) => lower.includes(r))) continue; // no line of this chunk can match
      // Where each needle was last found, searching back from the end (amortised: each found once).
      const found = raw.map(() => Number.POSITIVE_INFINITY);
      const aligned = lower.length === text.length; // lower-casing changed no length: positions agree
      const holdsAll = (start: number, end: number): boolean =>
        raw.every((r, k) => {
          if (!aligned) return text.slice(start, end).toLowerCase().includes(r);
          const last = end - r.length;
          if (last < start) return false;
          if (found[k]! > last) found[k] = lower.lastIndexOf(r, last);
          return found[k]! >= start;
        });
      for (let end = text.length; end > 0;) {
        const start = text.lastIndexOf("\n", end - 1) + 1;
        const lineEnd = end;
        end = Math.max(0, start - 1);
        if (start === lineEnd) continue;
        let event: AuditEvent | undefined;
        if (raw.length > 0) {
          if (!holdsAll(start, lineEnd)) continue;
          event = parseLine(text.slice(start, lineEnd));
          if (!event || !matches(event, needles)) continue;
        } else if (text[start] !== "{" || text[lineEnd - 1] !== "}") {
          continue; // not a JSON object: not a line of the log
        }
        if (total >= skip && value.length < top) {
          event ??= parseLine(text.slice(start, lineEnd));
          if (!event) continue;
          value.push(event);
        }
        total++;
      }
    }
    return { value, total, skip, top };
  }

  /**
   * The file's text from its end, a chunk at a time, each cut at line boundaries (so no
   * character is split), lines in file order within it; nothing if there is no file.
   */
  private async *chunksNewestFirst(): AsyncGenerator<string> {
    let handle;
    try {
      handle = await open(this.file, "r");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
      throw e;
    }
    try {
      let position = (await handle.stat()).size;
      let carry = Buffer.alloc(0); // the end of a line that began before the chunk read last
      while (position > 0) {
        const length = Math.min(CHUNK_BYTES, position);
        position -= length;
        const chunk = Buffer.alloc(length);
        const { bytesRead } = await handle.read(chunk, 0, length, position);
        const data = Buffer.concat([chunk.subarray(0, bytesRead), carry]);
        if (position === 0) {
          yield data.toString("utf8");
          return;
        }
        // Before the chunk's first newline is the end of a line that began in the chunk before it.
        const first = data.indexOf(NEWLINE);
        if (first < 0) {
          carry = data;
          continue;
        }
        carry = data.subarray(0, first);
        yield data.toString("utf8", first + 1);
      }
    } finally {
      await handle.close();
    }
  }
}

function parseLine(text: string): AuditEvent | undefined {
  try {
    const event = JSON.parse(text) as unknown;
    return typeof event === "object" && event !== null && typeof (event as AuditEvent).operationName === "string"
      ? (event as AuditEvent)
      : undefined;
  } catch {
    return undefined;
  }
}

/** Where the audit log tells of trouble writing itself: one line when it starts, one when it ends. */
export interface AuditTrouble {
  failed(message: string): void;
  recovered(message: string): void;
}

/**
 * Appends AuditEvent lines to a file, each handed to the OS (write(2)) before the caller goes
 * on, so a crash of the process loses none. A line that cannot be written (a full disk, a
 * file gone read-only) is kept in memory, oldest first, and `record` answers false: the
 * caller must then withhold the result the line is about. Until every kept line is written,
 * `ready()` is false; each call of it (or of `record`) tries again, reopening the file, so
 * the log heals on its own when there is room again. A failure episode is told to `trouble`
 * once when it starts and once when it ends, never per line.
 */
export class AuditLog {
  private fd: number | undefined;
  /** Lines not yet handed to the OS, oldest first. */
  private pending: Buffer[] = [];
  /** Why writing failed, while it fails. */
  private failure: string | undefined;

  constructor(
    readonly file: string,
    private readonly trouble: AuditTrouble,
  ) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    // A log that cannot even be opened is a configuration error: refuse to start.
    this.fd = openSync(file, "a", 0o600);
  }

  /** True when every line so far has been handed to the OS; tries the kept ones again first. */
  ready(): boolean {
    return this.pending.length === 0 || this.flush();
  }

  /**
   * Appends a line; false if it could not be handed to the OS now. Such a line is kept and
   * written later as `ifLate` makes it (for a request: the answer that was withheld).
   */
  record(event: AuditEvent, ifLate: (event: AuditEvent) => AuditEvent = (e) => e): boolean {
    const queued = this.pending.length;
    this.pending.push(Buffer.from(JSON.stringify(event) + "\n"));
    if (this.flush()) return true;
    // Keep the line as it will be true when written.
    this.pending[queued] = Buffer.from(JSON.stringify(ifLate(event)) + "\n");
    return false;
  }

  private flush(): boolean {
    try {
      this.fd ??= openSync(this.file, "a", 0o600);
      while (this.pending.length > 0) {
        const head = this.pending[0]!;
        const written = writeSync(this.fd, head);
        if (written < head.length) {
          // Part of a line: take it back (a line is in the log whole or not at all) and keep it all.
          ftruncateSync(this.fd, fstatSync(this.fd).size - written);
          throw Object.assign(new Error("short write"), { code: "ENOSPC" });
        }
        this.pending.shift();
      }
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? "unknown error";
      if (this.fd !== undefined) closeQuietly(this.fd);
      this.fd = undefined; // reopened on the next try: the file may be moved or recreated meanwhile
      if (this.failure === undefined) {
        this.failure = code;
        this.trouble.failed(
          `the audit log ${this.file} cannot be written (${code}${code === "ENOSPC" ? ": its filesystem is full" : ""}): audited requests are refused with 503 and scheduled actions wait until it can be written again`,
        );
      }
      return false;
    }
    if (this.failure !== undefined) {
      this.trouble.recovered(
        `the audit log ${this.file} can be written again (it failed with ${this.failure}); serving audited requests again`,
      );
      this.failure = undefined;
    }
    return true;
  }

  /** Writes on in a new file at the same path (after a log rotation moved the old one away). */
  reopen(): boolean {
    if (this.fd !== undefined) closeQuietly(this.fd);
    this.fd = undefined;
    return this.flush();
  }

  close(): void {
    this.flush();
    if (this.fd !== undefined) closeQuietly(this.fd);
    this.fd = undefined;
  }
}

const closeQuietly = (fd: number): void => {
  try {
    closeSync(fd);
  } catch {
    // The descriptor is gone either way.
  }
};

/** What an audit line says of a data-plane or admin request, as its answer leaves. */
export interface FinishedRequest {
  timeMs: number;
  /** Stands for the subscription in the resource id. */
  subscription: string;
  vault: string;
  operationName: string;
  operationVersion: string;
  status: number;
  /** The error message of a failed request. */
  errorMessage: string;
  durationMs: number;
  callerIp: string;
  correlationId: string;
  caller: AuditCaller | undefined;
  requestUri: string;
  /** The object's id, when the request names one. */
  objectId: string | undefined;
  userAgent: string;
}

/** The AuditEvent line of a request. */
export function requestEvent(r: FinishedRequest): AuditEvent {
  return {
    time: new Date(r.timeMs).toISOString(),
    resourceId: vaultResourceId(r.subscription, r.vault),
    operationName: r.operationName,
    operationVersion: r.operationVersion,
    category: "AuditEvent",
    resultType: r.status < 400 ? "Success" : "Failure",
    resultSignature: STATUS_CODES[r.status] ?? String(r.status),
    resultDescription: r.errorMessage,
    durationMs: r.durationMs,
    callerIpAddress: r.callerIp,
    correlationId: r.correlationId,
    identity: r.caller ? claimsOf(r.caller) : null,
    properties: {
      requestUri: r.requestUri,
      ...(r.objectId ? { id: r.objectId } : {}),
      httpStatusCode: r.status,
      clientInfo: r.userAgent,
    },
  };
}

export const WITHHELD = "The request was carried out, but its answer was withheld: Lockbox could not write its audit log at the moment.";

/** The line of a request whose answer was replaced by 503 because its line could not be written in time. */
export const withheldEvent = (event: AuditEvent): AuditEvent => ({
  ...event,
  resultType: "Failure",
  resultSignature: STATUS_CODES[503]!,
  resultDescription: `${WITHHELD} (It would have been ${event.properties.httpStatusCode} ${event.resultSignature}.)`,
  properties: { ...event.properties, httpStatusCode: 503 },
});

/** What the scheduler did, for the audit log (operationName e.g. KeyRotateIfDue). */
export interface ScheduledAudit {
  operationName: string;
  vault: string;
  kind: ObjectKind;
  name: string;
  version?: string;
  durationMs: number;
  error?: string;
}

/** The AuditEvent line of a scheduled action: the caller is the scheduler itself. */
export function scheduledEvent(entry: ScheduledAudit, at: { timeMs: number; subscription: string; origin: string }): AuditEvent {
  const { collection } = KINDS[entry.kind];
  return {
    time: new Date(at.timeMs).toISOString(),
    resourceId: vaultResourceId(at.subscription, entry.vault),
    operationName: entry.operationName,
    operationVersion: "lockbox-v1",
    category: "AuditEvent",
    resultType: entry.error ? "Failure" : "Success",
    resultSignature: entry.error ? "InternalServerError" : "OK",
    resultDescription: entry.error ?? "",
    durationMs: entry.durationMs,
    callerIpAddress: "",
    correlationId: "",
    identity: { claim: { appid: "lockbox-scheduler" } },
    properties: { id: `${at.origin}/${collection}/${entry.name}${entry.version ? `/${entry.version}` : ""}` },
  };
}

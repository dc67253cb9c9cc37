import type { Awaitable } from "../kernel/awaitable.ts";
import { THROTTLED_MESSAGE } from "../kernel/errors.ts";
import { randomInt } from "node:crypto";
import { OPERATIONS } from "../authz/operations.ts";
import type { Clock } from "../kernel/clock.ts";
import { badParameter } from "../kernel/errors.ts";

/**
 * Fault injection, a test tool: rules that make chosen data-plane requests fail as Azure's can
 * (429, 500, 502, 503, 408, or a connection dropped without an answer), so a team can see
 * what its client does. Rules live in this server process's memory only: they are not stored,
 * other processes of the instance do not see them, and a restart forgets them.
 */
export const FAULT_ANSWERS = [429, 500, 502, 503, 408, "drop"] as const;
export type FaultAnswer = (typeof FAULT_ANSWERS)[number];

/** A rule as the admin API and the CLI give it; an omitted matcher matches any request. */
export interface FaultRuleSpec {
  vault?: string;
  /** An operation name of authz/operations.ts, e.g. SecretGet. */
  operation?: string;
  method?: string;
  /** The object's name (secret, key or certificate). */
  name?: string;
  status: FaultAnswer;
  /** Fire for the next N matching requests only; then the rule ends. */
  count?: number;
  /** Fire for this share (0 < F <= 1) of the matching requests, chosen by a PRNG seeded with `seed`. */
  fraction?: number;
  /** The PRNG's seed: the same seed picks the same requests. Random when omitted (and shown in the rule). */
  seed?: number;
  /** Wait this long before answering (or dropping). */
  delayMs?: number;
  /** Seconds, as the Retry-After header of the answer. */
  retryAfter?: number;
  /** The rule ends this many seconds (on the server's clock) after it is added. */
  expiresInSeconds?: number;
}

export type FaultRuleState = "active" | "used-up" | "expired";

/** A rule as it is listed: what it is, how often it fired, what is left. */
export interface FaultRule extends FaultRuleSpec {
  id: string;
  seed?: number;
  /** Unix seconds; absent when the rule does not expire. */
  expiresOn?: number;
  created: number;
  fired: number;
  /** Requests it may still fail (count rules only). */
  remaining?: number;
  state: FaultRuleState;
}

/** What to do to one request. */
export interface Injection {
  ruleId: string;
  status: FaultAnswer;
  delayMs: number;
  retryAfter?: number;
}

/** A request, as far as rules match it. */
export interface FaultTarget {
  vault: string;
  operation: string;
  method: string;
  name?: string;
}

/** Told of every injected fault (server/metrics.ts counts them by status). */
export type FaultObserver = (status: FaultAnswer) => void;

const MAX_DELAY_MS = 120_000;

/** mulberry32: a small seeded PRNG, so a seed always gives the same sequence. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const KEYS = new Set([
  "vault",
  "operation",
  "method",
  "name",
  "status",
  "count",
  "fraction",
  "seed",
  "delayMs",
  "retryAfter",
  "expiresInSeconds",
]);

const wholeNumber = (v: unknown, what: string, min: number, max = Number.MAX_SAFE_INTEGER): number => {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max)
    throw badParameter(`The fault rule's ${what} must be a whole number from ${min} to ${max}.`);
  return v;
};
const text = (v: unknown, what: string): string => {
  if (typeof v !== "string" || v === "") throw badParameter(`The fault rule's ${what} must be a non-empty string.`);
  return v;
};

/** Checks a rule as given (a parsed JSON body), with a message that says what is wrong. */
export function parseFaultRule(input: unknown): FaultRuleSpec {
  if (typeof input !== "object" || input === null || Array.isArray(input)) throw badParameter("A fault rule must be a JSON object.");
  const b = input as Record<string, unknown>;
  const unknown = Object.keys(b).filter((k) => !KEYS.has(k));
  if (unknown.length) throw badParameter(`The fault rule has unknown properties: ${unknown.join(", ")}. Known: ${[...KEYS].join(", ")}.`);
  if (!FAULT_ANSWERS.includes(b.status as FaultAnswer))
    throw badParameter(`The fault rule's status must be one of ${FAULT_ANSWERS.join(", ")} (got ${JSON.stringify(b.status)}).`);
  const spec: FaultRuleSpec = { status: b.status as FaultAnswer };
  if (b.vault !== undefined) spec.vault = text(b.vault, "vault").toLowerCase();
  if (b.operation !== undefined) {
    spec.operation = text(b.operation, "operation");
    if (!OPERATIONS.has(spec.operation))
      throw badParameter(
        `The fault rule's operation '${spec.operation}' is not a Key Vault operation (e.g. SecretGet, SecretSet, KeySign).`,
      );
  }
  if (b.method !== undefined) spec.method = text(b.method, "method").toUpperCase();
  if (b.name !== undefined) spec.name = text(b.name, "name");
  if (b.count !== undefined) spec.count = wholeNumber(b.count, "count", 1);
  if (b.fraction !== undefined) {
    if (typeof b.fraction !== "number" || !(b.fraction > 0 && b.fraction <= 1))
      throw badParameter("The fault rule's fraction must be a number greater than 0 and at most 1.");
    spec.fraction = b.fraction;
  }
  if (b.seed !== undefined) {
    if (spec.fraction === undefined) throw badParameter("The fault rule's seed chooses a fraction's requests: give fraction too.");
    spec.seed = wholeNumber(b.seed, "seed", 0, 0xffffffff);
  }
  if (b.delayMs !== undefined) spec.delayMs = wholeNumber(b.delayMs, "delayMs", 0, MAX_DELAY_MS);
  if (b.retryAfter !== undefined) {
    if (spec.status === "drop") throw badParameter("A dropped connection has no answer, so no Retry-After: leave retryAfter out.");
    spec.retryAfter = wholeNumber(b.retryAfter, "retryAfter", 0, 86_400);
  }
  if (b.expiresInSeconds !== undefined) spec.expiresInSeconds = wholeNumber(b.expiresInSeconds, "expiresInSeconds", 1);
  return spec;
}

interface Live {
  rule: FaultRule;
  random?: () => number;
}

/** What the admin API and the data plane use of the rules: this process's own (Faults), or the ones every worker of `serve --workers` shares. */
export type FaultRules = Awaitable<Pick<Faults, "add" | "list" | "clear" | "remove" | "match">>;

/** The rules of this process, and the matching of each data-plane request against them (first rule added, first matched). */
export class Faults {
  private readonly rules: Live[] = [];
  private next = 1;

  constructor(
    private readonly clock: Clock,
    private readonly observe: FaultObserver = () => undefined,
  ) {}

  /** Adds a rule (checked by parseFaultRule); returns it with its id. */
  add(input: unknown): FaultRule {
    const spec = parseFaultRule(input);
    const now = this.clock.nowMs();
    const seed = spec.fraction !== undefined ? (spec.seed ?? randomInt(0, 0xffffffff)) : undefined;
    const rule: FaultRule = {
      id: `fault-${this.next++}`,
      ...spec,
      ...(seed !== undefined ? { seed } : {}),
      created: Math.floor(now / 1000),
      ...(spec.expiresInSeconds !== undefined ? { expiresOn: Math.floor(now / 1000) + spec.expiresInSeconds } : {}),
      fired: 0,
      ...(spec.count !== undefined ? { remaining: spec.count } : {}),
      state: "active",
    };
    this.rules.push({ rule, random: seed !== undefined ? prng(seed) : undefined });
    return { ...rule };
  }

  /** Every rule, in the order added, with what it fired and what is left. */
  list(): FaultRule[] {
    this.settle();
    return this.rules.map((l) => ({ ...l.rule }));
  }

  /** Removes every rule; returns how many there were. */
  clear(): number {
    return this.rules.splice(0).length;
  }

  /** Removes one rule; false if there is none of that id. */
  remove(id: string): boolean {
    const i = this.rules.findIndex((l) => l.rule.id === id);
    if (i < 0) return false;
    this.rules.splice(i, 1);
    return true;
  }

  /** The fault to inject into this request, if an active rule matches it and fires (its count and fraction allowing). */
  match(target: FaultTarget): Injection | undefined {
    if (this.rules.length === 0) return undefined;
    this.settle();
    for (const live of this.rules) {
      const r = live.rule;
      if (r.state !== "active" || !matches(r, target)) continue;
      // A fraction rule draws once per matching request, so the pattern depends only on the seed and the order of requests.
      if (live.random && live.random() >= r.fraction!) continue;
      r.fired++;
      if (r.remaining !== undefined && --r.remaining === 0) r.state = "used-up";
      this.observe(r.status);
      return {
        ruleId: r.id,
        status: r.status,
        delayMs: r.delayMs ?? 0,
        ...(r.retryAfter !== undefined ? { retryAfter: r.retryAfter } : {}),
      };
    }
    return undefined;
  }

  private settle(): void {
    const now = this.clock.nowMs() / 1000;
    for (const { rule } of this.rules)
      if (rule.state === "active" && rule.expiresOn !== undefined && now >= rule.expiresOn) rule.state = "expired";
  }
}

function matches(r: FaultRule, t: FaultTarget): boolean {
  return (
    (r.vault === undefined || r.vault === t.vault.toLowerCase()) &&
    (r.operation === undefined || r.operation === t.operation) &&
    (r.method === undefined || r.method === t.method.toUpperCase()) &&
    // Key Vault object names are case-insensitive.
    (r.name === undefined || r.name.toLowerCase() === t.name?.toLowerCase())
  );
}

const FAULT_CODES: Record<Exclude<FaultAnswer, "drop">, { code: string; message: string }> = {
  429: {
    code: "Throttled",
    message: THROTTLED_MESSAGE,
  },
  500: { code: "InternalServerError", message: "The server encountered an internal error." },
  502: { code: "BadGateway", message: "The gateway received an invalid answer from the service." },
  503: { code: "ServiceUnavailable", message: "The service is unavailable at the moment." },
  408: { code: "RequestTimeout", message: "The request timed out." },
};

/** Azure's error code and a message for an injected answer; the message says Lockbox injected it, and by which rule. */
export function faultError(status: Exclude<FaultAnswer, "drop">, ruleId: string): { code: string; message: string } {
  const { code, message } = FAULT_CODES[status];
  // Azure's exact 429 message comes first, so code that reads it sees what Azure sends.
  return { code, message: `${message} (Lockbox injected this fault by rule ${ruleId}.)` };
}

import type { Awaitable } from "../kernel/awaitable.ts";
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Clock } from "../kernel/clock.ts";

/** How long a sign-in link from `lockbox console` stays good (it also works only once). */
export const LINK_LIFETIME_MS = 10 * 60_000;
/** A session ends this long after sign-in, however busy it is. */
export const SESSION_LIFETIME_MS = 8 * 3600_000;
/** ... or after this long without a request. */
export const SESSION_IDLE_MS = 30 * 60_000;

export interface ConsoleSession {
  /** The identity the console acts as. */
  identityId: string;
  /** Sent by the page with every change (x-lockbox-csrf), compared in constant time. */
  csrf: string;
  /** When it ends at the latest, and when it ends unless used (epoch ms, on the real clock). */
  expiresAt: number;
  idleUntil: number;
  /** The bearer token the console last minted for it, reused until it is near its end. */
  token?: { value: string; iat: number; exp: number };
}

const secret = (): string => randomBytes(32).toString("base64url");
/** Sessions and links are kept by the hash of their secret: a heap dump holds no usable cookie. */
const digest = (value: string): string => createHash("sha256").update(value).digest("hex");

/**
 * The console's sign-in links and sessions, in this process's memory. A restart signs every
 * browser out and voids unused links, which fails safe. Times are on the real clock, not the
 * dev clock: moving the vault's time forward must not sign the person moving it out.
 */
export class ConsoleSessions {
  private readonly links = new Map<string, { identityId: string; expiresAt: number }>();
  private readonly sessions = new Map<string, ConsoleSession>();

  constructor(private readonly clock: Clock) {}

  /** A one-time code that signs in as this identity, and when it stops working. */
  createLink(identityId: string): { code: string; expiresAt: number } {
    this.sweep();
    const code = secret();
    const expiresAt = this.clock.nowMs() + LINK_LIFETIME_MS;
    this.links.set(digest(code), { identityId, expiresAt });
    return { code, expiresAt };
  }

  /** The identity a link's code signs in as; the code is spent, whatever the answer. */
  redeemLink(code: string): string | undefined {
    const key = digest(code);
    const link = this.links.get(key);
    this.links.delete(key);
    return link && link.expiresAt > this.clock.nowMs() ? link.identityId : undefined;
  }

  /** A new session for the identity: its cookie value and its record. */
  open(identityId: string): { id: string; session: ConsoleSession } {
    this.sweep();
    const id = secret();
    const now = this.clock.nowMs();
    const session: ConsoleSession = {
      identityId,
      csrf: secret(),
      expiresAt: now + SESSION_LIFETIME_MS,
      idleUntil: Math.min(now + SESSION_IDLE_MS, now + SESSION_LIFETIME_MS),
    };
    this.sessions.set(digest(id), session);
    return { id, session };
  }

  /** The live session of a cookie value (its idle time starts again), or undefined. */
  find(id: string | undefined): ConsoleSession | undefined {
    if (!id) return undefined;
    const key = digest(id);
    const session = this.sessions.get(key);
    if (!session) return undefined;
    const now = this.clock.nowMs();
    if (now >= session.expiresAt || now >= session.idleUntil) {
      this.sessions.delete(key);
      return undefined;
    }
    session.idleUntil = Math.min(now + SESSION_IDLE_MS, session.expiresAt);
    return session;
  }

  close(id: string | undefined): void {
    if (id) this.sessions.delete(digest(id));
  }

  /** Ends every session of an identity (it was found disabled or deleted). */
  closeAllOf(identityId: string): void {
    for (const [key, s] of this.sessions) if (s.identityId === identityId) this.sessions.delete(key);
  }

  private sweep(): void {
    const now = this.clock.nowMs();
    for (const [key, link] of this.links) if (link.expiresAt <= now) this.links.delete(key);
    for (const [key, s] of this.sessions) if (now >= s.expiresAt || now >= s.idleUntil) this.sessions.delete(key);
  }
}

/** What the console's routes use of the sessions: this process's ConsoleSessions, or the ones every worker of `serve --workers` shares. */
export type SessionStore = Awaitable<ConsoleSessions>;

/** Whether the page's CSRF header is this session's, in constant time. */
export function csrfMatches(session: ConsoleSession, given: unknown): boolean {
  if (typeof given !== "string") return false;
  const a = Buffer.from(given);
  const b = Buffer.from(session.csrf);
  return a.length === b.length && timingSafeEqual(a, b);
}

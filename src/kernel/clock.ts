/**
 * The one source of time. Nothing in vault/, scheduler/ or identity/ reads Date.now()
 * directly, so a dev clock can move every timestamp, check and schedule at once.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  nowMs(): number;
}

export const systemClock: Clock = { nowMs: () => Date.now() };

/** Integer Unix seconds, the unit of every Key Vault timestamp. */
export const nowSeconds = (clock: Clock): number => Math.floor(clock.nowMs() / 1000);

/** An ISO 8601 date and time ("2030-01-01T00:00:00Z") as Unix seconds; undefined if it is not one. */
export function isoSeconds(value: unknown): number | undefined {
  const ms = typeof value === "string" && /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : NaN;
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : undefined;
}

/**
 * The clock behind `--dev-clock`: real time plus an offset that tests move forward.
 * Everything reads time through it, so moving it moves timestamps, expiry checks, token
 * lifetimes and the scheduler together.
 */
export class DevClock implements Clock {
  constructor(private offsetMs = 0) {}

  nowMs(): number {
    return Date.now() + this.offsetMs;
  }

  get offset(): number {
    return this.offsetMs;
  }

  /** Moves to an offset stored in the store (by this process or another); never goes back. */
  follow(offsetMs: number): void {
    if (offsetMs > this.offsetMs) this.offsetMs = offsetMs;
  }
}

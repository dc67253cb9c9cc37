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

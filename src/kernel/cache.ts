import type { Clock } from "./clock.ts";

/** Told of every lookup of a named cache, hit or miss (the server counts them as metrics). */
export type CacheObserver = (cache: string, hit: boolean) => void;

/**
 * A small cache whose entries live `ttlMs` on `clock`: for lookups on every request (vaults,
 * identities, grants) whose changes must be seen within that time. Past `max` entries it is
 * emptied rather than grown (a flood of unknown keys cannot fill memory).
 */
export class TtlCache<K, V> {
  private readonly entries = new Map<K, { value: V; until: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly ttlMs: number,
    private readonly max = 10_000,
    /** Each lookup, hit or not. */
    private readonly observe: (hit: boolean) => void = () => undefined,
  ) {}

  /**
   * The cached value, or what `load` gives (kept unless `keep` says otherwise: a vault that
   * does not exist yet is looked up again next time, so a new one is served at once).
   */
  async through(key: K, load: () => Promise<V>, keep: (value: V) => boolean = () => true): Promise<V> {
    const now = this.clock.nowMs();
    const hit = this.entries.get(key);
    if (hit && hit.until > now) {
      this.observe(true);
      return hit.value;
    }
    this.observe(false);
    const value = await load();
    if (!keep(value)) {
      this.entries.delete(key);
      return value;
    }
    if (this.entries.size >= this.max) this.entries.clear();
    this.entries.set(key, { value, until: now + this.ttlMs });
    return value;
  }

  delete(key: K): void {
    this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }
}

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
  /** Counts the invalidations: a load that one overlapped may have read what it made stale. */
  private invalidations = 0;

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
    const before = this.invalidations;
    const value = await load();
    // A change told while the load was under way: what it read may be older than the change, so it is not kept.
    if (this.invalidations !== before) return value;
    if (!keep(value)) {
      this.entries.delete(key);
      return value;
    }
    if (this.entries.size >= this.max) this.entries.clear();
    this.entries.set(key, { value, until: now + this.ttlMs });
    return value;
  }

  delete(key: K): void {
    this.invalidations++;
    this.entries.delete(key);
  }

  clear(): void {
    this.invalidations++;
    this.entries.clear();
  }
}

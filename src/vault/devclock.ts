import { DevClock } from "../kernel/clock.ts";
import type { Store } from "../store/store.ts";

const OFFSET_META = "dev_clock_offset_ms";

/**
 * The dev clock, kept in the store: its offset is stored, so a restart (and every other
 * process on the same database) goes on from where it was, and moving it is one
 * transaction read from the stored offset (another process may have moved it).
 */
export class StoredDevClock extends DevClock {
  private constructor(
    private readonly store: Store,
    offsetMs: number,
  ) {
    super(offsetMs);
  }

  /**
   * The dev clock if `wanted` (true: on; false: off, and a stored offset is forgotten;
   * undefined: as the store says), or undefined for real time.
   */
  static async open(store: Store, wanted: boolean | undefined): Promise<StoredDevClock | undefined> {
    const saved = await store.read((repo) => repo.getMeta(OFFSET_META));
    if (wanted === false && saved !== undefined) await store.write((repo) => repo.deleteMeta(OFFSET_META));
    if (!(wanted ?? saved !== undefined)) return undefined;
    if (saved === undefined) await store.write((repo) => repo.keepMeta(OFFSET_META, "0"));
    return new StoredDevClock(store, Number(saved ?? 0));
  }

  /** Moves the clock forward by `seconds`, for every process on the store. */
  async advance(seconds: number): Promise<void> {
    const offset = await this.store.write(async (repo) => {
      const next = Math.max(Number((await repo.getMeta(OFFSET_META)) ?? 0), this.offset) + seconds * 1000;
      await repo.setMeta(OFFSET_META, String(next));
      return next;
    });
    this.follow(offset);
  }

  /** Catches up with an offset another process stored. */
  async refresh(): Promise<void> {
    const offset = await this.store.read((repo) => repo.getMeta(OFFSET_META));
    if (offset !== undefined) this.follow(Number(offset));
  }
}

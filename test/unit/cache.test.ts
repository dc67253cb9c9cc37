import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { TtlCache } from "../../src/kernel/cache.ts";
import { DevClock } from "../../src/kernel/clock.ts";

// The caches in front of vaults, identities and grants (kernel/cache.ts): a change another
// process commits is told to them (delete, clear) and must be seen at once, also when it is
// told while a lookup is still reading the store.

/** A load that answers what the store held when it began, once `release` is called. */
function slowLoad(value: string): { load: () => Promise<string>; release: () => void } {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  return { load: async () => (await gate, value), release };
}

describe("TtlCache", () => {
  test("a value is served from the cache until its time is up, then loaded again", async () => {
    const clock = new DevClock();
    const cache = new TtlCache<string, string>(clock, 1000);
    let loads = 0;
    const load = async (): Promise<string> => `v${++loads}`;
    assert.equal(await cache.through("k", load), "v1");
    assert.equal(await cache.through("k", load), "v1");
    clock.follow(1001);
    assert.equal(await cache.through("k", load), "v2");
  });

  for (const [how, invalidate] of [
    ["clear", (c: TtlCache<string, string>) => c.clear()],
    ["delete", (c: TtlCache<string, string>) => c.delete("k")],
  ] as const) {
    test(`a change told (${how}) while a load is reading is not hidden by what the load read before it`, async () => {
      const cache = new TtlCache<string, string>(new DevClock(), 60_000);
      const before = slowLoad("before the change");
      const pending = cache.through("k", before.load);
      invalidate(cache); // the change is committed and told while the load is under way
      before.release();
      assert.equal(await pending, "before the change", "the lookup in flight answers what it read");
      assert.equal(await cache.through("k", async () => "after the change"), "after the change", "the next lookup reads again");
      assert.equal(await cache.through("k", async () => "never read"), "after the change", "and that is kept");
    });
  }
});

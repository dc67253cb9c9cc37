import assert from "node:assert/strict";
import { developerToken, raw } from "./http.ts";
import type { Lockbox } from "./server.ts";
import { eventually } from "./wait.ts";

async function clockState(lockbox: Lockbox): Promise<{ now: number; schedulerRuns: number }> {
  const r = await raw(lockbox, { path: "/lockbox/v1/clock", token: await developerToken(lockbox) });
  assert.equal(r.status, 200, `GET /lockbox/v1/clock: ${r.status} ${r.text}`);
  assert.equal(typeof r.json.now, "number", `the clock answers {"now": seconds}: ${r.text}`);
  return r.json as { now: number; schedulerRuns: number };
}

/** The dev clock's now (epoch seconds), from GET /lockbox/v1/clock. */
export async function clockNow(lockbox: Lockbox): Promise<number> {
  return (await clockState(lockbox)).now;
}

/**
 * Waits until the server's scheduler has ended `runs` more runs than now: everything that
 * was due when this is called has had a whole run to be done in (a run under way may have
 * begun before).
 */
export async function schedulerRan(lockbox: Lockbox, runs = 2): Promise<void> {
  const from = (await clockState(lockbox)).schedulerRuns;
  await eventually(`${runs} more scheduler runs`, 10_000, async () => {
    const now = (await clockState(lockbox)).schedulerRuns;
    assert.ok(now >= from + runs, `the scheduler ended ${now - from} runs`);
  });
}

/** Moves the dev clock forward; the answer comes once the due work (and its deliveries) ran. */
export async function advanceClock(lockbox: Lockbox, seconds: number): Promise<number> {
  const r = await raw(lockbox, {
    method: "POST",
    path: "/lockbox/v1/clock",
    body: { advanceSeconds: seconds },
    token: await developerToken(lockbox),
  });
  assert.equal(r.status, 200, `POST /lockbox/v1/clock ${seconds}: ${r.status} ${r.text}`);
  return r.json.now as number;
}

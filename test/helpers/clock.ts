import assert from "node:assert/strict";
import { developerToken, raw } from "./http.ts";
import type { Lockbox } from "./server.ts";

/** The dev clock's now (epoch seconds), from GET /lockbox/v1/clock. */
export async function clockNow(lockbox: Lockbox): Promise<number> {
  const r = await raw(lockbox, { path: "/lockbox/v1/clock", token: await developerToken(lockbox) });
  assert.equal(r.status, 200, `GET /lockbox/v1/clock: ${r.status} ${r.text}`);
  assert.equal(typeof r.json.now, "number", `the clock answers {"now": seconds}: ${r.text}`);
  return r.json.now as number;
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

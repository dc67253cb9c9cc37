import { test } from "node:test";
import assert from "node:assert/strict";
import { openInstance } from "../../src/server/instance.ts";
import { clockNow } from "../helpers/clock.ts";
import { engineEnv, type Lockbox, serveForFile } from "../helpers/server.ts";
import { seenNext } from "../helpers/wait.ts";

// What another process commits to the server's store is what the server's next request
// sees. The CLI's commands are such processes (see authz.test.ts and cli.test.ts); the dev
// clock has no command, so here this test's own process opens the data directory as a CLI
// command does and moves it.
let lockbox: Lockbox;
serveForFile({ args: ["--dev-clock"] }, (started) => {
  lockbox = started;
});

const DAYS_30 = 30 * 86_400;

test("the dev clock moved by another process: the server's next request tells the new time", async () => {
  const before = await clockNow(lockbox);
  const other = await openInstance(lockbox.dataDir, { ...process.env, ...engineEnv(lockbox.dataDir) }, { existing: true });
  try {
    assert.ok(other.devClock, "the other process has no dev clock");
    await other.devClock.advance(DAYS_30);
  } finally {
    await other.close();
  }
  await seenNext("the server's clock 30 days on", async () => {
    const now = await clockNow(lockbox);
    assert.ok(now >= before + DAYS_30, `the server's clock is at ${now}, ${now - before} s after ${before}`);
  });
});

// `npm start` on a built checkout starts the server without building again (tsc -b finds
// dist/ up to date), so a start takes the server's own time, not the compiler's.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { watchOutput } from "../helpers/output.ts";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const BUILT = ["dist/cli/main.js", "dist/server/serve.js", "dist/.tsbuildinfo"];

test("npm start does not rebuild what is already built", { timeout: 120_000 }, async () => {
  const build = spawnSync("npm", ["run", "build", "--silent"], { cwd: ROOT, encoding: "utf8" });
  assert.equal(build.status, 0, build.stderr);
  const before = BUILT.map((f) => statSync(join(ROOT, f)).mtimeMs);

  const dataDir = mkdtempSync(join(tmpdir(), "lockbox-start-"));
  const child = spawn("npm", ["start", "--silent", "--", "--port", "0", "--data-dir", dataDir], {
    cwd: ROOT,
    detached: true, // its own process group: npm, the shell and node stop together
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output = watchOutput(child);
  const { exited } = output;
  try {
    await output.until(/Lockbox listening on https:\/\/127\.0\.0\.1:\d+/, 60_000);
  } finally {
    process.kill(-child.pid!, "SIGTERM");
    await exited;
    rmSync(dataDir, { recursive: true, force: true });
  }
  assert.deepEqual(
    BUILT.map((f) => statSync(join(ROOT, f)).mtimeMs),
    before,
    "npm start wrote dist/ again",
  );
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { asShell, runningServers, type ClientEnvironment } from "../../src/server/environment.ts";

const env = { KEYVAULT_URL: "https://default.vault.localhost:8443", IDENTITY_HEADER: "it's a $secret" } as unknown as ClientEnvironment;

test("lockbox env for sh: eval gives back every value exactly, quotes and dollars included", () => {
  const out = spawnSync("sh", ["-c", `${asShell(env)}\nprintf '%s|%s' "$KEYVAULT_URL" "$IDENTITY_HEADER"`], { encoding: "utf8" });
  assert.equal(out.stdout, "https://default.vault.localhost:8443|it's a $secret");
});

test("lockbox env for fish, PowerShell and cmd: each shell's own assignment and quoting", () => {
  assert.equal(
    asShell(env, "fish"),
    "set -gx KEYVAULT_URL 'https://default.vault.localhost:8443'\nset -gx IDENTITY_HEADER 'it\\'s a $secret'",
  );
  assert.equal(
    asShell(env, "powershell"),
    "$env:KEYVAULT_URL = 'https://default.vault.localhost:8443'\n$env:IDENTITY_HEADER = 'it''s a $secret'",
  );
  assert.equal(asShell(env, "cmd"), 'set "KEYVAULT_URL=https://default.vault.localhost:8443"\nset "IDENTITY_HEADER=it\'s a $secret"');
});

test("the list of running servers is read only from a folder no other user can write to", () => {
  const saved = process.env.XDG_RUNTIME_DIR;
  const runtime = mkdtempSync(join(tmpdir(), "lockbox-runtime-"));
  try {
    process.env.XDG_RUNTIME_DIR = runtime;
    const dataDir = join(runtime, "data");
    mkdirSync(join(runtime, "lockbox-servers"), { recursive: true, mode: 0o700 });
    mkdirSync(dataDir, { mode: 0o700 });
    writeFileSync(join(dataDir, "server.json"), JSON.stringify({ pid: process.pid, port: 1234 }));
    writeFileSync(join(runtime, "lockbox-servers", `${process.pid}-1234.json`), JSON.stringify({ pid: process.pid, port: 1234, dataDir }));
    chmodSync(runtime, 0o700);
    assert.deepEqual(runningServers(), [{ pid: process.pid, port: 1234, dataDir }]);
    // Another user could have made (or written to) it: what it lists is not believed.
    chmodSync(runtime, 0o777);
    assert.deepEqual(runningServers(), []);
  } finally {
    if (saved === undefined) delete process.env.XDG_RUNTIME_DIR;
    else process.env.XDG_RUNTIME_DIR = saved;
    rmSync(runtime, { recursive: true, force: true });
  }
});

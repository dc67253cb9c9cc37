import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { asShell, type ClientEnvironment } from "../../src/server/environment.ts";

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

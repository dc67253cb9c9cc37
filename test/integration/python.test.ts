import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KeyClient } from "@azure/keyvault-keys";
import { SecretClient } from "@azure/keyvault-secrets";
import { developerToken } from "../helpers/http.ts";
import { runPython } from "../helpers/program.ts";
import { cli, serveForFile, type Lockbox } from "../helpers/server.ts";

// The Azure SDK for Python (Debian's python3-azure) as a Python user drives it: Microsoft's
// quickstart programs, unchanged but for the vault URL, in their own processes with only what
// `lockbox env` prints (its CA bundle for requests, the managed identity for
// DefaultAzureCredential), no client option. The challenge naming the port is what lets the
// Python SDK's check of host and port pass.
let lockbox: Lockbox;
serveForFile({}, (started) => {
  lockbox = started;
});

/** What a user's shell has after `eval "$(lockbox env)"`, with a HOME of its own. */
function userEnv(): Record<string, string> {
  const r = cli(["env", "--json", "--data-dir", lockbox.dataDir]);
  assert.equal(r.status, 0, r.stderr);
  return { ...(JSON.parse(r.stdout) as Record<string, string>), HOME: mkdtempSync(join(tmpdir(), "lockbox-python-home-")) };
}

/** The test's own look at the vault (not DefaultAzureCredential: its token cache spans instances). */
function inspect<T>(Client: new (url: string, credential: any) => T): T {
  return new Client(lockbox.vaultUrl(), {
    getToken: async () => ({ token: await developerToken(lockbox), expiresOnTimestamp: Date.now() + 10 * 60_000 }),
  });
}

describe("Microsoft's Python quickstarts, unchanged but the URL", () => {
  test("secrets: set, get, delete through SecretClient and DefaultAzureCredential, with no client option", async () => {
    const run = await runPython("secrets_quickstart.py", [], userEnv(), { input: ["py-quickstart", "from-python-4821"] });
    assert.equal(run.code, 0, `secrets_quickstart.py failed:\n${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /Your secret is 'from-python-4821'\./);
    assert.match(run.stdout, new RegExp(`recovery id ${lockbox.vaultUrl()}/deletedsecrets/py-quickstart`));
    const deleted = await inspect(SecretClient).getDeletedSecret("py-quickstart");
    assert.equal(deleted.name, "py-quickstart");
  });

  test("keys: create an RSA key, get it, delete it through KeyClient (api-version 7.4-preview.1)", async () => {
    const run = await runPython("keys_quickstart.py", [], userEnv(), { input: ["py-key"] });
    assert.equal(run.code, 0, `keys_quickstart.py failed:\n${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /Key 'py-key' of type 'RSA' created\./);
    const version = /version ([0-9a-f]{32})\./.exec(run.stdout)?.[1];
    assert.ok(version, run.stdout);
    const deleted = await inspect(KeyClient).getDeletedKey("py-key");
    assert.equal(deleted.properties.version, version);
    assert.equal(deleted.key?.n?.length, 256, "an RSA-2048 key");
  });

  test("the default vault at https://localhost:PORT, no name patch, with verify_challenge_resource=False", async () => {
    const run = await runPython("localhost_vault.py", [lockbox.localUrl], userEnv(), { dns: false });
    assert.equal(run.code, 0, `localhost_vault.py failed:\n${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /^value=plain-host$/m);
  });
});

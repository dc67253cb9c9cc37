import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KeyClient } from "@azure/keyvault-keys";
import { SecretClient } from "@azure/keyvault-secrets";
import { developerToken } from "../helpers/http.ts";
import { runPython } from "../helpers/program.ts";
import { assignRole, cli, serveForFile, type Lockbox } from "../helpers/server.ts";

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

describe("the Azure SDK for Python, step by step (sdk_tour.py)", () => {
  let steps: Map<string, Record<string, any>>;
  const stepOf = (name: string): Record<string, any> => {
    const s = steps.get(name);
    assert.ok(s, `the tour printed no ${name} step`);
    assert.equal(s.error, undefined, `${name}: ${s.error}\n${s.trace}`);
    return s;
  };
  before(async () => {
    const created = cli(["vault", "create", "py-other", "--data-dir", lockbox.dataDir]);
    assert.equal(created.status, 0, created.stderr);
    const run = await runPython("sdk_tour.py", [lockbox.vaultUrl(), lockbox.vaultUrl("py-other")], userEnv());
    assert.equal(run.code, 0, `sdk_tour.py failed:\n${run.stdout}\n${run.stderr}`);
    steps = new Map(run.events.map((e) => [e.step as string, e]));
  });

  test("the rotation tutorial: the old version, disabled, is 403 SecretDisabled; both versions are listed", () => {
    const s = stepOf("rotate_tutorial");
    assert.equal(s.latest, "second-value");
    assert.deepEqual(s.old, { status: 403, code: "Forbidden" });
    assert.deepEqual(s.versions, s.expected);
  });

  test("content type, tags and dates round-trip; an update keeps the version", () => {
    const s = stepOf("crud_with_attributes");
    assert.equal(s.content_type, "text/plain");
    assert.deepEqual(s.tags, { team: "py", env: "test" });
    assert.equal(s.expires, "2031-01-02T03:04:05+00:00");
    assert.equal(s.version, true);
  });

  test("paging over more than 25 secrets lists each once", () => {
    const s = stepOf("paging");
    assert.equal(s.count, 27);
    assert.equal(s.distinct, 27);
  });

  test("delete, the 409 while deleted, recover, purge", () => {
    const s = stepOf("delete_recover_purge");
    assert.equal(s.recovery_id, `${lockbox.vaultUrl()}/deletedsecrets/py-deleted`);
    assert.deepEqual(s.conflict, { status: 409, code: "Conflict" });
    assert.equal(s.recovered, "keep-me");
    assert.deepEqual(s.purged, { status: 404, code: "SecretNotFound" });
  });

  test("backup and restore into another vault", () => {
    const s = stepOf("backup_restore");
    assert.equal(s.name, "py-backup");
    assert.equal(s.value, "portable");
  });

  test("RSA, EC and oct keys; a rotation policy read back; rotate", () => {
    const s = stepOf("keys_and_rotation");
    assert.deepEqual(s.types, ["RSA", "EC", "oct"]);
    assert.equal(s.expires_in, "P90D");
    assert.deepEqual(s.rotate, ["P30D"]);
    assert.equal(s.rotated, true);
  });

  test("CryptographyClient cross-checked with cryptography: signatures verified locally, local ciphertext decrypted, wrap/unwrap", () => {
    const s = stepOf("crypto_cross_checked");
    assert.equal(s.rsa_verified_locally, true);
    assert.equal(s.ec_verified_locally, true);
    assert.equal(s.decrypted, "encrypted locally");
    assert.equal(s.unwrapped, true);
    assert.equal(s.vault_verified, true);
  });

  test("the async .aio clients (aiohttp, trusting SSL_CERT_FILE)", () => {
    const s = stepOf("async_clients");
    assert.equal(s.value, "from-aio");
    assert.equal(s.listed, true);
  });
});

describe("service principals and a second managed identity from Python (principals.py)", () => {
  test("EnvironmentCredential, ClientSecretCredential and ManagedIdentityCredential: 403 without a role, the value with one", async () => {
    await inspect(SecretClient).setSecret("py-guarded", "for-principals");
    const sp = JSON.parse(cli(["sp", "create", "py-sp", "--json", "--data-dir", lockbox.dataDir]).stdout) as {
      clientId: string;
      clientSecret: string;
    };
    const mi = JSON.parse(cli(["identity", "create", "py-second", "--json", "--data-dir", lockbox.dataDir]).stdout) as {
      identityHeader: string;
    };
    const authority = `https://127.0.0.1:${lockbox.port}`;
    const env = {
      ...userEnv(),
      AZURE_TENANT_ID: "adfs",
      AZURE_CLIENT_ID: sp.clientId,
      AZURE_CLIENT_SECRET: sp.clientSecret,
      AZURE_AUTHORITY_HOST: authority,
      IDENTITY_HEADER: mi.identityHeader,
    };
    const args = [lockbox.vaultUrl(), "py-guarded", authority, lockbox.env.TENANT_ID, sp.clientId, sp.clientSecret];
    const answers = async () => {
      const run = await runPython("principals.py", args, env);
      assert.equal(run.code, 0, `principals.py failed:\n${run.stdout}\n${run.stderr}`);
      return Object.fromEntries(run.events.map((e) => [e.credential, e.value ?? `${e.status} ${e.code}`]));
    };
    assert.deepEqual(await answers(), { environment: "403 Forbidden", client_secret: "403 Forbidden", managed_identity: "403 Forbidden" });
    for (const assignee of ["py-sp", "py-second"]) assignRole(lockbox.dataDir, assignee, "Key Vault Secrets User");
    assert.deepEqual(await answers(), {
      environment: "for-principals",
      client_secret: "for-principals",
      managed_identity: "for-principals",
    });
  });
});

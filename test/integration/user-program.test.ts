import { describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { realpathSync } from "node:fs";
import { join } from "node:path";
import { SecretClient } from "@azure/keyvault-secrets";
import { developerToken } from "../helpers/http.ts";
import { cli, removeDataDir, startLockbox, type Lockbox } from "../helpers/server.ts";
import { runProgram, type ProgramRun } from "../helpers/program.ts";

// The README's promise, kept the way a user keeps it: the programs of the Microsoft Learn
// pages run as their own processes (test/fixtures/*.mjs), with the environment that
// `lockbox env` prints and nothing from the test process — no test CA, no token, no trust.
// The one test-only aid is dns-localhost.mjs, standing in for the README's /etc/hosts line.

const SWITCH = "--disable-challenge-resource-verification";

/** What `lockbox env --json --data-dir DIR` prints for a running server. */
function lockboxEnv(lockbox: Lockbox): Record<string, string> {
  const r = cli(["env", "--json", "--data-dir", lockbox.dataDir]);
  assert.equal(r.status, 0, `lockbox env failed:\n${r.stderr}`);
  const env = JSON.parse(r.stdout) as Record<string, string>;
  assert.ok(env.NODE_EXTRA_CA_CERTS, "lockbox env must print NODE_EXTRA_CA_CERTS for the local CA");
  assert.equal(realpathSync(env.NODE_EXTRA_CA_CERTS), realpathSync(join(lockbox.dataDir, "tls/ca.pem")));
  assert.equal(env.KEYVAULT_URL, `https://default.vault.localhost:${lockbox.port}`);
  assert.equal(env.IDENTITY_ENDPOINT, `https://127.0.0.1:${lockbox.port}/msi/token`);
  assert.equal(env.IDENTITY_HEADER, lockbox.env.IDENTITY_HEADER);
  return env;
}

function only(run: ProgramRun, event: string): Record<string, any> {
  const found = run.events.filter((e) => e.event === event);
  assert.equal(found.length, 1, `expected one "${event}" line, got ${found.length}:\n${run.stdout}\n${run.stderr}`);
  return found[0]!;
}

/**
 * The test's own look at the vault after a program ran. Not DefaultAzureCredential: MSAL keeps
 * managed identity tokens in one cache per process, and each test here has its own Lockbox
 * instance with its own signing key, so a token cached for an earlier instance would be sent.
 */
function inspector(lockbox: Lockbox): SecretClient {
  const credential: ConstructorParameters<typeof SecretClient>[1] = {
    getToken: async () => ({ token: await developerToken(lockbox), expiresOnTimestamp: Date.now() + 10 * 60_000 }),
  };
  return new SecretClient(lockbox.vaultUrl(), credential);
}

/** A server of its own for each run, removed afterwards. */
async function serverFor(t: TestContext): Promise<Lockbox> {
  const lockbox = await startLockbox();
  t.after(async () => {
    await lockbox.stop();
    removeDataDir(lockbox.dataDir);
  });
  return lockbox;
}

const forms = [
  {
    form: "KEYVAULT_URL (https://default.vault.localhost:PORT)",
    url: (l: Lockbox) => l.vaultUrl(),
    args: (_l: Lockbox): string[] => [],
    withDns: true,
  },
  {
    form: "https://localhost:PORT with disableChallengeResourceVerification",
    url: (l: Lockbox) => l.localUrl,
    args: (l: Lockbox): string[] => [l.localUrl, SWITCH],
    withDns: false,
  },
];

for (const { form, url, args, withDns } of forms) {
  describe(`user programs through ${form}`, () => {
    test("rotate.mjs: rotation as the Learn page writes it, then its cleanup deletes the whole secret, as in Azure", async (t) => {
      const lockbox = await serverFor(t);
      const run = await runProgram("rotate.mjs", args(lockbox), lockboxEnv(lockbox), withDns);
      assert.equal(run.code, 0, `rotate.mjs failed:\n${run.stdout}\n${run.stderr}`);

      const initial = only(run, "initial");
      const current = only(run, "current");
      const created = only(run, "created");
      const disabled = only(run, "disabled");
      assert.match(initial.version, /^[0-9a-f]{32}$/);
      assert.equal(current.version, initial.version);
      assert.match(created.version, /^[0-9a-f]{32}$/);
      assert.notEqual(created.version, initial.version);
      assert.equal(disabled.version, initial.version);

      const latest = only(run, "latest");
      assert.equal(latest.version, created.version);
      assert.equal(latest.value, "newSecretValue123!");
      const old = only(run, "old-version");
      assert.equal(old.ok, false, "the disabled version must not give its value");
      assert.equal(old.statusCode, 403);
      assert.equal(old.code, "Forbidden");
      assert.equal(old.innerCode, "SecretDisabled");

      // The cleanup found the one disabled version and "deleted" it...
      assert.deepEqual(
        run.events.filter((e) => e.event === "deleted-version").map((e) => e.version),
        [initial.version],
      );
      // ...which, as in Azure, deleted the whole secret: nothing is left to get...
      const gone = only(run, "after-cleanup");
      assert.equal(gone.ok, false, `after the cleanup the secret must be gone, got version ${gone.version}`);
      assert.equal(gone.statusCode, 404);
      assert.equal(gone.code, "SecretNotFound");
      // ...and the secret, not a version of it, is in the deleted state.
      const deleted = only(run, "deleted-secret");
      assert.equal(deleted.name, "MyApiKey");
      assert.equal(deleted.version, created.version);
      assert.equal(deleted.recoveryId, `${url(lockbox)}/deletedsecrets/MyApiKey`);
      assert.ok(deleted.deletedOn, "a deleted secret has deletedOn");
      assert.ok(deleted.scheduledPurgeDate, "a deleted secret has scheduledPurgeDate");

      // Seen from another client: the whole secret is deleted, and recovering it brings back
      // both versions, the old one still disabled.
      const client = inspector(lockbox);
      await assert.rejects(client.getSecret("MyApiKey"), (e: any) => e.statusCode === 404 && e.code === "SecretNotFound");
      await assert.rejects(
        client.getSecret("MyApiKey", { version: created.version }),
        (e: any) => e.statusCode === 404 && e.code === "SecretNotFound",
      );
      assert.equal((await client.getDeletedSecret("MyApiKey")).properties.version, created.version);
      await (await client.beginRecoverDeletedSecret("MyApiKey", { intervalInMs: 100 })).pollUntilDone();
      assert.equal((await client.getSecret("MyApiKey")).value, "newSecretValue123!");
      const versions = new Map<string, boolean | undefined>();
      for await (const p of client.listPropertiesOfSecretVersions("MyApiKey")) versions.set(p.version!, p.enabled);
      assert.deepEqual(
        versions,
        new Map<string, boolean>([
          [initial.version, false],
          [created.version, true],
        ]),
      );
    });

    test("get-started.mjs: set a secret, then get it, as the Learn page writes it", async (t) => {
      const lockbox = await serverFor(t);
      const run = await runProgram("get-started.mjs", args(lockbox), lockboxEnv(lockbox), withDns);
      assert.equal(run.code, 0, `get-started.mjs failed:\n${run.stdout}\n${run.stderr}`);

      const set = only(run, "set");
      const got = only(run, "get");
      assert.equal(set.name, "MySecretName");
      assert.equal(set.value, "MySecretValue");
      assert.match(set.version, /^[0-9a-f]{32}$/);
      assert.equal(got.name, "MySecretName");
      assert.equal(got.value, "MySecretValue");
      assert.equal(got.version, set.version);
      assert.equal(got.enabled, true);
      assert.equal(got.vaultUrl, url(lockbox));
      assert.equal(got.id, `${url(lockbox)}/secrets/MySecretName/${set.version}`);

      // The value is in the vault, not only in the program's memory.
      const client = inspector(lockbox);
      const fromVault = await client.getSecret("MySecretName");
      assert.equal(fromVault.value, "MySecretValue");
      assert.equal(fromVault.properties.version, set.version);
    });
  });
}

describe("a service's TLS certificate from the vault", () => {
  test("tls-certificate.mjs: create a self-signed certificate, serve HTTPS with its PFX from getSecret, set AutoRenew", async (t) => {
    const lockbox = await serverFor(t);
    const run = await runProgram("tls-certificate.mjs", [], lockboxEnv(lockbox));
    assert.equal(run.code, 0, `tls-certificate.mjs failed:\n${run.stdout}\n${run.stderr}`);
    const created = only(run, "created");
    assert.equal(created.name, "web-tls");
    assert.match(created.version, /^[0-9a-f]{32}$/);
    const served = only(run, "served");
    assert.equal(served.contentType, "application/x-pkcs12");
    assert.equal(
      served.body,
      "hello over the vault's certificate",
      "a client trusting the certificate reached the service by its DNS name",
    );
    assert.equal(served.peer.replace(/:/g, "").length, 64);
    assert.deepEqual(only(run, "policy").lifetimeActions, [{ action: "AutoRenew", daysBeforeExpiry: 30 }]);
  });
});

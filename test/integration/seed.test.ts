import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createPrivateKey } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TokenCredential } from "@azure/core-auth";
import { ClientSecretCredential, DefaultAzureCredential } from "@azure/identity";
import { KeyClient } from "@azure/keyvault-keys";
import { SecretClient } from "@azure/keyvault-secrets";
import { developerToken } from "../helpers/http.ts";
import { cli, type Lockbox, newDataDir, removeDataDir, ROOT, serveForFile, startLockbox, stopOrKill } from "../helpers/server.ts";
import { eventually } from "../helpers/wait.ts";

// Seeding (issue 14) through the real command line: `lockbox seed examples/seed.json` into a
// running server and `lockbox serve --seed`, read back with the official SDKs. The one value
// the example takes from the environment is given there, never on the command line.
const EXAMPLE = "examples/seed.json";
const SEED_ENV = { LOCKBOX_SEED_API_TOKEN: "token-from-the-environment" };

let lockbox: Lockbox;
serveForFile({}, (started) => {
  lockbox = started;
});

const parseExports = (text: string): Record<string, string> =>
  Object.fromEntries([...text.matchAll(/^export (\w+)='([^']*)'$/gm)].map((m) => [m[1]!, m[2]!]));

/** A credential for a server's developer identity from its managed identity endpoint (MSAL keeps one managed identity per process). */
const developerOf = (server: Lockbox): TokenCredential => ({
  getToken: async () => ({ token: await developerToken(server), expiresOnTimestamp: Date.now() + 10 * 60_000 }),
});

describe("lockbox seed", () => {
  test("seeds examples/seed.json into a running server: the SDK reads what it made, its service principal works, and again it changes nothing", async () => {
    const r = cli(["seed", EXAMPLE, "--data-dir", lockbox.dataDir], SEED_ENV);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.split("\n");
    for (const line of [
      "created managed identity orders-api",
      "created service principal ci-pipeline",
      "created vault app",
      "created secret db-password in vault app",
      "created secret api-token in vault app",
      "created key orders-encryption in vault app",
      "created key token-signing in vault app",
      "created role assignment in vault app: Key Vault Secrets Officer to ci-pipeline",
      "created vault legacy",
      "created access policy ci-pipeline in vault legacy",
    ])
      assert.ok(lines.includes(line), `${line} in:\n${r.stdout}`);
    assert.doesNotMatch(r.stdout + r.stderr, /local-dev-password|token-from-the-environment/, "no seeded value is printed");

    const secrets = new SecretClient(lockbox.vaultUrl("app"), new DefaultAzureCredential());
    const dbPassword = await eventually("the seeded secret is served", 10_000, () => secrets.getSecret("db-password"));
    assert.equal(dbPassword.value, "local-dev-password");
    assert.equal(dbPassword.properties.contentType, "text/plain");
    assert.deepEqual(dbPassword.properties.tags, { env: "dev" });
    assert.equal(
      (await secrets.getSecret("app-settings")).value,
      readFileSync(join(ROOT, "examples/seed-files/app-settings.json"), "utf8"),
    );
    const apiToken = await secrets.getSecret("api-token");
    assert.equal(apiToken.value, SEED_ENV.LOCKBOX_SEED_API_TOKEN);
    assert.equal(apiToken.properties.expiresOn?.toISOString(), "2035-01-01T00:00:00.000Z");
    const signing = await new KeyClient(lockbox.vaultUrl("app"), new DefaultAzureCredential()).getKey("token-signing");
    const pem = createPrivateKey(readFileSync(join(ROOT, "examples/seed-files/signing-key.pem"))).export({ format: "jwk" });
    assert.equal(Buffer.from(signing.key!.x!).toString("base64url"), pem.x, "the imported PEM's key");
    assert.deepEqual(signing.keyOperations, ["sign", "verify"]);

    // The service principal's credential is printed once, and works as printed.
    const sp = parseExports(r.stdout);
    const credential = new ClientSecretCredential(sp.AZURE_TENANT_ID!, sp.AZURE_CLIENT_ID!, sp.AZURE_CLIENT_SECRET!, {
      authorityHost: `https://127.0.0.1:${lockbox.port}`,
      disableInstanceDiscovery: true,
    });
    const asCi = new SecretClient(lockbox.vaultUrl("app"), credential);
    assert.equal(
      (await eventually("the seeded role assignment holds", 10_000, () => asCi.getSecret("db-password"))).value,
      "local-dev-password",
    );

    const again = cli(["seed", EXAMPLE, "--data-dir", lockbox.dataDir], SEED_ENV);
    assert.equal(again.status, 0, again.stderr);
    assert.equal(again.stdout, "nothing to change\n");
    assert.equal((await secrets.getSecret("db-password")).properties.version, dbPassword.properties.version);

    // A new value in the environment: a dry run says so and writes nothing; then a new version.
    const rotated = { LOCKBOX_SEED_API_TOKEN: "the-next-token" };
    const dry = cli(["seed", EXAMPLE, "--dry-run", "--data-dir", lockbox.dataDir], rotated);
    assert.equal(dry.status, 0, dry.stderr);
    assert.equal(dry.stdout, "would add a new version of secret api-token in vault app\n");
    assert.equal((await secrets.getSecret("api-token")).value, SEED_ENV.LOCKBOX_SEED_API_TOKEN);
    const applied = cli(["seed", EXAMPLE, "--data-dir", lockbox.dataDir], rotated);
    assert.equal(applied.stdout, "new version of secret api-token in vault app\n");
    const versions = [];
    for await (const v of secrets.listPropertiesOfSecretVersions("api-token")) versions.push(v.version);
    assert.equal(versions.length, 2);
    assert.equal((await secrets.getSecret("api-token")).value, "the-next-token");
  });

  test("a seed with problems exits 1, lists each with its JSON path, and changes nothing", () => {
    const dir = mkdtempSync(join(tmpdir(), "lockbox-seed-cli-"));
    try {
      const file = join(dir, "seed.json");
      writeFileSync(
        file,
        JSON.stringify({
          vaults: [
            { name: "cli-refused", secrets: { ok: { value: "do-not-print-me" } } },
            { name: "cli-refused-2", secrets: { "db-password": { value: { env: "NOT_SET_FOR_LOCKBOX" } } } },
          ],
        }),
      );
      const r = cli(["seed", file, "--data-dir", lockbox.dataDir]);
      assert.equal(r.status, 1);
      assert.equal(
        r.stderr,
        `lockbox: the seed ${file} was not applied, and nothing was changed:\n  vaults[1].secrets.db-password.value.env: the environment variable NOT_SET_FOR_LOCKBOX is not set\n`,
      );
      const vaults = cli(["vault", "list", "--data-dir", lockbox.dataDir]);
      assert.doesNotMatch(vaults.stdout, /cli-refused/);

      writeFileSync(file, '{"vaults": [{"name": "x", "secrets": {"s": {"value": "do-not-print-me"}}]}');
      const broken = cli(["seed", file, "--data-dir", lockbox.dataDir]);
      assert.equal(broken.status, 1);
      assert.match(broken.stderr, /is not valid JSON \(line 1, column \d+\)\n$/);
      assert.doesNotMatch(broken.stderr, /do-not-print-me/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("lockbox serve --seed", () => {
  test("applies the seed once started and before it is announced, printing no credential; on a restart it changes nothing", async () => {
    const server = await startLockbox({ args: ["--seed", EXAMPLE], env: SEED_ENV });
    try {
      const out = server.output();
      assert.match(out, /^Seed examples\/seed\.json: created vault app$/m);
      assert.ok(out.indexOf("created vault app") < out.indexOf("listening on"), "the seed comes before the banner");
      assert.match(
        out,
        /serve prints no credential of ci-pipeline; name a credentialsFile in the seed, or run lockbox sp rotate ci-pipeline/,
      );
      assert.doesNotMatch(out, /AZURE_CLIENT_SECRET|IDENTITY_HEADER='|local-dev-password|token-from-the-environment/);
      const secrets = new SecretClient(server.vaultUrl("app"), developerOf(server));
      assert.equal((await secrets.getSecret("db-password")).value, "local-dev-password");
      assert.equal((await secrets.getSecret("api-token")).value, SEED_ENV.LOCKBOX_SEED_API_TOKEN);
    } finally {
      await stopOrKill(server);
    }
    const restarted = await startLockbox({ dataDir: server.dataDir, args: ["--seed", EXAMPLE], env: SEED_ENV });
    try {
      assert.match(restarted.output(), /^Seed examples\/seed\.json: nothing to change$/m);
    } finally {
      await stopOrKill(restarted);
      removeDataDir(server.dataDir);
    }
  });

  test("a seed that cannot be applied stops the server with exit 1 and says why; nothing is seeded", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lockbox-seed-serve-"));
    const dataDir = newDataDir();
    try {
      // Wrong in the file itself: refused before anything starts or is created.
      const broken = join(dir, "broken.json");
      writeFileSync(broken, JSON.stringify({ vaults: [{ name: "srv-refused", retentionDays: 1 }] }));
      await assert.rejects(startLockbox({ dataDir, args: ["--seed", broken] }), (e: Error) => {
        assert.match(e.message, /Lockbox exited with 1/);
        assert.match(
          e.message,
          /vaults\[0\]\.retentionDays: The soft-delete retention period must be a whole number of days from 7 to 90\./,
        );
        return true;
      });
      assert.ok(!existsSync(join(dataDir, "lockbox.db")), "no store was made");

      // Wrong only against the store: the server starts, the seed is refused, the server stops.
      const unknown = join(dir, "unknown.json");
      writeFileSync(
        unknown,
        JSON.stringify({ vaults: [{ name: "srv-refused", roleAssignments: [{ assignee: "nobody", role: "Key Vault Reader" }] }] }),
      );
      await assert.rejects(startLockbox({ dataDir, args: ["--seed", unknown] }), (e: Error) => {
        assert.match(e.message, /Lockbox exited with 1/);
        assert.match(
          e.message,
          /lockbox: the seed .*unknown\.json was not applied, and nothing was changed:\n {2}vaults\[0\]\.roleAssignments\[0\]\.assignee: there is no identity 'nobody', in the seed or in Lockbox/,
        );
        return true;
      });
      const vaults = cli(["vault", "list", "--data-dir", dataDir]);
      assert.equal(vaults.status, 0, vaults.stderr);
      assert.doesNotMatch(vaults.stdout, /srv-refused/);
      assert.ok(!existsSync(join(dataDir, "server.json")), "the server gave up its data directory");
    } finally {
      rmSync(dir, { recursive: true, force: true });
      removeDataDir(dataDir);
    }
  });
});

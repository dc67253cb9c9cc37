import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, realpathSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DefaultAzureCredential } from "@azure/identity";
import { SecretClient } from "@azure/keyvault-secrets";
import { developerToken, raw } from "../helpers/http.ts";
import { cli, cliAsync, type Lockbox, newDataDir, removeDataDir, ROOT, serveForFile, startLockbox } from "../helpers/server.ts";
import { readingThrough, seenNext } from "../helpers/wait.ts";

// The `lockbox` command line: env, vault create/list/delete, serve's root key, and SIGTERM.
let lockbox: Lockbox;
serveForFile({}, (started) => {
  lockbox = started;
});

const parseExports = (text: string): Record<string, string> =>
  Object.fromEntries([...text.matchAll(/^export (\w+)='([^']*)'$/gm)].map((m) => [m[1]!, m[2]!]));

describe("lockbox env", () => {
  const envJson = (...extra: string[]): Record<string, string> => {
    const r = cli(["env", "--data-dir", lockbox.dataDir, "--json", ...extra]);
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as Record<string, string>;
  };

  test("--json prints one object with the running server's environment", async () => {
    const env = envJson();
    assert.deepEqual(Object.keys(env).sort(), [
      "APPSETTING_WEBSITE_SITE_NAME",
      "CURL_CA_BUNDLE",
      "IDENTITY_ENDPOINT",
      "IDENTITY_HEADER",
      "KEYVAULT_URL",
      "MSI_ENDPOINT",
      "MSI_SECRET",
      "NODE_EXTRA_CA_CERTS",
      "REQUESTS_CA_BUNDLE",
      "SSL_CERT_FILE",
      "TENANT_ID",
    ]);
    assert.equal(env.MSI_ENDPOINT, env.IDENTITY_ENDPOINT, "az's older protocol on the same endpoint");
    assert.equal(env.MSI_SECRET, env.IDENTITY_HEADER);
    assert.equal(realpathSync(env.NODE_EXTRA_CA_CERTS!), realpathSync(join(lockbox.dataDir, "tls", "ca.pem")));
    assert.ok(
      existsSync(env.NODE_EXTRA_CA_CERTS!) && statSync(env.NODE_EXTRA_CA_CERTS!).isFile(),
      `${env.NODE_EXTRA_CA_CERTS} is not a file`,
    );
    assert.equal(env.IDENTITY_ENDPOINT, `https://127.0.0.1:${lockbox.port}/msi/token`);
    assert.equal(env.IDENTITY_HEADER, lockbox.env.IDENTITY_HEADER);
    assert.equal(env.TENANT_ID, lockbox.env.TENANT_ID);
    assert.equal(env.KEYVAULT_URL, `https://default.vault.localhost:${lockbox.port}`);

    // and the header it prints gets a token from the endpoint it prints
    const r = await raw(lockbox, {
      path: `${new URL(env.IDENTITY_ENDPOINT!).pathname}?api-version=2019-08-01&resource=${encodeURIComponent("https://vault.localhost")}`,
      headers: { "x-identity-header": env.IDENTITY_HEADER! },
    });
    assert.equal(r.status, 200, r.text);
  });

  test("without --json prints export lines with the same values", () => {
    const r = cli(["env", "--data-dir", lockbox.dataDir]);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    for (const line of lines) assert.match(line, /^export \w+='[^']*'$/);
    assert.deepEqual(parseExports(r.stdout), envJson());
  });

  test("one CA bundle for every other client: the system's CAs and Lockbox's, each PEM ending in a newline, which OpenSSL verifies the server with", () => {
    const env = envJson();
    assert.equal(env.SSL_CERT_FILE, env.REQUESTS_CA_BUNDLE);
    assert.equal(env.SSL_CERT_FILE, env.CURL_CA_BUNDLE);
    const bundle = readFileSync(env.SSL_CERT_FILE!, "utf8");
    const ca = readFileSync(join(lockbox.dataDir, "tls", "ca.pem"), "utf8");
    assert.ok(ca.endsWith("-----END CERTIFICATE-----\n"), "ca.pem ends with a newline");
    assert.ok(bundle.endsWith(ca), "the bundle ends with Lockbox's CA");
    const system = readFileSync("/etc/ssl/certs/ca-certificates.crt", "utf8");
    assert.ok(bundle.startsWith(system), "the bundle starts with the system's CAs");
    const verified = spawnSync("openssl", ["verify", "-CAfile", env.SSL_CERT_FILE!, join(lockbox.dataDir, "tls", "server.pem")], {
      encoding: "utf8",
    });
    assert.equal(verified.status, 0, verified.stdout + verified.stderr);
  });

  test("a NODE_EXTRA_CA_CERTS the user already had is kept: it points at a file with theirs and Lockbox's", () => {
    const dir = mkdtempSync(join(tmpdir(), "lockbox-user-ca-"));
    const theirs = join(dir, "corporate.pem");
    const corporate =
      readFileSync("/etc/ssl/certs/ca-certificates.crt", "utf8").split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----";
    writeFileSync(theirs, corporate); // no final newline, as some tools write them
    const r = cli(["env", "--data-dir", lockbox.dataDir, "--json"], { NODE_EXTRA_CA_CERTS: theirs });
    assert.equal(r.status, 0, r.stderr);
    const env = JSON.parse(r.stdout) as Record<string, string>;
    assert.notEqual(env.NODE_EXTRA_CA_CERTS, theirs);
    const joined = readFileSync(env.NODE_EXTRA_CA_CERTS!, "utf8");
    assert.equal(joined, `${corporate}\n${readFileSync(join(lockbox.dataDir, "tls", "ca.pem"), "utf8")}`);
    // Run again from the shell that took it: the joined file stays, with the user's CA in it.
    const again = JSON.parse(
      cli(["env", "--data-dir", lockbox.dataDir, "--json"], { NODE_EXTRA_CA_CERTS: env.NODE_EXTRA_CA_CERTS }).stdout,
    );
    assert.equal(again.NODE_EXTRA_CA_CERTS, env.NODE_EXTRA_CA_CERTS);
    assert.equal(readFileSync(again.NODE_EXTRA_CA_CERTS, "utf8"), joined);
  });

  test("GET /lockbox/v1/ca.pem serves the local CA without a token, for clients that cannot read the data directory", async () => {
    const r = await raw(lockbox, { path: "/lockbox/v1/ca.pem" });
    assert.equal(r.status, 200, r.text);
    assert.match(String(r.headers["content-type"]), /^application\/x-pem-file/);
    assert.equal(r.text, readFileSync(join(lockbox.dataDir, "tls", "ca.pem"), "utf8"));
  });

  test("GET /healthz and /readyz answer without a token and say nothing else", async () => {
    const health = await raw(lockbox, { path: "/healthz" });
    assert.equal(health.status, 200);
    assert.deepEqual(health.json, { status: "ok" });
    const ready = await raw(lockbox, { path: "/readyz" });
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.json, { status: "ready" });
  });

  test("GET / says what the server is and where to look, without a token, naming no vault", async () => {
    const root = await raw(lockbox, { path: "/" });
    assert.equal(root.status, 200, root.text);
    assert.match(root.json.service, /Lockbox/);
    assert.equal(root.json.endpoints.health, "/healthz");
    assert.doesNotMatch(root.text, /default/);
  });

  test("--port overrides the port", () => {
    const env = envJson("--port", "9999");
    assert.equal(env.IDENTITY_ENDPOINT, "https://127.0.0.1:9999/msi/token");
    assert.equal(env.KEYVAULT_URL, "https://default.vault.localhost:9999");
    assert.equal(env.IDENTITY_HEADER, lockbox.env.IDENTITY_HEADER);
    assert.equal(env.TENANT_ID, lockbox.env.TENANT_ID);
  });
});

describe("a data directory with no Lockbox data", () => {
  test("env, vault create and role list refuse it in one line naming it and the fix, and create nothing; init makes a store", () => {
    const typo = join(mkdtempSync(join(tmpdir(), "lockbox-typo-")), "no-such-dir");
    for (const args of [["env"], ["vault", "create", "typo-vault"], ["role", "list", "--vault", "default"]]) {
      const r = cli([...args, "--data-dir", typo]);
      assert.equal(r.status, 1, `lockbox ${args.join(" ")}: ${r.stdout}${r.stderr}`);
      assert.equal(r.stdout, "");
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^lockbox: ${typo} holds no Lockbox data .*lockbox serve --data-dir ${typo}`));
      assert.equal(existsSync(typo), false, `lockbox ${args.join(" ")} created ${typo}`);
    }
    const init = cli(["init", "--data-dir", typo]);
    assert.equal(init.status, 0, init.stderr);
    const env = cli(["env", "--json", "--data-dir", typo]);
    assert.equal(env.status, 0, env.stderr);
    assert.match(JSON.parse(env.stdout).IDENTITY_HEADER, /.{20,}/);
  });
});

test("lockbox --version prints the package's version", () => {
  const r = cli(["--version"]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version);
});

describe("lockbox vault", () => {
  const vaultCli = (...args: string[]) => cli(["vault", ...args, "--data-dir", lockbox.dataDir]);
  const listed = (): string[] => {
    const r = vaultCli("list");
    assert.equal(r.status, 0, r.stderr);
    return r.stdout
      .trim()
      .split("\n")
      .map((l) => l.split("\t")[0]!);
  };

  test("create, use right away, list, delete; the deleted vault's host answers VaultNotFound at the next request", async () => {
    const made = vaultCli("create", "payments");
    assert.equal(made.status, 0, made.stderr);
    assert.deepEqual(listed().sort(), ["default", "payments"]);

    const client = new SecretClient(lockbox.vaultUrl("payments"), new DefaultAzureCredential());
    const set = await client.setSecret("card-key", "4111");
    assert.equal(set.properties.vaultUrl, lockbox.vaultUrl("payments"));
    assert.equal((await client.getSecret("card-key")).value, "4111");
    // the vault `default` does not see it
    const token = await developerToken(lockbox);
    const inDefault = await raw(lockbox, { path: "/secrets/card-key?api-version=7.6", token });
    assert.equal(inDefault.status, 404, inDefault.text);

    // The server serves the vault while the CLI, another process, deletes it.
    const deleted = await readingThrough(cliAsync(["vault", "delete", "payments", "--yes", "--data-dir", lockbox.dataDir]), () =>
      client.getSecret("card-key"),
    );
    assert.equal(deleted.status, 0, deleted.stderr);
    const host = `payments.vault.localhost:${lockbox.port}`;
    await seenNext("the deleted vault's host answering VaultNotFound", async () => {
      const r = await raw(lockbox, { path: "/secrets/card-key?api-version=7.6", host, token });
      assert.equal(r.status, 404, r.text);
      assert.equal(r.json.error.code, "VaultNotFound");
    });
    assert.deepEqual(listed(), ["default"]);
  });

  test("invalid vault names are refused", () => {
    for (const name of ["a", "-bad", "has_underscore", "ab", "x".repeat(25), "bad-", "9lives"]) {
      // `--` so that "-bad" reaches the name check instead of being read as an option
      const r = cli(["vault", "create", "--data-dir", lockbox.dataDir, "--", name]);
      assert.notEqual(r.status, 0, `created ${name}`);
      assert.match(r.stderr, /invalid/i, `${name}: ${r.stderr}`);
    }
    assert.deepEqual(listed(), ["default"]);
  });

  test("creating an existing vault fails", () => {
    const first = vaultCli("create", "ledger");
    assert.equal(first.status, 0, first.stderr);
    for (const name of ["ledger", "LEDGER", "default"]) {
      const again = vaultCli("create", name);
      assert.notEqual(again.status, 0, `created ${name} twice`);
      assert.match(again.stderr, /already exists/, again.stderr);
    }
    assert.deepEqual(listed().sort(), ["default", "ledger"]);
  });

  test("a vault deleted and created again while the server runs keeps what is then written to it", async () => {
    // Its own server, because the check needs a restart on the same data directory.
    const dataDir = newDataDir();
    try {
      const first = await startLockbox({ dataDir });
      const host = (l: Lockbox): string => `again.vault.localhost:${l.port}`;
      try {
        const vault = (...args: string[]) => cli(["vault", ...args, "--data-dir", dataDir]);
        assert.equal(vault("create", "again").status, 0);
        const token = await developerToken(first);
        const old = await raw(first, {
          method: "PUT",
          host: host(first),
          path: "/secrets/old?api-version=7.6",
          body: { value: "old-value" },
          token,
        });
        assert.equal(old.status, 200, old.text);

        const deleted = vault("delete", "again", "--yes");
        assert.equal(deleted.status, 0, deleted.stderr);
        const made = vault("create", "again");
        assert.equal(made.status, 0, made.stderr);

        const put = await raw(first, {
          method: "PUT",
          host: host(first),
          path: "/secrets/new?api-version=7.6",
          body: { value: "new-value" },
          token,
        });
        assert.equal(put.status, 200, put.text);
      } finally {
        await first.stop();
      }

      const second = await startLockbox({ dataDir });
      try {
        const token = await developerToken(second);
        const got = await raw(second, { host: host(second), path: "/secrets/new?api-version=7.6", token });
        assert.equal(got.status, 200, got.text);
        assert.equal(got.json.value, "new-value");
        const gone = await raw(second, { host: host(second), path: "/secrets/old?api-version=7.6", token });
        assert.equal(gone.status, 404, gone.text);
      } finally {
        await second.stop();
      }
    } finally {
      removeDataDir(dataDir);
    }
  });

  test("deleting a vault that does not exist fails", () => {
    const r = vaultCli("delete", "nosuchvault", "--yes");
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /nosuchvault/);
  });
});

describe("lockbox serve and the root key", () => {
  test("a fresh data directory gets root.key with mode 0600", () => {
    const file = join(lockbox.dataDir, "root.key");
    assert.ok(existsSync(file));
    assert.equal(statSync(file).mode & 0o777, 0o600);
  });

  /** A data directory initialised by a server run with LOCKBOX_ROOT_KEY, holding one secret. */
  const keyedDataDir = async (rootKey: string): Promise<string> => {
    const dataDir = newDataDir();
    const keyed = await startLockbox({ dataDir, env: { LOCKBOX_ROOT_KEY: rootKey }, args: ["--init"] });
    let code: number | null = null;
    try {
      assert.equal(existsSync(join(dataDir, "root.key")), false);
      const token = await developerToken(keyed);
      const put = await raw(keyed, { method: "PUT", path: "/secrets/kept?api-version=7.6", body: { value: "kept-value" }, token });
      assert.equal(put.status, 200, put.text);
    } finally {
      code = await keyed.stop();
    }
    assert.equal(code, 0);
    assert.equal(existsSync(join(dataDir, "root.key")), false);
    return dataDir;
  };

  test("with LOCKBOX_ROOT_KEY no root.key is written, and a server with another key does not start", async () => {
    const rootKey = randomBytes(32).toString("base64");
    const dataDir = await keyedDataDir(rootKey);
    try {
      await assert.rejects(startLockbox({ dataDir, env: { LOCKBOX_ROOT_KEY: randomBytes(32).toString("base64") } }), /exited with [1-9]/);
      assert.equal(existsSync(join(dataDir, "root.key")), false);

      // The right key still opens it.
      const again = await startLockbox({ dataDir, env: { LOCKBOX_ROOT_KEY: rootKey } });
      try {
        const got = await raw(again, { path: "/secrets/kept?api-version=7.6", token: await developerToken(again) });
        assert.equal(got.status, 200, got.text);
        assert.equal(got.json.value, "kept-value");
      } finally {
        await again.stop();
      }
      assert.equal(existsSync(join(dataDir, "root.key")), false);
    } finally {
      removeDataDir(dataDir);
    }
  });

  test("CLI commands without that LOCKBOX_ROOT_KEY refuse its data directory", async () => {
    // Without the key, or with another one, a command must not make a root.key, nor a vault
    // whose data key the real root key cannot unwrap.
    const rootKey = randomBytes(32).toString("base64");
    const dataDir = await keyedDataDir(rootKey);
    try {
      for (const env of [{}, { LOCKBOX_ROOT_KEY: randomBytes(32).toString("base64") }]) {
        const made = cli(["vault", "create", "orphan", "--data-dir", dataDir], env);
        assert.notEqual(
          made.status,
          0,
          `vault create succeeded ${env.LOCKBOX_ROOT_KEY ? "with another key" : "without a key"}: ${made.stdout}`,
        );
        assert.equal(existsSync(join(dataDir, "root.key")), false, "a root.key was written");
      }
      const vaults = cli(["vault", "list", "--data-dir", dataDir], { LOCKBOX_ROOT_KEY: rootKey });
      assert.equal(vaults.status, 0, vaults.stderr);
      assert.doesNotMatch(vaults.stdout, /orphan/);
    } finally {
      removeDataDir(dataDir);
    }
  });
});

describe("SIGTERM", () => {
  // Last test of the file: it stops the file's server (after() then finds it stopped).
  test("stops the server with exit code 0", async () => {
    const token = await developerToken(lockbox);
    const r = await raw(lockbox, { path: "/secrets?api-version=7.6", token });
    assert.equal(r.status, 200, r.text);
    assert.equal(await lockbox.stop(), 0);
    await assert.rejects(raw(lockbox, { path: "/secrets?api-version=7.6", token }));
  });
});

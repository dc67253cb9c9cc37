import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DefaultAzureCredential } from "@azure/identity";
import { SecretClient } from "@azure/keyvault-secrets";
import { raw } from "../helpers/http.ts";
import { runProgram } from "../helpers/program.ts";
import { cli, engineEnv, type Lockbox, newDataDir, removeDataDir, ROOT, serveForFile, startLockbox } from "../helpers/server.ts";
import { eventually } from "../helpers/wait.ts";

// The CLI as an operator's tool: data commands (values never on argv), audited actions,
// careful destructive commands, role assignments as Azure answers them, `lockbox token`, the
// environment `sp create` prints, and one server per data directory.
let lockbox: Lockbox;
serveForFile({}, (started) => {
  lockbox = started;
});

const lb = (args: string[], input = "") => cli([...args, "--data-dir", lockbox.dataDir], {}, input);
const ok = (args: string[], input = ""): string => {
  const r = lb(args, input);
  assert.equal(r.status, 0, `lockbox ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
};
const auditLines = (): Array<Record<string, any>> =>
  readFileSync(join(lockbox.dataDir, "audit.log"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, any>);
const cliLines = (operation: string) =>
  auditLines().filter((l) => l.operationName === operation && l.identity?.claim?.appid === "lockbox-cli");

describe("lockbox secret", () => {
  test("set reads the value from standard input, get prints it, and the SDK reads the same secret", async () => {
    const set = ok(["secret", "set", "cli-db-password", "--content-type", "text/plain", "--tags", "env=dev"], "s3cr3t-from-stdin\n");
    assert.match(set, /^set secret cli-db-password in default: version [0-9a-f]{32}$/m);
    assert.equal(ok(["secret", "get", "cli-db-password"]), "s3cr3t-from-stdin\n", "one final newline of stdin is dropped");
    const client = new SecretClient(lockbox.vaultUrl(), new DefaultAzureCredential());
    const got = await client.getSecret("cli-db-password");
    assert.equal(got.value, "s3cr3t-from-stdin");
    assert.equal(got.properties.contentType, "text/plain");
    assert.deepEqual(got.properties.tags, { env: "dev" });

    // --file keeps the bytes exactly; --json prints the REST API's bundle.
    const file = join(mkdtempSync(join(tmpdir(), "lockbox-value-")), "value.txt");
    writeFileSync(file, "line one\nline two\n");
    ok(["secret", "set", "cli-db-password", "--file", file]);
    const bundle = JSON.parse(ok(["secret", "get", "cli-db-password", "--json"])) as { value: string; id: string };
    assert.equal(bundle.value, "line one\nline two\n");
    assert.match(bundle.id, new RegExp(`^https://default\\.vault\\.localhost:${lockbox.port}/secrets/cli-db-password/[0-9a-f]{32}$`));
  });

  test("there is no way to give a value on the command line", () => {
    const r = lb(["secret", "set", "argv-secret", "--value", "visible-in-ps"]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /unknown option '--value'/);
    const rotate = lb(["secret", "rotate", "argv-secret", "--value", "visible-in-ps"]);
    assert.notEqual(rotate.status, 0);
    assert.doesNotMatch(ok(["secret", "list"]), /argv-secret/);
  });

  test("show, list and versions print attributes and never the value; delete, recover and purge follow soft delete", () => {
    ok(["secret", "set", "cli-lifecycle"], "first-value");
    ok(["secret", "set", "cli-lifecycle"], "second-value");
    const shown = ok(["secret", "show", "cli-lifecycle"]);
    assert.match(shown, /^enabled\ttrue$/m);
    assert.doesNotMatch(shown, /second-value/);
    assert.match(ok(["secret", "list"]), /^cli-lifecycle\tenabled\tupdated /m);
    assert.equal(ok(["secret", "versions", "cli-lifecycle"]).trim().split("\n").length, 2);
    const listJson = JSON.parse(ok(["secret", "list", "--json"])) as Array<{ id: string; value?: string }>;
    assert.ok(listJson.some((s) => s.id.endsWith("/secrets/cli-lifecycle")));
    assert.ok(listJson.every((s) => s.value === undefined));

    assert.match(ok(["secret", "delete", "cli-lifecycle"]), /^deleted secret cli-lifecycle in default; purged at /m);
    const gone = lb(["secret", "get", "cli-lifecycle"]);
    assert.equal(gone.status, 1);
    assert.match(gone.stderr, /^lockbox: .*cli-lifecycle/m);
    ok(["secret", "recover", "cli-lifecycle"]);
    assert.equal(ok(["secret", "get", "cli-lifecycle"]), "second-value\n");
    ok(["secret", "delete", "cli-lifecycle"]);
    const unasked = lb(["secret", "purge", "cli-lifecycle"]);
    assert.equal(unasked.status, 1, "a purge with no terminal to ask needs --yes");
    assert.match(unasked.stderr, /--yes/);
    ok(["secret", "purge", "cli-lifecycle", "--yes"]);
    const purged = lb(["secret", "recover", "cli-lifecycle"]);
    assert.equal(purged.status, 1);
  });

  test("prune --dry-run lists what it would destroy and destroys nothing; prune asks for --yes; both are audited as they happen", () => {
    for (const v of ["v1", "v2", "v3"]) ok(["secret", "set", "cli-prune"], v);
    const versions = () => ok(["secret", "versions", "cli-prune"]).trim().split("\n").length;
    const dry = ok(["secret", "prune", "cli-prune", "--keep", "1", "--dry-run"]);
    assert.match(dry, /^would destroy 2 version\(s\) of cli-prune: [0-9a-f]{32} [0-9a-f]{32}$/m);
    assert.equal(versions(), 3, "the dry run destroyed versions");
    const unasked = lb(["secret", "prune", "cli-prune", "--keep", "1"]);
    assert.equal(unasked.status, 1);
    assert.equal(versions(), 3);
    assert.match(ok(["secret", "prune", "cli-prune", "--keep", "1", "--yes"]), /^destroyed 2 version\(s\)/m);
    assert.equal(versions(), 1);
    const [line] = cliLines("SecretPrune");
    assert.ok(line, "no SecretPrune line");
    assert.equal(line.resultType, "Success");
    assert.equal(line.properties.id, `https://default.vault.localhost:${lockbox.port}/secrets/cli-prune`);
    assert.match(line.identity.claim.name, /\(lockbox CLI\)$/);
  });

  test("secret get is audited as SecretGet, and a failed command as a Failure with Azure's message", () => {
    ok(["secret", "set", "cli-audited"], "audited-value");
    ok(["secret", "get", "cli-audited"]);
    assert.ok(cliLines("SecretGet").some((l) => l.properties.id?.endsWith("/secrets/cli-audited") && l.resultType === "Success"));
    assert.equal(lb(["secret", "get", "cli-no-such"]).status, 1);
    const failed = cliLines("SecretGet").find((l) => l.properties.id?.endsWith("/secrets/cli-no-such"));
    assert.ok(failed);
    assert.equal(failed.resultType, "Failure");
    assert.equal(failed.properties.httpStatusCode, 404);
    assert.ok(!readFileSync(join(lockbox.dataDir, "audit.log"), "utf8").includes("audited-value"), "a value in the audit log");
  });
});

describe("lockbox key", () => {
  test("create, show (the public JWK), list, rotate and delete, each audited", () => {
    assert.match(ok(["key", "create", "cli-signing", "--kty", "EC", "--curve", "P-256"]), /^created key cli-signing in default/m);
    const shown = JSON.parse(ok(["key", "show", "cli-signing"])) as { key: Record<string, unknown> };
    assert.equal(shown.key.kty, "EC");
    assert.equal(shown.key.crv, "P-256");
    assert.equal(shown.key.d, undefined, "the private part was printed");
    assert.match(ok(["key", "list"]), /^cli-signing\tEC\tenabled/m);
    ok(["key", "rotate", "cli-signing"]);
    assert.equal(ok(["key", "versions", "cli-signing"]).trim().split("\n").length, 2);
    ok(["key", "delete", "cli-signing"]);
    for (const op of ["KeyCreate", "KeyGet", "KeyRotate", "KeyDelete"]) assert.equal(cliLines(op).length, 1, op);
  });
});

describe("vaults, identities and roles from the CLI", () => {
  test("vault create prints the URL and the hosts line; vault list --json has the URLs", () => {
    const made = ok(["vault", "create", "cli-payments"]);
    assert.match(made, new RegExp(`^KEYVAULT_URL=https://cli-payments\\.vault\\.localhost:${lockbox.port}$`, "m"));
    assert.match(made, /echo "127\.0\.0\.1 cli-payments\.vault\.localhost" \| sudo tee -a \/etc\/hosts/);
    const listed = JSON.parse(ok(["vault", "list", "--json"])) as Array<{ name: string; url: string }>;
    assert.equal(listed.find((v) => v.name === "cli-payments")?.url, `https://cli-payments.vault.localhost:${lockbox.port}`);
    assert.equal(cliLines("VaultCreate").length, 1);
  });

  test("vault delete needs --yes, and is audited", () => {
    ok(["vault", "create", "cli-doomed"]);
    const unasked = lb(["vault", "delete", "cli-doomed"]);
    assert.equal(unasked.status, 1);
    assert.match(unasked.stderr, /give --yes/);
    assert.match(ok(["vault", "list"]), /^cli-doomed\t/m, "refused, yet deleted");
    ok(["vault", "delete", "cli-doomed", "--yes"]);
    assert.doesNotMatch(ok(["vault", "list"]), /^cli-doomed\t/m);
    assert.equal(cliLines("VaultDelete").length, 1);
  });

  test("a duplicate role assignment is 409 RoleAssignmentExists; a role on an access-policy vault is refused; both audited", () => {
    ok(["identity", "create", "cli-app"]);
    const assign = (vault: string) =>
      lb(["role", "assign", "--vault", vault, "--assignee", "cli-app", "--role", "Key Vault Secrets User", "--scope", "/secrets/x"]);
    assert.equal(assign("default").status, 0);
    const again = assign("default");
    assert.equal(again.status, 1);
    assert.match(again.stderr, /The role assignment already exists/);
    assert.equal((JSON.parse(ok(["role", "list", "--assignee", "cli-app", "--json"])) as unknown[]).length, 1);
    ok(["vault", "create", "cli-legacy", "--access-policies"]);
    const onPolicies = assign("cli-legacy");
    assert.equal(onPolicies.status, 1);
    assert.match(onPolicies.stderr, /uses access policies/);
    const lines = cliLines("RoleAssignmentCreate");
    assert.deepEqual(
      lines.map((l) => [l.resultType, l.properties.httpStatusCode]),
      [
        ["Success", 200],
        ["Failure", 409],
        ["Failure", 400],
      ],
    );
    ok(["identity", "disable", "cli-app"]);
    assert.equal(cliLines("IdentityDisable").length, 1);
  });

  test("the environment sp create prints works with DefaultAzureCredential as printed", async () => {
    const printed = ok(["sp", "create", "cli-ci"]);
    ok(["role", "assign", "--assignee", "cli-ci", "--role", "Key Vault Secrets Officer"]);
    const env = Object.fromEntries([...printed.matchAll(/^export (\w+)='([^']*)'$/gm)].map((m) => [m[1]!, m[2]!]));
    assert.equal(env.AZURE_TENANT_ID, "adfs");
    assert.equal(env.AZURE_AUTHORITY_HOST, `https://127.0.0.1:${lockbox.port}`);
    // The Microsoft Learn program, with nothing but what was printed.
    const run = await runProgram("get-started.mjs", [], env);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.events.find((e) => e.event === "get")?.value, "MySecretValue");
  });

  test("lockbox token prints a bearer token the admin API takes, as curl would send it", async () => {
    const token = ok(["token"]).trim();
    const r = await raw(lockbox, { path: "/lockbox/v1/identities", token });
    assert.equal(r.status, 200, r.text);
    assert.ok((r.json.value as Array<{ name: string }>).some((x) => x.name === "developer"));

    // Admin-API actions are audited under their own names, and a duplicate assignment is Azure's 409.
    ok(["identity", "create", "api-app"]);
    const assign = () =>
      raw(lockbox, {
        method: "POST",
        path: "/lockbox/v1/vaults/default/roleassignments",
        token,
        body: { assignee: "api-app", role: "Key Vault Reader" },
      });
    assert.equal((await assign()).status, 201);
    const again = await assign();
    assert.equal(again.status, 409, again.text);
    assert.equal(again.json.error.code, "RoleAssignmentExists");
    const lines = auditLines().filter((l) => l.operationName === "RoleAssignmentCreate" && l.identity?.claim?.name === "developer");
    assert.deepEqual(
      lines.map((l) => l.properties.httpStatusCode),
      [201, 409],
    );
  });
});

describe("one server per data directory", () => {
  test("a second serve on the same data directory refuses, naming the first one's pid and port, and changes nothing", () => {
    const before = readFileSync(join(lockbox.dataDir, "server.json"), "utf8");
    const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", "serve", "--port", "0", "--data-dir", lockbox.dataDir], {
      cwd: ROOT,
      env: { ...process.env, ...engineEnv(lockbox.dataDir) },
      encoding: "utf8",
      timeout: 30_000,
    });
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stderr, new RegExp(`another Lockbox server \\(pid ${lockbox.process.pid}, port ${lockbox.port}\\) serves`));
    assert.equal(readFileSync(join(lockbox.dataDir, "server.json"), "utf8"), before, "server.json was changed");
  });

  test("lockbox env outside any data directory finds the running server by --port", () => {
    const elsewhere = mkdtempSync(join(tmpdir(), "lockbox-elsewhere-"));
    const { LOCKBOX_DATA_DIR: _unset, NODE_OPTIONS: _tsx, ...env } = process.env;
    const r = spawnSync(
      process.execPath,
      ["--import", import.meta.resolve("tsx"), join(ROOT, "src/cli/main.ts"), "env", "--json", "--port", String(lockbox.port)],
      {
        cwd: elsewhere,
        env: { ...env, ...engineEnv(lockbox.dataDir) },
        encoding: "utf8",
      },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { IDENTITY_HEADER: string }).IDENTITY_HEADER, lockbox.env.IDENTITY_HEADER);
    assert.match(r.stderr, /using the server on port/);
    assert.ok(!existsSync(join(elsewhere, ".lockbox")), "a store was made where the command ran");
  });

  test("server.json goes with its server: removed at exit, and one left by a killed server is ignored with a note", async () => {
    const dataDir = newDataDir();
    try {
      const server = await startLockbox({ dataDir });
      assert.ok(existsSync(join(dataDir, "server.json")));
      await server.stop();
      assert.ok(!existsSync(join(dataDir, "server.json")), "server.json outlived its server");

      const killed = await startLockbox({ dataDir });
      await killed.kill();
      const env = cli(["env", "--json", "--data-dir", dataDir]);
      assert.equal(env.status, 0, env.stderr);
      assert.match(env.stderr, /which no longer runs: ignored/);
      assert.match((JSON.parse(env.stdout) as { KEYVAULT_URL: string }).KEYVAULT_URL, /:8443$/, "the dead server's port was used");
      // ... and the next server takes the data directory over.
      const next = await startLockbox({ dataDir });
      await eventually("server.json names the new server", 5_000, async () =>
        assert.equal((JSON.parse(readFileSync(join(dataDir, "server.json"), "utf8")) as { pid: number }).pid, next.process.pid),
      );
      await next.stop();
    } finally {
      removeDataDir(dataDir);
    }
  });
});

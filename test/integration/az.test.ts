import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { constants, createHash, createPublicKey, publicEncrypt, verify } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { raw } from "../helpers/http.ts";
import { runAz, type ProgramRun } from "../helpers/program.ts";
import { assignRole, cli, serveForFile, type Lockbox } from "../helpers/server.ts";

// The az CLI (Debian's azure-cli 2.45) as a user drives it against Lockbox: the lines
// `lockbox env --az` prints register Lockbox as a cloud from its metadata endpoint and log in
// with the managed identity (the 2017-09-01 protocol az speaks) or a service principal; the
// tokens az then gets are accepted by the vault. Debian's az cannot run most `az keyvault`
// commands (its packaging lacks their modules), so vault calls go through `az rest`, as the
// README says; `az keyvault key random` does run.
let lockbox: Lockbox;
serveForFile({}, (started) => {
  lockbox = started;
});

/** `eval "$(lockbox env)"` in a shell of its own, with a private az configuration. */
function azEnv(): Record<string, string> {
  const r = cli(["env", "--json", "--data-dir", lockbox.dataDir]);
  assert.equal(r.status, 0, r.stderr);
  return {
    ...(JSON.parse(r.stdout) as Record<string, string>),
    HOME: mkdtempSync(join(tmpdir(), "lockbox-az-home-")),
    AZURE_CONFIG_DIR: mkdtempSync(join(tmpdir(), "lockbox-az-config-")),
  };
}

/** The az command lines `lockbox env --az` prints, as argument lists. */
function azLines(): string[][] {
  const r = cli(["env", "--az", "--data-dir", lockbox.dataDir]);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout
    .split("\n")
    .filter((l) => l.startsWith("az "))
    .map((l) => l.split(" ").slice(1));
}

async function az(args: string[], env: Record<string, string>): Promise<ProgramRun> {
  const run = await runAz(args, env);
  assert.equal(run.code, 0, `az ${args.join(" ")} failed (${run.code}):\n${run.stdout}\n${run.stderr}`);
  return run;
}

const vaultResource = () => `https://vault.localhost:${lockbox.port}`;
const secretUrl = (name: string) => `${lockbox.vaultUrl()}/secrets/${name}?api-version=7.4`;

describe("az with the managed identity", () => {
  let env: Record<string, string>;
  before(async () => {
    env = azEnv();
    const lines = azLines();
    assert.deepEqual(
      lines.map((l) => l.slice(0, 2).join(" ")),
      ["cloud register", "cloud set", "login --identity"],
      "lockbox env --az prints the register, set and login lines",
    );
    await az(lines[0]!, env);
    await az(lines[1]!, env);
    const login = JSON.parse((await az(lines[2]!, env)).stdout) as Array<Record<string, any>>;
    assert.equal(login.length, 1);
    assert.equal(login[0]!.tenantId, lockbox.env.TENANT_ID, "a tenant-level account of Lockbox's tenant");
    assert.equal(login[0]!.environmentName, "Lockbox");
    assert.equal(login[0]!.user.assignedIdentityInfo, "MSI");
  });

  test("az account get-access-token for the vault: the vault accepts the token", async () => {
    const token = (
      await az(["account", "get-access-token", "--resource", vaultResource(), "--query", "accessToken", "-o", "tsv"], env)
    ).stdout.trim();
    const r = await raw(lockbox, { path: "/secrets?api-version=7.4", token });
    assert.equal(r.status, 200, r.text);
  });

  test("az keyvault key random", async () => {
    const runOut = await az(["keyvault", "key", "random", "--id", lockbox.vaultUrl(), "--count", "16"], env);
    const out = JSON.parse(runOut.stdout) as { value: string };
    assert.equal(Buffer.from(out.value, "base64").length, 16);
  });

  test("az rest: set and get a secret, and a 404 with Azure's error", async () => {
    const set = JSON.parse(
      (
        await az(
          [
            "rest",
            "--method",
            "put",
            "--resource",
            vaultResource(),
            "--url",
            secretUrl("from-az"),
            "--body",
            JSON.stringify({ value: "az-value" }),
          ],
          env,
        )
      ).stdout,
    ) as { id: string; value: string };
    assert.equal(set.value, "az-value");
    const got = JSON.parse((await az(["rest", "--resource", vaultResource(), "--url", secretUrl("from-az")], env)).stdout) as {
      id: string;
      value: string;
    };
    assert.equal(got.id, set.id);
    assert.equal(got.value, "az-value");
    const missing = await runAz(["rest", "--resource", vaultResource(), "--url", secretUrl("never-set")], env);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /Not Found/);
    assert.match(missing.stderr, /SecretNotFound/);
  });
});

describe("az rest through the vault API, logged in with the managed identity", () => {
  let env: Record<string, string>;
  const rest = async (method: string, path: string, body?: object): Promise<any> => {
    const url = path.startsWith("https://") ? path : `${lockbox.vaultUrl()}${path}${path.includes("?") ? "&" : "?"}api-version=7.4`;
    const args = [
      "rest",
      "--method",
      method,
      "--resource",
      vaultResource(),
      "--url",
      url,
      ...(body ? ["--body", JSON.stringify(body)] : []),
    ];
    const out = (await az(args, env)).stdout.trim();
    return out ? JSON.parse(out) : undefined;
  };
  const refused = async (method: string, path: string, body?: object): Promise<string> => {
    const url = `${lockbox.vaultUrl()}${path}?api-version=7.4`;
    const run = await runAz(
      ["rest", "--method", method, "--resource", vaultResource(), "--url", url, ...(body ? ["--body", JSON.stringify(body)] : [])],
      env,
    );
    assert.notEqual(run.code, 0, `${method} ${path} was not refused:\n${run.stdout}`);
    return run.stderr;
  };
  before(async () => {
    env = azEnv();
    const lines = azLines();
    for (const line of lines) await az(line, env);
  });

  test("rotate by hand with the old version disabled; delete, recover, purge; backup and restore into another vault", async () => {
    const first = await rest("put", "/secrets/az-rotated", { value: "one" });
    const second = await rest("put", "/secrets/az-rotated", { value: "two" });
    const firstVersion = first.id.split("/").pop();
    await rest("patch", `/secrets/az-rotated/${firstVersion}`, { attributes: { enabled: false } });
    assert.match(await refused("get", `/secrets/az-rotated/${firstVersion}`), /SecretDisabled|Forbidden/);
    assert.equal((await rest("get", "/secrets/az-rotated")).id, second.id);

    const deleted = await rest("delete", "/secrets/az-rotated");
    assert.equal(deleted.recoveryId, `${lockbox.vaultUrl()}/deletedsecrets/az-rotated`);
    assert.match(await refused("put", "/secrets/az-rotated", { value: "three" }), /ObjectIsDeletedButRecoverable|Conflict/);
    await rest("post", "/deletedsecrets/az-rotated/recover");
    assert.equal((await rest("get", "/secrets/az-rotated")).value, "two");

    const backup = await rest("post", "/secrets/az-rotated/backup");
    assert.equal(cli(["vault", "create", "az-other", "--data-dir", lockbox.dataDir]).status, 0);
    const restored = await rest("post", `${lockbox.vaultUrl("az-other")}/secrets/restore?api-version=7.4`, { value: backup.value });
    assert.equal(restored.id, `${lockbox.vaultUrl("az-other")}/secrets/az-rotated/${second.id.split("/").pop()}`);

    await rest("delete", "/secrets/az-rotated");
    await rest("delete", "/deletedsecrets/az-rotated");
    assert.match(await refused("get", "/deletedsecrets/az-rotated"), /SecretNotFound/);
  });

  test("paging through nextLink, and a 400 with Azure's error", async () => {
    for (const i of [1, 2, 3]) await rest("put", `/secrets/az-page-${i}`, { value: "x" });
    const first = await rest("get", "/secrets?maxresults=2");
    assert.equal(first.value.length, 2);
    assert.ok(first.nextLink, "a first page of two has a nextLink");
    const next = await rest("get", first.nextLink);
    assert.ok(next.value.length >= 1);
    assert.equal(new Set([...first.value, ...next.value].map((v: { id: string }) => v.id)).size, first.value.length + next.value.length);
    assert.match(await refused("put", "/secrets/az-bad", { contentType: "no value" }), /BadParameter/);
  });

  test("an RSA key: az rest signs and decrypts, node:crypto verifies and encrypts", async () => {
    const key = (await rest("post", "/keys/az-rsa/create", { kty: "RSA", key_size: 2048 })).key;
    const publicKey = createPublicKey({ key: { kty: "RSA", n: key.n, e: key.e }, format: "jwk" });
    const digest = createHash("sha256").update("signed through az").digest();
    const signed = await rest("post", `/keys/az-rsa/${key.kid.split("/").pop()}/sign`, {
      alg: "RS256",
      value: digest.toString("base64url"),
    });
    assert.ok(verify("sha256", Buffer.from("signed through az"), publicKey, Buffer.from(signed.value, "base64url")));
    const ciphertext = publicEncrypt(
      { key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" },
      Buffer.from("for the vault"),
    );
    const decrypted = await rest("post", "/keys/az-rsa/decrypt", { alg: "RSA-OAEP-256", value: ciphertext.toString("base64url") });
    assert.equal(Buffer.from(decrypted.value, "base64url").toString(), "for the vault");
  });
});

describe("az with a service principal", () => {
  test("az login --service-principal with the tenant's id; its role decides what az rest may do", async () => {
    const sp = JSON.parse(cli(["sp", "create", "az-principal", "--json", "--data-dir", lockbox.dataDir]).stdout) as {
      clientId: string;
      clientSecret: string;
    };
    const env = azEnv();
    for (const name of ["MSI_ENDPOINT", "MSI_SECRET", "APPSETTING_WEBSITE_SITE_NAME", "IDENTITY_ENDPOINT", "IDENTITY_HEADER"])
      delete env[name];
    const [register, set] = azLines();
    await az(register!, env);
    await az(set!, env);
    const login = JSON.parse(
      (
        await az(
          [
            "login",
            "--service-principal",
            "--username",
            sp.clientId,
            `--password=${sp.clientSecret}`,
            "--tenant",
            lockbox.env.TENANT_ID,
            "--allow-no-subscriptions",
          ],
          env,
        )
      ).stdout,
    ) as Array<Record<string, any>>;
    assert.equal(login[0]!.user.name, sp.clientId);
    assert.equal(login[0]!.user.type, "servicePrincipal");

    // The secret the managed identity's test set: refused until a role is assigned, then readable, not writable.
    const refused = await runAz(["rest", "--resource", vaultResource(), "--url", secretUrl("from-az")], env);
    assert.notEqual(refused.code, 0, "no role yet");
    assert.match(refused.stderr, /Forbidden/);
    assignRole(lockbox.dataDir, "az-principal", "Key Vault Secrets User");
    const got = JSON.parse((await az(["rest", "--resource", vaultResource(), "--url", secretUrl("from-az")], env)).stdout) as {
      value: string;
    };
    assert.equal(got.value, "az-value");
    const put = await runAz(
      ["rest", "--method", "put", "--resource", vaultResource(), "--url", secretUrl("sp-set"), "--body", '{"value":"x"}'],
      env,
    );
    assert.notEqual(put.code, 0, "a Secrets User cannot set");
    assert.match(put.stderr, /Forbidden/);
  });
});

describe("what az asks, on the wire", () => {
  test("the cloud metadata, also with az's double slash: an /adfs login endpoint and the vault's resource among the audiences", async () => {
    for (const path of ["//metadata/endpoints?api-version=2015-01-01", "/metadata/endpoints?api-version=2015-01-01"]) {
      const r = await raw(lockbox, { path });
      assert.equal(r.status, 200, `${path}: ${r.text}`);
      assert.equal(r.json.authentication.loginEndpoint, `https://localhost:${lockbox.port}/adfs`);
      assert.ok(r.json.authentication.audiences.includes(vaultResource()), JSON.stringify(r.json));
    }
  });

  test("subscriptions and tenants need a token of this instance; there are no subscriptions", async () => {
    const none = await raw(lockbox, { path: "/subscriptions?api-version=2019-11-01" });
    assert.equal(none.status, 401);
    assert.equal(none.json.error.code, "InvalidAuthenticationToken");
    const forged = await raw(lockbox, { path: "/subscriptions?api-version=2019-11-01", token: "a.b.c" });
    assert.equal(forged.status, 401);
    const token = JSON.parse(
      (
        await raw(lockbox, {
          path: `/msi/token?api-version=2019-08-01&resource=${encodeURIComponent(`https://localhost:${lockbox.port}/`)}`,
          headers: { "x-identity-header": lockbox.env.IDENTITY_HEADER },
        })
      ).text,
    ).access_token as string;
    const subscriptions = await raw(lockbox, { path: "/subscriptions?api-version=2019-11-01", token });
    assert.equal(subscriptions.status, 200, subscriptions.text);
    assert.deepEqual(subscriptions.json, { value: [] });
    const tenants = await raw(lockbox, { path: "/tenants?api-version=2019-11-01", token });
    assert.equal(tenants.json.value[0].tenantId, lockbox.env.TENANT_ID);
    // A token for Resource Manager is not one for the vault.
    const vault = await raw(lockbox, { path: "/secrets?api-version=7.4", token });
    assert.equal(vault.status, 401);
  });

  test("the 2017-09-01 managed identity protocol: header secret, trailing slash, expires_on as a date", async () => {
    const path = `/msi/token/?resource=${encodeURIComponent(vaultResource())}&api-version=2017-09-01`;
    const r = await raw(lockbox, { path, headers: { secret: lockbox.env.IDENTITY_HEADER } });
    assert.equal(r.status, 200, r.text);
    assert.match(r.json.expires_on, /^\d\d\/\d\d\/\d{4} \d\d:\d\d:\d\d \+00:00$/);
    const expires = Date.parse(r.json.expires_on.replace(/^(\d\d)\/(\d\d)\/(\d{4}) (.*) \+00:00$/, "$3-$1-$2T$4Z"));
    assert.ok(Math.abs(expires - Date.now() - 3600_000) < 600_000, `expires_on ${r.json.expires_on} is about an hour ahead`);
    const used = await raw(lockbox, { path: "/secrets?api-version=7.4", token: r.json.access_token });
    assert.equal(used.status, 200, used.text);
    const wrong = await raw(lockbox, { path, headers: { secret: "not-the-secret" } });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.json.error, "invalid_client");
  });
});

import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { ClientSecretCredential, DefaultAzureCredential } from "@azure/identity";
import { CryptographyClient, KeyClient } from "@azure/keyvault-keys";
import { SecretClient } from "@azure/keyvault-secrets";
import { decodeJwt, generateKeyPair, SignJWT } from "jose";
import { operation } from "../../src/authz/operations.ts";
import { BUILT_IN_ROLES, roleGrants } from "../../src/authz/roles.ts";
import { developerToken, raw, type RawResponse } from "../helpers/http.ts";
import { cli, cliAsync, type Lockbox, removeDataDir, serveForFile, startLockbox } from "../helpers/server.ts";
import { runProgram } from "../helpers/program.ts";
import { eventually, readingThrough, seenNext } from "../helpers/wait.ts";

// Access control (issue 5): Azure RBAC roles and access policies on every operation, seen
// through the official SDKs with credentials obtained as users obtain them. In this process
// the developer identity (a Lockbox administrator) uses DefaultAzureCredential; every other
// caller is a service principal with its own ClientSecretCredential (MSAL keeps one cache of
// managed identity tokens per process), and the one other managed identity runs as its own
// program (test/fixtures/authz-app.mjs).
let lockbox: Lockbox;
let authorityHost: string;
let developerOid: string;
let developer: { secrets: SecretClient; keys: KeyClient };
const SCOPE = "https://vault.localhost/.default";

serveForFile({}, async (started) => {
  lockbox = started;
  authorityHost = `https://127.0.0.1:${lockbox.port}`;
  developerOid = String(decodeJwt(await developerToken(lockbox)).oid);
  const credential = new DefaultAzureCredential();
  developer = { secrets: new SecretClient(lockbox.vaultUrl(), credential), keys: new KeyClient(lockbox.vaultUrl(), credential) };
});

interface Sp {
  name: string;
  objectId: string;
  clientId: string;
  clientSecret: string;
  tenantId: string;
}

/** `lockbox ARGS --data-dir DIR`, which must succeed; its stdout. */
function lockboxCli(...args: string[]): string {
  const r = cli([...args, "--data-dir", lockbox.dataDir]);
  assert.equal(r.status, 0, `lockbox ${args.join(" ")} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/**
 * lockboxCli in a process of its own while `read` is sent to the server again and again
 * (readingThrough): the change is then seen by the server's next request, if at all, because
 * it was committed, not because a cache happened to expire meanwhile.
 */
async function lockboxCliWhileReading(read: () => Promise<unknown>, ...args: string[]): Promise<string> {
  const r = await readingThrough(cliAsync([...args, "--data-dir", lockbox.dataDir]), read);
  assert.equal(r.status, 0, `lockbox ${args.join(" ")} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

function createSp(name: string): Sp {
  return JSON.parse(lockboxCli("sp", "create", name, "--json")) as Sp;
}

function assignRole(assignee: string, role: string, options: { vault?: string; scope?: string } = {}): void {
  lockboxCli(
    "role",
    "assign",
    "--vault",
    options.vault ?? "default",
    "--assignee",
    assignee,
    "--role",
    role,
    ...(options.scope ? ["--scope", options.scope] : []),
  );
}

const credentialOf = (sp: Sp, secret = sp.clientSecret): ClientSecretCredential =>
  new ClientSecretCredential(sp.tenantId, sp.clientId, secret, { authorityHost, disableInstanceDiscovery: true });

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

interface Denial {
  inner: "ForbiddenByRbac" | "ForbiddenByPolicy";
  caller: Sp;
  vault: string;
  /** The RBAC data action the message must name. */
  action?: string;
  /** A phrase the message must contain. */
  phrase?: string;
}

/** Azure's denial message: it names the caller, the action (RBAC) or permission (policy), and the vault. */
function checkDenialMessage(message: string, d: Denial, label: string): void {
  assert.ok(
    message.includes(d.caller.objectId) || message.includes(d.caller.name),
    `${label}: the message does not name the caller ${d.caller.name} (${d.caller.objectId}): ${message}`,
  );
  if (d.action) assert.ok(message.includes(d.action), `${label}: the message does not name the action ${d.action}: ${message}`);
  if (d.phrase) assert.ok(message.includes(d.phrase), `${label}: the message does not say "${d.phrase}": ${message}`);
  assert.ok(new RegExp(`\\b${escape(d.vault)}\\b`).test(message), `${label}: the message does not name the vault ${d.vault}: ${message}`);
}

/**
 * A denial as the SDK sees Azure's: RestError 403 with code Forbidden, the inner code and a
 * message naming caller, action and vault. The SDK's pagers throw their own "Pagination
 * failed" RestError, keeping only status and code, whatever the service said; for them the
 * body on the wire is checked through `wire` (the same request, sent raw with the caller's token).
 */
async function assertDenied(p: Promise<unknown>, d: Denial, label: string, wire?: () => Promise<RawResponse>): Promise<void> {
  let paged = false;
  await assert.rejects(p, (e) => {
    const err = e as { name?: string; statusCode?: number; code?: string; message?: string; details?: any };
    assert.equal(err?.name, "RestError", `${label}: not a RestError: ${String(e)}`);
    assert.equal(err.statusCode, 403, `${label}: ${err.message}`);
    assert.equal(err.code, "Forbidden", `${label}: ${err.message}`);
    paged = /^Pagination failed/.test(err.message ?? "");
    if (!paged) {
      assert.equal(err.details?.error?.innerError?.code, d.inner, `${label}: ${JSON.stringify(err.details)}`);
      checkDenialMessage(err.message ?? "", d, label);
    }
    return true;
  });
  if (paged) {
    assert.ok(wire, `${label}: a pager's denial, and no raw request to see the body`);
    const r = await wire();
    assert.equal(r.status, 403, `${label} (raw): ${r.text}`);
    assert.equal(r.json?.error?.code, "Forbidden", `${label} (raw): ${r.text}`);
    assert.equal(r.json?.error?.innererror?.code, d.inner, `${label} (raw): ${r.text}`);
    checkDenialMessage(String(r.json?.error?.message), d, `${label} (raw)`);
  }
}

/** The request a pager sends first, sent raw with the credential's token. */
const listRaw =
  (credential: ClientSecretCredential, collection: "secrets" | "keys", vault = "default") =>
  async (): Promise<RawResponse> =>
    raw(lockbox, {
      path: `/${collection}?api-version=7.6`,
      host: `${vault}.vault.localhost:${lockbox.port}`,
      token: (await credential.getToken(SCOPE)).token,
    });

/** 401 with a fresh Key Vault challenge, as Lockbox answers a token it does not accept. */
function assertUnauthorized(r: RawResponse, label: string): void {
  assert.equal(r.status, 401, `${label}: ${r.status} ${r.text}`);
  assert.equal(r.json?.error?.code, "Unauthorized", `${label}: ${r.text}`);
  const challenge = r.headers["www-authenticate"];
  assert.equal(typeof challenge, "string", `${label}: no WWW-Authenticate header`);
  assert.equal(
    challenge,
    `Bearer authorization="https://localhost:${lockbox.port}/${lockbox.env.TENANT_ID}", resource="https://vault.localhost:${lockbox.port}"`,
    label,
  );
}

const getSecretRaw = (token: string, name: string): Promise<RawResponse> =>
  raw(lockbox, { path: `/secrets/${name}?api-version=7.6`, token });

describe("the role matrix: every built-in role by SDK operations, allowed exactly when the role's data actions grant the operation's", () => {
  const ROLES = Object.keys(BUILT_IN_ROLES);
  const slugOf = (role: string): string =>
    role
      .replace(/^Key Vault /, "")
      .toLowerCase()
      .replaceAll(" ", "-");

  interface Actor {
    sp: Sp;
    slug: string;
    credential: ClientSecretCredential;
    secrets: SecretClient;
    keys: KeyClient;
    crypto: CryptographyClient;
  }
  const actors = new Map<string, Actor>();
  const fixture: { secretVersion: string; keyId: string; ciphertext: Uint8Array; plaintext: Buffer } = {
    secretVersion: "",
    keyId: "",
    ciphertext: new Uint8Array(),
    plaintext: Buffer.from("the matrix plaintext"),
  };

  const OPS: Array<{
    call: string;
    operation: string;
    run: (a: Actor) => Promise<unknown>;
    wire?: (a: Actor) => () => Promise<RawResponse>;
  }> = [
    { call: "setSecret", operation: "SecretSet", run: (a) => a.secrets.setSecret(`m-set-${a.slug}`, "set-by-matrix") },
    {
      call: "getSecret",
      operation: "SecretGet",
      run: async (a) =>
        assert.equal((await a.secrets.getSecret("m-shared")).value, "matrix-shared-value", "getSecret returned another value"),
    },
    {
      call: "listPropertiesOfSecrets",
      operation: "SecretList",
      run: (a) => a.secrets.listPropertiesOfSecrets().byPage().next(),
      wire: (a) => listRaw(a.credential, "secrets"),
    },
    {
      call: "updateSecretProperties",
      operation: "SecretUpdate",
      run: (a) => a.secrets.updateSecretProperties("m-shared", fixture.secretVersion, { tags: { by: a.slug } }),
    },
    { call: "beginDeleteSecret", operation: "SecretDelete", run: (a) => a.secrets.beginDeleteSecret(`m-del-${a.slug}`) },
    { call: "purgeDeletedSecret", operation: "SecretPurge", run: (a) => a.secrets.purgeDeletedSecret(`m-purge-${a.slug}`) },
    { call: "backupSecret", operation: "SecretBackup", run: (a) => a.secrets.backupSecret("m-shared") },
    { call: "createKey", operation: "KeyCreate", run: (a) => a.keys.createKey(`m-create-${a.slug}`, "EC") },
    { call: "getKey", operation: "KeyGet", run: (a) => a.keys.getKey("m-rsa") },
    {
      call: "listPropertiesOfKeys",
      operation: "KeyList",
      run: (a) => a.keys.listPropertiesOfKeys().byPage().next(),
      wire: (a) => listRaw(a.credential, "keys"),
    },
    {
      call: "CryptographyClient.encrypt",
      operation: "KeyEncrypt",
      run: (a) => a.crypto.encrypt({ algorithm: "RSA-OAEP-256", plaintext: fixture.plaintext }),
    },
    {
      call: "CryptographyClient.decrypt",
      operation: "KeyDecrypt",
      run: async (a) => {
        const r = await a.crypto.decrypt({ algorithm: "RSA-OAEP-256", ciphertext: fixture.ciphertext });
        assert.equal(Buffer.from(r.result).toString(), fixture.plaintext.toString(), "decrypt returned another plaintext");
      },
    },
    {
      call: "CryptographyClient.sign",
      operation: "KeySign",
      run: (a) => a.crypto.sign("RS256", createHash("sha256").update("matrix").digest()),
    },
    { call: "CryptographyClient.wrapKey", operation: "KeyWrap", run: (a) => a.crypto.wrapKey("RSA-OAEP-256", randomBytes(32)) },
    { call: "rotateKey", operation: "KeyRotate", run: (a) => a.keys.rotateKey(`m-rot-${a.slug}`) },
    { call: "getKeyRotationPolicy", operation: "KeyGetRotationPolicy", run: (a) => a.keys.getKeyRotationPolicy(`m-rot-${a.slug}`) },
    {
      call: "updateKeyRotationPolicy",
      operation: "KeyUpdateRotationPolicy",
      run: (a) =>
        a.keys.updateKeyRotationPolicy(`m-rot-${a.slug}`, {
          expiresIn: "P90D",
          lifetimeActions: [{ action: "Rotate", timeAfterCreate: "P30D" }],
        }),
    },
  ];

  before(async () => {
    const secret = await developer.secrets.setSecret("m-shared", "matrix-shared-value");
    fixture.secretVersion = secret.properties.version!;
    const key = await developer.keys.createRsaKey("m-rsa", { keySize: 2048 });
    fixture.keyId = key.id!;
    const encrypted = await new CryptographyClient(fixture.keyId, new DefaultAzureCredential()).encrypt({
      algorithm: "RSA-OAEP-256",
      plaintext: fixture.plaintext,
    });
    fixture.ciphertext = encrypted.result;

    for (const role of ROLES) {
      const slug = slugOf(role);
      const sp = createSp(`matrix-${slug}`);
      assignRole(sp.name, role);
      const credential = credentialOf(sp);
      actors.set(role, {
        sp,
        slug,
        credential,
        secrets: new SecretClient(lockbox.vaultUrl(), credential),
        keys: new KeyClient(lockbox.vaultUrl(), credential),
        // The versioned id: rotations in the matrix must not change the key decrypt uses.
        crypto: new CryptographyClient(fixture.keyId, credential),
      });
      await developer.secrets.setSecret(`m-del-${slug}`, "to be deleted");
      await developer.secrets.setSecret(`m-purge-${slug}`, "to be purged");
      await (await developer.secrets.beginDeleteSecret(`m-purge-${slug}`, { intervalInMs: 100 })).pollUntilDone();
      await developer.keys.createEcKey(`m-rot-${slug}`);
    }
  });

  test("the roles are Azure's ten built-in Key Vault data-plane roles", () => {
    assert.deepEqual([...ROLES].sort(), [
      "Key Vault Administrator",
      "Key Vault Certificate User",
      "Key Vault Certificates Officer",
      "Key Vault Crypto Officer",
      "Key Vault Crypto Service Encryption User",
      "Key Vault Crypto Service Release User",
      "Key Vault Crypto User",
      "Key Vault Reader",
      "Key Vault Secrets Officer",
      "Key Vault Secrets User",
    ]);
  });

  for (const role of ROLES) {
    for (const op of OPS) {
      const action = operation(op.operation).dataAction;
      const allowed = roleGrants(role, action);
      test(`${role} ${allowed ? "may" : "may not"} ${op.call} (${action})`, async () => {
        const actor = actors.get(role);
        assert.ok(actor, `no service principal for ${role}`);
        const label = `${role} ${op.call}`;
        if (allowed) await op.run(actor);
        else
          await assertDenied(
            op.run(actor),
            { inner: "ForbiddenByRbac", caller: actor.sp, action, vault: "default" },
            label,
            op.wire?.(actor),
          );
      });
    }
  }

  test("what a user knows: Secrets User reads a secret and lists secrets (readMetadata) but cannot set one; Reader lists but cannot read a value", async () => {
    assert.equal(operation("SecretList").dataAction, "Microsoft.KeyVault/vaults/secrets/readMetadata/action");
    assert.equal(operation("SecretGet").dataAction, "Microsoft.KeyVault/vaults/secrets/getSecret/action");

    const user = actors.get("Key Vault Secrets User");
    const reader = actors.get("Key Vault Reader");
    assert.ok(user && reader, "the matrix made no Secrets User or Reader");

    assert.equal((await user.secrets.getSecret("m-shared")).value, "matrix-shared-value");
    const listedByUser: string[] = [];
    for await (const p of user.secrets.listPropertiesOfSecrets()) listedByUser.push(p.name);
    assert.ok(listedByUser.includes("m-shared"), `Secrets User's list lacks m-shared: ${listedByUser.join(", ")}`);
    await assertDenied(
      user.secrets.setSecret("m-shared", "overwritten"),
      { inner: "ForbiddenByRbac", caller: user.sp, action: "Microsoft.KeyVault/vaults/secrets/setSecret/action", vault: "default" },
      "Secrets User setSecret",
    );

    const listedByReader: string[] = [];
    for await (const p of reader.secrets.listPropertiesOfSecrets()) listedByReader.push(p.name);
    assert.ok(listedByReader.includes("m-shared"), `Reader's list lacks m-shared: ${listedByReader.join(", ")}`);
    await assertDenied(
      reader.secrets.getSecret("m-shared"),
      { inner: "ForbiddenByRbac", caller: reader.sp, action: "Microsoft.KeyVault/vaults/secrets/getSecret/action", vault: "default" },
      "Reader getSecret",
    );
    assert.equal((await developer.secrets.getSecret("m-shared")).value, "matrix-shared-value", "the denied setSecret changed the value");
  });
});

describe("a role assigned at single-secret scope", () => {
  test("grants exactly that secret: not another one, and not the list", async () => {
    await developer.secrets.setSecret("one", "value-one");
    await developer.secrets.setSecret("two", "value-two");
    const sp = createSp("scoped");
    assignRole(sp.name, "Key Vault Secrets User", { scope: "/secrets/one" });
    const credential = credentialOf(sp);
    const client = new SecretClient(lockbox.vaultUrl(), credential);

    assert.equal((await client.getSecret("one")).value, "value-one");
    await assertDenied(
      client.getSecret("two"),
      { inner: "ForbiddenByRbac", caller: sp, action: operation("SecretGet").dataAction, vault: "default" },
      "getSecret two",
    );
    await assertDenied(
      client.listPropertiesOfSecrets().byPage().next(),
      { inner: "ForbiddenByRbac", caller: sp, action: operation("SecretList").dataAction, vault: "default" },
      "listPropertiesOfSecrets",
      listRaw(credential, "secrets"),
    );
    await assertDenied(
      client.setSecret("one", "changed"),
      { inner: "ForbiddenByRbac", caller: sp, action: operation("SecretSet").dataAction, vault: "default" },
      "setSecret one",
    );
  });
});

describe("a vault using access policies", () => {
  test("permissions by name; then `vault authorization ap-vault rbac` makes roles count and the policy not", async () => {
    lockboxCli("vault", "create", "ap-vault", "--access-policies");
    const url = lockbox.vaultUrl("ap-vault");
    const admin = new DefaultAzureCredential();
    await new SecretClient(url, admin).setSecret("ap-secret", "ap-value");
    await new KeyClient(url, admin).createEcKey("ap-key");

    const sp = createSp("ap-app");
    lockboxCli(
      "policy",
      "set",
      "--vault",
      "ap-vault",
      "--assignee",
      "ap-app",
      "--secret-permissions",
      "get",
      "list",
      "--key-permissions",
      "get",
      "--certificate-permissions",
      "Get",
      "list",
      "ManageContacts",
    );
    // Certificate permissions are kept with the others, in Azure's spelling whatever the case given.
    const [listed] = JSON.parse(lockboxCli("policy", "list", "--vault", "ap-vault", "--json")) as { certificates: string[] }[];
    assert.deepEqual(listed!.certificates, ["get", "list", "managecontacts"]);
    const wrong = cli([
      "policy",
      "set",
      "--vault",
      "ap-vault",
      "--assignee",
      "ap-app",
      "--certificate-permissions",
      "sign",
      "--data-dir",
      lockbox.dataDir,
    ]);
    assert.notEqual(wrong.status, 0, "sign is no certificate permission");
    assert.match(wrong.stderr, /'sign' is not a certificates permission/);
    // A role on a vault that uses access policies would count for nothing: it is refused.
    const refused = cli([
      "role",
      "assign",
      "--vault",
      "ap-vault",
      "--assignee",
      "ap-app",
      "--role",
      "Key Vault Secrets Officer",
      "--data-dir",
      lockbox.dataDir,
    ]);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /uses access policies/);
    const credential = credentialOf(sp);
    const secrets = new SecretClient(url, credential);
    const keys = new KeyClient(url, credential);
    const byPolicy = (phrase: string): Denial => ({ inner: "ForbiddenByPolicy", caller: sp, vault: "ap-vault", phrase });

    assert.equal((await secrets.getSecret("ap-secret")).value, "ap-value");
    const names: string[] = [];
    for await (const p of secrets.listPropertiesOfSecrets()) names.push(p.name);
    assert.deepEqual(names, ["ap-secret"]);
    await assertDenied(
      secrets.setSecret("ap-secret", "changed"),
      byPolicy("does not have secrets set permission"),
      "setSecret under a policy of get, list",
    );
    await assertDenied(
      secrets.beginDeleteSecret("ap-secret"),
      byPolicy("does not have secrets delete permission"),
      "beginDeleteSecret under a policy of get, list",
    );

    assert.equal((await keys.getKey("ap-key")).name, "ap-key");
    await assertDenied(
      keys.createEcKey("ap-key-2"),
      byPolicy("does not have keys create permission"),
      "createKey under a key policy of get",
    );
    await assertDenied(
      keys.listPropertiesOfKeys().byPage().next(),
      byPolicy("does not have keys list permission"),
      "listPropertiesOfKeys under a key policy of get",
      listRaw(credential, "keys", "ap-vault"),
    );

    lockboxCli("vault", "authorization", "ap-vault", "rbac");
    assignRole("ap-app", "Key Vault Secrets Officer", { vault: "ap-vault" });
    // Secrets Officer now counts (setSecret works); the policy's keys get no longer does.
    await seenNext("setSecret by the Secrets Officer role after the switch to RBAC", () =>
      secrets.setSecret("ap-secret", "set-under-rbac"),
    );
    await assertDenied(
      keys.getKey("ap-key"),
      { inner: "ForbiddenByRbac", caller: sp, action: operation("KeyGet").dataAction, vault: "ap-vault" },
      "getKey after the switch to RBAC",
    );
    assert.equal((await new SecretClient(url, admin).getSecret("ap-secret")).value, "set-under-rbac");
  });
});

describe("changes to access are enforced", () => {
  // A CLI command is another process: the server's next request sees what it changed
  // (seenNext), while the server was serving the same caller all along.
  test("role remove: the role stops counting at the next request", async () => {
    await developer.secrets.setSecret("revocable", "revocable-value");
    const sp = createSp("revoked");
    assignRole(sp.name, "Key Vault Secrets User");
    const client = new SecretClient(lockbox.vaultUrl(), credentialOf(sp));
    assert.equal((await client.getSecret("revocable")).value, "revocable-value");

    await lockboxCliWhileReading(() => client.getSecret("revocable"), "role", "remove", "--vault", "default", "--assignee", "revoked");
    await seenNext("getSecret is refused after role remove", () =>
      assertDenied(
        client.getSecret("revocable"),
        { inner: "ForbiddenByRbac", caller: sp, action: operation("SecretGet").dataAction, vault: "default" },
        "after role remove",
      ),
    );
  });

  test("sp disable: its token gets 401 at the next request and it gets no new one; sp enable restores it", async () => {
    await developer.secrets.setSecret("for-disabled", "disabled-value");
    const sp = createSp("disabled-app");
    assignRole(sp.name, "Key Vault Secrets User");
    const token = (await credentialOf(sp).getToken(SCOPE)).token;
    const ok = await getSecretRaw(token, "for-disabled");
    assert.equal(ok.status, 200, ok.text);

    await lockboxCliWhileReading(() => getSecretRaw(token, "for-disabled"), "sp", "disable", "disabled-app");
    await seenNext("the disabled identity's token is refused", async () =>
      assertUnauthorized(await getSecretRaw(token, "for-disabled"), "disabled"),
    );
    await assert.rejects(credentialOf(sp).getToken(SCOPE), /invalid_client/, "a disabled service principal got a new token");
    await assert.rejects(
      new SecretClient(lockbox.vaultUrl(), credentialOf(sp)).getSecret("for-disabled"),
      "a disabled service principal read a secret",
    );

    await lockboxCliWhileReading(() => getSecretRaw(token, "for-disabled"), "sp", "enable", "disabled-app");
    await seenNext("the enabled identity reads again", async () => {
      const r = await getSecretRaw(token, "for-disabled");
      assert.equal(r.status, 200, r.text);
    });
    assert.equal((await new SecretClient(lockbox.vaultUrl(), credentialOf(sp)).getSecret("for-disabled")).value, "disabled-value");
  });

  test("sp delete: it goes with its role assignments, and its token stops working at the next request", async () => {
    await developer.secrets.setSecret("for-deleted", "deleted-value");
    const sp = createSp("deleted-app");
    assignRole(sp.name, "Key Vault Secrets User");
    const assignmentsOf = (): Array<{ principal: string }> =>
      (JSON.parse(lockboxCli("role", "list", "--vault", "default", "--json")) as Array<{ principal: string }>).filter(
        (a) => a.principal === sp.objectId,
      );
    assert.equal(assignmentsOf().length, 1, "the assignment is not listed");
    const token = (await credentialOf(sp).getToken(SCOPE)).token;
    assert.equal((await getSecretRaw(token, "for-deleted")).status, 200);

    await lockboxCliWhileReading(() => getSecretRaw(token, "for-deleted"), "sp", "delete", "deleted-app", "--yes");
    await seenNext("the deleted identity's token is refused", async () =>
      assertUnauthorized(await getSecretRaw(token, "for-deleted"), "deleted"),
    );
    assert.deepEqual(assignmentsOf(), [], "the deleted identity's role assignments remain");
    const listed = JSON.parse(lockboxCli("sp", "list", "--json")) as Array<{ id: string }>;
    assert.ok(!listed.some((x) => x.id === sp.objectId), "the deleted service principal is still listed");
    await assert.rejects(credentialOf(sp).getToken(SCOPE), /invalid_client/, "a deleted service principal got a new token");
  });

  test("sp rotate: the old client secret gets no token, the new one does", async () => {
    await developer.secrets.setSecret("for-rotated", "rotated-value");
    const sp = createSp("rotated-app");
    assignRole(sp.name, "Key Vault Secrets User");
    assert.equal((await new SecretClient(lockbox.vaultUrl(), credentialOf(sp)).getSecret("for-rotated")).value, "rotated-value");

    const rotated = JSON.parse(lockboxCli("sp", "rotate", "rotated-app", "--json")) as Sp;
    assert.equal(rotated.clientId, sp.clientId, "rotation changed the client id");
    assert.notEqual(rotated.clientSecret, sp.clientSecret, "rotation kept the client secret");
    await assert.rejects(credentialOf(sp).getToken(SCOPE), /invalid_client/, "the old client secret still gets a token");
    const fresh = credentialOf(sp, rotated.clientSecret);
    assert.equal(decodeJwt((await fresh.getToken(SCOPE)).token).oid, sp.objectId);
    assert.equal((await new SecretClient(lockbox.vaultUrl(), fresh).getSecret("for-rotated")).value, "rotated-value");
  });
});

describe("tokens Lockbox does not accept get 401 with a challenge", () => {
  const presented = (token: string): Promise<RawResponse> => raw(lockbox, { path: "/secrets?api-version=7.6", token });

  test("a valid developer token is accepted (the control)", async () => {
    const r = await presented(await developerToken(lockbox));
    assert.equal(r.status, 200, r.text);
  });

  test("a tampered token", async () => {
    const token = await developerToken(lockbox);
    const [h, p, s] = token.split(".") as [string, string, string];
    const claims = decodeJwt(token);
    const forged = Buffer.from(JSON.stringify({ ...claims, name: "someone-else" })).toString("base64url");
    assert.notEqual(forged, p);
    assertUnauthorized(await presented(`${h}.${forged}.${s}`), "tampered payload");
    const i = Math.floor(s.length / 2);
    assertUnauthorized(await presented(`${h}.${p}.${s.slice(0, i)}${s[i] === "A" ? "B" : "A"}${s.slice(i + 1)}`), "tampered signature");
  });

  test("a token for another audience", async () => {
    const token = await developerToken(lockbox, "https://management.azure.com");
    assert.equal(decodeJwt(token).aud, "https://management.azure.com");
    assertUnauthorized(await presented(token), "wrong audience");
  });

  test("expired and not-yet-valid tokens signed by a key of another instance", async () => {
    const { privateKey } = await generateKeyPair("ES256");
    const now = Math.floor(Date.now() / 1000);
    const sign = (iat: number, nbf: number, exp: number): Promise<string> =>
      new SignJWT({ tid: lockbox.env.TENANT_ID, oid: developerOid, appid: "someone", name: "developer" })
        .setProtectedHeader({ alg: "ES256", typ: "JWT", kid: "another-instance" })
        .setIssuer(`https://localhost:${lockbox.port}/${lockbox.env.TENANT_ID}/v2.0`)
        .setAudience("https://vault.localhost")
        .setSubject(developerOid)
        .setIssuedAt(iat)
        .setNotBefore(nbf)
        .setExpirationTime(exp)
        .sign(privateKey);
    assertUnauthorized(await presented(await sign(now - 7200, now - 7200, now - 3600)), "expired");
    assertUnauthorized(await presented(await sign(now, now + 3600, now + 7200)), "not yet valid");
  });

  test("a token issued by another Lockbox instance", async () => {
    const other = await startLockbox();
    try {
      const r = await raw(other, {
        path: `/msi/token?api-version=2019-08-01&resource=${encodeURIComponent("https://vault.localhost")}`,
        headers: { "x-identity-header": other.env.IDENTITY_HEADER },
      });
      assert.equal(r.status, 200, r.text);
      const token = r.json.access_token as string;
      const there = await raw(other, { path: "/secrets?api-version=7.6", token });
      assert.equal(there.status, 200, `the other instance refuses its own token: ${there.text}`);
      assertUnauthorized(await presented(token), "another instance's token");
    } finally {
      await other.stop();
      removeDataDir(other.dataDir);
    }
  });
});

describe("two applications share one vault", () => {
  test("A (service principal, Secrets User) reads what B (managed identity in its own program, Secrets Officer) sets; each does exactly what its role allows", async () => {
    const appA = createSp("app-a");
    assignRole("app-a", "Key Vault Secrets User");
    const appB = JSON.parse(lockboxCli("identity", "create", "app-b", "--json")) as { objectId: string; identityHeader: string };
    assignRole("app-b", "Key Vault Secrets Officer");

    const env = JSON.parse(lockboxCli("env", "--json")) as Record<string, string>;
    assert.ok(
      env.NODE_EXTRA_CA_CERTS && env.IDENTITY_ENDPOINT && env.KEYVAULT_URL,
      `lockbox env --json lacks a variable: ${JSON.stringify(env)}`,
    );
    const run = await runProgram("authz-app.mjs", ["shared-setting", "set-by-app-b", "app-b-key"], {
      ...env,
      IDENTITY_HEADER: appB.identityHeader,
    });
    assert.equal(run.code, 0, `authz-app.mjs failed:\n${run.stdout}\n${run.stderr}`);
    const event = (name: string): Record<string, any> => {
      const found = run.events.filter((e) => e.event === name);
      assert.equal(found.length, 1, `expected one "${name}" line:\n${run.stdout}\n${run.stderr}`);
      return found[0]!;
    };
    assert.equal(event("identity").oid, appB.objectId, "app B's program did not run as app B");
    assert.equal(event("set").ok, true, `B could not set: ${JSON.stringify(event("set"))}`);
    assert.equal(event("get").value, "set-by-app-b");
    const createKey = event("createKey");
    assert.equal(createKey.ok, false, "a Secrets Officer created a key");
    assert.deepEqual(
      { name: createKey.name, statusCode: createKey.statusCode, code: createKey.code, innerCode: createKey.innerCode },
      { name: "RestError", statusCode: 403, code: "Forbidden", innerCode: "ForbiddenByRbac" },
    );
    assert.ok(String(createKey.message).includes(appB.objectId), `B's denial does not name B: ${String(createKey.message)}`);

    const a = new SecretClient(lockbox.vaultUrl(), credentialOf(appA));
    const read = await a.getSecret("shared-setting");
    assert.equal(read.value, "set-by-app-b");
    assert.equal(read.properties.version, event("set").version);
    await assertDenied(
      a.setSecret("shared-setting", "set-by-app-a"),
      { inner: "ForbiddenByRbac", caller: appA, action: operation("SecretSet").dataAction, vault: "default" },
      "app A setSecret",
    );
    assert.equal((await a.getSecret("shared-setting")).value, "set-by-app-b", "A's denied write changed the secret");
  });
});

describe("the admin API acts only within the vault in its path", () => {
  test("a role assignment or event subscription of the vault default cannot be deleted through the vault other: 404, and it stays", async () => {
    const made = cli(["vault", "create", "otheradmin", "--data-dir", lockbox.dataDir]);
    assert.equal(made.status, 0, made.stderr);
    const admin = await developerToken(lockbox);
    createSp("kept-assignee");
    const assigned = await raw(lockbox, {
      method: "POST",
      path: "/lockbox/v1/vaults/default/roleassignments",
      token: admin,
      body: { assignee: "kept-assignee", role: "Key Vault Reader" },
    });
    assert.equal(assigned.status, 201, assigned.text);
    const subscribed = await raw(lockbox, {
      method: "POST",
      path: "/lockbox/v1/vaults/default/subscriptions",
      token: admin,
      body: { endpoint: "https://127.0.0.1:9/hook" },
    });
    assert.equal(subscribed.status, 201, subscribed.text);

    for (const [collection, id] of [
      ["roleassignments", assigned.json.id],
      ["subscriptions", subscribed.json.id],
    ] as const) {
      const across = await raw(lockbox, { method: "DELETE", path: `/lockbox/v1/vaults/otheradmin/${collection}/${id}`, token: admin });
      assert.equal(across.status, 404, `${collection}: ${across.text}`);
      const listed = await raw(lockbox, { path: `/lockbox/v1/vaults/default/${collection}`, token: admin });
      assert.ok(
        (listed.json.value as Array<{ id: string }>).some((x) => x.id === id),
        `${collection}: deleted through another vault's path`,
      );
      const own = await raw(lockbox, { method: "DELETE", path: `/lockbox/v1/vaults/default/${collection}/${id}`, token: admin });
      assert.equal(own.status, 204, `${collection}: ${own.text}`);
    }
  });
});

describe("the admin API needs a Lockbox administrator", () => {
  test("a service principal's token gets 403; the developer lists, creates an identity and assigns it a role, and its token then works", async () => {
    await developer.secrets.setSecret("for-api-made", "api-made-value");
    const sp = createSp("not-an-admin");
    assignRole(sp.name, "Key Vault Administrator");
    const spToken = (await credentialOf(sp).getToken(SCOPE)).token;
    const refused = await raw(lockbox, { path: "/lockbox/v1/identities", token: spToken });
    assert.equal(refused.status, 403, `a Key Vault Administrator that is no Lockbox administrator used the admin API: ${refused.text}`);
    assert.equal(refused.json?.error?.code, "Forbidden", refused.text);

    const admin = await developerToken(lockbox);
    const listed = await raw(lockbox, { path: "/lockbox/v1/identities", token: admin });
    assert.equal(listed.status, 200, listed.text);
    const ids = (listed.json.value as Array<{ id: string }>).map((x) => x.id);
    assert.ok(ids.includes(developerOid) && ids.includes(sp.objectId), `the identities list lacks the developer or the SP: ${listed.text}`);
    assert.ok(!listed.text.includes(sp.clientSecret), "the identities list shows a client secret");

    const made = await raw(lockbox, {
      method: "POST",
      path: "/lockbox/v1/identities",
      token: admin,
      body: { name: "api-made", kind: "managed" },
    });
    assert.equal(made.status, 201, made.text);
    assert.equal(typeof made.json.credential, "string", `no credential in ${made.text}`);
    assert.ok(made.json.credential.length > 0, "an empty credential");
    const tokenOfMade = async (): Promise<string> => {
      const r = await raw(lockbox, {
        path: `/msi/token?api-version=2019-08-01&resource=${encodeURIComponent("https://vault.localhost")}`,
        headers: { "x-identity-header": made.json.credential },
      });
      assert.equal(r.status, 200, r.text);
      return r.json.access_token as string;
    };
    const token = await tokenOfMade();
    assert.equal(decodeJwt(token).oid, made.json.id);
    const before = await getSecretRaw(token, "for-api-made");
    assert.equal(before.status, 403, `an identity with no role read a secret: ${before.text}`);
    assert.equal(before.json?.error?.innererror?.code, "ForbiddenByRbac", before.text);

    const assigned = await raw(lockbox, {
      method: "POST",
      path: "/lockbox/v1/vaults/default/roleassignments",
      token: admin,
      body: { assignee: "api-made", role: "Key Vault Secrets User" },
    });
    assert.equal(assigned.status, 201, assigned.text);
    await eventually("the new identity reads with its new role", 3000, async () => {
      const r = await getSecretRaw(token, "for-api-made");
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.value, "api-made-value");
    });
  });
});

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { ClientSecretCredential, DefaultAzureCredential } from "@azure/identity";
import { SecretClient } from "@azure/keyvault-secrets";
import { decodeJwt } from "jose";
import { raw } from "../helpers/http.ts";
import { cli, removeDataDir, startLockbox, type Lockbox } from "../helpers/server.ts";

// Service principals: `lockbox sp create`, then ClientSecretCredential against Lockbox as the
// authority, and DefaultAzureCredential through EnvironmentCredential with the tenant `adfs`.
let lockbox: Lockbox;
let sp: { clientId: string; clientSecret: string; tenantId: string };
let authorityHost: string;
const SCOPE = "https://vault.localhost/.default";

before(async () => {
  lockbox = await startLockbox();
  authorityHost = `https://127.0.0.1:${lockbox.port}`;
  const made = cli(["sp", "create", "ci", "--data-dir", lockbox.dataDir, "--json"]);
  assert.equal(made.status, 0, made.stderr);
  sp = JSON.parse(made.stdout);
  // It may use secrets in the vault default (which uses Azure RBAC).
  const assigned = cli([
    "role",
    "assign",
    "--vault",
    "default",
    "--assignee",
    "ci",
    "--role",
    "Key Vault Secrets Officer",
    "--data-dir",
    lockbox.dataDir,
  ]);
  assert.equal(assigned.status, 0, assigned.stderr);
});
after(async () => {
  await lockbox.stop();
  removeDataDir(lockbox.dataDir);
});

describe("lockbox sp create", () => {
  test("prints a client id, a client secret and the tenant id", () => {
    assert.match(sp.clientId, /^[0-9a-f-]{36}$/);
    assert.equal(typeof sp.clientSecret, "string");
    assert.ok(sp.clientSecret.length >= 32);
    assert.equal(sp.tenantId, lockbox.env.TENANT_ID);
  });

  test("a second service principal gets another client id and secret; the name is taken once", () => {
    const made = cli(["sp", "create", "ci-2", "--data-dir", lockbox.dataDir, "--json"]);
    assert.equal(made.status, 0, made.stderr);
    const other = JSON.parse(made.stdout) as typeof sp;
    assert.notEqual(other.clientId, sp.clientId);
    assert.notEqual(other.clientSecret, sp.clientSecret);

    const again = cli(["sp", "create", "ci", "--data-dir", lockbox.dataDir, "--json"]);
    assert.notEqual(again.status, 0);
    assert.match(again.stderr, /already exists/);
  });
});

describe("ClientSecretCredential", () => {
  const credential = (tenantId = sp.tenantId, clientSecret = sp.clientSecret): ClientSecretCredential =>
    new ClientSecretCredential(tenantId, sp.clientId, clientSecret, { authorityHost, disableInstanceDiscovery: true });

  test("gets a token whose appid is the client id", async () => {
    const token = await credential().getToken(SCOPE);
    assert.ok(token.expiresOnTimestamp > Date.now());
    const claims = decodeJwt(token.token);
    assert.equal(claims.appid, sp.clientId);
    assert.equal(claims.tid, sp.tenantId);
    assert.equal(claims.aud, "https://vault.localhost");
  });

  test("a SecretClient with it sets and gets a secret", async () => {
    const client = new SecretClient(lockbox.vaultUrl(), credential());
    const set = await client.setSecret("sp-secret", "sp-value");
    assert.equal(set.value, "sp-value");
    const got = await client.getSecret("sp-secret");
    assert.equal(got.value, "sp-value");
    assert.equal(got.properties.version, set.properties.version);
  });

  test("a wrong client secret gets no token", async () => {
    await assert.rejects(credential(sp.tenantId, `${sp.clientSecret}x`).getToken(SCOPE), /invalid_client/);
    await assert.rejects(new SecretClient(lockbox.vaultUrl(), credential(sp.tenantId, "wrong")).getSecret("sp-secret"), /invalid_client/);
  });

  test("an unknown tenant in the authority path gets no token", async () => {
    const tenant = randomUUID();
    await assert.rejects(credential(tenant).getToken(SCOPE));

    // The token endpoint itself refuses that tenant, even with the right client secret.
    const form = new URLSearchParams({
      grant_type: "client_credentials",
      client_id: sp.clientId,
      client_secret: sp.clientSecret,
      scope: SCOPE,
    });
    const post = (t: string) =>
      raw(lockbox, {
        method: "POST",
        path: `/${t}/oauth2/v2.0/token`,
        body: form.toString(),
        headers: { "content-type": "application/x-www-form-urlencoded" },
      });
    const refused = await post(tenant);
    assert.ok(refused.status >= 400 && refused.status < 500, `${refused.status} ${refused.text}`);
    assert.equal(refused.json?.access_token, undefined);
    const granted = await post(sp.tenantId);
    assert.equal(granted.status, 200, granted.text);
    assert.equal(decodeJwt(granted.json.access_token).appid, sp.clientId);
  });
});

describe("DefaultAzureCredential with AZURE_TENANT_ID=adfs", () => {
  const names = [
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_AUTHORITY_HOST",
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
  ];
  const saved: Record<string, string | undefined> = {};
  before(() => {
    for (const n of names) saved[n] = process.env[n];
  });
  after(() => {
    for (const n of names) {
      if (saved[n] === undefined) delete process.env[n];
      else process.env[n] = saved[n];
    }
  });

  test("sets and gets a secret through the vault URL", async () => {
    delete process.env.IDENTITY_ENDPOINT;
    delete process.env.IDENTITY_HEADER;
    process.env.AZURE_TENANT_ID = "adfs";
    process.env.AZURE_CLIENT_ID = sp.clientId;
    process.env.AZURE_CLIENT_SECRET = sp.clientSecret;
    process.env.AZURE_AUTHORITY_HOST = authorityHost;

    const dac = new DefaultAzureCredential();
    const client = new SecretClient(lockbox.vaultUrl(), dac);
    await client.setSecret("dac-sp-secret", "dac-sp-value");
    assert.equal((await client.getSecret("dac-sp-secret")).value, "dac-sp-value");
    assert.equal(decodeJwt((await dac.getToken(SCOPE)).token).appid, sp.clientId);
  });
});

describe("OpenID configuration", () => {
  const configPaths = (tenant: string): string[] => [
    `/${tenant}/v2.0/.well-known/openid-configuration`,
    `/${tenant}/.well-known/openid-configuration`,
  ];

  for (const host of ["localhost", "127.0.0.1"]) {
    test(`is on the request's origin (${host})`, async () => {
      const origin = `https://${host}:${lockbox.port}`;
      for (const path of [
        ...configPaths(lockbox.env.TENANT_ID),
        "/adfs/.well-known/openid-configuration",
        "/adfs/v2.0/.well-known/openid-configuration",
      ]) {
        const r = await raw(lockbox, { path, host: `${host}:${lockbox.port}` });
        assert.equal(r.status, 200, `${path}: ${r.text}`);
        for (const key of ["issuer", "authorization_endpoint", "token_endpoint", "jwks_uri"]) {
          assert.equal(typeof r.json[key], "string", `${path}: ${key}`);
          assert.ok(r.json[key].startsWith(`${origin}/`), `${path}: ${key} is ${r.json[key]}`);
        }
        const jwks = await raw(lockbox, { path: new URL(r.json.jwks_uri).pathname, host: `${host}:${lockbox.port}` });
        assert.equal(jwks.status, 200, jwks.text);
        assert.ok(Array.isArray(jwks.json.keys) && jwks.json.keys.length > 0);
      }
    });
  }

  test("the tenant segment is case-insensitive", async () => {
    for (const path of configPaths(lockbox.env.TENANT_ID.toUpperCase())) {
      const r = await raw(lockbox, { path });
      assert.equal(r.status, 200, `${path}: ${r.text}`);
      assert.ok(r.json.token_endpoint.startsWith(`https://localhost:${lockbox.port}/`));
    }
    const upper = await raw(lockbox, { path: "/ADFS/.well-known/openid-configuration" });
    assert.equal(upper.status, 200, upper.text);
  });

  test("an unknown tenant has none", async () => {
    for (const path of configPaths(randomUUID())) {
      const r = await raw(lockbox, { path });
      assert.ok(r.status >= 400 && r.status < 500, `${path}: ${r.status}`);
    }
  });
});

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { DefaultAzureCredential } from "@azure/identity";
import { SecretClient } from "@azure/keyvault-secrets";
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from "jose";
import { developerToken, raw, type RawResponse } from "../helpers/http.ts";
import { cli, type Lockbox, ROOT, serveForFile } from "../helpers/server.ts";

// How Lockbox authenticates: the challenge the Key Vault SDK needs, the tokens it refuses,
// the managed identity endpoint and the tokens it issues, as @azure/identity meets them.
let lockbox: Lockbox;
serveForFile({}, (started) => {
  lockbox = started;
});

const RESOURCE = "https://vault.localhost";
// The challenge names the port the client called (the Python SDK compares host and port).
const challengeFor = (host: string): string =>
  `Bearer authorization="https://${host}/${lockbox.env.TENANT_ID}", resource="${RESOURCE}:${lockbox.port}"`;

/** A 401 as Key Vault answers it: code Unauthorized and a challenge the SDK can parse. */
function assertChallenged(r: RawResponse, host = `localhost:${lockbox.port}`): void {
  assert.equal(r.status, 401, r.text);
  assert.equal(r.json?.error?.code, "Unauthorized", r.text);
  assert.equal(r.headers["www-authenticate"], challengeFor(host));
}

const b64url = (o: object): string => Buffer.from(JSON.stringify(o)).toString("base64url");
const msi = (headers: Record<string, string>, query: string): Promise<RawResponse> =>
  raw(lockbox, { path: `/msi/token?api-version=2019-08-01${query}`, headers });

describe("the challenge", () => {
  test("a request without Authorization gets 401 with the challenge, and nothing is written", async () => {
    const r = await raw(lockbox, { method: "PUT", path: "/secrets/x?api-version=7.6", body: "" });
    assertChallenged(r);

    const token = await developerToken(lockbox);
    const after = await raw(lockbox, { path: "/secrets/x?api-version=7.6", token });
    assert.equal(after.status, 404, after.text);
    assert.equal(after.json.error.code, "SecretNotFound");
  });

  test("the challenge's authorization origin follows the Host header", async () => {
    const host = `default.vault.localhost:${lockbox.port}`;
    const r = await raw(lockbox, { method: "PUT", path: "/secrets/x?api-version=7.6", body: "", host });
    assertChallenged(r, host);
  });
});

describe("rejected tokens", () => {
  const rejected = async (token: string): Promise<void> => {
    const r = await raw(lockbox, { path: "/secrets?api-version=7.6", token });
    assertChallenged(r);
  };

  test("a token whose signature was tampered with", async () => {
    const token = await developerToken(lockbox);
    const [h, p, s] = token.split(".") as [string, string, string];
    const i = Math.floor(s.length / 2);
    const tampered = `${h}.${p}.${s.slice(0, i)}${s[i] === "A" ? "B" : "A"}${s.slice(i + 1)}`;
    assert.notEqual(tampered, token);
    await rejected(tampered);
  });

  test("a token that is not a JWT", async () => {
    await rejected("not-a-jwt");
    await rejected("a.b.c");
    // and a valid token under another scheme is no bearer token
    const basic = await raw(lockbox, {
      path: "/secrets?api-version=7.6",
      headers: { authorization: `Basic ${await developerToken(lockbox)}` },
    });
    assertChallenged(basic);
  });

  test("a token for another audience", async () => {
    const token = await developerToken(lockbox, "https://management.azure.com");
    assert.equal(decodeJwt(token).aud, "https://management.azure.com");
    await rejected(token);
    for (const aud of ["https://vault.localhost.evil.test", "https://other.localhost:8443", "https://vault.localhost:8443/x"]) {
      await rejected(await developerToken(lockbox, aud));
    }
  });

  test("tokens for the vault resource with any port, without one, or with a trailing slash are accepted (every process of an instance takes them)", async () => {
    for (const aud of [`${RESOURCE}:${lockbox.port}`, `${RESOURCE}:1234`, RESOURCE, `${RESOURCE}/`, `${RESOURCE}:${lockbox.port}/`]) {
      const r = await raw(lockbox, { path: "/secrets?api-version=7.6", token: await developerToken(lockbox, aud) });
      assert.equal(r.status, 200, `${aud}: ${r.text}`);
    }
  });

  test("a token whose payload was re-encoded with another iss and tid", async () => {
    const token = await developerToken(lockbox);
    const [h, p, s] = token.split(".") as [string, string, string];
    const claims = decodeJwt(token);
    const other = "00000000-0000-0000-0000-000000000001";
    const forged = b64url({ ...claims, iss: `https://login.microsoftonline.com/${other}/v2.0`, tid: other });
    assert.notEqual(forged, p);
    await rejected(`${h}.${forged}.${s}`);
  });

  test("a valid developer token lists the secrets", async () => {
    const token = await developerToken(lockbox);
    const r = await raw(lockbox, { path: "/secrets?api-version=7.6", token });
    assert.equal(r.status, 200, r.text);
    assert.ok(Array.isArray(r.json.value));
    assert.equal(r.json.nextLink, null);
  });
});

describe("the managed identity endpoint", () => {
  test("a wrong X-IDENTITY-HEADER gets no token", async () => {
    const r = await msi({ "x-identity-header": "not-the-header" }, `&resource=${encodeURIComponent(RESOURCE)}`);
    assert.notEqual(r.status, 200);
    assert.ok(r.status >= 400 && r.status < 500, `status ${r.status}`);
    assert.equal(r.json?.access_token, undefined);
  });

  test("without resource is 400", async () => {
    const r = await msi({ "x-identity-header": lockbox.env.IDENTITY_HEADER }, "");
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json?.access_token, undefined);
  });

  test("the success body is what MSAL reads", async () => {
    const before = Math.floor(Date.now() / 1000);
    const r = await msi({ "x-identity-header": lockbox.env.IDENTITY_HEADER }, `&resource=${encodeURIComponent(RESOURCE)}`);
    assert.equal(r.status, 200, r.text);
    assert.equal(typeof r.json.access_token, "string");
    assert.ok(r.json.access_token.length > 0);
    assert.equal(typeof r.json.expires_on, "string");
    assert.match(r.json.expires_on, /^\d+$/);
    const lifetime = Number(r.json.expires_on) - before;
    assert.ok(lifetime > 3300 && lifetime < 3900, `expires_on is ${lifetime} s ahead`);
    assert.equal(r.json.token_type, "Bearer");
    assert.equal(r.json.resource, RESOURCE);
  });

  test("the token is an ES256 JWT that the tenant's JWKS verifies", async () => {
    const token = await developerToken(lockbox);
    const header = decodeProtectedHeader(token);
    assert.equal(header.alg, "ES256");
    assert.equal(typeof header.kid, "string");

    const claims = decodeJwt(token);
    for (const claim of ["iss", "aud", "tid", "oid", "iat", "nbf", "exp"]) assert.ok(claim in claims, `claim ${claim} missing`);
    assert.equal(claims.tid, lockbox.env.TENANT_ID);
    assert.equal(claims.aud, RESOURCE);
    assert.ok(claims.nbf! <= claims.iat! && claims.exp! - claims.iat! > 3300 && claims.exp! - claims.iat! < 3900, JSON.stringify(claims));

    // verified as a resource server would: keys and issuer from the tenant's OpenID configuration
    const config = await raw(lockbox, { path: `/${lockbox.env.TENANT_ID}/v2.0/.well-known/openid-configuration` });
    assert.equal(config.status, 200, config.text);
    const keys = await raw(lockbox, { path: new URL(config.json.jwks_uri).pathname });
    assert.equal(keys.status, 200, keys.text);
    assert.equal(keys.json.keys.length >= 1, true);
    const { payload } = await jwtVerify(token, createLocalJWKSet(keys.json), {
      audience: RESOURCE,
      issuer: config.json.issuer,
      algorithms: ["ES256"],
    });
    assert.equal(payload.oid, claims.oid);
    const direct = await raw(lockbox, { path: `/${lockbox.env.TENANT_ID}/discovery/v2.0/keys` });
    assert.deepEqual(direct.json, keys.json);

    // and a tampered token does not verify against it
    const [h, p] = token.split(".") as [string, string, string];
    const forged = `${h}.${b64url({ ...claims, oid: "someone-else" })}.${token.split(".")[2]}`;
    assert.notEqual(forged.split(".")[1], p);
    await assert.rejects(jwtVerify(forged, createLocalJWKSet(keys.json)));
  });
});

describe("@azure/identity", () => {
  test("new DefaultAzureCredential() unmodified sets and gets a secret", async () => {
    const client = new SecretClient(lockbox.vaultUrl(), new DefaultAzureCredential());
    const set = await client.setSecret("dac-secret", "dac-value");
    assert.equal(set.value, "dac-value");
    const got = await client.getSecret("dac-secret");
    assert.equal(got.value, "dac-value");
    assert.equal(got.properties.version, set.properties.version);
  });

  test("a second managed identity gets its own token and uses the vault", async () => {
    const made = cli(["identity", "create", "app1", "--data-dir", lockbox.dataDir, "--json"]);
    assert.equal(made.status, 0, made.stderr);
    const app1 = JSON.parse(made.stdout) as { identityHeader: string; objectId: string; clientId: string };
    assert.equal(typeof app1.identityHeader, "string");
    assert.notEqual(app1.identityHeader, lockbox.env.IDENTITY_HEADER);
    // A new identity may do nothing until it is given a role (the vault uses Azure RBAC).
    const assigned = cli([
      "role",
      "assign",
      "--vault",
      "default",
      "--assignee",
      "app1",
      "--role",
      "Key Vault Secrets Officer",
      "--data-dir",
      lockbox.dataDir,
    ]);
    assert.equal(assigned.status, 0, assigned.stderr);

    const r = await msi({ "x-identity-header": app1.identityHeader }, `&resource=${encodeURIComponent(RESOURCE)}`);
    assert.equal(r.status, 200, r.text);
    const oid = decodeJwt(r.json.access_token).oid;
    const developerOid = decodeJwt(await developerToken(lockbox)).oid;
    assert.equal(typeof oid, "string");
    assert.notEqual(oid, developerOid);
    assert.equal(oid, app1.objectId);

    // In this process, both credentials below would be served MSAL's token cache, which is
    // shared by every managed identity credential of a process (msal-node keeps it static)
    // and already holds the developer's vault token. app1 is another program, so it runs as
    // one: a fresh Node process with IDENTITY_HEADER set to app1's value.
    const program = `
      import { DefaultAzureCredential, ManagedIdentityCredential } from "@azure/identity";
      import { SecretClient } from "@azure/keyvault-secrets";
      import { decodeJwt } from "jose";
      const out = {};
      for (const [kind, credential] of [["mi", new ManagedIdentityCredential()], ["dac", new DefaultAzureCredential()]]) {
        const client = new SecretClient(process.env.KEYVAULT_URL, credential);
        const set = await client.setSecret("app1-" + kind, "value-" + kind);
        const got = await client.getSecret("app1-" + kind);
        const token = await credential.getToken("${RESOURCE}/.default");
        out[kind] = { set: set.value, got: got.value, oid: decodeJwt(token.token).oid };
      }
      console.log(JSON.stringify(out));
    `;
    const child = spawnSync(
      process.execPath,
      ["--import", "tsx", "--import", "./test/helpers/dns.ts", "--input-type=module", "-e", program],
      {
        cwd: ROOT,
        encoding: "utf8",
        env: {
          ...process.env,
          IDENTITY_ENDPOINT: lockbox.env.IDENTITY_ENDPOINT,
          IDENTITY_HEADER: app1.identityHeader,
          KEYVAULT_URL: lockbox.vaultUrl(),
        },
      },
    );
    assert.equal(child.status, 0, child.stderr);
    const out = JSON.parse(child.stdout) as Record<string, { set: string; got: string; oid: string }>;
    for (const kind of ["mi", "dac"]) {
      assert.deepEqual(out[kind], { set: `value-${kind}`, got: `value-${kind}`, oid: app1.objectId });
    }

    // The vault sees both identities' writes.
    const client = new SecretClient(lockbox.vaultUrl(), new DefaultAzureCredential());
    assert.equal((await client.getSecret("app1-mi")).value, "value-mi");
  });
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { applySeed, SeedError, type SeedChange } from "../../src/server/seed.ts";
import type { Vault } from "../../src/vault/vaults.ts";
import { inProcess, type InProcess } from "../helpers/instance.ts";

// Seed files (issue 14) on the services in this process: idempotence, what a change makes
// (a new version, an update, nothing for a generated key), values from files and the
// environment, and a seed that is refused applying nothing and naming the JSON path.

const p: InProcess = await inProcess();
const dir = mkdtempSync(join(tmpdir(), "lockbox-seed-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const apply = (seed: unknown, options: { dryRun?: boolean; env?: NodeJS.ProcessEnv } = {}) =>
  applySeed(p.instance, seed, dir, { env: {}, ...options });

const vaultNamed = async (name: string): Promise<Vault> => {
  const v = await p.instance.vaults.find(name);
  assert.ok(v, `vault ${name} exists`);
  return v;
};
const versionsOf = async (vault: string, kind: "secret" | "key", name: string): Promise<string[]> => {
  const objects = kind === "secret" ? p.instance.secrets.objects : p.instance.keys.objects;
  return (await objects.listVersions(await vaultNamed(vault), name, 25)).items.map((v) => v.version);
};
const secretValue = async (vault: string, name: string): Promise<string> =>
  (await p.instance.secrets.get(await vaultNamed(vault), name)).value;
const brief = (changes: SeedChange[]): string[] => changes.map((c) => `${c.action} ${c.kind} ${c.vault ? `${c.vault}/` : ""}${c.name}`);

/** An RSA private JWK, as a seed file gives an imported key. */
const rsaJwk = (): Record<string, unknown> => generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" });

test("applying a seed makes everything it names; applying it again changes nothing", async () => {
  const jwk = rsaJwk();
  const seed = {
    identities: [{ name: "idem-app" }],
    servicePrincipals: [{ name: "idem-ci" }],
    vaults: [
      {
        name: "idem",
        retentionDays: 7,
        secrets: {
          "db-password": { value: "first-value", contentType: "text/plain", tags: { env: "dev" }, expires: "2040-01-01T00:00:00Z" },
        },
        keys: { signing: { kty: "EC", curve: "P-384", ops: ["sign", "verify"] }, imported: { jwk } },
        roleAssignments: [
          { assignee: "idem-app", role: "Key Vault Secrets User" },
          { assignee: "idem-ci", role: "key vault crypto user", scope: "/keys/Signing" },
        ],
      },
      { name: "idem-policies", rbac: false, accessPolicies: [{ assignee: "idem-ci", secrets: ["get", "list"], keys: ["all"] }] },
    ],
  };
  const first = await apply(seed);
  assert.deepEqual(brief(first.changes), [
    "create managed identity idem-app",
    "create service principal idem-ci",
    "create vault idem",
    "create secret idem/db-password",
    "create key idem/signing",
    "create key idem/imported",
    "create role assignment idem/Key Vault Secrets User to idem-app",
    "create role assignment idem/Key Vault Crypto User to idem-ci on /keys/signing",
    "create vault idem-policies",
    "create access policy idem-policies/idem-ci",
  ]);
  assert.deepEqual(
    first.credentials.map((c) => c.identity.name),
    ["idem-app", "idem-ci"],
  );
  const vault = await vaultNamed("idem");
  assert.equal(vault.retentionDays, 7);
  assert.equal((await vaultNamed("idem-policies")).rbac, false);
  const secret = await p.instance.secrets.get(vault, "db-password");
  assert.equal(secret.value, "first-value");
  assert.equal(secret.version.contentType, "text/plain");
  assert.deepEqual(secret.version.tags, { env: "dev" });
  assert.equal(secret.version.exp, Date.parse("2040-01-01T00:00:00Z") / 1000);
  const signing = await p.instance.keys.get(vault, "signing");
  assert.equal(signing.props.pub.crv, "P-384");
  assert.deepEqual(signing.props.keyOps, ["sign", "verify"]);
  assert.equal((await p.instance.keys.get(vault, "imported")).props.pub.n, jwk.n);

  const before = {
    secret: await versionsOf("idem", "secret", "db-password"),
    signing: await versionsOf("idem", "key", "signing"),
    imported: await versionsOf("idem", "key", "imported"),
    roles: (await p.instance.access.listRoles(vault)).length,
    identities: (await p.instance.identities.list()).length,
  };
  const again = await apply(seed);
  assert.deepEqual(again.changes, []);
  assert.deepEqual(again.notes, []);
  assert.deepEqual(again.credentials, [], "no identity made twice, no credential shown again");
  assert.deepEqual(
    {
      secret: await versionsOf("idem", "secret", "db-password"),
      signing: await versionsOf("idem", "key", "signing"),
      imported: await versionsOf("idem", "key", "imported"),
      roles: (await p.instance.access.listRoles(vault)).length,
      identities: (await p.instance.identities.list()).length,
    },
    before,
  );
});

test("a changed value is a new version; changed attributes update the current one; a generated key is never regenerated", async () => {
  const jwk = rsaJwk();
  const seed = (value: string, tags: Record<string, string>, key: object, imported: object) => ({
    vaults: [{ name: "changes", secrets: { token: { value, tags }, other: { value: "same" } }, keys: { signing: key, imported } }],
  });
  await apply(seed("v1", { a: "1" }, { kty: "RSA", size: 2048 }, { jwk }));
  const [v1] = await versionsOf("changes", "secret", "token");
  const [signing1] = await versionsOf("changes", "key", "signing");

  const valueChanged = await apply(seed("v2", { a: "1" }, { kty: "RSA", size: 2048 }, { jwk }));
  assert.deepEqual(brief(valueChanged.changes), ["new-version secret changes/token"]);
  assert.equal(await secretValue("changes", "token"), "v2");
  const versions = await versionsOf("changes", "secret", "token");
  assert.equal(versions.length, 2);
  assert.equal(versions[0], v1, "the first version is kept");
  assert.equal((await versionsOf("changes", "secret", "other")).length, 1, "an unchanged secret gets no version");

  const tagsChanged = await apply(seed("v2", { a: "2" }, { kty: "RSA", size: 2048 }, { jwk }));
  assert.deepEqual(tagsChanged.changes, [{ action: "update", vault: "changes", kind: "secret", name: "token", detail: "tags" }]);
  assert.equal((await versionsOf("changes", "secret", "token")).length, 2, "an attribute change makes no version");
  assert.deepEqual((await p.instance.secrets.get(await vaultNamed("changes"), "token")).version.tags, { a: "2" });

  const specChanged = await apply(seed("v2", { a: "2" }, { kty: "EC", curve: "P-256" }, { jwk }));
  assert.deepEqual(specChanged.changes, []);
  assert.equal(specChanged.notes.length, 1);
  assert.match(specChanged.notes[0]!.note, /exists as RSA 2048; the seed asks for EC P-256, but a seed never regenerates a key/);
  assert.deepEqual(await versionsOf("changes", "key", "signing"), [signing1], "the key is as it was");

  const other = rsaJwk();
  const materialChanged = await apply(seed("v2", { a: "2" }, { kty: "RSA" }, { jwk: other }));
  assert.deepEqual(brief(materialChanged.changes), ["new-version key changes/imported"]);
  assert.equal((await versionsOf("changes", "key", "imported")).length, 2);
  assert.equal((await p.instance.keys.get(await vaultNamed("changes"), "imported")).props.pub.n, other.n);
});

test("values come from files beside the seed and from the environment", async () => {
  writeFileSync(join(dir, "cert.pem"), "-----BEGIN SOMETHING-----\nabc\n-----END SOMETHING-----\n");
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  writeFileSync(join(dir, "signing.pem"), privateKey.export({ format: "pem", type: "pkcs8" }));
  const seed = {
    vaults: [
      {
        name: "sources",
        secrets: { "from-file": { value: { file: "cert.pem" } }, "from-env": { value: { env: "SEED_TEST_TOKEN" } } },
        keys: { "from-pem": { pem: "signing.pem", ops: ["sign", "verify"] } },
      },
    ],
  };
  const result = await apply(seed, { env: { SEED_TEST_TOKEN: "token-from-env" } });
  assert.equal(result.changes.length, 4);
  assert.equal(await secretValue("sources", "from-file"), readFileSync(join(dir, "cert.pem"), "utf8"), "the file's exact content");
  assert.equal(await secretValue("sources", "from-env"), "token-from-env");
  const key = await p.instance.keys.get(await vaultNamed("sources"), "from-pem");
  assert.equal(key.props.pub.x, privateKey.export({ format: "jwk" }).x);
  assert.deepEqual(key.props.keyOps, ["sign", "verify"]);

  // The same again: nothing; a new value in the environment: a new version.
  assert.deepEqual((await apply(seed, { env: { SEED_TEST_TOKEN: "token-from-env" } })).changes, []);
  const rotated = await apply(seed, { env: { SEED_TEST_TOKEN: "next-token" } });
  assert.deepEqual(brief(rotated.changes), ["new-version secret sources/from-env"]);
  assert.equal(await secretValue("sources", "from-env"), "next-token");
});

test("a seed with a problem applies nothing, and every problem names its JSON path (never a value)", async () => {
  const refused = async (seed: unknown, ...expected: string[]): Promise<void> => {
    await assert.rejects(apply(seed), (e: unknown) => {
      assert.ok(e instanceof SeedError, String(e));
      assert.deepEqual(e.problems, expected);
      assert.doesNotMatch(e.message, /hunter2|do-not-print/);
      return true;
    });
  };
  const good = { name: "refused", secrets: { fine: { value: "hunter2" } } };
  const identityCount = (await p.instance.identities.list()).length;

  // Problems in the file itself.
  await refused(
    {
      servicePrincipals: [{ name: "refused-sp" }],
      vaults: [good, { name: "refused-2", secrets: { "db-password": { value: 12 }, "bad name!": { value: "do-not-print" } } }],
    },
    'vaults[1].secrets.db-password.value: must be a string, {"file": PATH} or {"env": NAME}',
    "vaults[1].secrets.bad name!: The request URI contains an invalid name: bad name!",
  );
  await refused(
    {
      vaults: [
        {
          ...good,
          retentionDays: 3,
          keys: { k: { kty: "RSA", size: 1024 }, both: { kty: "EC", pem: "x.pem" } },
          secrets: {
            missing: { value: { file: "no-such-file" } },
            env: { value: { env: "NOT_SET_ANYWHERE" } },
            late: { value: "x", expires: "soon" },
          },
          roleAssignments: [{ assignee: "x", role: "Key Vault Wizard" }],
        },
      ],
      typo: true,
      identities: [{ name: "bad name" }],
    },
    "typo: is not a seed field here; expected vaults, identities, servicePrincipals, credentialsFile",
    "identities[0].name: The identity name 'bad name' is invalid: use 1-64 letters, digits, '.', '_' or '-'.",
    "vaults[0].retentionDays: The soft-delete retention period must be a whole number of days from 7 to 90.",
    `vaults[0].secrets.missing.value.file: cannot read ${join(dir, "no-such-file")} (ENOENT)`,
    "vaults[0].secrets.env.value.env: the environment variable NOT_SET_ANYWHERE is not set",
    "vaults[0].secrets.late.expires: must be an ISO 8601 date and time, e.g. 2030-01-01T00:00:00Z",
    "vaults[0].keys.k: An RSA key size must be 2048, 3072 or 4096; 1024 is not.",
    'vaults[0].keys.both: give exactly one of "kty" (a generated key), "jwk" or "pem" (an imported key)',
    "vaults[0].roleAssignments[0].role: 'Key Vault Wizard' is not a Key Vault role. Roles: Key Vault Administrator, Key Vault Reader, Key Vault Secrets Officer, Key Vault Secrets User, Key Vault Crypto Officer, Key Vault Crypto User, Key Vault Crypto Service Encryption User, Key Vault Crypto Service Release User, Key Vault Certificates Officer, Key Vault Certificate User.",
  );

  // Problems only the store shows: found before anything is written.
  await refused(
    {
      servicePrincipals: [{ name: "refused-sp" }],
      vaults: [good, { name: "default", retentionDays: 30, roleAssignments: [{ assignee: "nobody", role: "Key Vault Reader" }] }],
    },
    "vaults[1].retentionDays: the vault default exists with 90 days; a vault's retention cannot be changed",
    "vaults[1].roleAssignments[0].assignee: there is no identity 'nobody', in the seed or in Lockbox",
  );
  await refused(
    { vaults: [{ ...good, rbac: false, roleAssignments: [{ assignee: "developer", role: "Key Vault Reader" }] }] },
    "vaults[0].roleAssignments: the vault refused uses access policies: give accessPolicies instead, or rbac true",
  );

  assert.equal(await p.instance.vaults.find("refused"), undefined, "no vault was made");
  assert.equal(await p.instance.vaults.find("refused-2"), undefined);
  assert.equal((await p.instance.identities.list()).length, identityCount, "no identity was made");
});

test("a dry run lists the changes and writes nothing", async () => {
  const seed = { servicePrincipals: [{ name: "dry-sp" }], vaults: [{ name: "dry", secrets: { s: { value: "v" } } }] };
  const dry = await apply(seed, { dryRun: true });
  assert.deepEqual(brief(dry.changes), ["create service principal dry-sp", "create vault dry", "create secret dry/s"]);
  assert.deepEqual(dry.credentials, []);
  assert.equal(await p.instance.vaults.find("dry"), undefined);
  assert.ok(!(await p.instance.identities.list()).some((x) => x.name === "dry-sp"));
});

test("the credentials of identities a seed makes go to its credentialsFile (mode 0600), and they work", async () => {
  const file = join(dir, "credentials.json");
  const seed = { credentialsFile: "credentials.json", servicePrincipals: [{ name: "file-sp" }], identities: [{ name: "file-mi" }] };
  const result = await apply(seed);
  assert.equal(result.credentialsFile, file);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const written = JSON.parse(readFileSync(file, "utf8")) as Record<string, Record<string, string>>;
  const sp = written["file-sp"]!;
  assert.equal(sp.kind, "sp");
  assert.equal(sp.tenantId, p.instance.tenantId);
  assert.equal((await p.instance.identities.authenticateClient(sp.clientId!, sp.clientSecret!))?.name, "file-sp");
  assert.equal((await p.instance.identities.authenticateManaged(written["file-mi"]!.identityHeader!))?.name, "file-mi");

  // Another identity later: added to the file, the first ones kept.
  const more = await apply({ ...seed, servicePrincipals: [{ name: "file-sp" }, { name: "file-sp2" }] });
  assert.deepEqual(brief(more.changes), ["create service principal file-sp2"]);
  assert.deepEqual(Object.keys(JSON.parse(readFileSync(file, "utf8")) as object).sort(), ["file-mi", "file-sp", "file-sp2"]);
});

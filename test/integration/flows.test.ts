import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { DefaultAzureCredential } from "@azure/identity";
import { SecretClient } from "@azure/keyvault-secrets";
import { type Lockbox, serveForFile } from "../helpers/server.ts";

// The three flows users start from, written as the Microsoft Learn pages write them,
// against both vault URL forms. Only the vault URL (and, for https://localhost, the
// documented client option) differs from a program written for Azure.
let lockbox: Lockbox;
serveForFile({}, async (started) => {
  lockbox = started;
});

const forms = [
  { form: "https://default.vault.localhost", tag: "a", client: () => new SecretClient(lockbox.vaultUrl(), new DefaultAzureCredential()) },
  {
    form: "https://localhost",
    tag: "b",
    client: () => new SecretClient(lockbox.localUrl, new DefaultAzureCredential(), { disableChallengeResourceVerification: true }),
  },
];

for (const { form, tag, client } of forms) {
  describe(`flows through ${form}`, () => {
    const name = (base: string): string => `${base}-${tag}`;

    test("get started: set a secret, then get it", async () => {
      const c = client();
      const set = await c.setSecret(name("MySecretName"), "s3cr3t-value");
      assert.equal(set.value, "s3cr3t-value");
      const got = await c.getSecret(name("MySecretName"));
      assert.equal(got.value, "s3cr3t-value");
      assert.equal(got.properties.version, set.properties.version);
      assert.match(
        got.properties.id!,
        new RegExp(`^${form.replace(/\./g, "\\.")}:${lockbox.port}/secrets/MySecretName-${tag}/[0-9a-f]{32}$`),
      );
      assert.equal(got.properties.vaultUrl, `${form}:${lockbox.port}`);
      assert.equal(got.properties.enabled, true);
      assert.ok(got.properties.createdOn instanceof Date);
    });

    test("rotate a secret: read latest, set a new value, disable the previous version", async () => {
      const c = client();
      const secretName = name("MyApiKey");
      await c.setSecret(secretName, "oldValue");
      const latest = await c.getSecret(secretName);
      const fresh = await c.setSecret(secretName, "newSecretValue123!");
      assert.notEqual(fresh.properties.version, latest.properties.version);
      const disabled = await c.updateSecretProperties(latest.name, latest.properties.version!, { enabled: false });
      assert.equal(disabled.enabled, false);

      assert.equal((await c.getSecret(secretName)).value, "newSecretValue123!");
      await assert.rejects(c.getSecret(secretName, { version: latest.properties.version }), (e: any) => {
        assert.equal(e.statusCode, 403);
        assert.equal(e.code, "Forbidden");
        assert.equal(e.details.error.innerError.code, "SecretDisabled");
        return true;
      });
    });

    test("list versions, page by page and all at once", async () => {
      const c = client();
      const secretName = name("listed");
      const versions: string[] = [];
      for (const v of ["v1", "v2", "v3"]) versions.push((await c.setSecret(secretName, v)).properties.version!);

      const listed: string[] = [];
      for await (const p of c.listPropertiesOfSecretVersions(secretName)) listed.push(p.version!);
      assert.deepEqual(listed, versions);

      const pageSizes: number[] = [];
      for await (const page of c.listPropertiesOfSecretVersions(secretName).byPage({ maxPageSize: 2 })) pageSizes.push(page.length);
      assert.deepEqual(pageSizes, [2, 1]);

      const names: string[] = [];
      for await (const p of c.listPropertiesOfSecrets()) names.push(p.name);
      assert.ok(names.includes(secretName));
    });
  });
}

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { X509Certificate } from "node:crypto";
import { DefaultAzureCredential } from "@azure/identity";
import { CertificateClient, type CertificatePolicy } from "@azure/keyvault-certificates";
import { KeyClient } from "@azure/keyvault-keys";
import { SecretClient } from "@azure/keyvault-secrets";
import { advanceClock, clockNow } from "../helpers/clock.ts";
import { developerToken, raw } from "../helpers/http.ts";
import { startWebhook, type ReceivedEvent } from "../helpers/webhook.ts";
import { eventually } from "../helpers/wait.ts";
import { collect } from "../helpers/sdk.ts";
import { removeDataDir, startLockbox, stopOrKill, useEnvironment, type Lockbox } from "../helpers/server.ts";

// Renewal on the clock (beyond every peer): a certificate's AutoRenew lifetime action runs
// on the scheduler, moved forward with the dev clock, once and not before, and the key and
// secret follow the certificate. One server and dev clock for the file; each test reads the
// clock before computing times and looks only at its own certificate.
let lockbox: Lockbox;
let certificates: CertificateClient;
let secrets: SecretClient;
let keys: KeyClient;

before(async () => {
  lockbox = await startLockbox({ args: ["--dev-clock"] });
  useEnvironment(lockbox);
  const credential = new DefaultAzureCredential();
  certificates = new CertificateClient(lockbox.vaultUrl(), credential);
  secrets = new SecretClient(lockbox.vaultUrl(), credential);
  keys = new KeyClient(lockbox.vaultUrl(), credential);
});

after(async () => {
  await stopOrKill(lockbox);
  removeDataDir(lockbox.dataDir);
});

const DAY = 86_400;
const versionsOf = async (name: string) => (await collect(certificates.listPropertiesOfCertificateVersions(name))).length;
const renewalsOf = (name: string): number =>
  readFileSync(join(lockbox.dataDir, "audit.log"), "utf8")
    .split("\n")
    .filter((l) => l.includes('"CertificateAutoRenew"') && l.includes(`/certificates/${name}/`)).length;

describe("AutoRenew on the dev clock", () => {
  test("days before expiry: renewed once when due, not before; a new key, and the secret and key follow", async () => {
    const policy: CertificatePolicy = {
      issuerName: "Self",
      subject: "CN=renew-days.contoso.test",
      validityInMonths: 3,
      lifetimeActions: [{ action: "AutoRenew", daysBeforeExpiry: 30 }],
    };
    const first = await (await certificates.beginCreateCertificate("renew-days", policy)).pollUntilDone();
    const expiry = Math.floor(first.properties.expiresOn!.getTime() / 1000);

    let now = await clockNow(lockbox);
    now = await advanceClock(lockbox, expiry - 31 * DAY - now);
    assert.equal(await versionsOf("renew-days"), 1, "31 days before expiry: not yet");

    await advanceClock(lockbox, 2 * DAY);
    assert.equal(await versionsOf("renew-days"), 2, "29 days before expiry: renewed");
    const renewed = await certificates.getCertificate("renew-days");
    assert.notEqual(renewed.properties.version, first.properties.version);
    const cer = new X509Certificate(Buffer.from(renewed.cer!));
    assert.ok(Date.parse(cer.validFrom) / 1000 >= now, "the new certificate starts on the (moved) clock");
    assert.match(cer.subject, /CN=renew-days\.contoso\.test/);
    assert.ok(!cer.publicKey.equals(new X509Certificate(Buffer.from(first.cer!)).publicKey), "a new key, as reuse_key is false");
    assert.equal((await secrets.getSecret("renew-days")).properties.version, renewed.properties.version);
    assert.equal((await keys.getKey("renew-days")).properties.version, renewed.properties.version);

    await advanceClock(lockbox, DAY);
    assert.equal(await versionsOf("renew-days"), 2, "a day later: nothing more");
    assert.equal(renewalsOf("renew-days"), 1, "one CertificateAutoRenew line in the audit log");
  });

  test("a share of the lifetime with reuse_key: renewed at 50% with the same key", async () => {
    const policy: CertificatePolicy = {
      issuerName: "Self",
      subject: "CN=renew-share.contoso.test",
      validityInMonths: 2,
      reuseKey: true,
      lifetimeActions: [{ action: "AutoRenew", lifetimePercentage: 50 }],
    };
    const first = await (await certificates.beginCreateCertificate("renew-share", policy)).pollUntilDone();
    const from = Math.floor(first.properties.notBefore!.getTime() / 1000);
    const to = Math.floor(first.properties.expiresOn!.getTime() / 1000);
    const half = from + Math.floor((to - from) / 2);

    const now = await clockNow(lockbox);
    await advanceClock(lockbox, half - DAY - now);
    assert.equal(await versionsOf("renew-share"), 1, "a day before half its lifetime: not yet");
    await advanceClock(lockbox, 2 * DAY);
    assert.equal(await versionsOf("renew-share"), 2, "past half its lifetime: renewed");
    const renewed = await certificates.getCertificate("renew-share");
    assert.ok(
      new X509Certificate(Buffer.from(renewed.cer!)).publicKey.equals(new X509Certificate(Buffer.from(first.cer!)).publicKey),
      "reuse_key keeps the key",
    );
    assert.equal(renewalsOf("renew-share"), 1);
  });
});

describe("AutoRenew through issuers", () => {
  /** Moves the clock just past half the certificate's validity. */
  async function pastHalf(first: { properties: { notBefore?: Date; expiresOn?: Date } }): Promise<void> {
    const from = Math.floor(first.properties.notBefore!.getTime() / 1000);
    const to = Math.floor(first.properties.expiresOn!.getTime() / 1000);
    await advanceClock(lockbox, from + Math.floor((to - from) / 2) + DAY - (await clockNow(lockbox)));
  }

  test("an issuer of provider Lockbox renews from the instance's CA", async () => {
    await certificates.createIssuer("renewing-house-ca", "Lockbox");
    const policy: CertificatePolicy = {
      issuerName: "renewing-house-ca",
      subject: "CN=renew-ca.contoso.test",
      validityInMonths: 2,
      lifetimeActions: [{ action: "AutoRenew", lifetimePercentage: 50 }],
    };
    const first = await (await certificates.beginCreateCertificate("renew-ca", policy)).pollUntilDone();
    await pastHalf(first);
    assert.equal(await versionsOf("renew-ca"), 2);
    const renewed = new X509Certificate(Buffer.from((await certificates.getCertificate("renew-ca")).cer!));
    const ca = new X509Certificate(readFileSync(join(lockbox.dataDir, "tls", "ca.pem")));
    assert.ok(renewed.checkIssued(ca) && renewed.verify(ca.publicKey), "the renewed certificate is the CA's too");
    assert.equal(renewalsOf("renew-ca"), 1);
  });

  test("with the Unknown issuer, renewal starts an operation that waits for a merge; the current version stays", async () => {
    const policy: CertificatePolicy = {
      issuerName: "Self",
      subject: "CN=renew-unknown.contoso.test",
      validityInMonths: 2,
      lifetimeActions: [{ action: "AutoRenew", lifetimePercentage: 50 }],
    };
    const first = await (await certificates.beginCreateCertificate("renew-unknown", policy)).pollUntilDone();
    await certificates.updateCertificatePolicy("renew-unknown", { ...policy, issuerName: "Unknown" });
    await pastHalf(first);
    const op = (await certificates.getCertificateOperation("renew-unknown")).getOperationState().certificateOperation!;
    assert.equal(op.status, "inProgress");
    assert.ok(op.csr && op.csr.length > 0, "the renewal's CSR waits for the CA");
    assert.equal(await versionsOf("renew-unknown"), 1);
    assert.equal((await certificates.getCertificate("renew-unknown")).properties.version, first.properties.version);
    assert.equal(renewalsOf("renew-unknown"), 1);
    await advanceClock(lockbox, 3 * DAY);
    assert.equal(renewalsOf("renew-unknown"), 1, "once");
  });
});

describe("certificate events", () => {
  test("CertificateNewVersionCreated on create and on renewal, CertificateNearExpiry when EmailContacts falls due, CertificateExpired", async () => {
    const hook = await startWebhook();
    const subscribed = await raw(lockbox, {
      method: "POST",
      path: "/lockbox/v1/vaults/default/subscriptions",
      body: { endpoint: hook.url },
      token: await developerToken(lockbox),
    });
    assert.equal(subscribed.status, 201, subscribed.text);
    await hook.waitUntil(() => hook.validations > 0, "the subscription's validation handshake");
    await eventually("the subscription validated", 15_000, async () => {
      const listed = await raw(lockbox, { path: "/lockbox/v1/vaults/default/subscriptions", token: await developerToken(lockbox) });
      assert.ok(
        (listed.json.value as Array<{ id: string; validated: boolean }>).some((s) => s.id === subscribed.json.id && s.validated),
        listed.text,
      );
    });
    const is = (type: string, name: string) => (e: ReceivedEvent) => e.type === `Microsoft.KeyVault.${type}` && e.data.ObjectName === name;
    try {
      const telling = await (
        await certificates.beginCreateCertificate("tell-me", {
          issuerName: "Self",
          subject: "CN=tell-me.contoso.test",
          validityInMonths: 2,
          lifetimeActions: [{ action: "EmailContacts", daysBeforeExpiry: 10 }],
        })
      ).pollUntilDone();
      const created = await hook.waitFor(is("CertificateNewVersionCreated", "tell-me"), "CertificateNewVersionCreated");
      assert.equal(created.data.ObjectType, "Certificate");
      assert.equal(created.data.Version, telling.properties.version);
      assert.match(String(created.data.Id), /\/certificates\/tell-me\//);

      const expiry = Math.floor(telling.properties.expiresOn!.getTime() / 1000);
      await advanceClock(lockbox, expiry - 11 * DAY - (await clockNow(lockbox)));
      assert.equal(hook.matching(is("CertificateNearExpiry", "tell-me")).length, 0, "11 days before expiry: not yet near");
      await advanceClock(lockbox, 2 * DAY);
      const near = await hook.waitFor(is("CertificateNearExpiry", "tell-me"), "CertificateNearExpiry 10 days before expiry");
      assert.equal(near.data.Version, telling.properties.version);
      await advanceClock(lockbox, 10 * DAY);
      await hook.waitFor(is("CertificateExpired", "tell-me"), "CertificateExpired");
      assert.equal(await versionsOf("tell-me"), 1, "EmailContacts renews nothing");
    } finally {
      await hook.close();
    }
  });
});

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, verify, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DefaultAzureCredential } from "@azure/identity";
import { CertificateClient, WellKnownIssuer, type CertificatePolicy } from "@azure/keyvault-certificates";
import { CryptographyClient, KeyClient } from "@azure/keyvault-keys";
import { SecretClient } from "@azure/keyvault-secrets";
import { selfSigned } from "../../src/crypto/x509.ts";
import { cli, type Lockbox, serveForFile } from "../helpers/server.ts";
import { collect, rejectsWith } from "../helpers/sdk.ts";
import { developerToken, raw } from "../helpers/http.ts";

// Certificates as a program written for Azure Key Vault uses them: the official
// CertificateClient creates and imports, SecretClient loads the PFX or PEM, KeyClient and
// CryptographyClient use the certificate's key, against one real Lockbox server.
let lockbox: Lockbox;
let certificates: CertificateClient;
let secrets: SecretClient;
let keys: KeyClient;
const credential = new DefaultAzureCredential();

serveForFile({}, async (started) => {
  lockbox = started;
  certificates = new CertificateClient(lockbox.vaultUrl(), credential);
  secrets = new SecretClient(lockbox.vaultUrl(), credential);
  keys = new KeyClient(lockbox.vaultUrl(), credential);
});

const DAY_MS = 86_400_000;
const work = mkdtempSync(join(tmpdir(), "lockbox-certs-"));

/** Opens a PKCS#12 file with the openssl CLI (no password) and returns its key and certificate. */
function openPfx(pfxBase64: string, name: string): { key: ReturnType<typeof createPrivateKey>; certificate: X509Certificate } {
  const file = join(work, `${name}.pfx`);
  writeFileSync(file, Buffer.from(pfxBase64, "base64"));
  const out = spawnSync("openssl", ["pkcs12", "-in", file, "-passin", "pass:", "-nodes"], { encoding: "utf8" });
  assert.equal(out.status, 0, `openssl pkcs12 failed: ${out.stderr}`);
  const keyPem = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/.exec(out.stdout)?.[0];
  const certPem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(out.stdout)?.[0];
  assert.ok(keyPem && certPem, "the PFX holds a private key and a certificate");
  return { key: createPrivateKey(keyPem), certificate: new X509Certificate(certPem) };
}

describe("a self-signed TLS certificate, as a service gets one", () => {
  test("beginCreateCertificate completes; the cer says what the policy asked; getSecret gives the PFX with the key; the key signs", async () => {
    const before = Date.now();
    const poller = await certificates.beginCreateCertificate("api-tls", {
      issuerName: WellKnownIssuer.Self,
      subject: "CN=api.contoso.test, O=Contoso",
      subjectAlternativeNames: { dnsNames: ["api.contoso.test", "www.contoso.test"] },
      validityInMonths: 12,
    });
    const created = await poller.pollUntilDone();
    assert.equal(poller.getOperationState().isCompleted, true);
    assert.equal((await certificates.getCertificateOperation("api-tls")).getOperationState().certificateOperation?.status, "completed");
    assert.equal(created.name, "api-tls");
    assert.match(created.properties.version ?? "", /^[0-9a-f]{32}$/);

    const cer = new X509Certificate(Buffer.from(created.cer!));
    assert.match(cer.subject, /CN=api\.contoso\.test/);
    assert.match(cer.subject, /O=Contoso/);
    assert.match(cer.subjectAltName ?? "", /DNS:api\.contoso\.test/);
    assert.match(cer.subjectAltName ?? "", /DNS:www\.contoso\.test/);
    assert.ok(cer.verify(cer.publicKey), "self-signed: its own key signed it");
    const lifetime = Date.parse(cer.validTo) - Date.parse(cer.validFrom);
    assert.ok(lifetime > 364 * DAY_MS && lifetime < 367 * DAY_MS, `12 months, not ${lifetime / DAY_MS} days`);
    const validFrom = Date.parse(cer.validFrom);
    assert.ok(validFrom >= before - 1000 && validFrom <= Date.now(), "valid from when it was made (to the second)");
    assert.deepEqual(
      Buffer.from(created.properties.x509Thumbprint!),
      createHash("sha1").update(Buffer.from(created.cer!)).digest(),
      "x5t is the SHA-1 of the DER",
    );
    assert.equal(created.properties.expiresOn?.getTime(), Date.parse(cer.validTo), "the version expires with its certificate");
    assert.equal(created.policy?.issuerName, "Self");
    assert.equal(created.policy?.contentType, "application/x-pkcs12");
    assert.equal(created.policy?.keyType, "RSA");
    assert.equal(created.policy?.keySize, 2048);
    assert.equal(created.policy?.exportable, true);

    // The backing secret: the PFX a service loads, same name and version, managed.
    const secret = await secrets.getSecret("api-tls");
    assert.equal(secret.properties.version, created.properties.version);
    assert.equal(secret.properties.contentType, "application/x-pkcs12");
    assert.equal(secret.properties.managed, true);
    assert.equal(secret.properties.certificateKeyId, created.keyId, "the secret names the certificate's key");
    const pfx = openPfx(secret.value!, "api-tls");
    assert.equal(pfx.certificate.fingerprint256, cer.fingerprint256);
    assert.ok(pfx.certificate.checkPrivateKey(pfx.key), "the PFX's key is the certificate's");

    // The backing key: managed, and it signs for the certificate's public key.
    const key = await keys.getKey("api-tls");
    assert.equal(key.properties.version, created.properties.version);
    assert.equal(key.properties.managed, true);
    assert.equal(key.keyType, "RSA");
    const digest = createHash("sha256").update("hello, certificate").digest();
    const signed = await new CryptographyClient(key.id!, credential).sign("RS256", digest);
    assert.ok(
      verify("sha256", Buffer.from("hello, certificate"), cer.publicKey, Buffer.from(signed.result)),
      "the backing key signs for the cer",
    );
  });

  test("an EC P-256 certificate kept as PEM: the secret is the PKCS#8 key and the certificate", async () => {
    const policy: CertificatePolicy = {
      issuerName: "Self",
      subject: "CN=ec.contoso.test",
      keyType: "EC",
      keyCurveName: "P-256",
      contentType: "application/x-pem-file",
      validityInMonths: 3,
    };
    const created = await (await certificates.beginCreateCertificate("ec-pem", policy)).pollUntilDone();
    const cer = new X509Certificate(Buffer.from(created.cer!));
    assert.equal(cer.publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1");
    const pem = (await secrets.getSecret("ec-pem")).value!;
    assert.match(pem, /^-----BEGIN PRIVATE KEY-----/);
    const certificate = new X509Certificate(pem.slice(pem.indexOf("-----BEGIN CERTIFICATE-----")));
    assert.equal(certificate.fingerprint256, cer.fingerprint256);
    assert.ok(certificate.checkPrivateKey(createPrivateKey(pem)));
    assert.equal((await keys.getKey("ec-pem")).keyType, "EC");
  });

  test("a second create makes a second version; get by version; lists show both", async () => {
    const policy: CertificatePolicy = { issuerName: "Self", subject: "CN=versions.contoso.test" };
    const first = await (await certificates.beginCreateCertificate("two-versions", policy)).pollUntilDone();
    const second = await (await certificates.beginCreateCertificate("two-versions", policy)).pollUntilDone();
    assert.notEqual(first.properties.version, second.properties.version);
    assert.equal((await certificates.getCertificate("two-versions")).properties.version, second.properties.version);
    const old = await certificates.getCertificateVersion("two-versions", first.properties.version!);
    assert.deepEqual(Buffer.from(old.cer!), Buffer.from(first.cer!));
    const versions = await collect(certificates.listPropertiesOfCertificateVersions("two-versions"));
    assert.deepEqual(versions.map((v) => v.version).sort(), [first.properties.version, second.properties.version].sort());
    const names = (await collect(certificates.listPropertiesOfCertificates())).map((c) => c.name);
    assert.ok(names.includes("two-versions") && names.includes("api-tls"), names.join(", "));
    // Each version has its own key and secret.
    assert.equal(
      (await secrets.getSecret("two-versions", { version: first.properties.version })).properties.version,
      first.properties.version,
    );
  });
});

describe("a certificate's key and secret belong to it", () => {
  test("setting, updating or deleting them directly is refused as Azure refuses it, and changes nothing", async () => {
    const created = await (
      await certificates.beginCreateCertificate("owned", { issuerName: "Self", subject: "CN=owned.contoso.test" })
    ).pollUntilDone();
    const managed = (code: string) => ({ inner: code, message: /lifetime is managed by Key Vault/ });
    await rejectsWith(secrets.setSecret("owned", "replaced"), 403, "Forbidden", managed("SecretManagedByKeyVault"));
    await rejectsWith(
      secrets.updateSecretProperties("owned", created.properties.version!, { enabled: false }),
      403,
      "Forbidden",
      managed("SecretManagedByKeyVault"),
    );
    await rejectsWith(secrets.beginDeleteSecret("owned"), 403, "Forbidden", managed("SecretManagedByKeyVault"));
    await rejectsWith(
      keys.updateKeyProperties("owned", created.properties.version!, { enabled: false }),
      403,
      "Forbidden",
      managed("KeyManagedByKeyVault"),
    );
    await rejectsWith(keys.beginDeleteKey("owned"), 403, "Forbidden", managed("KeyManagedByKeyVault"));
    await rejectsWith(keys.rotateKey("owned"), 403, "Forbidden", managed("KeyManagedByKeyVault"));
    const secret = await secrets.getSecret("owned");
    assert.equal(secret.properties.version, created.properties.version);
    assert.equal(secret.properties.enabled, true);
    assert.equal((await keys.getKey("owned")).properties.version, created.properties.version);
  });

  test("delete takes the key and secret with it, recover brings all three back, purge removes all three", async () => {
    await (
      await certificates.beginCreateCertificate("short-lived", { issuerName: "Self", subject: "CN=short.contoso.test" })
    ).pollUntilDone();
    const deleted = await (await certificates.beginDeleteCertificate("short-lived")).pollUntilDone();
    assert.equal(deleted.name, "short-lived");
    assert.ok(deleted.recoveryId?.endsWith("/deletedcertificates/short-lived"));
    assert.equal((await certificates.getDeletedCertificate("short-lived")).name, "short-lived");
    assert.ok((await collect(certificates.listDeletedCertificates())).some((c) => c.name === "short-lived"));
    await rejectsWith(certificates.getCertificate("short-lived"), 404, "CertificateNotFound");
    await rejectsWith(secrets.getSecret("short-lived"), 404, "SecretNotFound");
    await rejectsWith(keys.getKey("short-lived"), 404, "KeyNotFound");
    await rejectsWith(
      certificates.beginCreateCertificate("short-lived", { issuerName: "Self", subject: "CN=again.contoso.test" }),
      409,
      "Conflict",
      { inner: "ObjectIsDeletedButRecoverable" },
    );

    await (await certificates.beginRecoverDeletedCertificate("short-lived")).pollUntilDone();
    const pfx = openPfx((await secrets.getSecret("short-lived")).value!, "short-lived");
    assert.match(pfx.certificate.subject, /CN=short\.contoso\.test/);
    assert.equal((await keys.getKey("short-lived")).properties.managed, true);

    await (await certificates.beginDeleteCertificate("short-lived")).pollUntilDone();
    await certificates.purgeDeletedCertificate("short-lived");
    await rejectsWith(certificates.getDeletedCertificate("short-lived"), 404, "CertificateNotFound");
    await rejectsWith(secrets.getDeletedSecret("short-lived"), 404, "SecretNotFound");
    await rejectsWith(keys.getDeletedKey("short-lived"), 404, "KeyNotFound");
    // The name is free again for all three.
    const again = await (
      await certificates.beginCreateCertificate("short-lived", { issuerName: "Self", subject: "CN=again.contoso.test" })
    ).pollUntilDone();
    assert.equal((await secrets.getSecret("short-lived")).properties.version, again.properties.version);
  });

  test("backup and restore into another vault bring every version with its key and secret", async () => {
    const policy: CertificatePolicy = { issuerName: "Self", subject: "CN=portable.contoso.test" };
    const first = await (await certificates.beginCreateCertificate("portable", policy)).pollUntilDone();
    const second = await (await certificates.beginCreateCertificate("portable", policy)).pollUntilDone();
    const backup = await certificates.backupCertificate("portable");
    assert.ok(backup && backup.length > 0);
    assert.equal(cli(["vault", "create", "certs-restored", "--data-dir", lockbox.dataDir]).status, 0);
    const there = new CertificateClient(lockbox.vaultUrl("certs-restored"), credential);
    const restored = await there.restoreCertificateBackup(backup!);
    assert.equal(restored.properties.version, second.properties.version);
    assert.deepEqual(Buffer.from(restored.cer!), Buffer.from(second.cer!));
    const versions = (await collect(there.listPropertiesOfCertificateVersions("portable"))).map((v) => v.version).sort();
    assert.deepEqual(versions, [first.properties.version, second.properties.version].sort());
    const theirSecrets = new SecretClient(lockbox.vaultUrl("certs-restored"), credential);
    const pfx = openPfx((await theirSecrets.getSecret("portable")).value!, "portable-restored");
    assert.equal(pfx.certificate.fingerprint256, new X509Certificate(Buffer.from(second.cer!)).fingerprint256);
    assert.ok(pfx.certificate.checkPrivateKey(pfx.key));
    const key = await new KeyClient(lockbox.vaultUrl("certs-restored"), credential).getKey("portable", {
      version: first.properties.version,
    });
    assert.equal(key.properties.managed, true);
    await rejectsWith(certificates.restoreCertificateBackup(backup!), 409, "Conflict");
    await rejectsWith(certificates.restoreCertificateBackup(Buffer.from("not a backup")), 400, "BadParameter");
  });
});

describe("loading and switching a certificate", () => {
  test("getSecret with outContentType PEM converts a PKCS#12 certificate secret; other conversions are 400", async () => {
    const created = await (
      await certificates.beginCreateCertificate("as-pem", { issuerName: "Self", subject: "CN=as-pem.contoso.test" })
    ).pollUntilDone();
    const pem = await secrets.getSecret("as-pem", { outContentType: "application/x-pem-file" });
    assert.equal(pem.properties.contentType, "application/x-pem-file");
    const certificate = new X509Certificate(pem.value!.slice(pem.value!.indexOf("-----BEGIN CERTIFICATE-----")));
    assert.equal(certificate.fingerprint256, new X509Certificate(Buffer.from(created.cer!)).fingerprint256);
    assert.ok(certificate.checkPrivateKey(createPrivateKey(pem.value!)));
    assert.equal((await secrets.getSecret("as-pem")).properties.contentType, "application/x-pkcs12", "the stored secret is unchanged");
    await secrets.setSecret("plain-for-pem", "not a certificate");
    await rejectsWith(secrets.getSecret("plain-for-pem", { outContentType: "application/x-pem-file" }), 400, "BadParameter");
  });

  test("disabling a certificate version disables its key and secret; enabling brings them back; tags stay the certificate's", async () => {
    const created = await (
      await certificates.beginCreateCertificate("switch", { issuerName: "Self", subject: "CN=switch.contoso.test" })
    ).pollUntilDone();
    const version = created.properties.version!;
    const off = await certificates.updateCertificateProperties("switch", version, { enabled: false, tags: { team: "web" } });
    assert.equal(off.properties.enabled, false);
    assert.deepEqual(off.properties.tags, { team: "web" });
    await rejectsWith(secrets.getSecret("switch"), 403, "Forbidden", { inner: "SecretDisabled" });
    assert.equal((await keys.getKey("switch")).properties.enabled, false);
    await certificates.updateCertificateProperties("switch", version, { enabled: true });
    assert.ok((await secrets.getSecret("switch")).value);
    assert.equal((await keys.getKey("switch")).properties.enabled, true);
    assert.deepEqual((await certificates.getCertificate("switch")).properties.tags, { team: "web" });
  });
});

describe("the Unknown issuer: a CSR, signed by the user's own CA, merged", () => {
  /** Signs a CSR (DER) with a CA made by openssl in the test; returns the leaf and CA certificates (DER). */
  function signWithTestCa(csrDer: Uint8Array, label: string): { leaf: Buffer; ca: Buffer } {
    const dir = mkdtempSync(join(work, `${label}-`));
    const run = (args: string[]) => {
      const r = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
      assert.equal(r.status, 0, `openssl ${args[0]}: ${r.stderr}`);
    };
    writeFileSync(join(dir, "req.der"), csrDer);
    run([
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      "ca.key",
      "-out",
      "ca.pem",
      "-subj",
      "/CN=Test CA",
      "-days",
      "30",
    ]);
    run(["req", "-in", "req.der", "-inform", "DER", "-out", "req.pem"]);
    run(["x509", "-req", "-in", "req.pem", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "leaf.pem", "-days", "20"]);
    const der = (file: string) => Buffer.from(new X509Certificate(readFileSync(join(dir, file))).raw);
    return { leaf: der("leaf.pem"), ca: der("ca.pem") };
  }

  test("create waits with a CSR; a create meanwhile is 409; merging another key's certificate is 400 and changes nothing; the right one completes it", async () => {
    await certificates.beginCreateCertificate("by-my-ca", {
      issuerName: "Unknown",
      subject: "CN=by-my-ca.contoso.test",
      subjectAlternativeNames: { dnsNames: ["by-my-ca.contoso.test"] },
    });
    const op = (await certificates.getCertificateOperation("by-my-ca")).getOperationState().certificateOperation!;
    assert.equal(op.status, "inProgress");
    assert.ok(op.csr && op.csr.length > 0, "the operation carries the CSR");
    const waiting = await certificates.getCertificate("by-my-ca");
    assert.equal(waiting.cer, undefined, "a pending certificate has no cer yet");
    assert.equal(waiting.policy?.issuerName, "Unknown");
    await rejectsWith(secrets.getSecret("by-my-ca"), 404, "SecretNotFound");
    await rejectsWith(certificates.beginCreateCertificate("by-my-ca", { issuerName: "Self", subject: "CN=x" }), 409, "Conflict");

    const other = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    const stranger = await selfSigned({ subject: "CN=by-my-ca.contoso.test", notBefore: new Date(), validityMonths: 1 }, other);
    await rejectsWith(certificates.mergeCertificate("by-my-ca", [stranger]), 400, "BadParameter", { message: /public key/ });
    assert.equal(
      (await (await certificates.getCertificateOperation("by-my-ca")).getOperationState()).certificateOperation?.status,
      "inProgress",
    );

    const { leaf, ca } = signWithTestCa(op.csr!, "by-my-ca");
    const merged = await certificates.mergeCertificate("by-my-ca", [leaf, ca]);
    assert.deepEqual(Buffer.from(merged.cer!), leaf);
    assert.equal(merged.properties.version, (await keys.getKey("by-my-ca")).properties.version);
    const pfx = openPfx((await secrets.getSecret("by-my-ca")).value!, "by-my-ca");
    assert.equal(pfx.certificate.fingerprint256, new X509Certificate(leaf).fingerprint256);
    assert.ok(pfx.certificate.checkPrivateKey(pfx.key), "the merged certificate is for the key Lockbox made");
    assert.ok(new X509Certificate(leaf).verify(new X509Certificate(ca).publicKey));
    const operation = await certificates.getCertificateOperation("by-my-ca");
    assert.equal(operation.getOperationState().certificateOperation?.status, "completed");
  });

  test("cancel and delete the pending operation; the name is free again", async () => {
    await certificates.beginCreateCertificate("cancelled-csr", {
      issuerName: "Unknown",
      subject: "CN=cancelled.contoso.test",
    });
    // getCertificateOperation reads the certificate first: a pending one is there, without its cer.
    const poller = await certificates.getCertificateOperation("cancelled-csr");
    assert.equal(poller.getOperationState().certificateOperation?.status, "inProgress");
    await poller.cancelOperation();
    assert.equal(poller.getOperationState().certificateOperation?.cancellationRequested, true);
    assert.equal(poller.getOperationState().certificateOperation?.status, "cancelled");
    const deleted = await certificates.deleteCertificateOperation("cancelled-csr");
    assert.equal(deleted.status, "cancelled");
    await rejectsWith(certificates.deleteCertificateOperation("cancelled-csr"), 404, "PendingCertificateNotFound");
    await rejectsWith(certificates.mergeCertificate("cancelled-csr", [Buffer.from("x")]), 404, "PendingCertificateNotFound");
    const created = await (
      await certificates.beginCreateCertificate("cancelled-csr", { issuerName: "Self", subject: "CN=cancelled.contoso.test" })
    ).pollUntilDone();
    assert.match(created.properties.version ?? "", /^[0-9a-f]{32}$/);
  });
});

describe("contacts and issuers", () => {
  test("contacts: set, get, delete; none is ContactsNotFound", async () => {
    await rejectsWith(certificates.getContacts(), 404, "ContactsNotFound");
    const set = await certificates.setContacts([
      { email: "admin@contoso.test", name: "Admin", phone: "1111111111" },
      { email: "ops@contoso.test", name: "Ops" },
    ]);
    assert.deepEqual(
      set?.map((c) => c?.email),
      ["admin@contoso.test", "ops@contoso.test"],
    );
    const got = await certificates.getContacts();
    assert.deepEqual(
      got?.map((c) => [c?.email, c?.name, c?.phone]),
      [
        ["admin@contoso.test", "Admin", "1111111111"],
        ["ops@contoso.test", "Ops", undefined],
      ],
    );
    await certificates.deleteContacts();
    await rejectsWith(certificates.getContacts(), 404, "ContactsNotFound");
  });

  test("issuers: create, get (never the password), update, list over pages, delete; a missing one is CertificateIssuerNotFound", async () => {
    const created = await certificates.createIssuer("digicert-prod", "DigiCert", {
      accountId: "acct-1",
      password: "issuer-account-password",
      organizationId: "org-1",
      administratorContacts: [{ firstName: "Ada", lastName: "Admin", email: "ada@contoso.test", phone: "222" }],
    });
    assert.equal(created.provider, "DigiCert");
    const got = await certificates.getIssuer("digicert-prod");
    assert.equal(got.accountId, "acct-1");
    assert.equal(got.password, undefined, "the account password is never returned");
    assert.equal(got.organizationId, "org-1");
    assert.equal(got.administratorContacts?.[0]?.email, "ada@contoso.test");
    assert.equal(got.enabled, true);
    // (The SDK's updateIssuer sends `enabled` only when it is true, so it cannot disable an issuer.)
    const updated = await certificates.updateIssuer("digicert-prod", { accountId: "acct-2" });
    assert.equal(updated.accountId, "acct-2");
    assert.equal((await certificates.getIssuer("digicert-prod")).accountId, "acct-2");
    assert.equal((await certificates.getIssuer("digicert-prod")).organizationId, "org-1", "what the update left out stays");

    for (let i = 0; i < 3; i++) await certificates.createIssuer(`gs-${i}`, "GlobalSign");
    const pages: string[][] = [];
    for await (const page of certificates.listPropertiesOfIssuers().byPage({ maxPageSize: 2 })) pages.push(page.map((p) => p.provider!));
    assert.equal(pages.flat().length, 4);
    assert.deepEqual(pages.flat().sort(), ["DigiCert", "GlobalSign", "GlobalSign", "GlobalSign"]);

    await certificates.deleteIssuer("digicert-prod");
    await rejectsWith(certificates.getIssuer("digicert-prod"), 404, "CertificateIssuerNotFound");
    await rejectsWith(certificates.deleteIssuer("digicert-prod"), 404, "CertificateIssuerNotFound");
  });
});

describe("policies", () => {
  test("get and update: an AutoRenew policy is kept as given and applies to the next version", async () => {
    await (
      await certificates.beginCreateCertificate("renewing", { issuerName: "Self", subject: "CN=renewing.contoso.test" })
    ).pollUntilDone();
    const initial = await certificates.getCertificatePolicy("renewing");
    const actions = (p: CertificatePolicy) => p.lifetimeActions?.map((a) => JSON.parse(JSON.stringify(a)) as object);
    assert.deepEqual(actions(initial), [{ action: "EmailContacts", lifetimePercentage: 80 }], "Azure's default");
    await certificates.updateCertificatePolicy("renewing", {
      issuerName: "Self",
      subject: "CN=renewing.contoso.test",
      lifetimeActions: [{ action: "AutoRenew", daysBeforeExpiry: 30 }],
      validityInMonths: 6,
    });
    const updated = await certificates.getCertificatePolicy("renewing");
    assert.deepEqual(actions(updated), [{ action: "AutoRenew", daysBeforeExpiry: 30 }]);
    assert.equal(updated.validityInMonths, 6);
    const next = await (await certificates.beginCreateCertificate("renewing", updated)).pollUntilDone();
    const cer = new X509Certificate(Buffer.from(next.cer!));
    const months = (Date.parse(cer.validTo) - Date.parse(cer.validFrom)) / DAY_MS;
    assert.ok(months > 180 && months < 185, `6 months, not ${months} days`);
  });

  test("invalid policies are 400 BadParameter and make nothing", async () => {
    await rejectsWith(certificates.beginCreateCertificate("bad-policy", { issuerName: "Self" } as CertificatePolicy), 400, "BadParameter", {
      message: /subject or subject alternative names/,
    });
    await rejectsWith(
      certificates.beginCreateCertificate("bad-policy", { issuerName: "Self", subject: "CN=x", keyType: "RSA", keySize: 1024 }),
      400,
      "BadParameter",
    );
    await rejectsWith(
      certificates.beginCreateCertificate("bad-policy", {
        issuerName: "Self",
        subject: "CN=x",
        lifetimeActions: [{ action: "AutoRenew", lifetimePercentage: 100 }],
      }),
      400,
      "BadParameter",
      { message: /lifetime_percentage/ },
    );
    await rejectsWith(certificates.getCertificate("bad-policy"), 404, "CertificateNotFound");
    await rejectsWith(secrets.getSecret("bad-policy"), 404, "SecretNotFound");
  });
});

describe("import", () => {
  test("a PEM with its key is imported: the certificate, its secret (PEM) and its key", async () => {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-384" });
    const der = await selfSigned({ subject: "CN=imported.contoso.test", notBefore: new Date(), validityMonths: 2 }, privateKey);
    const pem = `${privateKey.export({ format: "pem", type: "pkcs8" })}${new X509Certificate(der).toString()}`;
    const imported = await certificates.importCertificate("imported-pem", Buffer.from(pem));
    assert.deepEqual(Buffer.from(imported.cer!), der);
    assert.equal(imported.policy?.contentType, "application/x-pem-file");
    const secret = (await secrets.getSecret("imported-pem")).value!;
    assert.ok(new X509Certificate(secret.slice(secret.indexOf("-----BEGIN CERTIFICATE-----"))).checkPrivateKey(createPrivateKey(secret)));
    const key = await keys.getKey("imported-pem");
    assert.equal(key.key?.crv, "P-384");
    assert.deepEqual(
      createPublicKey({ key: { kty: "EC", crv: "P-384", x: b64(key.key!.x), y: b64(key.key!.y) }, format: "jwk" }).export({
        format: "der",
        type: "spki",
      }),
      new X509Certificate(der).publicKey.export({ format: "der", type: "spki" }),
    );
    await rejectsWith(
      certificates.getCertificateOperation("imported-pem").then((p) => p.pollUntilDone()),
      404,
      "PendingCertificateNotFound",
    );
  });

  test("a PKCS#12 with a password made by openssl; a wrong password, a certificate without its key, and garbage are 400", async () => {
    const keyFile = join(work, "p12.key");
    const certFile = join(work, "p12.crt");
    const pfxFile = join(work, "p12.pfx");
    const req = spawnSync("openssl", [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      keyFile,
      "-out",
      certFile,
      "-subj",
      "/CN=p12.contoso.test",
      "-days",
      "30",
    ]);
    assert.equal(req.status, 0, String(req.stderr));
    const exp = spawnSync("openssl", ["pkcs12", "-export", "-inkey", keyFile, "-in", certFile, "-out", pfxFile, "-passout", "pass:s3cret"]);
    assert.equal(exp.status, 0, String(exp.stderr));
    const pfx = spawnSync("base64", ["-w0", pfxFile], { encoding: "utf8" }).stdout;
    const imported = await certificates.importCertificate("imported-p12", Buffer.from(pfx, "base64"), { password: "s3cret" });
    assert.match(new X509Certificate(Buffer.from(imported.cer!)).subject, /CN=p12\.contoso\.test/);
    assert.equal(imported.policy?.contentType, "application/x-pkcs12");
    const reopened = openPfx((await secrets.getSecret("imported-p12")).value!, "imported-p12");
    assert.ok(reopened.certificate.checkPrivateKey(reopened.key));

    await rejectsWith(
      certificates.importCertificate("wrong-password", Buffer.from(pfx, "base64"), { password: "nope" }),
      400,
      "BadParameter",
      {
        message: /password/,
      },
    );
    const certOnly = spawnSync("openssl", ["x509", "-in", certFile], { encoding: "utf8" }).stdout;
    await rejectsWith(certificates.importCertificate("no-key", Buffer.from(certOnly)), 400, "BadParameter", { message: /private key/ });
    await rejectsWith(certificates.importCertificate("garbage", Buffer.from("not a certificate at all")), 400, "BadParameter");
    await rejectsWith(certificates.getCertificate("wrong-password"), 404, "CertificateNotFound");
  });
});

const b64 = (u: Uint8Array | undefined): string => Buffer.from(u ?? []).toString("base64url");

describe("issuers that issue, and lists with pending certificates", () => {
  test("an issuer of provider Lockbox issues from the instance's CA: the PFX holds the chain up to ca.pem, and a renewal names the version it follows", async () => {
    await certificates.createIssuer("house-ca", "Lockbox");
    const policy: CertificatePolicy = {
      issuerName: "house-ca",
      subject: "CN=api.contoso.test",
      subjectAlternativeNames: { dnsNames: ["api.contoso.test"] },
    };
    const first = await (await certificates.beginCreateCertificate("by-house-ca", policy)).pollUntilDone();
    const ca = new X509Certificate(readFileSync(join(lockbox.dataDir, "tls", "ca.pem")));
    const leaf = new X509Certificate(Buffer.from(first.cer!));
    assert.equal(leaf.issuer, ca.subject);
    assert.ok(leaf.verify(ca.publicKey), "the leaf is signed by the CA the server's TLS certificate comes from");
    assert.equal(leaf.checkIssued(ca), true);

    const file = join(work, "house.pfx");
    writeFileSync(file, Buffer.from((await secrets.getSecret("by-house-ca")).value!, "base64"));
    const certs = spawnSync("openssl", ["pkcs12", "-in", file, "-passin", "pass:", "-nokeys"], { encoding: "utf8" });
    assert.equal(certs.status, 0, certs.stderr);
    const chain = [...certs.stdout.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)].map(
      (m) => new X509Certificate(m[0]),
    );
    assert.deepEqual(
      chain.map((c) => c.fingerprint256),
      [leaf.fingerprint256, ca.fingerprint256],
      "the PFX holds the leaf, then the CA",
    );
    assert.equal((await secrets.getSecret("by-house-ca")).properties.previousVersion, undefined, "a first version follows none");

    const second = await (await certificates.beginCreateCertificate("by-house-ca", policy)).pollUntilDone();
    const backing = await secrets.getSecret("by-house-ca");
    assert.equal(backing.properties.version, second.properties.version);
    assert.equal(backing.properties.previousVersion, first.properties.version);
  });

  test("an issuer whose CA cannot be reached ends the operation as failed, with its reason, not a hang; a missing or disabled issuer is 400", async () => {
    await certificates.createIssuer("digicert-unreachable", "DigiCert", { accountId: "a", password: "p", organizationId: "o" });
    // The poller reads the operation as it starts: failed, so beginCreateCertificate rejects with its reason.
    await assert.rejects(
      certificates.beginCreateCertificate("from-digicert", { issuerName: "digicert-unreachable", subject: "CN=d.contoso.test" }),
      /cannot be reached/,
    );
    // getCertificateOperation rejects with the same reason; the operation itself says why.
    await assert.rejects(certificates.getCertificateOperation("from-digicert"), /cannot be reached/);
    const token = await developerToken(lockbox);
    const op = (await raw(lockbox, { path: "/certificates/from-digicert/pending?api-version=7.5", token })).json;
    assert.equal(op.status, "failed");
    assert.equal(op.error?.code, "CertificateAuthorityUnreachable");
    assert.match(op.status_details ?? "", /DigiCert/);
    await rejectsWith(secrets.getSecret("from-digicert"), 404, "SecretNotFound");
    // A failed operation cannot be cancelled, and does not hold the name.
    const cancel = await raw(lockbox, {
      method: "PATCH",
      path: "/certificates/from-digicert/pending?api-version=7.5",
      token,
      body: { cancellation_requested: true },
    });
    assert.equal(cancel.status, 403);
    assert.match(cancel.json.error.message, /must be in progress/);
    const self = await (
      await certificates.beginCreateCertificate("from-digicert", { issuerName: "Self", subject: "CN=d.contoso.test" })
    ).pollUntilDone();
    const after = (await certificates.getCertificateOperation("from-digicert")).getOperationState().certificateOperation!;
    assert.equal(after.status, "completed", "the new version's operation replaces the failed one");
    assert.equal(after.requestId, self.properties.version);

    await rejectsWith(
      certificates.beginCreateCertificate("no-such-issuer", { issuerName: "never-set", subject: "CN=x" }),
      400,
      "BadParameter",
      {
        message: /never-set/,
      },
    );
    await certificates.createIssuer("switched-off", "Lockbox", { enabled: false });
    await rejectsWith(
      certificates.beginCreateCertificate("no-such-issuer", { issuerName: "switched-off", subject: "CN=x" }),
      400,
      "BadParameter",
      {
        message: /disabled/,
      },
    );
    await rejectsWith(certificates.getCertificate("no-such-issuer"), 404, "CertificateNotFound");
  });

  test("includePending lists the certificates still waiting for their CA, after the others, over pages", async () => {
    await certificates.beginCreateCertificate("waiting-listed", { issuerName: "Unknown", subject: "CN=waiting.contoso.test" });
    const plain = await collect(certificates.listPropertiesOfCertificates());
    assert.ok(plain.length >= 2, "other certificates exist");
    assert.equal(
      plain.find((c) => c.name === "waiting-listed"),
      undefined,
      "without includePending, a waiting certificate is not listed",
    );
    const all = await collect(certificates.listPropertiesOfCertificates({ includePending: true }));
    const waiting = all.find((c) => c.name === "waiting-listed");
    assert.ok(waiting, "includePending lists it");
    assert.equal(waiting.x509Thumbprint, undefined);
    assert.deepEqual(
      all.filter((c) => c.name !== "waiting-listed").map((c) => c.name),
      plain.map((c) => c.name),
    );

    // One a page: each nextLink carries includePending, and every name comes once.
    const token = await developerToken(lockbox);
    const names: string[] = [];
    let path: string | null = "/certificates?api-version=7.5&maxresults=1&includePending=true";
    while (path) {
      const page = await raw(lockbox, { path, token });
      assert.equal(page.status, 200, page.text);
      names.push(...(page.json.value as Array<{ id: string }>).map((v) => v.id.split("/").pop()!));
      path = page.json.nextLink ? new URL(page.json.nextLink).pathname + new URL(page.json.nextLink).search : null;
      if (path) assert.match(path, /includePending=true/);
    }
    assert.deepEqual(
      names,
      all.map((c) => c.name),
    );
    const bad = await raw(lockbox, { path: "/certificates?api-version=7.5&includePending=maybe", token });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.code, "BadParameter");
  });
});

describe("names", () => {
  test("a certificate cannot take the name of a secret or key of the caller's own: 409, and the secret or key is as it was", async () => {
    await secrets.setSecret("taken-by-secret", "mine");
    await rejectsWith(certificates.beginCreateCertificate("taken-by-secret", { issuerName: "Self", subject: "CN=x" }), 409, "Conflict", {
      message: /secret named taken-by-secret/,
    });
    assert.equal((await secrets.getSecret("taken-by-secret")).value, "mine");
    assert.equal((await collect(secrets.listPropertiesOfSecretVersions("taken-by-secret"))).length, 1);
    await rejectsWith(certificates.getCertificate("taken-by-secret"), 404, "CertificateNotFound");

    const own = await keys.createEcKey("taken-by-key");
    await rejectsWith(certificates.beginCreateCertificate("taken-by-key", { issuerName: "Unknown", subject: "CN=x" }), 409, "Conflict", {
      message: /key named taken-by-key/,
    });
    assert.equal((await keys.getKey("taken-by-key")).properties.version, own.properties.version);
    await rejectsWith(certificates.deleteCertificateOperation("taken-by-key"), 404, "PendingCertificateNotFound");
  });
});

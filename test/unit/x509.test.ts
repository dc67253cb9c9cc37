import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { X509Certificate, createHash, generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  TemplateError,
  certificateFacts,
  certificationRequest,
  issue,
  selfSigned,
  type CertificateTemplate,
} from "../../src/crypto/x509.ts";

interface KeyKind {
  generate: () => { privateKey: KeyObject; publicKey: KeyObject };
  /** The signature algorithm as OpenSSL names it. */
  signature: string;
}
const ec = (namedCurve: string, signature: string): KeyKind => ({ generate: () => generateKeyPairSync("ec", { namedCurve }), signature });
const KINDS: Record<string, KeyKind> = {
  "RSA 2048": { generate: () => generateKeyPairSync("rsa", { modulusLength: 2048 }), signature: "sha256WithRSAEncryption" },
  "P-256": ec("P-256", "ecdsa-with-SHA256"),
  "P-384": ec("P-384", "ecdsa-with-SHA384"),
  "P-521": ec("P-521", "ecdsa-with-SHA512"),
  secp256k1: ec("secp256k1", "ecdsa-with-SHA256"),
};

const NOT_BEFORE = new Date("2025-01-31T12:00:00Z");
const TEMPLATE: CertificateTemplate = {
  subject: 'CN=www.contoso.com, O="Contoso, Inc", OU=Web,L=Redmond, S=WA, C=US, E=admin@contoso.com',
  sans: {
    dnsNames: ["www.contoso.com", "*.contoso.com"],
    emails: ["admin@contoso.com"],
    upns: ["svc@contoso.com"],
    ipAddresses: ["10.1.2.3", "2001:DB8::1"],
    uris: ["https://contoso.com/app"],
  },
  keyUsage: ["digitalSignature", "keyEncipherment"],
  ekus: ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"],
  notBefore: NOT_BEFORE,
  validityMonths: 13,
};
/** NOT_BEFORE + 13 calendar months: February has no 31st. */
const NOT_AFTER = new Date("2026-02-28T12:00:00Z");

function openssl(args: string[], input?: Buffer): string {
  const run = spawnSync("openssl", args, { input });
  const output = `${run.stdout}${run.stderr}`;
  assert.equal(run.status, 0, `openssl ${args.join(" ")}: ${output}`);
  return output;
}
const certText = (der: Buffer): string => openssl(["x509", "-inform", "DER", "-noout", "-text"], der);
const pem = (der: Buffer): string => new X509Certificate(der).toString();

/** Subject and Authority Key Identifiers as `openssl x509 -text` shows them. */
function keyIds(text: string): { ski?: string; aki?: string } {
  return {
    ski: /Subject Key Identifier:\s*\n\s*([0-9A-F:]+)/.exec(text)?.[1],
    aki: /Authority Key Identifier:\s*\n\s*(?:keyid:)?([0-9A-F:]+)/.exec(text)?.[1],
  };
}

/** RFC 5280's key identifier (SHA-1 of the subjectPublicKey bits) in OpenSSL's notation. */
function expectedKeyId(publicKey: KeyObject): string {
  let bits: Buffer;
  if (publicKey.asymmetricKeyType === "rsa") bits = publicKey.export({ format: "der", type: "pkcs1" });
  else {
    const { x, y } = publicKey.export({ format: "jwk" }) as { x: string; y: string };
    bits = Buffer.concat([Buffer.from([4]), Buffer.from(x, "base64url"), Buffer.from(y, "base64url")]);
  }
  return createHash("sha1").update(bits).digest("hex").toUpperCase().match(/../g)!.join(":");
}

function withDir(run: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "lockbox-x509-"));
  try {
    run(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const [kind, { generate, signature }] of Object.entries(KINDS)) {
  test(`${kind}: a self-signed certificate as node:crypto and OpenSSL read it`, async () => {
    const { privateKey, publicKey } = generate();
    const der = await selfSigned(TEMPLATE, privateKey);
    const cert = new X509Certificate(der);
    assert.equal(cert.subject, "CN=www.contoso.com\nO=Contoso\\, Inc\nOU=Web\nL=Redmond\nST=WA\nC=US\nemailAddress=admin@contoso.com");
    assert.equal(cert.issuer, cert.subject);
    assert.equal(
      cert.subjectAltName,
      "DNS:www.contoso.com, DNS:*.contoso.com, email:admin@contoso.com, othername:UPN:svc@contoso.com, " +
        "IP Address:10.1.2.3, IP Address:2001:DB8:0:0:0:0:0:1, URI:https://contoso.com/app",
    );
    assert.equal(new Date(cert.validFrom).toISOString(), NOT_BEFORE.toISOString());
    assert.equal(new Date(cert.validTo).toISOString(), NOT_AFTER.toISOString());
    assert.ok(cert.verify(publicKey), "the signature does not verify with the key");
    assert.ok(cert.checkPrivateKey(privateKey), "the certificate is not of the key");
    assert.equal(cert.ca, false);
    assert.match(cert.serialNumber, /^[0-7][0-9A-F]{31}$/, "a 16-byte positive serial number");
    assert.deepEqual(cert.keyUsage, ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"], "node's keyUsage is the EKUs");

    const text = certText(der);
    assert.match(text, /Version: 3 \(0x2\)/);
    assert.match(text, new RegExp(`Signature Algorithm: ${signature}\\n`));
    assert.match(text, /X509v3 Basic Constraints: critical\s+CA:FALSE/);
    assert.match(text, /X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment\n/);
    assert.match(text, /X509v3 Extended Key Usage: *\n\s+TLS Web Server Authentication, TLS Web Client Authentication\n/);
    assert.match(text, /X509v3 Subject Alternative Name: *\n.*othername: ?UPN:+svc@contoso\.com/, "the UPN is an otherName");
    assert.doesNotMatch(text, /Subject Alternative Name: critical/, "SANs are not critical when there is a subject");
    const { ski, aki } = keyIds(text);
    assert.equal(ski, expectedKeyId(publicKey), "the SKI is the SHA-1 of the public key");
    assert.equal(aki, ski, "a self-signed certificate's AKI is its own SKI");
  });

  test(`${kind}: a certificate issued by a CA verifies against it (node:crypto and openssl verify)`, async () => {
    const ca = generate();
    const caCert = await selfSigned(
      {
        subject: "CN=Lockbox Test CA, O=Lockbox",
        keyUsage: ["keyCertSign", "cRLSign"],
        ca: true,
        notBefore: NOT_BEFORE,
        validityMonths: 120,
      },
      ca.privateKey,
    );
    const leaf = generate();
    const leafCert = await issue(TEMPLATE, leaf.publicKey, { certificate: caCert, key: ca.privateKey });
    const node = new X509Certificate(leafCert);
    const caNode = new X509Certificate(caCert);
    assert.ok(caNode.ca, "the CA is a CA");
    assert.ok(node.verify(ca.publicKey), "the leaf does not verify with the CA's key");
    assert.ok(!node.verify(leaf.publicKey), "the leaf verifies with its own key");
    assert.ok(node.checkPrivateKey(leaf.privateKey), "the leaf is not of the subject's key");
    assert.equal(node.issuer, caNode.subject);
    assert.ok(node.checkIssued(caNode));

    const caText = certText(caCert);
    assert.match(caText, /X509v3 Basic Constraints: critical\s+CA:TRUE\n/);
    assert.match(caText, /X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign\n/);
    const leafText = certText(leafCert);
    assert.match(leafText, new RegExp(`Signature Algorithm: ${signature}\\n`));
    assert.equal(keyIds(leafText).aki, keyIds(caText).ski, "the leaf's AKI is the CA's SKI");
    assert.equal(keyIds(leafText).ski, expectedKeyId(leaf.publicKey));

    withDir((dir) => {
      writeFileSync(join(dir, "ca.pem"), pem(caCert));
      writeFileSync(join(dir, "leaf.pem"), pem(leafCert));
      const out = openssl(["verify", "-x509_strict", "-attime", "1738400000", "-CAfile", join(dir, "ca.pem"), join(dir, "leaf.pem")]);
      assert.match(out, /leaf\.pem: OK/);
    });

    const facts = certificateFacts(leafCert);
    assert.equal(facts.issuer, "CN=Lockbox Test CA, O=Lockbox");
    assert.equal(facts.selfSigned, false);
    assert.equal(certificateFacts(caCert).selfSigned, true);
  });

  test(`${kind}: a PKCS#10 request that OpenSSL verifies, with the subject and the requested extensions`, async () => {
    const { privateKey, publicKey } = generate();
    const { notBefore: _, validityMonths: __, ...request } = TEMPLATE;
    const der = await certificationRequest(request, privateKey);
    const text = openssl(["req", "-inform", "DER", "-verify", "-noout", "-text"], der);
    assert.match(text, /verify OK/);
    assert.match(
      text,
      /Subject: CN = www\.contoso\.com, O = "Contoso, Inc", OU = Web, L = Redmond, ST = WA, C = US, emailAddress = admin@contoso\.com\n/,
    );
    assert.match(text, new RegExp(`Signature Algorithm: ${signature}\\n`));
    assert.match(text, /Requested Extensions:/);
    assert.match(
      text,
      /X509v3 Subject Alternative Name: *\n\s+DNS:www\.contoso\.com, DNS:\*\.contoso\.com, email:admin@contoso\.com, othername: ?UPN:+svc@contoso\.com, IP Address:10\.1\.2\.3, IP Address:2001:DB8:0:0:0:0:0:1, URI:https:\/\/contoso\.com\/app\n/,
    );
    assert.match(text, /X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment\n/);
    assert.match(text, /X509v3 Extended Key Usage: *\n\s+TLS Web Server Authentication, TLS Web Client Authentication\n/);
    const spki = openssl(["req", "-inform", "DER", "-noout", "-pubkey"], der);
    assert.equal(spki.trim(), (publicKey.export({ format: "pem", type: "spki" }) as string).trim());
  });
}

test("certificateFacts reads back what selfSigned wrote", async () => {
  const { privateKey, publicKey } = KINDS["P-256"]!.generate();
  const der = await selfSigned(TEMPLATE, privateKey);
  const facts = certificateFacts(der);
  const node = new X509Certificate(der);
  assert.equal(facts.subject, 'CN=www.contoso.com, O="Contoso, Inc", OU=Web, L=Redmond, S=WA, C=US, E=admin@contoso.com');
  assert.equal(facts.issuer, facts.subject);
  assert.deepEqual(facts.sans, { ...TEMPLATE.sans, ipAddresses: ["10.1.2.3", "2001:db8::1"] });
  assert.deepEqual(facts.notBefore, NOT_BEFORE);
  assert.deepEqual(facts.notAfter, NOT_AFTER);
  assert.equal(facts.serialNumber, node.serialNumber.toLowerCase());
  assert.equal(facts.x5t.toString("hex"), node.fingerprint.replace(/:/g, "").toLowerCase());
  assert.ok(facts.publicKey.equals(publicKey));
  assert.deepEqual(facts.keyUsage, ["digitalSignature", "keyEncipherment"]);
  assert.deepEqual(facts.ekus, ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]);
  assert.equal(facts.selfSigned, true);
  // The subject it gives is one selfSigned takes: the names round-trip.
  assert.equal(certificateFacts(await selfSigned({ ...TEMPLATE, subject: facts.subject }, privateKey)).subject, facts.subject);
});

test("two certificates of one template have different random serial numbers", async () => {
  const { privateKey } = KINDS["P-256"]!.generate();
  const a = certificateFacts(await selfSigned(TEMPLATE, privateKey)).serialNumber;
  const b = certificateFacts(await selfSigned(TEMPLATE, privateKey)).serialNumber;
  assert.notEqual(a, b);
  for (const serial of [a, b]) assert.match(serial, /^[0-7][0-9a-f]{31}$/);
});

test("subjects: commas with or without spaces, quoted values, S or ST, OIDs, and an empty subject with SANs", async () => {
  const { privateKey } = KINDS["P-256"]!.generate();
  const subjectOf = async (subject: string, sans = TEMPLATE.sans): Promise<string> =>
    new X509Certificate(await selfSigned({ ...TEMPLATE, subject, sans }, privateKey)).subject;
  assert.equal(await subjectOf("CN=a,O=b,OU=c"), "CN=a\nO=b\nOU=c");
  assert.equal(await subjectOf("  CN = a ,  O=b  "), "CN=a\nO=b");
  assert.equal(await subjectOf('CN="a, b", O="say ""hi"""'), 'CN=a\\, b\nO=say \\"hi\\"');
  assert.equal(await subjectOf("S=WA, ST=OR"), "ST=WA\nST=OR");
  assert.equal(await subjectOf("cn=lower, 2.5.4.10=Org, OID.2.5.4.11=Unit"), "CN=lower\nO=Org\nOU=Unit");
  assert.equal(await subjectOf("CN=Zürich"), "CN=Zürich");

  const empty = await selfSigned({ ...TEMPLATE, subject: "", sans: { dnsNames: ["only.contoso.com"] } }, privateKey);
  const node = new X509Certificate(empty);
  assert.equal(node.subject, undefined, "node:crypto has no subject to show");
  assert.equal(node.subjectAltName, "DNS:only.contoso.com");
  assert.match(certText(empty), /X509v3 Subject Alternative Name: critical/, "with an empty subject the SANs are critical");
  assert.equal(certificateFacts(empty).subject, "");
});

test("validity: notAfter is notBefore plus calendar months, clamped to the month's last day", async () => {
  const { privateKey } = KINDS["P-256"]!.generate();
  const notAfter = async (notBefore: string, validityMonths: number): Promise<string> =>
    certificateFacts(await selfSigned({ ...TEMPLATE, notBefore: new Date(notBefore), validityMonths }, privateKey)).notAfter.toISOString();
  assert.equal(await notAfter("2024-01-31T00:00:00Z", 1), "2024-02-29T00:00:00.000Z");
  assert.equal(await notAfter("2023-01-31T00:00:00Z", 1), "2023-02-28T00:00:00.000Z");
  assert.equal(await notAfter("2024-11-30T08:09:10Z", 3), "2025-02-28T08:09:10.000Z");
  assert.equal(await notAfter("2024-03-15T23:59:59Z", 12), "2025-03-15T23:59:59.000Z");
  assert.equal(await notAfter("2049-12-31T12:00:00Z", 1), "2050-01-31T12:00:00.000Z", "GeneralizedTime from 2050");
  const facts = certificateFacts(await selfSigned({ ...TEMPLATE, notBefore: new Date("2024-05-06T07:08:09.999Z") }, privateKey));
  assert.equal(facts.notBefore.toISOString(), "2024-05-06T07:08:09.000Z", "X.509 times are to the second");
});

test("a bad template is a TemplateError", async () => {
  const { privateKey } = KINDS["P-256"]!.generate();
  const bad: Partial<CertificateTemplate>[] = [
    { sans: { ipAddresses: ["1.2.3.256"] } },
    { sans: { ipAddresses: ["10.1.2"] } },
    { sans: { ipAddresses: ["fe80::1%eth0"] } },
    { sans: { ipAddresses: ["www.contoso.com"] } },
    { sans: { uris: ["not a uri"] } },
    { sans: { dnsNames: ["has space.contoso.com"] } },
    { sans: { emails: ["no-at-sign"] } },
    { subject: "garbage" },
    { subject: "CN=a, nonsense" },
    { subject: "XX=a" },
    { subject: "CN=" },
    { subject: "CN=a," },
    { subject: 'CN="unterminated' },
    { subject: 'CN="a"b' },
    { subject: "C=USA" },
    { keyUsage: ["digitalSignature", "bogus"] },
    { ekus: ["serverAuth"] },
    { validityMonths: 0 },
    { validityMonths: 1.5 },
    { notBefore: new Date(Number.NaN) },
  ];
  for (const change of bad) {
    await assert.rejects(selfSigned({ ...TEMPLATE, ...change }, privateKey), TemplateError, JSON.stringify(change));
  }
  await assert.rejects(certificationRequest({ subject: "CN=a", sans: { ipAddresses: ["::g"] } }, privateKey), TemplateError);
  assert.throws(() => certificateFacts(Buffer.from("not a certificate")), TemplateError);
});

test("keys it cannot sign with, and an issuer key that is not the issuer certificate's, are refused", async () => {
  const { privateKey } = generateKeyPairSync("ed25519");
  await assert.rejects(selfSigned(TEMPLATE, privateKey), TypeError);
  const ca = KINDS["P-256"]!.generate();
  const caCert = await selfSigned({ ...TEMPLATE, ca: true, keyUsage: ["keyCertSign"] }, ca.privateKey);
  const other = KINDS["P-256"]!.generate();
  await assert.rejects(issue(TEMPLATE, other.publicKey, { certificate: caCert, key: other.privateKey }), /not its certificate's key/);
});

import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { X509Certificate, createHmac, createPrivateKey, generateKeyPairSync, randomBytes, type KeyObject } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import {
  CertificateFormatError,
  buildPem,
  buildPfx,
  leafMatchesKey,
  readCertificateValue,
  readPem,
  readPfx,
  type CertificateBundle,
} from "../../src/crypto/pkcs12.ts";

const dir = mkdtempSync(join(tmpdir(), "lockbox-pkcs12-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
/** A new file in the test's temporary directory. */
function file(contents: string | Buffer): string {
  const path = join(dir, `f${files++}`);
  writeFileSync(path, contents);
  return path;
}

function run(args: string[], input?: Buffer): { status: number | null; stdout: Buffer; text: string } {
  const result = spawnSync("openssl", args, { input });
  return { status: result.status, stdout: result.stdout, text: `${result.stdout}${result.stderr}` };
}
/** Runs openssl, which must succeed, for its standard output. */
function openssl(args: string[], input?: Buffer): Buffer {
  const result = run(args, input);
  assert.equal(result.status, 0, `openssl ${args.join(" ")}: ${result.text}`);
  return result.stdout;
}
const LEGACY = run(["list", "-providers", "-provider", "legacy"]).status === 0;

const keyPem = (key: KeyObject): string => key.export({ format: "pem", type: "pkcs8" }) as string;
const certPem = (der: Buffer): string => new X509Certificate(der).toString();
const pkcs8 = (key?: KeyObject): Buffer | undefined => key?.export({ format: "der", type: "pkcs8" });

/** A certificate for key made by `openssl req -x509`: self-signed, or issued by issuer. */
function certificate(key: KeyObject, cn: string, issuer?: { key: KeyObject; cert: Buffer }): Buffer {
  const args = ["req", "-x509", "-new", "-key", file(keyPem(key)), "-subj", `/CN=${cn}`, "-days", "2", "-outform", "DER"];
  if (issuer) args.push("-CA", file(certPem(issuer.cert)), "-CAkey", file(keyPem(issuer.key)));
  return openssl(args);
}

const ec = (namedCurve: string) => () => generateKeyPairSync("ec", { namedCurve }).privateKey;
const KINDS: Record<string, () => KeyObject> = {
  "RSA 2048": () => generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey,
  "P-256": ec("prime256v1"),
  "P-384": ec("secp384r1"),
  "P-521": ec("secp521r1"),
  secp256k1: ec("secp256k1"),
};
const SELF_SIGNED: Record<string, Required<CertificateBundle>> = {};
for (const [kind, generate] of Object.entries(KINDS)) {
  const key = generate();
  SELF_SIGNED[kind] = { key, chain: [certificate(key, kind)] };
}

const caKey = KINDS["RSA 2048"]!();
const caCert = certificate(caKey, "Lockbox Test CA");
const leafKey = KINDS["P-256"]!();
const leafCert = certificate(leafKey, "leaf.example", { key: caKey, cert: caCert });
/** A leaf issued by a CA, with the CA: the chain of 2. */
const CHAIN: Required<CertificateBundle> = { key: leafKey, chain: [leafCert, caCert] };
const PASSWORD = "pässwörd 🔑 secret";
const WRONG = "Tr0ub4dor&3";

function assertSameBundle(actual: CertificateBundle, expected: CertificateBundle): void {
  assert.deepEqual(pkcs8(actual.key), pkcs8(expected.key), "the key");
  assert.equal(actual.chain.length, expected.chain.length, "the chain's length");
  actual.chain.forEach((der, i) => assert.ok(der.equals(expected.chain[i]!), `certificate ${i}`));
}

/** Asserts that promise rejects (or fn throws) with a CertificateFormatError whose message holds none of secrets. */
async function rejectsFormat(action: Promise<unknown> | (() => unknown), secrets: string[] = []): Promise<string> {
  let caught: unknown;
  try {
    await (typeof action === "function" ? action() : action);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof CertificateFormatError, `expected a CertificateFormatError, got ${String(caught)}`);
  for (const secret of secrets) assert.ok(!caught.message.includes(secret), "the message shows a secret");
  return caught.message;
}

/** The PEM blocks of openssl's output, by label. */
const pemBlocks = (text: string): { label: string; pem: string }[] =>
  [...text.matchAll(/-----BEGIN ([A-Z ]+)-----[\s\S]+?-----END \1-----\n/g)].map((m) => ({ label: m[1]!, pem: m[0] }));

/** What `openssl pkcs12 -nodes` makes of a PFX: the key and the certificates, in the order it prints them. */
function opensslOpens(pfx: Buffer, password: string): CertificateBundle & { text: string } {
  const text = openssl(["pkcs12", "-in", file(pfx), "-passin", `pass:${password}`, "-nodes"]).toString();
  const blocks = pemBlocks(text);
  const keys = blocks.filter((b) => b.label === "PRIVATE KEY").map((b) => createPrivateKey(b.pem));
  const chain = blocks.filter((b) => b.label === "CERTIFICATE").map((b) => new X509Certificate(b.pem).raw);
  assert.ok(keys.length <= 1);
  return { key: keys[0], chain, text };
}

/** A PFX made by `openssl pkcs12 -export` of the chain's certificates and (unless -nocerts or -nokeys) the key. */
function opensslPfx(bundle: CertificateBundle, password: string, args: string[] = []): Buffer {
  const out = join(dir, `f${files++}.p12`);
  const input = ["-in", file(certPem(bundle.chain[0]!))];
  if (bundle.chain.length > 1) input.push("-certfile", file(bundle.chain.slice(1).map(certPem).join("")));
  if (bundle.key) input.push("-inkey", file(keyPem(bundle.key)));
  openssl(["pkcs12", "-export", ...input, "-out", out, "-passout", `pass:${password}`, ...args]);
  return readFileSync(out);
}

for (const [kind, bundle] of Object.entries(SELF_SIGNED)) {
  test(`${kind}: buildPfx then readPfx gives back the key and certificate, with no password and with one`, async () => {
    assertSameBundle(await readPfx(await buildPfx(bundle)), bundle);
    assertSameBundle(await readPfx(await buildPfx(bundle), ""), bundle);
    assertSameBundle(await readPfx(await buildPfx(bundle, PASSWORD), PASSWORD), bundle);
  });

  test(`${kind}: openssl pkcs12 opens what buildPfx writes`, async () => {
    const opened = opensslOpens(await buildPfx(bundle), "");
    assertSameBundle(opened, bundle);
    assertSameBundle(opensslOpens(await buildPfx(bundle, PASSWORD), PASSWORD), bundle);
  });
}

test("buildPfx writes PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) for key and certificates, an HMAC-SHA256 MAC, and localKeyId on key and leaf", async () => {
  const pfx = await buildPfx(CHAIN, PASSWORD);
  const info = run(["pkcs12", "-in", file(pfx), "-passin", `pass:${PASSWORD}`, "-info", "-nodes"]);
  assert.equal(info.status, 0, info.text);
  assert.match(info.text, /MAC: sha256, Iteration \d+/);
  assert.match(info.text, /PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC, Iteration \d+, PRF hmacWithSHA256/);
  assert.match(info.text, /Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration \d+, PRF hmacWithSHA256/);
  const iterations = [...info.text.matchAll(/Iteration (\d+)/g)].map((m) => Number(m[1]));
  assert.ok(
    iterations.every((n) => n >= 2048),
    `iterations ${iterations.join(", ")}`,
  );
  const ids = [...info.text.matchAll(/localKeyID: ([0-9A-F ]+)/g)].map((m) => m[1]!.trim());
  assert.equal(ids.length, 2, "localKeyID on the leaf and the key only");
  assert.equal(ids[0], ids[1]);
  assert.notEqual(run(["pkcs12", "-in", file(pfx), "-passin", `pass:${WRONG}`, "-nodes"]).status, 0, "openssl refuses a wrong password");
  assert.notEqual(run(["pkcs12", "-in", file(await buildPfx(CHAIN)), "-passin", `pass:${WRONG}`, "-nodes"]).status, 0);
});

test("a chain of 2 survives buildPfx in order: readPfx and openssl both see leaf then CA", async () => {
  for (const password of [undefined, PASSWORD]) {
    const pfx = await buildPfx(CHAIN, password);
    assertSameBundle(await readPfx(pfx, password), CHAIN);
    assertSameBundle(opensslOpens(pfx, password ?? ""), CHAIN);
  }
  const certsOnly = { chain: CHAIN.chain };
  assertSameBundle(await readPfx(await buildPfx(certsOnly)), certsOnly);
  assertSameBundle(opensslOpens(await buildPfx(certsOnly), ""), certsOnly);
});

const OPENSSL_VARIANTS: { name: string; args: string[]; legacy?: boolean }[] = [
  { name: "OpenSSL 3's default (PBES2 AES-256-CBC, HMAC-SHA256 MAC)", args: [] },
  { name: "PBES2 AES-128-CBC with a SHA-512 MAC", args: ["-keypbe", "AES-128-CBC", "-certpbe", "AES-128-CBC", "-macalg", "sha512"] },
  { name: "no MAC", args: ["-nomac"] },
  { name: "nothing encrypted", args: ["-keypbe", "NONE", "-certpbe", "NONE"] },
  { name: "-legacy (40-bit RC2 certificates, 3DES key, SHA-1 MAC)", args: ["-legacy"], legacy: true },
  { name: "-legacy with 3DES throughout", args: ["-legacy", "-certpbe", "PBE-SHA1-3DES"], legacy: true },
  {
    name: "-legacy with 128-bit RC2 and 2-key 3DES",
    args: ["-legacy", "-certpbe", "PBE-SHA1-RC2-128", "-keypbe", "PBE-SHA1-2DES"],
    legacy: true,
  },
];

for (const variant of OPENSSL_VARIANTS) {
  const skip = variant.legacy && !LEGACY ? "this openssl has no legacy provider" : false;
  test(`readPfx reads an OpenSSL PFX, ${variant.name}: with and without password, with and without a chain`, { skip }, async () => {
    for (const password of ["", PASSWORD]) {
      const read = (bundle: CertificateBundle) => readPfx(opensslPfx(bundle, password, variant.args), password || undefined);
      assertSameBundle(await read(CHAIN), CHAIN);
      assertSameBundle(await read(SELF_SIGNED["RSA 2048"]!), SELF_SIGNED["RSA 2048"]!);
      await rejectsFormat(readPfx(opensslPfx(CHAIN, password, variant.args), WRONG), [WRONG, PASSWORD]);
    }
  });
}

test("readPfx reads an OpenSSL PFX of certificates only (-nokeys), in file order", async () => {
  const pfx = opensslPfx(CHAIN, PASSWORD, ["-nokeys"]);
  assertSameBundle(await readPfx(pfx, PASSWORD), { chain: CHAIN.chain });
  const reversed = { chain: [caCert, leafCert] };
  assertSameBundle(await readPfx(opensslPfx(reversed, "", ["-nokeys"])), reversed);
});

test("readPfx refuses a wrong password, garbage, a PFX with no certificate, a tampered MAC, an unsupported key", async () => {
  const pfx = await buildPfx(CHAIN, PASSWORD);
  await rejectsFormat(readPfx(pfx), [PASSWORD]);
  await rejectsFormat(readPfx(pfx, "pässwörd"), [PASSWORD, "pässwörd"]);
  await rejectsFormat(readPfx(await buildPfx(CHAIN), "something"), ["something"]);
  for (const garbage of [Buffer.alloc(0), randomBytes(300), Buffer.from("MIIKpAIBAzCCCl4GCSqGSIb3DQEHAaCCCk8Egg", "utf8"), caCert]) {
    assert.match(await rejectsFormat(readPfx(garbage)), /not a PKCS#12/);
  }
  const keyOnly = opensslPfx({ key: leafKey, chain: [leafCert] }, PASSWORD, ["-nocerts"]);
  assert.match(await rejectsFormat(readPfx(keyOnly, PASSWORD), [PASSWORD]), /no certificate/);
  const keyAndCa = opensslPfx(CHAIN, PASSWORD, ["-nocerts"]); // openssl leaves the leaf out, and still writes -certfile's CA
  assert.match(await rejectsFormat(readPfx(keyAndCa, PASSWORD), [PASSWORD]), /does not match/);
  const tampered = Buffer.from(pfx);
  tampered[tampered.length - 40] = tampered[tampered.length - 40]! ^ 1; // in the MAC's salt
  await rejectsFormat(readPfx(tampered, PASSWORD), [PASSWORD]);
  const costly = opensslPfx(CHAIN, "", ["-iter", "200000"]); // the MAC's too: more than a file may ask of the event loop
  assert.match(await rejectsFormat(readPfx(costly)), /iterations/);
  const ed25519 = generateKeyPairSync("ed25519").privateKey;
  const edPfx = opensslPfx({ key: ed25519, chain: [certificate(ed25519, "ed25519")] }, "");
  assert.match(await rejectsFormat(readPfx(edPfx)), /RSA or EC/);
});

test("readPfx opens, with no password, a PFX whose MAC was made with no password at all rather than the empty one", async () => {
  const pfx = pkijs.PFX.fromBER(new Uint8Array(await buildPfx(CHAIN)));
  const mac = pfx.macData!;
  const salt = Buffer.from(mac.macSalt.valueBlock.valueHexView).toString("hex");
  const kdf = ["-keylen", "32", "-kdfopt", "digest:SHA256", "-kdfopt", "hexpass:", "-kdfopt", `hexsalt:${salt}`];
  const macKey = openssl(["kdf", "-binary", ...kdf, "-kdfopt", `iter:${mac.iterations ?? 1}`, "-kdfopt", "id:3", "PKCS12KDF"]);
  const content = Buffer.from((pfx.authSafe.content as asn1js.OctetString).getValue());
  mac.mac.digest = new asn1js.OctetString({ valueHex: createHmac("sha256", macKey).update(content).digest() });
  const absent = Buffer.from(pfx.toSchema().toBER(false));
  assertSameBundle(await readPfx(absent), CHAIN);
  assertSameBundle(opensslOpens(absent, ""), CHAIN);
  await rejectsFormat(readPfx(absent, "x"));
});

test("buildPfx and buildPem refuse a key that is not the leaf's, no certificate, or a chain entry that is not X.509", async () => {
  const other = { key: SELF_SIGNED["P-384"]!.key, chain: CHAIN.chain };
  await rejectsFormat(buildPfx(other));
  await rejectsFormat(buildPfx({ key: leafKey, chain: [] }));
  await rejectsFormat(buildPfx({ chain: [leafCert, Buffer.from("not a certificate")] }));
  await rejectsFormat(() => buildPem(other));
});

test("buildPem writes the PKCS#8 key first, then the chain in order, each block ending in a newline; readPem reads it back", () => {
  const text = buildPem(CHAIN);
  assert.ok(text.startsWith("-----BEGIN PRIVATE KEY-----\n"));
  assert.ok(text.endsWith("-----END CERTIFICATE-----\n"));
  const blocks = pemBlocks(text);
  assert.deepEqual(
    blocks.map((b) => b.label),
    ["PRIVATE KEY", "CERTIFICATE", "CERTIFICATE"],
  );
  assert.equal(blocks.map((b) => b.pem).join(""), text, "nothing between or after the blocks");
  assert.ok(blocks.every((b) => b.pem.split("\n").every((line) => line.length <= 64)));
  assert.deepEqual(pkcs8(createPrivateKey(blocks[0]!.pem)), pkcs8(leafKey));
  assert.ok(new X509Certificate(blocks[1]!.pem).raw.equals(leafCert));
  assert.ok(new X509Certificate(blocks[2]!.pem).raw.equals(caCert));
  assertSameBundle(readPem(text), CHAIN);
  const certsOnly = buildPem({ chain: CHAIN.chain });
  assert.ok(certsOnly.startsWith("-----BEGIN CERTIFICATE-----\n"));
  assertSameBundle(readPem(certsOnly), { chain: CHAIN.chain });
  for (const bundle of Object.values(SELF_SIGNED)) assertSameBundle(readPem(buildPem(bundle)), bundle);
});

test('readPem reads "RSA PRIVATE KEY" and "EC PRIVATE KEY" blocks, in any place, keeping the certificates\' order', () => {
  const rsa = SELF_SIGNED["RSA 2048"]!;
  const pkcs1 = rsa.key.export({ format: "pem", type: "pkcs1" }) as string;
  assert.ok(pkcs1.startsWith("-----BEGIN RSA PRIVATE KEY-----"));
  assertSameBundle(readPem(certPem(rsa.chain[0]!) + pkcs1), rsa);
  for (const kind of ["P-256", "P-384", "P-521", "secp256k1"]) {
    const bundle = SELF_SIGNED[kind]!;
    const sec1 = bundle.key.export({ format: "pem", type: "sec1" }) as string;
    assert.ok(sec1.startsWith("-----BEGIN EC PRIVATE KEY-----"));
    assertSameBundle(readPem(sec1 + certPem(bundle.chain[0]!)), bundle);
  }
  const chain = `${certPem(leafCert)}${leafKey.export({ format: "pem", type: "sec1" })}${certPem(caCert)}`;
  assertSameBundle(readPem(chain.replace(/\n/g, "\r\n")), CHAIN);
  // openssl ecparam -genkey writes an "EC PARAMETERS" block before the key.
  const generated = openssl(["ecparam", "-name", "secp384r1", "-genkey"]).toString();
  assert.match(generated, /-----BEGIN EC PARAMETERS-----[\s\S]*-----BEGIN EC PRIVATE KEY-----/);
  const key = createPrivateKey(generated);
  const cert = certificate(key, "ecparam");
  assertSameBundle(readPem(generated + certPem(cert)), { key, chain: [cert] });
});

test("readPem refuses no certificate, a key not matching the first certificate, two keys, encrypted or unsupported keys, bad base64", async () => {
  const leaf = certPem(leafCert);
  const key = keyPem(leafKey);
  assert.match(await rejectsFormat(() => readPem(key)), /no certificate/);
  assert.match(await rejectsFormat(() => readPem("hello")), /no certificate/);
  assert.match(await rejectsFormat(() => readPem(certPem(caCert) + leaf + key)), /does not match/);
  assert.match(await rejectsFormat(() => readPem(key + key + leaf)), /more than one/);
  const encrypted = leafKey.export({ format: "pem", type: "pkcs8", cipher: "aes-256-cbc", passphrase: PASSWORD }) as string;
  await rejectsFormat(() => readPem(encrypted + leaf), [PASSWORD]);
  const legacyEncrypted = SELF_SIGNED["RSA 2048"]!.key.export({
    format: "pem",
    type: "pkcs1",
    cipher: "aes-128-cbc",
    passphrase: PASSWORD,
  }) as string;
  assert.match(await rejectsFormat(() => readPem(legacyEncrypted + certPem(SELF_SIGNED["RSA 2048"]!.chain[0]!)), [PASSWORD]), /encrypted/);
  const ed25519 = generateKeyPairSync("ed25519").privateKey;
  assert.match(await rejectsFormat(() => readPem(keyPem(ed25519) + certPem(certificate(ed25519, "ed")))), /RSA or EC/);
  const p224 = ec("secp224r1")();
  assert.match(await rejectsFormat(() => readPem(keyPem(p224) + certPem(certificate(p224, "p224")))), /RSA or EC/);
  await rejectsFormat(() => readPem(leaf.replace(/\n[A-Za-z0-9]/, "\n*")));
  await rejectsFormat(() => readPem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"));
  await rejectsFormat(() => readPem(key.replace(/\n[A-Za-z0-9]{8}/, "\nAAAAAAAA") + leaf));
});

test("readCertificateValue reads PEM text as PEM, and base64 (standard or url-safe) as a PFX", async () => {
  assertSameBundle(await readCertificateValue(buildPem(CHAIN)), CHAIN);
  assertSameBundle(await readCertificateValue(`\n  ${buildPem(CHAIN)}`, "ignored"), CHAIN);
  const pfx = await buildPfx(CHAIN, PASSWORD);
  assertSameBundle(await readCertificateValue(pfx.toString("base64"), PASSWORD), CHAIN);
  const wrapped = pfx.toString("base64").replace(/.{76}/g, "$&\r\n");
  assertSameBundle(await readCertificateValue(wrapped, PASSWORD), CHAIN);
  const noPassword = await buildPfx(CHAIN);
  assertSameBundle(await readCertificateValue(noPassword.toString("base64url")), CHAIN);
  assertSameBundle(await readCertificateValue(opensslPfx(CHAIN, "").toString("base64")), CHAIN);
  await rejectsFormat(readCertificateValue(pfx.toString("base64"), WRONG), [PASSWORD, WRONG]);
  await rejectsFormat(readCertificateValue("this is not a certificate"));
  await rejectsFormat(readCertificateValue(""));
  await rejectsFormat(readCertificateValue(randomBytes(64).toString("base64")));
});

test("leafMatchesKey: true only for the leaf's own key", () => {
  assert.equal(leafMatchesKey(CHAIN), true);
  for (const bundle of Object.values(SELF_SIGNED)) assert.equal(leafMatchesKey(bundle), true);
  assert.equal(leafMatchesKey({ key: caKey, chain: CHAIN.chain }), false, "the CA's key is not the leaf's");
  assert.equal(leafMatchesKey({ key: caKey, chain: [caCert] }), true);
  assert.equal(leafMatchesKey({ key: SELF_SIGNED["P-384"]!.key, chain: CHAIN.chain }), false);
  assert.equal(leafMatchesKey({ chain: CHAIN.chain }), false, "no key");
  assert.equal(leafMatchesKey({ key: leafKey, chain: [] }), false, "no leaf");
  assert.equal(leafMatchesKey({ key: leafKey, chain: [Buffer.from("garbage")] }), false);
});

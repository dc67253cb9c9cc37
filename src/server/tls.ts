import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { randomBytes, webcrypto } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { endLine } from "./environment.ts";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY_MS = 86_400_000;
const CA_DAYS = 3650;
const SERVER_DAYS = 825;
const RENEW_BEFORE_DAYS = 30;

export interface TlsMaterial {
  cert: string;
  key: string;
  /** The local CA's certificate file, for NODE_EXTRA_CA_CERTS; absent with an operator's certificate. */
  caFile?: string;
}

/** The host names the server certificate covers for a DNS suffix. */
export function serverNames(dnsSuffix: string): string[] {
  return ["localhost", dnsSuffix, `*.${dnsSuffix}`];
}

const serial = (): string => {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f;
  return b.toString("hex");
};

const toPem = (der: ArrayBuffer, label: string): string => {
  const b64 = Buffer.from(der)
    .toString("base64")
    .replace(/(.{64})/g, "$1\n");
  return `-----BEGIN ${label}-----\n${b64.trimEnd()}\n-----END ${label}-----\n`;
};

const fromPem = (pem: string): Buffer => Buffer.from(pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64");

async function createCa(): Promise<{ cert: x509.X509Certificate; keys: CryptoKeyPair }> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"])) as CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=Lockbox Local CA ${randomBytes(4).toString("hex")}`,
    notBefore: new Date(now - DAY_MS),
    notAfter: new Date(now + CA_DAYS * DAY_MS),
    keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, keys };
}

/** A new local CA (ECDSA P-256, ten years), as PEM texts. */
export async function newLocalCa(): Promise<CaPem> {
  const created = await createCa();
  return {
    cert: created.cert.toString("pem"),
    key: toPem(await webcrypto.subtle.exportKey("pkcs8", created.keys.privateKey), "PRIVATE KEY"),
  };
}

async function createServerCert(ca: x509.X509Certificate, caKey: CryptoKey, dnsSuffix: string): Promise<{ cert: string; key: string }> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"])) as CryptoKeyPair;
  const now = Date.now();
  const names = [
    ...serverNames(dnsSuffix).map((value) => ({ type: "dns" as const, value })),
    { type: "ip" as const, value: "127.0.0.1" },
    { type: "ip" as const, value: "::1" },
  ];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: "CN=localhost",
    issuer: ca.subject,
    notBefore: new Date(now - DAY_MS),
    notAfter: new Date(now + SERVER_DAYS * DAY_MS),
    signingKey: caKey,
    publicKey: keys.publicKey,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names),
      await x509.AuthorityKeyIdentifierExtension.create(ca),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey);
  return { cert: endLine(cert.toString("pem")), key: toPem(pkcs8, "PRIVATE KEY") };
}

const writePrivate = (file: string, text: string): void => writeFileSync(file, text, { mode: 0o600 });

/** A local CA as PEM texts. */
export interface CaPem {
  cert: string;
  key: string;
}

/**
 * Where processes that share a store share their local CA, so that clients trust one CA
 * whichever process answers. `save` keeps the first CA saved and returns the one kept.
 */
export interface SharedCa {
  load(): Promise<CaPem | undefined>;
  save(ca: CaPem): Promise<CaPem>;
}

/**
 * The server's TLS material. With no operator certificate, a local CA is made once (or
 * taken from `shared`, then also kept there) and written to `<dataDir>/tls`, and a server
 * certificate for localhost, 127.0.0.1, ::1, the DNS suffix and `*.<suffix>` is issued by
 * it, and issued again when the CA or the suffix changes or it nears expiry.
 */
export async function ensureTls(dir: string, dnsSuffix: string, shared?: SharedCa): Promise<TlsMaterial> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caFile = join(dir, "ca.pem");
  const caKeyFile = join(dir, "ca.key");
  const certFile = join(dir, "server.pem");
  const keyFile = join(dir, "server.key");
  const infoFile = join(dir, "server.json");

  let pem = await shared?.load();
  if (!pem && existsSync(caFile) && existsSync(caKeyFile))
    pem = { cert: readFileSync(caFile, "utf8"), key: readFileSync(caKeyFile, "utf8") };
  pem ??= await newLocalCa();
  if (shared) pem = await shared.save(pem);
  // Every PEM written ends with a newline, so that a plain `cat` joins it into a bundle.
  const caText = endLine(pem.cert);
  if (!existsSync(caFile) || readFileSync(caFile, "utf8") !== caText) {
    writePrivate(caKeyFile, endLine(pem.key));
    writeFileSync(caFile, caText);
  }
  const ca = new x509.X509Certificate(pem.cert);
  const caKey = await webcrypto.subtle.importKey("pkcs8", fromPem(pem.key), ALG, false, ["sign"]);

  const fresh = (): boolean => {
    if (!existsSync(certFile) || !existsSync(keyFile) || !existsSync(infoFile)) return false;
    const info = JSON.parse(readFileSync(infoFile, "utf8")) as { dnsSuffix?: string; ca?: string };
    if (info.dnsSuffix !== dnsSuffix || info.ca !== ca.serialNumber) return false;
    const cert = new x509.X509Certificate(readFileSync(certFile, "utf8"));
    return cert.notAfter.getTime() - Date.now() > RENEW_BEFORE_DAYS * DAY_MS;
  };
  if (!fresh()) {
    const issued = await createServerCert(ca, caKey, dnsSuffix);
    writePrivate(keyFile, issued.key);
    writeFileSync(certFile, issued.cert);
    writeFileSync(infoFile, JSON.stringify({ dnsSuffix, ca: ca.serialNumber }));
  }
  return { cert: readFileSync(certFile, "utf8"), key: readFileSync(keyFile, "utf8"), caFile };
}

/** An operator's certificate and key, read as they are. */
export function operatorTls(certFile: string, keyFile: string): TlsMaterial {
  return { cert: readFileSync(certFile, "utf8"), key: readFileSync(keyFile, "utf8") };
}

import {
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  timingSafeEqual,
  webcrypto,
  X509Certificate,
  type KeyObject,
} from "node:crypto";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { CURVES } from "./algorithms.ts";

/**
 * The container formats of a Key Vault certificate's backing secret: PKCS#12 (PFX, DER) and PEM.
 *
 * PKCS#12 is built and parsed by pkijs on node's WebCrypto. Written: certificates in CertBags and the key in a
 * PKCS8ShroudedKeyBag, both under PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC), localKeyId linking key and leaf, and an
 * HMAC-SHA256 MAC. Read: that, OpenSSL 3's default (the same), and the legacy PKCS#12 PBE schemes (SHA-1 with 3DES or
 * RC2, as `openssl pkcs12 -legacy`, OpenSSL 1.x and Windows write them), which pkijs does not decrypt: those are done
 * here with node:crypto, RC2 by hand (see rc2CbcDecrypt). Not read: public-key integrity or privacy modes (signed or
 * enveloped contents) and PBMAC1 (RFC 9579).
 */

/** The content types of a certificate's secret, as Key Vault names them. */
export const PKCS12_CONTENT_TYPE = "application/x-pkcs12";
export const PEM_CONTENT_TYPE = "application/x-pem-file";

/** A certificate with (optionally) its private key: chain is DER certificates, leaf first. */
export interface CertificateBundle {
  key?: KeyObject;
  chain: Buffer[];
}

/** An imported or stored certificate value that is not usable: garbage, wrong password, no certificate, key not matching the leaf... */
export class CertificateFormatError extends Error {}

/** PBKDF2 and MAC iterations written: OpenSSL 3's default. */
const ITERATIONS = 2048;
/**
 * More iterations than these in a file read are refused, as the file may come from anyone: the PKCS#12 KDF (MAC,
 * legacy encryption) is computed here, on the event loop, at about 3 µs an iteration; PBKDF2 by WebCrypto, off it.
 */
const MAX_KDF_ITERATIONS = 100_000;
const MAX_PBKDF2_ITERATIONS = 1_000_000;

const OID = {
  data: "1.2.840.113549.1.7.1",
  encryptedData: "1.2.840.113549.1.7.6",
  pbes2: "1.2.840.113549.1.5.13",
  keyBag: "1.2.840.113549.1.12.10.1.1",
  shroudedKeyBag: "1.2.840.113549.1.12.10.1.2",
  certBag: "1.2.840.113549.1.12.10.1.3",
  safeContentsBag: "1.2.840.113549.1.12.10.1.6",
  localKeyId: "1.2.840.113549.1.9.21",
};

/** The ciphers PBES2 may name here: AES-128/192/256-CBC, which WebCrypto has. */
const PBES2_CIPHERS = new Set(["2.16.840.1.101.3.4.1.2", "2.16.840.1.101.3.4.1.22", "2.16.840.1.101.3.4.1.42"]);

/** The PKCS#12 PBE schemes (RFC 7292 appendix C) read: SHA-1 key derivation, then this cipher. RC4 ones are not read. */
type Pkcs12Pbe = { cipher: "des-ede3-cbc" | "des-ede-cbc" | "rc2-cbc"; keyBytes: number };
const PKCS12_PBE: Record<string, Pkcs12Pbe> = {
  "1.2.840.113549.1.12.1.3": { cipher: "des-ede3-cbc", keyBytes: 24 },
  "1.2.840.113549.1.12.1.4": { cipher: "des-ede-cbc", keyBytes: 16 },
  "1.2.840.113549.1.12.1.5": { cipher: "rc2-cbc", keyBytes: 16 },
  "1.2.840.113549.1.12.1.6": { cipher: "rc2-cbc", keyBytes: 5 },
};

/** The MAC digests read, by OID, with their block size (the PKCS#12 KDF's v). */
const MAC_HASHES: Record<string, { hash: string; block: number }> = {
  "1.3.14.3.2.26": { hash: "sha1", block: 64 },
  "2.16.840.1.101.3.4.2.4": { hash: "sha224", block: 64 },
  "2.16.840.1.101.3.4.2.1": { hash: "sha256", block: 64 },
  "2.16.840.1.101.3.4.2.2": { hash: "sha384", block: 128 },
  "2.16.840.1.101.3.4.2.3": { hash: "sha512", block: 128 },
};

const EC_CURVES = new Set(Object.values(CURVES).map((c) => c.openssl));

const fail = (message: string): never => {
  throw new CertificateFormatError(message);
};
const WRONG_PASSWORD = "The PKCS#12 (PFX) password is wrong, or the file is damaged.";
const UNSUPPORTED_ENCRYPTION = "The PKCS#12 (PFX) file uses an encryption algorithm that is not supported.";

/**
 * PKCS#12 password forms. PBES2 takes the password's UTF-8 bytes; the PKCS#12 KDF (MAC, legacy PBE) takes it as a
 * BMPString with a terminating zero, and for no password at all, nothing: some writers use that form, and OpenSSL
 * accepts either for an empty password (see verifyMac).
 */
const utf8 = (password: string): ArrayBuffer => {
  const bytes = Buffer.from(password, "utf8");
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer;
};
const bmp = (password: string): Buffer => Buffer.concat([Buffer.from(password, "utf16le").swap16(), Buffer.alloc(2)]);

/** pkijs's engine on node's WebCrypto, which also decrypts the legacy PKCS#12 PBE schemes and bounds iteration counts. */
class Pkcs12Engine extends pkijs.CryptoEngine {
  /** absentPassword: the file's PKCS#12 KDF takes no password at all rather than the empty one. */
  constructor(private readonly absentPassword = false) {
    super({ name: "lockbox-node", crypto: webcrypto as unknown as Crypto });
  }

  override async decryptEncryptedContentInfo(parameters: pkijs.CryptoEngineDecryptParams): Promise<ArrayBuffer> {
    const algorithm = parameters.encryptedContentInfo.contentEncryptionAlgorithm;
    const pbe = PKCS12_PBE[algorithm.algorithmId];
    if (pbe) {
      const password = this.absentPassword ? Buffer.alloc(0) : bmp(new TextDecoder().decode(parameters.password));
      const data = Buffer.from(parameters.encryptedContentInfo.getEncryptedContent());
      const plain = decryptPkcs12Pbe(pbe, algorithm.algorithmParams, password, data);
      return plain.buffer.slice(plain.byteOffset, plain.byteOffset + plain.length) as ArrayBuffer;
    }
    if (algorithm.algorithmId !== OID.pbes2) fail(UNSUPPORTED_ENCRYPTION);
    checkPbes2(algorithm.algorithmParams);
    return super.decryptEncryptedContentInfo(parameters);
  }
}

const ENGINE = new Pkcs12Engine();
const ABSENT_PASSWORD_ENGINE = new Pkcs12Engine(true);
pkijs.setEngine("lockbox-node", ENGINE);
// pkijs parses the EC keys and certificates in a PFX, and knows only P-256, P-384, P-521 and brainpool curves.
pkijs.ECNamedCurves.register("secp256k1", "1.3.132.0.10", 32);

function checkIterations(iterations: number, max: number): void {
  if (!Number.isSafeInteger(iterations) || iterations < 1 || iterations > max) {
    fail("The PKCS#12 (PFX) file asks for an unsupported number of key-derivation iterations.");
  }
}

/** PBES2 as WebCrypto can do it: PBKDF2 and AES-CBC, in bounds. */
function checkPbes2(params: unknown): void {
  let cipher: string;
  let iterations: number;
  try {
    const pbes2 = new pkijs.PBES2Params({ schema: params });
    cipher = pbes2.encryptionScheme.algorithmId;
    iterations = new pkijs.PBKDF2Params({ schema: pbes2.keyDerivationFunc.algorithmParams }).iterationCount;
  } catch {
    return fail(UNSUPPORTED_ENCRYPTION);
  }
  if (!PBES2_CIPHERS.has(cipher)) fail(UNSUPPORTED_ENCRYPTION);
  checkIterations(iterations, MAX_PBKDF2_ITERATIONS);
}

/** pkcs-12PbeParams: SEQUENCE { salt OCTET STRING, iterations INTEGER }. */
function pbeParams(params: unknown): { salt: Buffer; iterations: number } {
  const schema = new asn1js.Sequence({ value: [new asn1js.OctetString({ name: "salt" }), new asn1js.Integer({ name: "iterations" })] });
  const parsed = params instanceof asn1js.BaseBlock ? asn1js.compareSchema(params, params, schema) : undefined;
  if (!parsed?.verified) return fail(UNSUPPORTED_ENCRYPTION);
  const salt = parsed.result.salt as asn1js.OctetString;
  const iterations = parsed.result.iterations as asn1js.Integer;
  return { salt: Buffer.from(salt.valueBlock.valueHexView), iterations: iterations.valueBlock.valueDec };
}

/** Legacy PKCS#12 PBE: key and IV from the PKCS#12 KDF over SHA-1, then 3DES or RC2 in CBC mode. */
function decryptPkcs12Pbe(pbe: Pkcs12Pbe, params: unknown, password: Buffer, data: Buffer): Buffer {
  const { salt, iterations } = pbeParams(params);
  checkIterations(iterations, MAX_KDF_ITERATIONS);
  const key = pkcs12Kdf("sha1", 64, 1, password, salt, iterations, pbe.keyBytes);
  const iv = pkcs12Kdf("sha1", 64, 2, password, salt, iterations, 8);
  if (pbe.cipher === "rc2-cbc") return rc2CbcDecrypt(key, pbe.keyBytes * 8, iv, data);
  try {
    const decipher = createDecipheriv(pbe.cipher, key, iv);
    return Buffer.concat([decipher.update(data), decipher.final()]);
  } catch {
    return fail(WRONG_PASSWORD);
  }
}

/**
 * The PKCS#12 key derivation (RFC 7292 appendix B.2): id 1 a key, 2 an IV, 3 a MAC key; block is the hash's block size.
 * pkijs has it only for the MAC, inside its engine.
 */
function pkcs12Kdf(hash: string, block: number, id: 1 | 2 | 3, password: Buffer, salt: Buffer, iterations: number, size: number): Buffer {
  const repeat = (b: Buffer): Buffer => {
    const out = Buffer.alloc(block * Math.ceil(b.length / block));
    for (let i = 0; i < out.length; i++) out[i] = b[i % b.length]!;
    return out;
  };
  const diversifier = Buffer.alloc(block, id);
  const input = Buffer.concat([repeat(salt), repeat(password)]);
  const parts: Buffer[] = [];
  for (let made = 0; made < size;) {
    let a = createHash(hash).update(diversifier).update(input).digest();
    for (let n = 1; n < iterations; n++) a = createHash(hash).update(a).digest();
    parts.push(a);
    made += a.length;
    if (made >= size) break;
    // Each block of I becomes (I_j + B + 1) mod 2^(8 block), B being A repeated to a block.
    const b = Buffer.alloc(block);
    for (let k = 0; k < block; k++) b[k] = a[k % a.length]!;
    for (let j = 0; j < input.length; j += block) {
      let carry = 1;
      for (let k = block - 1; k >= 0; k--) {
        const sum = input[j + k]! + b[k]! + carry;
        input[j + k] = sum & 0xff;
        carry = sum >> 8;
      }
    }
  }
  return Buffer.concat(parts).subarray(0, size);
}

/** RFC 2268's PITABLE, a permutation of 0..255 from the digits of pi. */
const RC2_PITABLE = Buffer.from(
  "d978f9c419ddb5ed28e9fd794aa0d89dc67e37832b76538e624c6488448bfba2179a59f587b34f1361456d8d09817d32bd8f40eb86b77b0bf09521225c6b4e82" +
    "54d66593ce60b21c7356c014a78cf1dc1275ca1f3bbee4d1423dd430a33cb6266fbf0eda4669075727f21d9bbc944303f811c7f690ef3ee706c3d52fc8661ed7" +
    "08e8eade8052eef784aa72ac354d6a2a961ad2715a1549744b9fd05e0418a4ecc2e0416e0f51cbcc2491af50a1f47039997c3a8523b8b47afc02365b25559731" +
    "2d5dfa98e38a92ae05df2910676cbac9d300e6cfe19ea82c6316013f58e289a90d38341bab33ffb0bb480c5fb9b1cd2ec5f3db47e5a59c770aa62068fe7fc1ad",
  "hex",
);

/** RC2's key expansion (RFC 2268 section 2) to 64 16-bit words, for an effective key length in bits. */
function rc2ExpandKey(key: Buffer, effectiveBits: number): Uint16Array {
  const l = Buffer.alloc(128);
  key.copy(l);
  for (let i = key.length; i < 128; i++) l[i] = RC2_PITABLE[(l[i - 1]! + l[i - key.length]!) & 0xff]!;
  const t8 = Math.ceil(effectiveBits / 8);
  const tm = 0xff % 2 ** (8 + effectiveBits - 8 * t8);
  l[128 - t8] = RC2_PITABLE[l[128 - t8]! & tm]!;
  for (let i = 127 - t8; i >= 0; i--) l[i] = RC2_PITABLE[l[i + 1]! ^ l[i + t8]!]!;
  const k = new Uint16Array(64);
  for (let i = 0; i < 64; i++) k[i] = l.readUInt16LE(2 * i);
  return k;
}

/** One RC2 block decrypted in place: the r-mixing rounds backwards, r-mashing before rounds 10 and 4 (RFC 2268 section 4). */
function rc2DecryptBlock(k: Uint16Array, r: Uint16Array): void {
  const rotr = (x: number, s: number): number => ((x >>> s) | (x << (16 - s))) & 0xffff;
  for (let round = 15; round >= 0; round--) {
    if (round === 10 || round === 4) {
      r[3] = r[3]! - k[r[2]! & 63]!;
      r[2] = r[2]! - k[r[1]! & 63]!;
      r[1] = r[1]! - k[r[0]! & 63]!;
      r[0] = r[0]! - k[r[3]! & 63]!;
    }
    const j = 4 * round;
    r[3] = rotr(r[3]!, 5) - k[j + 3]! - (r[2]! & r[1]!) - (~r[2]! & r[0]!);
    r[2] = rotr(r[2]!, 3) - k[j + 2]! - (r[1]! & r[0]!) - (~r[1]! & r[3]!);
    r[1] = rotr(r[1]!, 2) - k[j + 1]! - (r[0]! & r[3]!) - (~r[0]! & r[2]!);
    r[0] = rotr(r[0]!, 1) - k[j]! - (r[3]! & r[2]!) - (~r[3]! & r[1]!);
  }
}

/**
 * RC2-CBC decryption with PKCS#7 padding. Written out here because node's OpenSSL keeps RC2 in its legacy provider,
 * which node does not load, and pkijs has no RC2; yet OpenSSL 1.x and `openssl pkcs12 -legacy` encrypt the
 * certificates of a PFX with 40-bit RC2. Only decryption: nothing is written with it.
 */
function rc2CbcDecrypt(key: Buffer, effectiveBits: number, iv: Buffer, data: Buffer): Buffer {
  if (data.length === 0 || data.length % 8 !== 0) fail(WRONG_PASSWORD);
  const k = rc2ExpandKey(key, effectiveBits);
  const out = Buffer.alloc(data.length);
  const r = new Uint16Array(4); // a Uint16Array keeps each word mod 2^16
  for (let offset = 0; offset < data.length; offset += 8) {
    for (let w = 0; w < 4; w++) r[w] = data.readUInt16LE(offset + 2 * w);
    rc2DecryptBlock(k, r);
    const previous = offset === 0 ? iv : data.subarray(offset - 8, offset);
    for (let w = 0; w < 4; w++) out.writeUInt16LE(r[w]! ^ previous.readUInt16LE(2 * w), offset + 2 * w);
  }
  const pad = out[out.length - 1]!;
  if (pad < 1 || pad > 8 || !out.subarray(out.length - pad).every((b) => b === pad)) fail(WRONG_PASSWORD);
  return out.subarray(0, out.length - pad);
}

/** The file as pkijs objects; anything that is not PKCS#12 in password-integrity mode is refused. */
function parsePfx(der: Buffer): pkijs.PFX {
  let pfx: pkijs.PFX;
  try {
    pfx = pkijs.PFX.fromBER(new Uint8Array(der));
  } catch {
    return fail("The value is not a PKCS#12 (PFX) file.");
  }
  if (pfx.authSafe.contentType !== OID.data || !(pfx.authSafe.content instanceof asn1js.OctetString)) {
    fail("The PKCS#12 (PFX) file uses public-key integrity, which is not supported.");
  }
  return pfx;
}

/**
 * Checks the MAC, if the file has one, and tells which form of an empty password it was made with: like OpenSSL,
 * an empty password is tried as the empty BMPString and then as no password at all (true).
 */
function verifyMac(pfx: pkijs.PFX, password: string): boolean {
  const macData = pfx.macData;
  if (!macData) return false;
  const digest = MAC_HASHES[macData.mac.digestAlgorithm.algorithmId] ?? fail("The PKCS#12 (PFX) file's MAC uses an unsupported digest.");
  const iterations = macData.iterations ?? 1;
  checkIterations(iterations, MAX_KDF_ITERATIONS);
  const salt = Buffer.from(macData.macSalt.valueBlock.valueHexView);
  const expected = Buffer.from(macData.mac.digest.valueBlock.valueHexView);
  const content = Buffer.from((pfx.authSafe.content as asn1js.OctetString).getValue());
  const matches = (pw: Buffer): boolean => {
    const size = createHash(digest.hash).digest().length;
    const key = pkcs12Kdf(digest.hash, digest.block, 3, pw, salt, iterations, size);
    const mac = createHmac(digest.hash, key).update(content).digest();
    return mac.length === expected.length && timingSafeEqual(mac, expected);
  };
  if (matches(bmp(password))) return false;
  if (password === "" && matches(Buffer.alloc(0))) return true;
  return fail(WRONG_PASSWORD);
}

interface Bags {
  keys: Buffer[];
  certs: Buffer[];
}

/** Decrypts the file's contents and collects its keys (PKCS#8 DER) and X.509 certificates (DER), in file order. */
async function openBags(pfx: pkijs.PFX, password: string, engine: Pkcs12Engine): Promise<Bags> {
  const bags: Bags = { keys: [], certs: [] };
  const passwordBytes = utf8(password);
  try {
    await pfx.parseInternalValues({ password: passwordBytes, checkIntegrity: false }, engine);
    const safe = pfx.parsedValue!.authenticatedSafe!;
    if (safe.safeContents.some((c) => c.contentType !== OID.data && c.contentType !== OID.encryptedData)) {
      fail("The PKCS#12 (PFX) file uses public-key privacy, which is not supported.");
    }
    await safe.parseInternalValues({ safeContents: safe.safeContents.map(() => ({ password: passwordBytes })) }, engine);
    for (const { value } of safe.parsedValue.safeContents as { value: pkijs.SafeContents }[]) {
      await collect(value.safeBags, passwordBytes, engine, bags);
    }
  } catch (error) {
    if (error instanceof CertificateFormatError) throw error;
    fail(WRONG_PASSWORD);
  }
  return bags;
}

async function collect(safeBags: pkijs.SafeBag[], password: ArrayBuffer, engine: Pkcs12Engine, into: Bags): Promise<void> {
  for (const bag of safeBags) {
    if (bag.bagId === OID.certBag) {
      const certBag = bag.bagValue as pkijs.CertBag;
      const certValue = certBag.certValue as asn1js.OctetString;
      if (certBag.certId === pkijs.id_CertBag_X509Certificate) into.certs.push(Buffer.from(certValue.valueBlock.valueHexView));
    } else if (bag.bagId === OID.shroudedKeyBag) {
      const shrouded = bag.bagValue as pkijs.PKCS8ShroudedKeyBag;
      const encryptedContentInfo = new pkijs.EncryptedContentInfo({
        contentType: OID.data,
        contentEncryptionAlgorithm: shrouded.encryptionAlgorithm,
        encryptedContent: shrouded.encryptedData,
      });
      into.keys.push(Buffer.from(await engine.decryptEncryptedContentInfo({ password, encryptedContentInfo })));
    } else if (bag.bagId === OID.keyBag) {
      into.keys.push(Buffer.from((bag.bagValue as pkijs.PrivateKeyInfo).toSchema().toBER(false)));
    } else if (bag.bagId === OID.safeContentsBag) {
      await collect((bag.bagValue as pkijs.SafeContents).safeBags, password, engine, into);
    }
  }
}

/** A private key as node's KeyObject; only RSA and the EC curves Key Vault has. */
function privateKey(der: Buffer, type: "pkcs8" | "pkcs1" | "sec1"): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: der, format: "der", type });
  } catch {
    return fail("The private key is not valid.");
  }
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType !== "rsa" && !(key.asymmetricKeyType === "ec" && curve && EC_CURVES.has(curve))) {
    fail("The private key must be RSA or EC on P-256, P-256K (secp256k1), P-384 or P-521.");
  }
  return key;
}

function checkCertificate(der: Buffer): Buffer {
  try {
    new X509Certificate(der);
  } catch {
    fail("A certificate is not a valid X.509 certificate.");
  }
  return der;
}

/** The bundle of a PFX's contents: its one key, if any, and its certificates, the key's first, the rest in file order. */
function bundleOf({ keys, certs }: Bags): CertificateBundle {
  if (certs.length === 0) fail("The PKCS#12 (PFX) file holds no certificate.");
  if (keys.length > 1) fail("The PKCS#12 (PFX) file holds more than one private key.");
  const chain = certs.map(checkCertificate);
  if (!keys[0]) return { chain };
  const key = privateKey(keys[0], "pkcs8");
  const leaf = chain.findIndex((cert) => leafMatchesKey({ key, chain: [cert] }));
  if (leaf < 0) fail("The private key does not match any certificate in the PKCS#12 (PFX) file.");
  return { key, chain: [chain[leaf]!, ...chain.filter((_, i) => i !== leaf)] };
}

/** Refuses a bundle without a certificate, with one that is not X.509, or whose key is not the leaf's. */
function checkBundle(bundle: CertificateBundle): void {
  if (bundle.chain.length === 0) fail("A certificate is needed.");
  bundle.chain.forEach(checkCertificate);
  if (bundle.key && !leafMatchesKey(bundle)) fail("The private key does not match the leaf certificate.");
}

const attribute = (type: string, value: Buffer): pkijs.Attribute =>
  new pkijs.Attribute({ type, values: [new asn1js.OctetString({ valueHex: value })] });

/** The PBES2 parameters pkijs encrypts with: PBKDF2-HMAC-SHA256 and AES-256-CBC. */
const pbes2 = (password: ArrayBuffer) => ({
  password,
  contentEncryptionAlgorithm: { name: "AES-CBC", length: 256 } as pkijs.ContentEncryptionAlgorithm,
  hmacHashAlgorithm: "SHA-256",
  iterationCount: ITERATIONS,
});

async function shroudedKeyBag(key: KeyObject, password: ArrayBuffer, localKeyId: Buffer): Promise<pkijs.SafeBag> {
  const parsedValue = pkijs.PrivateKeyInfo.fromBER(key.export({ format: "der", type: "pkcs8" }));
  const bagValue = new pkijs.PKCS8ShroudedKeyBag({ parsedValue });
  await bagValue.makeInternalValues(pbes2(password), ENGINE);
  return new pkijs.SafeBag({ bagId: OID.shroudedKeyBag, bagValue, bagAttributes: [attribute(OID.localKeyId, localKeyId)] });
}

function certBag(der: Buffer, localKeyId?: Buffer): pkijs.SafeBag {
  const bagValue = new pkijs.CertBag({ certId: pkijs.id_CertBag_X509Certificate, certValue: new asn1js.OctetString({ valueHex: der }) });
  return new pkijs.SafeBag({ bagId: OID.certBag, bagValue, bagAttributes: localKeyId ? [attribute(OID.localKeyId, localKeyId)] : [] });
}

/**
 * Builds a PKCS#12 (PFX) file, DER, as OpenSSL 3 does by default: the certificates (leaf first) encrypted together,
 * the key in a PKCS8ShroudedKeyBag, both with PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC); localKeyId (the leaf's SHA-1)
 * on the key and the leaf; an HMAC-SHA256 MAC. No password means the empty one, as Key Vault's backing secret has.
 */
export async function buildPfx(bundle: CertificateBundle, password = ""): Promise<Buffer> {
  checkBundle(bundle);
  const passwordBytes = utf8(password);
  const localKeyId = createHash("sha1").update(bundle.chain[0]!).digest();
  const certs = bundle.chain.map((der, i) => certBag(der, i === 0 && bundle.key ? localKeyId : undefined));
  const safeContents = [{ privacyMode: 1, value: new pkijs.SafeContents({ safeBags: certs }) }];
  const parameters: object[] = [pbes2(passwordBytes)];
  if (bundle.key) {
    safeContents.push({
      privacyMode: 0,
      value: new pkijs.SafeContents({ safeBags: [await shroudedKeyBag(bundle.key, passwordBytes, localKeyId)] }),
    });
    parameters.push({});
  }
  const authenticatedSafe = new pkijs.AuthenticatedSafe({ parsedValue: { safeContents } });
  await authenticatedSafe.makeInternalValues({ safeContents: parameters }, ENGINE);
  const pfx = new pkijs.PFX({ parsedValue: { integrityMode: 0, authenticatedSafe } });
  const mac = { password: passwordBytes, iterations: ITERATIONS, pbkdf2HashAlgorithm: { name: "SHA-256" }, hmacHashAlgorithm: "SHA-256" };
  await pfx.makeInternalValues(mac, ENGINE);
  return Buffer.from(pfx.toSchema().toBER(false));
}

/**
 * Reads a PKCS#12 (PFX) file: its MAC checked if it has one, its one private key if any, and its certificates, the
 * key's certificate first and the others in file order. No password means the empty one.
 */
export async function readPfx(pfx: Buffer, password = ""): Promise<CertificateBundle> {
  const parsed = parsePfx(pfx);
  const absentPassword = verifyMac(parsed, password);
  return bundleOf(await openBags(parsed, password, absentPassword ? ABSENT_PASSWORD_ENGINE : ENGINE));
}

const pemBlock = (label: string, der: Buffer): string =>
  `-----BEGIN ${label}-----\n${der.toString("base64").replace(/.{64}/g, "$&\n").replace(/\n$/, "")}\n-----END ${label}-----\n`;

/** Writes a bundle as PEM: the key as PKCS#8 "PRIVATE KEY" first, if there is one, then the chain's certificates in order. */
export function buildPem(bundle: CertificateBundle): string {
  checkBundle(bundle);
  const key = bundle.key ? pemBlock("PRIVATE KEY", bundle.key.export({ format: "der", type: "pkcs8" })) : "";
  return key + bundle.chain.map((der) => pemBlock("CERTIFICATE", der)).join("");
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
const PEM_KEY_TYPES: Record<string, "pkcs8" | "pkcs1" | "sec1"> = {
  "PRIVATE KEY": "pkcs8",
  "RSA PRIVATE KEY": "pkcs1",
  "EC PRIVATE KEY": "sec1",
};

function pemBody(label: string, body: string): Buffer {
  if (body.includes(":")) fail(`The PEM ${label} is encrypted, which is not supported.`); // "Proc-Type: 4,ENCRYPTED" headers
  if (!/^[A-Za-z0-9+/=\s]*$/.test(body)) fail(`The PEM ${label} block is not valid base64.`);
  return Buffer.from(body, "base64");
}

/**
 * Reads PEM text: one private key at most (PKCS#8 "PRIVATE KEY", "RSA PRIVATE KEY" or "EC PRIVATE KEY") and its
 * certificates, in any order; the certificates keep their order, the first being the leaf, which the key must match.
 * "EC PARAMETERS" blocks are skipped; encrypted keys and other blocks are refused.
 */
export function readPem(text: string): CertificateBundle {
  const keys: KeyObject[] = [];
  const chain: Buffer[] = [];
  for (const [, label, body] of text.matchAll(PEM_BLOCK)) {
    const keyType = PEM_KEY_TYPES[label!];
    if (keyType) keys.push(privateKey(pemBody(label!, body!), keyType));
    else if (label === "CERTIFICATE") chain.push(checkCertificate(pemBody(label, body!)));
    else if (label !== "EC PARAMETERS") fail(`PEM ${label} blocks are not supported.`);
  }
  if (chain.length === 0) fail("The PEM text holds no certificate.");
  if (keys.length > 1) fail("The PEM text holds more than one private key.");
  const bundle = { key: keys[0], chain };
  if (bundle.key && !leafMatchesKey(bundle)) fail("The private key does not match the first (leaf) certificate.");
  return bundle.key ? bundle : { chain };
}

/** Whether the bundle's key is the private half of its leaf certificate's public key (false without a key or leaf). */
export function leafMatchesKey(bundle: CertificateBundle): boolean {
  if (!bundle.key || !bundle.chain[0]) return false;
  try {
    const certified = new X509Certificate(bundle.chain[0]).publicKey;
    const publicKey = createPublicKey(bundle.key);
    // Across key types, node's equals() leaves OpenSSL's "different key types" error queued, failing the next key import.
    return certified.asymmetricKeyType === publicKey.asymmetricKeyType && certified.equals(publicKey);
  } catch {
    return false;
  }
}

const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/** The bytes of base64 text, standard or url-safe, whitespace ignored; undefined if it is not base64. */
export function base64Bytes(text: string): Buffer | undefined {
  const compact = text.replace(/\s+/g, "");
  return BASE64.test(compact) ? Buffer.from(compact.replace(/-/g, "+").replace(/_/g, "/"), "base64") : undefined;
}

/**
 * Reads an imported certificate value as Azure does, by looking at it: PEM text if it has a "-----BEGIN" line, else
 * base64 (standard or url-safe) of PEM text (the SDK base64-encodes the bytes it is given unless told the value is
 * PEM) or of a PKCS#12 (PFX) file, opened with the password (none: the empty one).
 */
export async function readCertificateValue(value: string, password?: string): Promise<CertificateBundle> {
  return (await readCertificateValueKind(value, password)).bundle;
}

/** As readCertificateValue, also saying which of the two forms the value was. */
export async function readCertificateValueKind(value: string, password?: string): Promise<{ bundle: CertificateBundle; pem: boolean }> {
  if (value.includes("-----BEGIN ")) return { bundle: readPem(value), pem: true };
  const bytes = base64Bytes(value) ?? fail("The certificate value is neither PEM nor base64 PKCS#12 (PFX).");
  const text = bytes.toString("latin1");
  if (text.includes("-----BEGIN ")) return { bundle: readPem(text), pem: true };
  return { bundle: await readPfx(bytes, password), pem: false };
}

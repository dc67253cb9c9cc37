import {
  constants,
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  privateDecrypt,
  privateEncrypt,
  publicDecrypt,
  publicEncrypt,
  randomBytes,
  timingSafeEqual,
  type KeyObject,
} from "node:crypto";
import { p256, p384, p521 } from "@noble/curves/nist.js";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { ALGORITHMS, HASH_BYTES, type Algorithm, type Curve, type Hash, type KeyOperation } from "./algorithms.ts";
import { KeyInputError, nodeJwk, type PrivateJwk } from "./keys.ts";
import { ecdsaSignDigest } from "./ecdsa.ts";

/**
 * Key Vault's cryptographic operations on a key's material. Pure functions of their input,
 * run in the crypto worker pool (crypto/pool.ts) so that RSA private operations never
 * block the event loop; the quick ones run inline. Bad input throws KeyInputError with a message free of key material.
 */
export interface OperationRequest {
  op: KeyOperation;
  alg: string;
  key: PrivateJwk;
  /** Identifies the key version, so the worker can keep its parsed form. */
  cacheKey: string;
  value: Uint8Array;
  iv?: Uint8Array;
  aad?: Uint8Array;
  tag?: Uint8Array;
  /** verify: the digest that was signed; `value` is the signature. */
  digest?: Uint8Array;
}

export interface OperationResult {
  value?: Uint8Array;
  iv?: Uint8Array;
  tag?: Uint8Array;
  aad?: Uint8Array;
  valid?: boolean;
}

const parsed = new Map<string, { privateKey?: KeyObject; publicKey?: KeyObject }>();
const MAX_PARSED = 512;

function keyObjects(req: OperationRequest): { privateKey: KeyObject; publicKey: KeyObject } {
  let hit = parsed.get(req.cacheKey);
  if (!hit?.privateKey) {
    const privateKey = createPrivateKey({ key: nodeJwk(req.key), format: "jwk" });
    hit = { privateKey, publicKey: createPublicKey(privateKey) };
    if (parsed.size >= MAX_PARSED) parsed.delete(parsed.keys().next().value!);
    parsed.set(req.cacheKey, hit);
  }
  return hit as { privateKey: KeyObject; publicKey: KeyObject };
}

const bad = (message: string): KeyInputError => new KeyInputError(message);
const buf = (u: Uint8Array | undefined): Buffer | undefined => (u ? Buffer.from(u.buffer, u.byteOffset, u.byteLength) : undefined);

export function perform(req: OperationRequest): OperationResult {
  const alg = ALGORITHMS.get(req.alg)!;
  switch (alg.kind) {
    case "rsa-encrypt":
      return rsaCipher(req, alg.padding, alg.hash);
    case "rsa-sign":
      return req.op === "sign" ? { value: rsaSign(req, alg.padding, alg.hash) } : { valid: rsaVerify(req, alg.padding, alg.hash) };
    case "ecdsa":
      return req.op === "sign" ? { value: ecSign(req, alg.curve, alg.hash) } : { valid: ecVerify(req, alg.curve, alg.hash) };
    default:
      return aes(req, alg);
  }
}

// ---- RSA encryption -------------------------------------------------------------------

function rsaCipher(req: OperationRequest, padding: "pkcs1" | "oaep", hash: Hash): OperationResult {
  const { privateKey, publicKey } = keyObjects(req);
  const k = (publicKey.asymmetricKeyDetails!.modulusLength! + 7) >> 3;
  const value = buf(req.value)!;
  const encrypting = req.op === "encrypt" || req.op === "wrapKey";
  if (encrypting) {
    const max = padding === "pkcs1" ? k - 11 : k - 2 * HASH_BYTES[hash] - 2;
    if (value.length > max) throw bad(`The plaintext is ${value.length} bytes; ${req.alg} with this key takes at most ${max}.`);
    return {
      value:
        padding === "pkcs1"
          ? publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, value)
          : publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, value),
    };
  }
  if (value.length !== k) throw bad(`The ciphertext must be ${k} bytes for this key.`);
  if (padding === "oaep") {
    try {
      return { value: privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, value) };
    } catch {
      throw bad("The ciphertext could not be decrypted with this key and algorithm.");
    }
  }
  return { value: pkcs1Decrypt(req, privateKey, value, k) };
}

/**
 * RSA1_5 decryption with implicit rejection: Node 20 refuses PKCS#1 v1.5 private
 * decryption (CVE-2023-46809, the Marvin attack), so the raw RSA result is unpadded here,
 * scanning every byte, and a malformed block yields a pseudo-random message derived from
 * the key and the ciphertext instead of an error, so no caller can learn whether the
 * padding was valid.
 */
function pkcs1Decrypt(req: OperationRequest, privateKey: KeyObject, ciphertext: Buffer, k: number): Buffer {
  let em: Buffer;
  try {
    em = privateDecrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, ciphertext);
  } catch {
    // Only a ciphertext not below the modulus fails here, which anyone can see from n.
    throw bad("The ciphertext is not a valid RSA ciphertext for this key.");
  }
  let good = ((em[0]! | (em[1]! ^ 2)) === 0 ? 1 : 0) | 0;
  let separator = 0;
  let found = 0;
  for (let i = 2; i < k; i++) {
    const isZero = em[i] === 0 ? 1 : 0;
    const first = isZero & (found ^ 1);
    separator = first ? i : separator;
    found |= isZero;
  }
  good &= found & (separator >= 10 ? 1 : 0);

  const kdk = createHash("sha256")
    .update(Buffer.from((req.key as { d: string }).d, "base64url"))
    .digest();
  const stream = createHmac("sha256", kdk).update("lockbox rsa1_5 implicit rejection").update(ciphertext).digest();
  const synthLength = stream.readUInt16BE(0) % (k - 10);
  const synthetic = Buffer.alloc(synthLength);
  for (let off = 0, block = 0; off < synthLength; block++) {
    const chunk = createHmac("sha256", kdk)
      .update(ciphertext)
      .update(Buffer.from([block >> 8, block & 0xff]))
      .digest();
    off += chunk.copy(synthetic, off);
  }
  return good ? Buffer.from(em.subarray(separator + 1)) : synthetic;
}

// ---- RSA signatures over digests --------------------------------------------------------

const DIGEST_INFO: Record<Hash, Buffer> = {
  sha1: Buffer.from("3021300906052b0e03021a05000414", "hex"),
  sha256: Buffer.from("3031300d060960864801650304020105000420", "hex"),
  sha384: Buffer.from("3041300d060960864801650304020205000430", "hex"),
  sha512: Buffer.from("3051300d060960864801650304020305000440", "hex"),
};

function checkDigest(digest: Buffer, hash: Hash, alg: string): void {
  if (digest.length !== HASH_BYTES[hash]) {
    throw bad(`${alg} signs a ${HASH_BYTES[hash]}-byte digest; the digest given is ${digest.length} bytes.`);
  }
}

function mgf1(seed: Buffer, length: number, hash: Hash): Buffer {
  const out = Buffer.alloc(length);
  for (let counter = 0, off = 0; off < length; counter++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    off += createHash(hash).update(seed).update(c).digest().copy(out, off);
  }
  return out;
}

/** EMSA-PSS encoding (RFC 8017, 9.1.1) with a salt as long as the hash. */
function pssEncode(mHash: Buffer, emBits: number, hash: Hash): Buffer {
  const hLen = HASH_BYTES[hash];
  const emLen = Math.ceil(emBits / 8);
  const salt = randomBytes(hLen);
  const h = createHash(hash).update(Buffer.alloc(8)).update(mHash).update(salt).digest();
  const db = Buffer.alloc(emLen - hLen - 1);
  db[emLen - 2 * hLen - 2] = 0x01;
  salt.copy(db, emLen - 2 * hLen - 1);
  const mask = mgf1(h, db.length, hash);
  for (let i = 0; i < db.length; i++) db[i]! ^= mask[i]!;
  db[0]! &= 0xff >> (8 * emLen - emBits);
  return Buffer.concat([db, h, Buffer.from([0xbc])]);
}

/** EMSA-PSS verification (RFC 8017, 9.1.2), salt length = hash length. */
function pssVerify(mHash: Buffer, em: Buffer, emBits: number, hash: Hash): boolean {
  const hLen = HASH_BYTES[hash];
  const emLen = Math.ceil(emBits / 8);
  if (em.length !== emLen || em[emLen - 1] !== 0xbc || emLen < 2 * hLen + 2) return false;
  const db = Buffer.from(em.subarray(0, emLen - hLen - 1));
  const h = em.subarray(emLen - hLen - 1, emLen - 1);
  if ((db[0]! & ~(0xff >> (8 * emLen - emBits)) & 0xff) !== 0) return false;
  const mask = mgf1(h, db.length, hash);
  for (let i = 0; i < db.length; i++) db[i]! ^= mask[i]!;
  db[0]! &= 0xff >> (8 * emLen - emBits);
  const psEnd = emLen - 2 * hLen - 2;
  for (let i = 0; i < psEnd; i++) if (db[i] !== 0) return false;
  if (db[psEnd] !== 0x01) return false;
  const salt = db.subarray(db.length - hLen);
  const expected = createHash(hash).update(Buffer.alloc(8)).update(mHash).update(salt).digest();
  return timingSafeEqual(expected, h);
}

function rsaSign(req: OperationRequest, padding: "pkcs1" | "pss", hash: Hash): Buffer {
  const digest = buf(req.value)!;
  checkDigest(digest, hash, req.alg);
  const { privateKey, publicKey } = keyObjects(req);
  if (padding === "pkcs1") {
    return privateEncrypt({ key: privateKey, padding: constants.RSA_PKCS1_PADDING }, Buffer.concat([DIGEST_INFO[hash], digest]));
  }
  const modBits = publicKey.asymmetricKeyDetails!.modulusLength!;
  const k = (modBits + 7) >> 3;
  const em = pssEncode(digest, modBits - 1, hash);
  return privateEncrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, Buffer.concat([Buffer.alloc(k - em.length), em]));
}

function rsaVerify(req: OperationRequest, padding: "pkcs1" | "pss", hash: Hash): boolean {
  const digest = buf(req.digest)!;
  checkDigest(digest, hash, req.alg);
  const { publicKey } = keyObjects(req);
  const modBits = publicKey.asymmetricKeyDetails!.modulusLength!;
  const k = (modBits + 7) >> 3;
  const signature = buf(req.value)!;
  if (signature.length !== k) return false;
  try {
    if (padding === "pkcs1") {
      const recovered = publicDecrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, signature);
      const expected = Buffer.concat([DIGEST_INFO[hash], digest]);
      return recovered.length === expected.length && timingSafeEqual(recovered, expected);
    }
    const em = publicEncrypt({ key: publicKey, padding: constants.RSA_NO_PADDING }, signature);
    const emLen = Math.ceil((modBits - 1) / 8);
    return pssVerify(digest, em.subarray(em.length - emLen), modBits - 1, hash);
  } catch {
    return false;
  }
}

// ---- ECDSA over digests (raw r||s) ------------------------------------------------------

const NOBLE = { "P-256": p256, "P-256K": secp256k1, "P-384": p384, "P-521": p521 } as const;

function ecSign(req: OperationRequest, curve: Curve, hash: Hash): Uint8Array {
  const digest = buf(req.value)!;
  checkDigest(digest, hash, req.alg);
  const jwk = req.key as { d: string };
  return ecdsaSignDigest(curve, Buffer.from(jwk.d, "base64url"), digest);
}

function ecVerify(req: OperationRequest, curve: Curve, hash: Hash): boolean {
  const digest = buf(req.digest)!;
  checkDigest(digest, hash, req.alg);
  const jwk = req.key as { x: string; y: string };
  const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x, "base64url"), Buffer.from(jwk.y, "base64url")]);
  try {
    return NOBLE[curve].verify(buf(req.value)!, digest, point, { prehash: false, lowS: false });
  } catch {
    return false;
  }
}

// ---- AES ---------------------------------------------------------------------------------

function aes(req: OperationRequest, alg: Algorithm & { family: "oct" }): OperationResult {
  const key = Buffer.from((req.key as { k: string }).k, "base64url");
  if (key.length * 8 !== alg.keyBits) throw bad(`${req.alg} needs a ${alg.keyBits}-bit key; this key has ${key.length * 8} bits.`);
  const value = buf(req.value)!;
  const encrypting = req.op === "encrypt" || req.op === "wrapKey";
  switch (alg.kind) {
    case "aes-gcm": {
      const cipherName = `aes-${alg.keyBits}-gcm` as const;
      const aad = buf(req.aad);
      if (encrypting) {
        const iv = randomBytes(12);
        const c = createCipheriv(cipherName, key, iv);
        if (aad) c.setAAD(aad);
        const ct = Buffer.concat([c.update(value), c.final()]);
        return { value: ct, iv, tag: c.getAuthTag(), ...(aad ? { aad } : {}) };
      }
      const iv = buf(req.iv);
      const tag = buf(req.tag);
      if (!iv || !tag) throw bad(`${req.alg} decryption needs the iv and the authentication tag.`);
      if (tag.length !== 16) throw bad("The authentication tag must be 16 bytes.");
      try {
        const d = createDecipheriv(cipherName, key, iv);
        if (aad) d.setAAD(aad);
        d.setAuthTag(tag);
        return { value: Buffer.concat([d.update(value), d.final()]) };
      } catch {
        throw bad("The ciphertext could not be decrypted: the key, iv, tag or additional data do not match.");
      }
    }
    case "aes-cbc":
    case "aes-cbcpad": {
      const cipherName = `aes-${alg.keyBits}-cbc` as const;
      const pad = alg.kind === "aes-cbcpad";
      if (!pad && value.length % 16 !== 0) throw bad(`${req.alg} takes data in whole 16-byte blocks; use ${req.alg}PAD for other lengths.`);
      let iv = buf(req.iv);
      if (iv && iv.length !== 16) throw bad("The iv must be 16 bytes.");
      if (encrypting) {
        iv ??= randomBytes(16);
        const c = createCipheriv(cipherName, key, iv).setAutoPadding(pad);
        return { value: Buffer.concat([c.update(value), c.final()]), iv };
      }
      if (!iv) throw bad(`${req.alg} decryption needs the iv.`);
      try {
        const d = createDecipheriv(cipherName, key, iv).setAutoPadding(pad);
        return { value: Buffer.concat([d.update(value), d.final()]) };
      } catch {
        throw bad("The ciphertext could not be decrypted with this key and iv.");
      }
    }
    case "aes-kw": {
      const cipherName = `id-aes${alg.keyBits}-wrap`;
      const iv = Buffer.from("A6A6A6A6A6A6A6A6", "hex");
      if (encrypting) {
        if (value.length < 16 || value.length % 8 !== 0) throw bad(`${req.alg} wraps keys of at least 16 bytes in multiples of 8.`);
        const c = createCipheriv(cipherName, key, iv);
        return { value: Buffer.concat([c.update(value), c.final()]) };
      }
      // A wrapped key is the key plus an 8-byte integrity block: node:crypto unwraps an empty
      // input to an empty key without complaint.
      if (value.length < 24 || value.length % 8 !== 0) throw bad(`${req.alg} unwraps values of at least 24 bytes in multiples of 8.`);
      try {
        const d = createDecipheriv(cipherName, key, iv);
        return { value: Buffer.concat([d.update(value), d.final()]) };
      } catch {
        throw bad("The wrapped key could not be unwrapped with this key.");
      }
    }
  }
}

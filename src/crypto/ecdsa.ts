import { createECDH, randomBytes, type ECDH } from "node:crypto";
import { CURVES, type Curve } from "./algorithms.ts";

interface CurveParams {
  /** The group order. */
  n: bigint;
  /** Bytes of a coordinate, and of r and s in a raw signature. */
  size: number;
  /** secp256k1 signatures are given a low s, as its verifiers commonly require. */
  lowS: boolean;
}

const params = (n: bigint, curve: Curve): CurveParams => ({ n, size: CURVES[curve].size, lowS: curve === "P-256K" });
const PARAMS: Record<Curve, CurveParams> = {
  "P-256": params(0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n, "P-256"),
  "P-256K": params(0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n, "P-256K"),
  "P-384": params(0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n, "P-384"),
  "P-521": params(
    0x01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
    "P-521",
  ),
};

const toBigInt = (b: Uint8Array): bigint => (b.length === 0 ? 0n : BigInt(`0x${Buffer.from(b).toString("hex")}`));
const toBytes = (v: bigint, size: number): Buffer => Buffer.from(v.toString(16).padStart(size * 2, "0"), "hex");
const mod = (a: bigint, n: bigint): bigint => ((a % n) + n) % n;

/** a^-1 mod n, by the extended Euclidean algorithm (its time depends on a: see blindedInvert). */
function invert(a: bigint, n: bigint): bigint {
  let [r0, r1] = [n, mod(a, n)];
  let [t0, t1] = [0n, 1n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [t0, t1] = [t1, t0 - q * t1];
  }
  return mod(t0, n);
}

/** k^-1 mod n computed as b (k b)^-1 with a fresh random b, so the time taken says nothing about k. */
function blindedInvert(k: bigint, c: CurveParams): bigint {
  const b = randomScalar(c);
  return (b * invert((k * b) % c.n, c.n)) % c.n;
}

/** A uniformly random scalar in [1, n-1], by rejection. */
function randomScalar(c: CurveParams): bigint {
  const bits = c.n.toString(2).length;
  const excess = BigInt(c.size * 8 - bits);
  for (;;) {
    const k = toBigInt(randomBytes(c.size)) >> excess;
    if (k > 0n && k < c.n) return k;
  }
}

const ecdhs = new Map<Curve, ECDH>();
/** One ECDH object per curve and thread, reused: making one costs more than a signature. */
function ecdhOf(curve: Curve): ECDH {
  let e = ecdhs.get(curve);
  if (!e) ecdhs.set(curve, (e = createECDH(CURVES[curve].openssl)));
  return e;
}

/**
 * ECDSA over a digest the caller already computed, as Key Vault signs (FIPS 186-4, random
 * nonce): r = (kG).x mod n, s = k^-1 (e + r d) mod n, returned as raw r || s. Node's sign()
 * always hashes its input, so the scalar multiplication kG is done by OpenSSL through ECDH
 * (the public key of the private value k) and only the arithmetic mod n is done here.
 * The digest is never longer than the group order here (algorithms.ts pairs each curve
 * with its hash), so e is the digest itself.
 */
export function ecdsaSignDigest(curve: Curve, privateScalar: Uint8Array, digest: Uint8Array): Buffer {
  const c = PARAMS[curve];
  const d = toBigInt(privateScalar);
  const e = mod(toBigInt(digest), c.n);
  const ecdh = ecdhOf(curve);
  for (;;) {
    const k = randomScalar(c);
    ecdh.setPrivateKey(toBytes(k, c.size));
    const point = ecdh.getPublicKey(); // 04 || x || y
    const r = mod(toBigInt(point.subarray(1, 1 + c.size)), c.n);
    if (r === 0n) continue;
    let s = mod(blindedInvert(k, c) * (e + r * d), c.n);
    if (s === 0n) continue;
    if (c.lowS && s > c.n >> 1n) s = c.n - s;
    return Buffer.concat([toBytes(r, c.size), toBytes(s, c.size)]);
  }
}

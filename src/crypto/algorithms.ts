/**
 * The algorithm table: which key family and operations each Key Vault algorithm serves,
 * and its parameters. One table for the service, the worker and the tests.
 */
export type KeyFamily = "RSA" | "EC" | "oct";
export type KeyOperation = "encrypt" | "decrypt" | "wrapKey" | "unwrapKey" | "sign" | "verify";

export type Curve = "P-256" | "P-256K" | "P-384" | "P-521";

export interface CurveInfo {
  /** The name OpenSSL knows the curve by. */
  openssl: string;
  /** The curve's name in a JWK as Node exports it. */
  jwkCrv: string;
  /** Bytes of one coordinate / scalar. */
  size: number;
  signature: "ES256" | "ES256K" | "ES384" | "ES512";
}

export const CURVES: Record<Curve, CurveInfo> = {
  "P-256": { openssl: "prime256v1", jwkCrv: "P-256", size: 32, signature: "ES256" },
  "P-256K": { openssl: "secp256k1", jwkCrv: "secp256k1", size: 32, signature: "ES256K" },
  "P-384": { openssl: "secp384r1", jwkCrv: "P-384", size: 48, signature: "ES384" },
  "P-521": { openssl: "secp521r1", jwkCrv: "P-521", size: 66, signature: "ES512" },
};

export const isCurve = (c: unknown): c is Curve => typeof c === "string" && c in CURVES;

export type Hash = "sha1" | "sha256" | "sha384" | "sha512";
export const HASH_BYTES: Record<Hash, number> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 };

export type Algorithm =
  | { name: string; family: "RSA"; kind: "rsa-encrypt"; padding: "pkcs1" | "oaep"; hash: Hash }
  | { name: string; family: "oct"; kind: "aes-gcm" | "aes-cbc" | "aes-cbcpad" | "aes-kw"; keyBits: 128 | 192 | 256 }
  | { name: string; family: "RSA"; kind: "rsa-sign"; padding: "pkcs1" | "pss"; hash: Hash }
  | { name: string; family: "EC"; kind: "ecdsa"; curve: Curve; hash: Hash };

const table: Algorithm[] = [
  { name: "RSA1_5", family: "RSA", kind: "rsa-encrypt", padding: "pkcs1", hash: "sha1" },
  { name: "RSA-OAEP", family: "RSA", kind: "rsa-encrypt", padding: "oaep", hash: "sha1" },
  { name: "RSA-OAEP-256", family: "RSA", kind: "rsa-encrypt", padding: "oaep", hash: "sha256" },
  ...([128, 192, 256] as const).flatMap((keyBits) => [
    { name: `A${keyBits}GCM`, family: "oct" as const, kind: "aes-gcm" as const, keyBits },
    { name: `A${keyBits}CBC`, family: "oct" as const, kind: "aes-cbc" as const, keyBits },
    { name: `A${keyBits}CBCPAD`, family: "oct" as const, kind: "aes-cbcpad" as const, keyBits },
    { name: `A${keyBits}KW`, family: "oct" as const, kind: "aes-kw" as const, keyBits },
  ]),
  ...(["sha256", "sha384", "sha512"] as const).flatMap((hash) => {
    const bits = hash.slice(3);
    return [
      { name: `RS${bits}`, family: "RSA" as const, kind: "rsa-sign" as const, padding: "pkcs1" as const, hash },
      { name: `PS${bits}`, family: "RSA" as const, kind: "rsa-sign" as const, padding: "pss" as const, hash },
    ];
  }),
  { name: "ES256", family: "EC", kind: "ecdsa", curve: "P-256", hash: "sha256" },
  { name: "ES256K", family: "EC", kind: "ecdsa", curve: "P-256K", hash: "sha256" },
  { name: "ES384", family: "EC", kind: "ecdsa", curve: "P-384", hash: "sha384" },
  { name: "ES512", family: "EC", kind: "ecdsa", curve: "P-521", hash: "sha512" },
];

export const ALGORITHMS: ReadonlyMap<string, Algorithm> = new Map(table.map((a) => [a.name, a]));

/** The operations an algorithm can serve. */
export function operationsOf(alg: Algorithm): KeyOperation[] {
  switch (alg.kind) {
    case "rsa-encrypt":
      return ["encrypt", "decrypt", "wrapKey", "unwrapKey"];
    case "aes-gcm":
    case "aes-cbc":
    case "aes-cbcpad":
      return ["encrypt", "decrypt"];
    case "aes-kw":
      return ["wrapKey", "unwrapKey"];
    case "rsa-sign":
    case "ecdsa":
      return ["sign", "verify"];
  }
}

/** key_ops a new key gets when its creator names none. */
export const DEFAULT_KEY_OPS: Record<KeyFamily, KeyOperation[]> = {
  RSA: ["encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"],
  EC: ["sign", "verify"],
  oct: ["encrypt", "decrypt", "wrapKey", "unwrapKey"],
};

export const KEY_OPS = new Set(["encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey", "import", "export"]);

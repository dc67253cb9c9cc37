import { createECDH, createPrivateKey, generateKeyPair, randomBytes, type JsonWebKey, type KeyObject } from "node:crypto";
import { promisify } from "node:util";
import { CURVES, isCurve, type Curve, type KeyFamily } from "./algorithms.ts";

const generateKeyPairAsync = promisify(generateKeyPair);

/** A key's private material as JWK members (base64url), sealed at rest as a whole. */
export type PrivateJwk =
  | { kty: "RSA"; n: string; e: string; d: string; p: string; q: string; dp: string; dq: string; qi: string }
  | { kty: "EC"; crv: Curve; x: string; y: string; d: string }
  | { kty: "oct"; k: string };

/** What may be shown of a key: RSA n and e, EC crv, x and y; nothing of a symmetric key. */
export type PublicJwk = { n?: string; e?: string; crv?: Curve; x?: string; y?: string };

/** Thrown for key material or parameters that are not acceptable; the message never holds key material. */
export class KeyInputError extends Error {}

export const RSA_SIZES = [2048, 3072, 4096];
export const OCT_SIZES = [128, 192, 256];

const B64URL = /^[A-Za-z0-9_-]*={0,2}$/;

export function fromB64url(value: unknown, what: string): Buffer {
  if (typeof value !== "string" || !B64URL.test(value)) throw new KeyInputError(`${what} is not valid base64url.`);
  return Buffer.from(value, "base64url");
}

const nodeCrv = (crv: Curve): string => CURVES[crv].jwkCrv;
const azureCrv = (crv: string): Curve => (Object.keys(CURVES) as Curve[]).find((c) => CURVES[c].jwkCrv === crv)!;

/** What generation needs to know: RSA size and exponent, EC curve, symmetric size (bits). */
export interface KeyShape {
  size?: number;
  exponent?: number;
  crv?: Curve;
}

const bigEndian = (b64url: string): bigint => {
  const hex = Buffer.from(b64url, "base64url").toString("hex");
  return hex ? BigInt(`0x${hex}`) : 0n;
};

/** The shape of existing material, so that a rotation makes a key like it. */
export function shapeOf(jwk: PrivateJwk): KeyShape {
  switch (jwk.kty) {
    case "RSA":
      return { size: rsaBits(jwk), exponent: Number(bigEndian(jwk.e)) };
    case "EC":
      return { crv: jwk.crv };
    case "oct":
      return { size: Buffer.from(jwk.k, "base64url").length * 8 };
  }
}

/** Generates fresh key material. RSA and EC generation run on libuv's thread pool, off the event loop. */
export async function generateKey(family: KeyFamily, options: KeyShape): Promise<PrivateJwk> {
  switch (family) {
    case "RSA": {
      const { privateKey } = await generateKeyPairAsync("rsa", {
        modulusLength: options.size ?? 2048,
        publicExponent: options.exponent ?? 65537,
      });
      return toPrivateJwk(privateKey.export({ format: "jwk" }));
    }
    case "EC": {
      const { privateKey } = await generateKeyPairAsync("ec", { namedCurve: CURVES[options.crv ?? "P-256"].openssl });
      return toPrivateJwk(privateKey.export({ format: "jwk" }));
    }
    case "oct":
      return { kty: "oct", k: randomBytes((options.size ?? 256) / 8).toString("base64url") };
  }
}

/** Key material as Lockbox keeps it, from a node private key (RSA or EC). */
export const privateJwkOf = (key: KeyObject): PrivateJwk => toPrivateJwk(key.export({ format: "jwk" }));

/** A node private key of kept RSA or EC material. */
export const keyObjectOf = (jwk: PrivateJwk): KeyObject => createPrivateKey({ key: nodeJwk(jwk), format: "jwk" });

function toPrivateJwk(jwk: JsonWebKey): PrivateJwk {
  if (jwk.kty === "RSA") {
    const { n, e, d, p, q, dp, dq, qi } = jwk as Record<string, string>;
    return { kty: "RSA", n: n!, e: e!, d: d!, p: p!, q: q!, dp: dp!, dq: dq!, qi: qi! };
  }
  const { crv, x, y, d } = jwk as Record<string, string>;
  return { kty: "EC", crv: azureCrv(crv!), x: x!, y: y!, d: d! };
}

const RSA_PRIVATE = ["n", "e", "d", "p", "q", "dp", "dq", "qi"] as const;

/**
 * Checks an imported JWK (Key Vault's members: RSA n e d p q dp dq qi, EC crv x y d,
 * oct k) and returns its private material. The key must be whole and consistent.
 */
export function importJwk(family: KeyFamily, key: Record<string, unknown>): PrivateJwk {
  if (family === "oct") {
    const k = fromB64url(key.k, "k");
    if (!OCT_SIZES.includes(k.length * 8)) throw new KeyInputError("A symmetric key must be 128, 192 or 256 bits.");
    return { kty: "oct", k: k.toString("base64url") };
  }
  if (family === "RSA") {
    const missing = RSA_PRIVATE.filter((m) => key[m] === undefined);
    if (missing.length) throw new KeyInputError(`The RSA key is missing ${missing.join(", ")}; import needs the whole private key.`);
    const parts = Object.fromEntries(RSA_PRIVATE.map((m) => [m, fromB64url(key[m], m).toString("base64url")]));
    const jwk = { kty: "RSA", ...parts } as PrivateJwk & { kty: "RSA" };
    const bits = rsaBits(jwk);
    if (bits < 2048 || bits > 4096) throw new KeyInputError("An RSA key must be 2048 to 4096 bits.");
    checkConsistent(jwk);
    return jwk;
  }
  if (!isCurve(key.crv)) throw new KeyInputError("crv must be one of P-256, P-256K, P-384, P-521.");
  const missing = (["x", "y", "d"] as const).filter((m) => key[m] === undefined);
  if (missing.length) throw new KeyInputError(`The EC key is missing ${missing.join(", ")}; import needs the whole private key.`);
  const jwk: PrivateJwk = {
    kty: "EC",
    crv: key.crv,
    x: fromB64url(key.x, "x").toString("base64url"),
    y: fromB64url(key.y, "y").toString("base64url"),
    d: fromB64url(key.d, "d").toString("base64url"),
  };
  checkConsistent(jwk);
  return jwk;
}

/**
 * OpenSSL takes a JWK's members as given, so an imported key is checked here: for RSA the
 * number theory that ties n, e, d and the CRT members together; for EC that d yields the
 * public point (x, y).
 */
function checkConsistent(jwk: PrivateJwk): void {
  const invalid = new KeyInputError("The key's parts do not form a valid private key.");
  if (jwk.kty === "RSA") {
    const [n, e, d, p, q, dp, dq, qi] = [jwk.n, jwk.e, jwk.d, jwk.p, jwk.q, jwk.dp, jwk.dq, jwk.qi].map(bigEndian) as [
      bigint,
      bigint,
      bigint,
      bigint,
      bigint,
      bigint,
      bigint,
      bigint,
    ];
    const ok =
      p > 1n &&
      q > 1n &&
      p * q === n &&
      (d * e) % (p - 1n) === 1n % (p - 1n) &&
      (d * e) % (q - 1n) === 1n % (q - 1n) &&
      dp === d % (p - 1n) &&
      dq === d % (q - 1n) &&
      (qi * q) % p === 1n;
    if (!ok) throw invalid;
  } else if (jwk.kty === "EC") {
    try {
      const ecdh = createECDH(CURVES[jwk.crv].openssl);
      ecdh.setPrivateKey(Buffer.from(jwk.d, "base64url"));
      const expected = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x, "base64url"), Buffer.from(jwk.y, "base64url")]);
      if (!ecdh.getPublicKey().equals(expected)) throw invalid;
    } catch {
      throw invalid;
    }
  }
  try {
    createPrivateKey({ key: nodeJwk(jwk), format: "jwk" });
  } catch {
    throw invalid;
  }
}

/** The JWK as Node's crypto reads it. */
export function nodeJwk(jwk: PrivateJwk): JsonWebKey {
  return jwk.kty === "EC" ? { ...jwk, crv: nodeCrv(jwk.crv) } : { ...jwk };
}

export const rsaBits = (jwk: { n: string }): number => {
  const n = bigEndian(jwk.n);
  return n === 0n ? 0 : n.toString(2).length;
};

export function publicJwk(jwk: PrivateJwk): PublicJwk {
  switch (jwk.kty) {
    case "RSA":
      return { n: jwk.n, e: jwk.e };
    case "EC":
      return { crv: jwk.crv, x: jwk.x, y: jwk.y };
    case "oct":
      return {};
  }
}

/** A public JWK as stored in a key version's props, read back: only the members a public key has. */
export function publicJwkOf(stored: Record<string, unknown>): PublicJwk {
  const pub: PublicJwk = {};
  for (const member of ["n", "e", "x", "y"] as const) {
    const value = stored[member];
    if (typeof value === "string") pub[member] = value;
  }
  if (isCurve(stored.crv)) pub.crv = stored.crv;
  return pub;
}

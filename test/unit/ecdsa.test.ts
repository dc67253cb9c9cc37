import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, generateKeyPairSync, randomBytes, verify } from "node:crypto";
import { ecdsaSignDigest } from "../../src/crypto/ecdsa.ts";
import { CURVES, type Curve } from "../../src/crypto/algorithms.ts";

const HASH: Record<Curve, string> = { "P-256": "sha256", "P-256K": "sha256", "P-384": "sha384", "P-521": "sha512" };
const SECP256K1_HALF_ORDER = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n >> 1n;

for (const curve of Object.keys(CURVES) as Curve[]) {
  test(`ECDSA over a digest on ${curve}: raw r||s that node:crypto verifies against the data, a fresh nonce each time`, () => {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: CURVES[curve].openssl });
    const d = Buffer.from((privateKey.export({ format: "jwk" }) as { d: string }).d, "base64url");
    for (let i = 0; i < 40; i++) {
      const data = randomBytes(1 + i);
      const digest = createHash(HASH[curve]).update(data).digest();
      const signature = ecdsaSignDigest(curve, d, digest);
      assert.equal(signature.length, 2 * CURVES[curve].size, "r and s, each the curve's size");
      assert.ok(verify(HASH[curve], data, { key: publicKey, dsaEncoding: "ieee-p1363" }, signature), `signature ${i} does not verify`);
      assert.ok(
        !verify(HASH[curve], Buffer.concat([data, Buffer.from("x")]), { key: publicKey, dsaEncoding: "ieee-p1363" }, signature),
        "verifies other data",
      );
      if (curve === "P-256K") {
        const s = BigInt(`0x${signature.subarray(32).toString("hex")}`);
        assert.ok(s <= SECP256K1_HALF_ORDER, "secp256k1 signatures have a low s");
      }
    }
    const digest = createHash(HASH[curve]).update("same").digest();
    assert.ok(
      !ecdsaSignDigest(curve, d, digest).equals(ecdsaSignDigest(curve, d, digest)),
      "two signatures of one digest are equal: the nonce repeats",
    );
  });
}

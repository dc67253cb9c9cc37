import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { ALGORITHMS, operationsOf } from "../../src/crypto/algorithms.ts";
import { generateKey, importJwk, KeyInputError, publicJwk, rsaBits, shapeOf, type PrivateJwk } from "../../src/crypto/keys.ts";
import { perform } from "../../src/crypto/perform.ts";

const rsa = await generateKey("RSA", { size: 2048 });
const data = Buffer.from("the quick brown fox");
const publicKeyOf = (jwk: PrivateJwk) =>
  crypto.createPublicKey(
    crypto.createPrivateKey({
      key: { ...jwk, crv: jwk.kty === "EC" && jwk.crv === "P-256K" ? "secp256k1" : (jwk as { crv?: string }).crv },
      format: "jwk",
    }),
  );
let n = 0;
const run = (key: PrivateJwk, op: Parameters<typeof perform>[0]["op"], alg: string, rest: Partial<Parameters<typeof perform>[0]>) =>
  perform({ op, alg, key, cacheKey: `k${n++}`, value: Buffer.alloc(0), ...rest });

test("the algorithm table: every algorithm names its family and operations", () => {
  assert.equal(ALGORITHMS.size, 3 + 12 + 6 + 4);
  assert.deepEqual(operationsOf(ALGORITHMS.get("A256KW")!), ["wrapKey", "unwrapKey"]);
  assert.deepEqual(operationsOf(ALGORITHMS.get("ES256K")!), ["sign", "verify"]);
  assert.equal(ALGORITHMS.get("PS384")!.family, "RSA");
});

test("RS* and PS* signatures over a digest verify with node:crypto over the data, and back", () => {
  const pub = publicKeyOf(rsa);
  for (const [alg, hash] of [
    ["RS256", "sha256"],
    ["RS384", "sha384"],
    ["RS512", "sha512"],
    ["PS256", "sha256"],
    ["PS384", "sha384"],
    ["PS512", "sha512"],
  ] as const) {
    const digest = crypto.createHash(hash).update(data).digest();
    const sig = Buffer.from(run(rsa, "sign", alg, { value: digest }).value!);
    const pss = alg.startsWith("PS");
    const key = pss ? { key: pub, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: digest.length } : pub;
    assert.equal(crypto.verify(hash, data, key, sig), true, `${alg} verifies with node:crypto`);
    assert.equal(run(rsa, "verify", alg, { value: sig, digest }).valid, true, `${alg} verifies itself`);
    const nodeSig = crypto.sign(
      hash,
      data,
      pss
        ? {
            key: crypto.createPrivateKey({ key: rsa, format: "jwk" }),
            padding: crypto.constants.RSA_PKCS1_PSS_PADDING,
            saltLength: digest.length,
          }
        : crypto.createPrivateKey({ key: rsa, format: "jwk" }),
    );
    assert.equal(run(rsa, "verify", alg, { value: nodeSig, digest }).valid, true, `${alg} accepts node:crypto's signature`);
    const tampered = Buffer.from(digest);
    tampered[0]! ^= 1;
    assert.equal(run(rsa, "verify", alg, { value: sig, digest: tampered }).valid, false, `${alg} refuses another digest`);
  }
});

test("ECDSA signatures are raw r||s and verify with node:crypto (ieee-p1363) on every curve", async () => {
  for (const [crv, alg, hash, size] of [
    ["P-256", "ES256", "sha256", 64],
    ["P-256K", "ES256K", "sha256", 64],
    ["P-384", "ES384", "sha384", 96],
    ["P-521", "ES512", "sha512", 132],
  ] as const) {
    const ec = await generateKey("EC", { crv });
    const digest = crypto.createHash(hash).update(data).digest();
    const sig = Buffer.from(run(ec, "sign", alg, { value: digest }).value!);
    assert.equal(sig.length, size, `${alg} signature length`);
    assert.equal(
      crypto.verify(hash, data, { key: publicKeyOf(ec), dsaEncoding: "ieee-p1363" }, sig),
      true,
      `${alg} verifies with node:crypto`,
    );
    assert.equal(run(ec, "verify", alg, { value: sig, digest }).valid, true, `${alg} verifies itself`);
    assert.equal(run(ec, "verify", alg, { value: sig, digest: Buffer.alloc(digest.length) }).valid, false, `${alg} refuses another digest`);
  }
});

test("a digest of the wrong length is refused as bad input", () => {
  assert.throws(() => run(rsa, "sign", "RS256", { value: Buffer.alloc(31) }), KeyInputError);
});

test("RSA decryption takes what node:crypto encrypted with the public key, for every padding", () => {
  const pub = publicKeyOf(rsa);
  const cases = [
    ["RSA1_5", { key: pub, padding: crypto.constants.RSA_PKCS1_PADDING }],
    ["RSA-OAEP", { key: pub, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha1" }],
    ["RSA-OAEP-256", { key: pub, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }],
  ] as const;
  for (const [alg, options] of cases) {
    const ct = crypto.publicEncrypt(options, data);
    assert.deepEqual(Buffer.from(run(rsa, "decrypt", alg, { value: ct }).value!), data, alg);
    const own = run(rsa, "encrypt", alg, { value: data }).value!;
    assert.deepEqual(Buffer.from(run(rsa, "unwrapKey", alg, { value: own }).value!), data, `${alg} round trip`);
  }
});

test("RSA1_5 decryption of a malformed block answers pseudo-random bytes, the same each time, not an error", () => {
  const garbage = crypto.randomBytes(256);
  garbage[0] = 0; // below the modulus: a block RSA can decrypt, whose padding is then wrong
  const a = Buffer.from(run(rsa, "decrypt", "RSA1_5", { value: garbage }).value!);
  const b = Buffer.from(run(rsa, "decrypt", "RSA1_5", { value: garbage }).value!);
  assert.deepEqual(a, b);
  assert.ok(a.length <= 256 - 11, "no longer than a real message could be");
  const tooLarge = Buffer.alloc(256, 0xff);
  assert.throws(() => run(rsa, "decrypt", "RSA1_5", { value: tooLarge }), KeyInputError, "a ciphertext above the modulus is bad input");
});

test("AES: GCM, CBC, CBCPAD and KW agree with node:crypto", () => {
  const k = crypto.randomBytes(32);
  const oct = importJwk("oct", { k: k.toString("base64url") });
  const aad = Buffer.from("context");
  const gcm = run(oct, "encrypt", "A256GCM", { value: data, aad });
  const d = crypto.createDecipheriv("aes-256-gcm", k, gcm.iv!).setAAD(aad).setAuthTag(gcm.tag!);
  assert.deepEqual(Buffer.concat([d.update(gcm.value!), d.final()]), data);

  const pad = run(oct, "encrypt", "A256CBCPAD", { value: data });
  const dc = crypto.createDecipheriv("aes-256-cbc", k, pad.iv!);
  assert.deepEqual(Buffer.concat([dc.update(pad.value!), dc.final()]), data);
  assert.throws(() => run(oct, "encrypt", "A256CBC", { value: data }), KeyInputError, "CBC without padding takes whole blocks");

  const cek = crypto.randomBytes(32);
  const wrapped = run(oct, "wrapKey", "A256KW", { value: cek }).value!;
  const c = crypto.createCipheriv("id-aes256-wrap", k, Buffer.from("A6A6A6A6A6A6A6A6", "hex"));
  assert.deepEqual(Buffer.from(wrapped), Buffer.concat([c.update(cek), c.final()]));
  assert.deepEqual(Buffer.from(run(oct, "unwrapKey", "A256KW", { value: wrapped }).value!), cek);
  assert.throws(() => run(oct, "encrypt", "A128GCM", { value: data }), KeyInputError, "A128GCM needs a 128-bit key");
});

test("keys: generation shapes, import checks, public parts only", async () => {
  assert.equal(rsaBits(rsa as { n: string }), 2048);
  assert.deepEqual(shapeOf(rsa), { size: 2048, exponent: 65537 });
  assert.deepEqual(Object.keys(publicJwk(rsa)).sort(), ["e", "n"]);
  assert.deepEqual(publicJwk(importJwk("oct", { k: crypto.randomBytes(16).toString("base64url") })), {});
  const { d: _d, ...withoutD } = rsa as Record<string, string>;
  assert.throws(
    () => importJwk("RSA", withoutD),
    (e: Error) => e instanceof KeyInputError && /missing d/.test(e.message),
  );
  const other = (await generateKey("RSA", { size: 2048 })) as Record<string, string>;
  assert.throws(() => importJwk("RSA", { ...rsa, d: other.d }), KeyInputError, "parts of two keys");
  assert.throws(() => importJwk("RSA", { ...rsa, n: "!!!" }), KeyInputError, "bad base64url");
  assert.throws(() => importJwk("EC", { crv: "P-999", x: "", y: "", d: "" }), KeyInputError);
});

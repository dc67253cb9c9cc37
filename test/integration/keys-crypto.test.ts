import { describe, test } from "node:test";
import assert from "node:assert/strict";
import crypto, { constants, type KeyObject } from "node:crypto";
import { DefaultAzureCredential } from "@azure/identity";
import { CryptographyClient, KeyClient, type KeyClientOptions, type KeyVaultKey, type KeyWrapAlgorithm } from "@azure/keyvault-keys";
import { SecretClient } from "@azure/keyvault-secrets";
import { base64url } from "../helpers/sdk.ts";
import { developerToken, raw, type RawResponse } from "../helpers/http.ts";
import { type Lockbox, serveForFile } from "../helpers/server.ts";

// Keys and their cryptographic operations through the official KeyClient and CryptographyClient,
// against one real Lockbox. Every result is checked with plain node:crypto on the public JWK
// Lockbox returned, or on key material the test generated and imported.
//
// The CryptographyClient does some operations itself (keyvault-rest.md §6.4, sdk-probe-notes Q8):
// RSA1_5 / RSA-OAEP encrypt and wrapKey (publicEncrypt with the returned n/e) and RS*/PS*
// verifyData. Those never reach Lockbox, so the server side of those algorithms is exercised
// here with raw POSTs to /keys/{name}/{version}/{encrypt,wrapkey}. Everything else the SDK sends:
// decrypt, unwrapKey, sign, verify on a digest, RSA-OAEP-256, every EC and every AES operation.
let lockbox: Lockbox;
let credential: DefaultAzureCredential;
let keys: KeyClient;
let token: string;

serveForFile({}, async (started) => {
  lockbox = started;
  credential = new DefaultAzureCredential();
  keys = new KeyClient(lockbox.vaultUrl(), credential);
  token = await developerToken(lockbox);
});

const API = "api-version=7.6";
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "k"] as const;

/** Private material the tests imported (base64url), which must never show up anywhere. */
const importedSecrets: Array<{ what: string; b64url: string }> = [];

/** The vault's host, so that kids in raw responses carry the origin the SDK uses. */
const vaultHost = (): string => new URL(lockbox.vaultUrl()).host;
const bytes = (s: string): Buffer => Buffer.from(s, "base64url");
const same = (a: Uint8Array | undefined, b: Uint8Array): boolean => a !== undefined && Buffer.from(a).equals(Buffer.from(b));

/** A copy with one byte changed. */
function altered(b: Uint8Array, at = Math.floor(b.length / 2)): Uint8Array {
  const c = Uint8Array.from(b);
  c[at] = c[at]! ^ 0x01;
  return c;
}

/** The three ways a user builds a CryptographyClient for a key. */
function flavors(key: KeyVaultKey): Array<{ label: string; client: CryptographyClient }> {
  return [
    // Sends /keys/{name}//{op}: an empty version segment (latest).
    { label: "keyClient.getCryptographyClient(name)", client: keys.getCryptographyClient(key.name) },
    // No GET first: the key object is used as is.
    { label: "new CryptographyClient(keyVaultKey)", client: new CryptographyClient(key, credential) },
    // GET /keys/{name}/{version} first, then the operation on that version.
    { label: "new CryptographyClient(key.id)", client: new CryptographyClient(key.id!, credential) },
  ];
}

/** A raw key operation, for what the SDK does locally instead of asking Lockbox. */
function operation(key: KeyVaultKey, segment: string, body: object): Promise<RawResponse> {
  return raw(lockbox, {
    method: "POST",
    path: `/keys/${key.name}/${key.properties.version}/${segment}?${API}`,
    host: vaultHost(),
    token,
    body,
  });
}

/** The JWK exactly as Lockbox returns it on GET /keys/{name}/{version}. */
async function wireJwk(key: KeyVaultKey): Promise<Record<string, string>> {
  const r = await raw(lockbox, { path: `/keys/${key.name}/${key.properties.version}?${API}`, host: vaultHost(), token });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.key.kid, key.id);
  return r.json.key as Record<string, string>;
}

const NODE_CURVE: Record<string, string> = { "P-256": "P-256", "P-256K": "secp256k1", "P-384": "P-384", "P-521": "P-521" };

/** node:crypto's public key from the JWK Lockbox returned. */
function nodePublicKey(jwk: Record<string, string>): KeyObject {
  if (jwk.kty === "RSA" || jwk.kty === "RSA-HSM") {
    return crypto.createPublicKey({ key: { kty: "RSA", n: jwk.n, e: jwk.e }, format: "jwk" });
  }
  return crypto.createPublicKey({ key: { kty: "EC", crv: NODE_CURVE[jwk.crv!], x: jwk.x, y: jwk.y }, format: "jwk" });
}

const RSA_SIGNATURES = [
  { alg: "RS256", hash: "sha256", hashBytes: 32 },
  { alg: "RS384", hash: "sha384", hashBytes: 48 },
  { alg: "RS512", hash: "sha512", hashBytes: 64 },
  { alg: "PS256", hash: "sha256", hashBytes: 32 },
  { alg: "PS384", hash: "sha384", hashBytes: 48 },
  { alg: "PS512", hash: "sha512", hashBytes: 64 },
] as const;

const EC_CURVES = [
  { crv: "P-256", openssl: "prime256v1", alg: "ES256", hash: "sha256", signatureBytes: 64 },
  { crv: "P-256K", openssl: "secp256k1", alg: "ES256K", hash: "sha256", signatureBytes: 64 },
  { crv: "P-384", openssl: "secp384r1", alg: "ES384", hash: "sha384", signatureBytes: 96 },
  { crv: "P-521", openssl: "secp521r1", alg: "ES512", hash: "sha512", signatureBytes: 132 },
] as const;

/** PKCS#1 v1.5 (RSA_PKCS1_PADDING) or PSS with salt length = hash length, as Key Vault signs. */
function rsaVerifyKey(alg: string, key: KeyObject, hashBytes: number): crypto.VerifyKeyObjectInput | KeyObject {
  return alg.startsWith("PS") ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: hashBytes } : key;
}

/** Imports a node:crypto-generated key with its private members, as Key Vault's JWK. */
async function importNodeKey(name: string, privateKey: KeyObject, azureCrv?: string): Promise<KeyVaultKey> {
  const jwk = privateKey.export({ format: "jwk" }) as Record<string, string>;
  const member = (m: string): Uint8Array | undefined => (jwk[m] === undefined ? undefined : bytes(jwk[m]!));
  importedSecrets.push({ what: `${name}.d`, b64url: jwk.d! });
  const imported =
    jwk.kty === "RSA"
      ? await keys.importKey(name, {
          kty: "RSA",
          n: member("n"),
          e: member("e"),
          d: member("d"),
          p: member("p"),
          q: member("q"),
          dp: member("dp"),
          dq: member("dq"),
          qi: member("qi"),
        })
      : await keys.importKey(name, { kty: "EC", crv: azureCrv as "P-256", x: member("x"), y: member("y"), d: member("d") });
  assert.equal(imported.key?.d, undefined, "importKey returned the private d");
  return imported;
}

async function importOctKey(name: string, k: Buffer): Promise<KeyVaultKey> {
  importedSecrets.push({ what: `${name}.k`, b64url: base64url(k) });
  const imported = await keys.importKey(name, { kty: "oct", k });
  assert.equal(imported.key?.k, undefined, "importKey returned the symmetric k");
  return imported;
}

describe("sign and verify", () => {
  test("RS256/384/512 and PS256/384/512 signatures of an RSA-2048 key verify with node:crypto over the original data; Lockbox verify agrees", async () => {
    const key = await keys.createRsaKey("sign-rsa", { keySize: 2048 });
    const jwk = await wireJwk(key);
    assert.equal(bytes(jwk.n!).length, 256);
    const pub = nodePublicKey(jwk);

    for (const { alg, hash, hashBytes } of RSA_SIGNATURES) {
      const data = crypto.randomBytes(200);
      const digest = crypto.createHash(hash).update(data).digest();
      for (const { label, client } of flavors(key)) {
        const signed = await client.sign(alg, digest);
        assert.equal(signed.keyID, key.id, `${label} ${alg}: the result's kid is not the versioned key id`);
        assert.equal(signed.result.length, 256, `${label} ${alg}: signature length`);
        assert.equal(
          crypto.verify(hash, data, rsaVerifyKey(alg, pub, hashBytes), signed.result),
          true,
          `${label} ${alg}: node:crypto rejects Lockbox's signature`,
        );
        assert.equal((await client.verify(alg, digest, signed.result)).result, true, `${label} ${alg}: Lockbox rejects its own signature`);
        assert.equal(
          (await client.verify(alg, altered(digest), signed.result)).result,
          false,
          `${label} ${alg}: accepted for another digest`,
        );
        assert.equal(
          (await client.verify(alg, digest, altered(signed.result))).result,
          false,
          `${label} ${alg}: accepted an altered signature`,
        );
      }
    }
  });

  test("ES256 (P-256), ES256K (P-256K), ES384 (P-384) and ES512 (P-521) signatures are raw r||s of 64/64/96/132 bytes that node:crypto verifies", async () => {
    for (const { crv, alg, hash, signatureBytes } of EC_CURVES) {
      const key = await keys.createEcKey(`sign-ec-${crv}`, { curve: crv });
      const jwk = await wireJwk(key);
      assert.equal(jwk.crv, crv);
      const pub = nodePublicKey(jwk);

      for (const { label, client } of flavors(key)) {
        const data = crypto.randomBytes(150);
        const digest = crypto.createHash(hash).update(data).digest();
        const signed = await client.sign(alg, digest);
        assert.equal(signed.keyID, key.id, `${label} ${alg}: the result's kid is not the versioned key id`);
        assert.equal(signed.result.length, signatureBytes, `${label} ${alg}: signature length (IEEE P1363 r||s)`);
        assert.equal(
          crypto.verify(hash, data, { key: pub, dsaEncoding: "ieee-p1363" }, signed.result),
          true,
          `${label} ${alg}: node:crypto rejects Lockbox's signature`,
        );
        assert.equal((await client.verify(alg, digest, signed.result)).result, true, `${label} ${alg}: Lockbox rejects its own signature`);
        assert.equal(
          (await client.verify(alg, altered(digest), signed.result)).result,
          false,
          `${label} ${alg}: accepted for another digest`,
        );
        assert.equal(
          (await client.verify(alg, digest, altered(signed.result))).result,
          false,
          `${label} ${alg}: accepted an altered signature`,
        );

        // signData / verifyData hash locally and sign / verify remotely for EC keys.
        const byData = await client.signData(alg, data);
        assert.equal(
          crypto.verify(hash, data, { key: pub, dsaEncoding: "ieee-p1363" }, byData.result),
          true,
          `${label} ${alg}: signData result`,
        );
        assert.equal((await client.verifyData(alg, data, byData.result)).result, true, `${label} ${alg}: verifyData`);
        assert.equal(
          (await client.verifyData(alg, altered(data), byData.result)).result,
          false,
          `${label} ${alg}: verifyData of other data`,
        );
      }
    }
  });

  test("Lockbox verify accepts RS*/PS* signatures node:crypto made with an imported RSA key, and its own signatures verify with that key", async () => {
    const { privateKey, publicKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
    const key = await importNodeKey("verify-imported-rsa", privateKey);
    assert.equal(base64url(key.key!.n!), (publicKey.export({ format: "jwk" }) as { n: string }).n);

    for (const { alg, hash, hashBytes } of RSA_SIGNATURES) {
      const data = crypto.randomBytes(99);
      const digest = crypto.createHash(hash).update(data).digest();
      const nodeSignature = alg.startsWith("PS")
        ? crypto.sign(hash, data, { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: hashBytes })
        : crypto.sign(hash, data, privateKey);
      for (const { label, client } of flavors(key)) {
        assert.equal(
          (await client.verify(alg, digest, nodeSignature)).result,
          true,
          `${label} ${alg}: Lockbox rejects node:crypto's signature`,
        );
        assert.equal(
          (await client.verify(alg, altered(digest), nodeSignature)).result,
          false,
          `${label} ${alg}: accepted for another digest`,
        );
        assert.equal(
          (await client.verify(alg, digest, altered(nodeSignature))).result,
          false,
          `${label} ${alg}: accepted an altered signature`,
        );
      }
      const signed = await new CryptographyClient(key, credential).sign(alg, digest);
      assert.equal(
        crypto.verify(hash, data, rsaVerifyKey(alg, publicKey, hashBytes), signed.result),
        true,
        `${alg}: imported key's signature`,
      );
    }
    // A PSS signature is not a PKCS#1 v1.5 one and the other way round.
    const digest = crypto.createHash("sha256").update("cross").digest();
    const ps = crypto.sign("sha256", Buffer.from("cross"), { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
    const rs = crypto.sign("sha256", Buffer.from("cross"), privateKey);
    const client = keys.getCryptographyClient(key.name);
    assert.equal((await client.verify("RS256", digest, ps)).result, false, "RS256 verify accepted a PSS signature");
    assert.equal((await client.verify("PS256", digest, rs)).result, false, "PS256 verify accepted a PKCS#1 v1.5 signature");
  });

  test("Lockbox verify accepts ES256/ES256K/ES384/ES512 signatures node:crypto made with imported EC keys", async () => {
    for (const { crv, openssl, alg, hash, signatureBytes } of EC_CURVES) {
      const { privateKey, publicKey } = crypto.generateKeyPairSync("ec", { namedCurve: openssl });
      const key = await importNodeKey(`verify-imported-ec-${crv}`, privateKey, crv);
      assert.equal(key.key!.crv, crv);
      const data = crypto.randomBytes(77);
      const digest = crypto.createHash(hash).update(data).digest();
      const nodeSignature = crypto.sign(hash, data, { key: privateKey, dsaEncoding: "ieee-p1363" });
      assert.equal(nodeSignature.length, signatureBytes);
      for (const { label, client } of flavors(key)) {
        assert.equal(
          (await client.verify(alg, digest, nodeSignature)).result,
          true,
          `${label} ${alg}: Lockbox rejects node:crypto's signature`,
        );
        assert.equal(
          (await client.verify(alg, altered(digest), nodeSignature)).result,
          false,
          `${label} ${alg}: accepted for another digest`,
        );
        assert.equal(
          (await client.verify(alg, digest, altered(nodeSignature))).result,
          false,
          `${label} ${alg}: accepted an altered signature`,
        );
      }
      const signed = await keys.getCryptographyClient(key.name).sign(alg, digest);
      assert.equal(
        crypto.verify(hash, data, { key: publicKey, dsaEncoding: "ieee-p1363" }, signed.result),
        true,
        `${alg}: imported key's signature`,
      );
    }
  });
});

const RSA_ENCRYPTION = [
  // Largest plaintexts for a 2048-bit key: k-11, k-42, k-66 bytes.
  { alg: "RSA1_5", padding: constants.RSA_PKCS1_PADDING, oaepHash: undefined, max: 245 },
  { alg: "RSA-OAEP", padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha1", max: 214 },
  { alg: "RSA-OAEP-256", padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256", max: 190 },
] as const;

function nodeEncrypt(pub: KeyObject, alg: (typeof RSA_ENCRYPTION)[number], plaintext: Buffer): Buffer {
  return crypto.publicEncrypt({ key: pub, padding: alg.padding, ...(alg.oaepHash ? { oaepHash: alg.oaepHash } : {}) }, plaintext);
}

/** Checks and removes PKCS#1 v1.5 type 2 padding (Node 20 refuses RSA_PKCS1_PADDING private decryption). */
function pkcs1Unpad(em: Buffer): Buffer {
  assert.equal(em[0], 0x00, "PKCS#1 v1.5 block does not start with 00");
  assert.equal(em[1], 0x02, "PKCS#1 v1.5 block is not type 02");
  const separator = em.indexOf(0, 2);
  assert.ok(separator >= 10, `PKCS#1 v1.5 padding string is ${separator - 2} bytes, fewer than 8`);
  return em.subarray(separator + 1);
}

describe("encrypt and decrypt with RSA", () => {
  test("ciphertext made by node:crypto publicEncrypt with the returned n/e decrypts on Lockbox (RSA1_5, RSA-OAEP sha1, RSA-OAEP-256)", async () => {
    const key = await keys.createRsaKey("decrypt-node", { keySize: 2048 });
    const pub = nodePublicKey(await wireJwk(key));
    for (const alg of RSA_ENCRYPTION) {
      for (const { label, client } of flavors(key)) {
        for (const size of [1, 32, alg.max]) {
          const plaintext = crypto.randomBytes(size);
          const decrypted = await client.decrypt({ algorithm: alg.alg, ciphertext: nodeEncrypt(pub, alg, plaintext) });
          assert.ok(same(decrypted.result, plaintext), `${label} ${alg.alg}: ${size}-byte plaintext did not come back`);
          assert.equal(decrypted.keyID, key.id, `${label} ${alg.alg}: kid`);
        }
      }
    }
  });

  test("encrypt on Lockbox (raw for RSA1_5 and RSA-OAEP, SDK for RSA-OAEP-256) round-trips through Lockbox decrypt", async () => {
    const key = await keys.createRsaKey("encrypt-server", { keySize: 2048 });
    for (const alg of RSA_ENCRYPTION) {
      for (const { label, client } of flavors(key)) {
        const plaintext = crypto.randomBytes(alg.max);
        let ciphertext: Uint8Array;
        if (alg.alg === "RSA-OAEP-256") {
          // Not done locally by the SDK: this request reaches Lockbox.
          const encrypted = await client.encrypt({ algorithm: "RSA-OAEP-256", plaintext });
          assert.equal(encrypted.keyID, key.id, `${label}: RSA-OAEP-256 encrypt kid`);
          ciphertext = encrypted.result;
        } else {
          const r = await operation(key, "encrypt", { alg: alg.alg, value: base64url(plaintext) });
          assert.equal(r.status, 200, r.text);
          assert.equal(r.json.kid, key.id);
          ciphertext = bytes(r.json.value);
        }
        assert.equal(ciphertext.length, 256, `${label} ${alg.alg}: ciphertext length`);
        const decrypted = await client.decrypt({ algorithm: alg.alg, ciphertext });
        assert.ok(same(decrypted.result, plaintext), `${label} ${alg.alg}: Lockbox's ciphertext did not decrypt to the plaintext`);
      }
    }
    // Encryption is randomized.
    const once = await operation(key, "encrypt", { alg: "RSA1_5", value: base64url(Buffer.from("same")) });
    const twice = await operation(key, "encrypt", { alg: "RSA1_5", value: base64url(Buffer.from("same")) });
    assert.notEqual(once.json.value, twice.json.value);
  });

  test("Lockbox's RSA encryption with an imported key decrypts with node:crypto and the test's private key", async () => {
    const { privateKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
    const key = await importNodeKey("encrypt-imported", privateKey);
    const plaintext = Buffer.from("cross-checked by node:crypto");
    for (const alg of RSA_ENCRYPTION) {
      const r =
        alg.alg === "RSA-OAEP-256"
          ? {
              status: 200,
              json: {
                value: base64url((await keys.getCryptographyClient(key.name).encrypt({ algorithm: "RSA-OAEP-256", plaintext })).result),
              },
            }
          : await operation(key, "encrypt", { alg: alg.alg, value: base64url(plaintext) });
      assert.equal(r.status, 200, `${alg.alg} encrypt failed`);
      const ciphertext = bytes(r.json.value);
      const decrypted =
        alg.alg === "RSA1_5"
          ? pkcs1Unpad(crypto.privateDecrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, ciphertext))
          : crypto.privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: alg.oaepHash }, ciphertext);
      assert.ok(decrypted.equals(plaintext), `${alg.alg}: node:crypto decrypted something else`);
    }
  });

  test("RSA1_5 decrypt of a malformed ciphertext returns 200 with bytes, the same bytes each time (implicit rejection)", async () => {
    // Implicit rejection against padding oracles (Bleichenbacher 1998, Marvin 2023): a server that
    // answers "bad padding" differently from "good padding" lets an attacker decrypt any RSA1_5
    // ciphertext with adaptive queries. So a malformed block must decrypt to some bytes (derived
    // from the key and the ciphertext, hence deterministic), not to an error.
    const key = await keys.createRsaKey("rsa1-5-implicit", { keySize: 2048 });
    const pub = nodePublicKey(await wireJwk(key));
    const client = new CryptographyClient(key, credential);

    const malformed = crypto.randomBytes(256);
    malformed[0] = malformed[0]! & 0x7f; // below the 2048-bit modulus, so a valid RSA input
    // The synthetic message may be empty (its length is derived too, from 0 up): the SDK then
    // gives "" rather than bytes.
    const bytesOf = (result: unknown): Buffer => (result instanceof Uint8Array ? Buffer.from(result) : Buffer.alloc(0));
    const first = await client.decrypt({ algorithm: "RSA1_5", ciphertext: malformed });
    assert.ok(
      first.result instanceof Uint8Array || (first.result as unknown) === "",
      "decrypt of a malformed ciphertext returned no bytes",
    );
    const firstBytes = bytesOf(first.result);
    assert.ok(firstBytes.length <= 245, `implicit rejection returned ${firstBytes.length} bytes, more than a message can have`);
    const second = await keys.getCryptographyClient(key.name).decrypt({ algorithm: "RSA1_5", ciphertext: malformed });
    assert.ok(bytesOf(second.result).equals(firstBytes), "implicit rejection is not deterministic for the same ciphertext");

    // The same through the raw API: 200, not an error.
    const r = await operation(key, "decrypt", { alg: "RSA1_5", value: base64url(malformed) });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.value, base64url(firstBytes));

    // A well-formed ciphertext still decrypts to its message.
    const plaintext = crypto.randomBytes(48);
    const good = await client.decrypt({ algorithm: "RSA1_5", ciphertext: nodeEncrypt(pub, RSA_ENCRYPTION[0], plaintext) });
    assert.ok(same(good.result, plaintext), "a valid RSA1_5 ciphertext did not decrypt after a malformed one");
  });
});

describe("wrapKey and unwrapKey", () => {
  test("RSA-OAEP, RSA-OAEP-256 and RSA1_5 wraps (SDK-local, raw on Lockbox, and node:crypto) unwrap on Lockbox", async () => {
    const key = await keys.createRsaKey("wrap-rsa", { keySize: 2048 });
    const pub = nodePublicKey(await wireJwk(key));
    for (const alg of RSA_ENCRYPTION) {
      for (const { label, client } of flavors(key)) {
        const cek = crypto.randomBytes(32);
        // RSA-OAEP and RSA1_5: the SDK wraps locally with n/e; RSA-OAEP-256 goes to Lockbox.
        const wrapped = await client.wrapKey(alg.alg, cek);
        assert.equal(wrapped.result.length, 256);
        const unwrapped = await client.unwrapKey(alg.alg, wrapped.result);
        assert.ok(same(unwrapped.result, cek), `${label} ${alg.alg}: SDK wrap did not unwrap`);
        assert.equal(unwrapped.keyID, key.id, `${label} ${alg.alg}: unwrap kid`);

        // Lockbox's own wrapkey.
        const r = await operation(key, "wrapkey", { alg: alg.alg, value: base64url(cek) });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.kid, key.id);
        const serverUnwrapped = await client.unwrapKey(alg.alg, bytes(r.json.value));
        assert.ok(same(serverUnwrapped.result, cek), `${label} ${alg.alg}: Lockbox's wrapkey did not unwrap`);

        const byNode = await client.unwrapKey(alg.alg, nodeEncrypt(pub, alg, cek));
        assert.ok(same(byNode.result, cek), `${label} ${alg.alg}: node:crypto's wrap did not unwrap`);
      }
    }
  });

  test("oct keys of 128, 192 and 256 bits wrap and unwrap with A128KW, A192KW and A256KW", async () => {
    for (const bits of [128, 192, 256] as const) {
      const key = await keys.createOctKey(`wrap-oct-${bits}`, { keySize: bits });
      assert.equal(key.key!.k, undefined, "createOctKey returned k");
      const alg = `A${bits}KW` as KeyWrapAlgorithm;
      for (const { label, client } of flavors(key)) {
        for (const size of [16, 32, 40]) {
          const cek = crypto.randomBytes(size);
          const wrapped = await client.wrapKey(alg, cek);
          assert.equal(wrapped.result.length, size + 8, `${label} ${alg}: wrapped length`);
          assert.equal(wrapped.keyID, key.id, `${label} ${alg}: wrap kid`);
          const unwrapped = await client.unwrapKey(alg, wrapped.result);
          assert.ok(same(unwrapped.result, cek), `${label} ${alg}: ${size}-byte key did not unwrap`);
        }
      }
    }
  });

  test("A128KW/A192KW/A256KW output equals node:crypto id-aesNNN-wrap (IV A6A6A6A6A6A6A6A6) for an imported k", async () => {
    const defaultIv = Buffer.from("A6A6A6A6A6A6A6A6", "hex");
    for (const bits of [128, 192, 256] as const) {
      const k = crypto.randomBytes(bits / 8);
      const key = await importOctKey(`wrap-imported-${bits}`, k);
      const alg = `A${bits}KW` as KeyWrapAlgorithm;
      const cek = crypto.randomBytes(32);
      const cipher = crypto.createCipheriv(`id-aes${bits}-wrap`, k, defaultIv);
      const expected = Buffer.concat([cipher.update(cek), cipher.final()]);
      const client = keys.getCryptographyClient(key.name);
      const wrapped = await client.wrapKey(alg, cek);
      assert.ok(same(wrapped.result, expected), `${alg}: Lockbox's wrap differs from node:crypto's`);
      const unwrapped = await client.unwrapKey(alg, expected);
      assert.ok(same(unwrapped.result, cek), `${alg}: node:crypto's wrap did not unwrap on Lockbox`);
    }
  });
});

describe("AES with imported oct keys", () => {
  test("A256GCM: Lockbox's ciphertext decrypts with node:crypto using the returned iv and tag and the aad; node's decrypts on Lockbox", async () => {
    const k = crypto.randomBytes(32);
    const key = await importOctKey("aes-gcm", k);
    for (const { label, client } of flavors(key)) {
      const plaintext = crypto.randomBytes(77);
      const aad = Buffer.from(`header for ${label}`);
      const encrypted = await client.encrypt({ algorithm: "A256GCM", plaintext, additionalAuthenticatedData: aad });
      assert.equal(encrypted.keyID, key.id, `${label}: kid`);
      assert.ok(encrypted.iv && encrypted.iv.length > 0, `${label}: no iv returned for A256GCM`);
      assert.equal(encrypted.authenticationTag?.length, 16, `${label}: tag length`);
      assert.equal(encrypted.result.length, plaintext.length, `${label}: GCM ciphertext length`);
      const decipher = crypto.createDecipheriv("aes-256-gcm", k, encrypted.iv);
      decipher.setAAD(aad);
      decipher.setAuthTag(encrypted.authenticationTag!);
      const byNode = Buffer.concat([decipher.update(encrypted.result), decipher.final()]);
      assert.ok(byNode.equals(plaintext), `${label}: node:crypto decrypted something else`);

      // And back: node:crypto's ciphertext decrypts on Lockbox.
      const iv = crypto.randomBytes(12);
      const cipher = crypto.createCipheriv("aes-256-gcm", k, iv);
      cipher.setAAD(aad);
      const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      const decrypted = await client.decrypt({
        algorithm: "A256GCM",
        ciphertext,
        iv,
        authenticationTag: cipher.getAuthTag(),
        additionalAuthenticatedData: aad,
      });
      assert.ok(same(decrypted.result, plaintext), `${label}: node:crypto's GCM ciphertext did not decrypt on Lockbox`);
    }
  });

  test("A128CBCPAD and A256CBC results match node:crypto with the returned iv; node's CBCPAD ciphertext decrypts on Lockbox", async () => {
    const k128 = crypto.randomBytes(16);
    const k256 = crypto.randomBytes(32);
    const key128 = await importOctKey("aes-cbc-128", k128);
    const key256 = await importOctKey("aes-cbc-256", k256);
    const nodeCbc = (bits: number, k: Buffer, iv: Uint8Array, plaintext: Buffer, pad: boolean): Buffer => {
      const c = crypto.createCipheriv(`aes-${bits}-cbc`, k, iv).setAutoPadding(pad);
      return Buffer.concat([c.update(plaintext), c.final()]);
    };

    for (const { label, client } of flavors(key128)) {
      const plaintext = crypto.randomBytes(37);
      // The SDK sends no iv (sdk-probe-notes: client bug); Lockbox makes one and returns it.
      const encrypted = await client.encrypt({ algorithm: "A128CBCPAD", plaintext });
      assert.equal(encrypted.iv?.length, 16, `${label}: A128CBCPAD returned no 16-byte iv`);
      assert.ok(
        same(encrypted.result, nodeCbc(128, k128, encrypted.iv!, plaintext, true)),
        `${label}: A128CBCPAD differs from node:crypto`,
      );
      const back = await client.decrypt({ algorithm: "A128CBCPAD", ciphertext: encrypted.result, iv: encrypted.iv! });
      assert.ok(same(back.result, plaintext), `${label}: A128CBCPAD round trip`);

      // With the caller's iv, that iv is used.
      const iv = crypto.randomBytes(16);
      const withIv = await client.encrypt({ algorithm: "A128CBCPAD", plaintext, iv });
      assert.ok(same(withIv.iv, iv), `${label}: Lockbox did not use the given iv`);
      assert.ok(same(withIv.result, nodeCbc(128, k128, iv, plaintext, true)), `${label}: A128CBCPAD with iv differs from node:crypto`);

      // node:crypto's ciphertext decrypts on Lockbox.
      const nodeIv = crypto.randomBytes(16);
      const decrypted = await client.decrypt({
        algorithm: "A128CBCPAD",
        ciphertext: nodeCbc(128, k128, nodeIv, plaintext, true),
        iv: nodeIv,
      });
      assert.ok(same(decrypted.result, plaintext), `${label}: node:crypto's CBCPAD ciphertext did not decrypt on Lockbox`);
    }

    for (const { label, client } of flavors(key256)) {
      const plaintext = crypto.randomBytes(48);
      const encrypted = await client.encrypt({ algorithm: "A256CBC", plaintext });
      assert.equal(encrypted.iv?.length, 16, `${label}: A256CBC returned no 16-byte iv`);
      assert.equal(encrypted.result.length, 48, `${label}: A256CBC adds no padding`);
      assert.ok(same(encrypted.result, nodeCbc(256, k256, encrypted.iv!, plaintext, false)), `${label}: A256CBC differs from node:crypto`);
      const nodeIv = crypto.randomBytes(16);
      const decrypted = await client.decrypt({
        algorithm: "A256CBC",
        ciphertext: nodeCbc(256, k256, nodeIv, plaintext, false),
        iv: nodeIv,
      });
      assert.ok(same(decrypted.result, plaintext), `${label}: node:crypto's A256CBC ciphertext did not decrypt on Lockbox`);
    }
  });
});

describe("server behaviour", () => {
  test("while three RSA-4096 createRsaKey calls are in flight, 20 getSecret calls all complete before any key creation does", async () => {
    const secrets = new SecretClient(lockbox.vaultUrl(), credential);
    await secrets.setSecret("event-loop-probe", "still-answering");

    // Tells when the three create requests have left the client, so that the reads start
    // while Lockbox is generating the keys.
    let sent = 0;
    let allSent!: () => void;
    const createsSent = new Promise<void>((resolve) => (allSent = resolve));
    const countCreates: NonNullable<KeyClientOptions["additionalPolicies"]>[number] = {
      position: "perRetry",
      policy: {
        name: "countCreates",
        sendRequest(request, next) {
          if (request.method === "POST" && new URL(request.url).pathname.endsWith("/create") && ++sent === 3) allSent();
          return next(request);
        },
      },
    };
    const slowKeys = new KeyClient(lockbox.vaultUrl(), credential, { additionalPolicies: [countCreates] });
    await slowKeys.createEcKey("event-loop-warm-up"); // the client learns the challenge first

    const order: string[] = [];
    const creations = [1, 2, 3].map((i) =>
      slowKeys.createRsaKey(`event-loop-rsa-${i}`, { keySize: 4096 }).then((k) => {
        order.push(`key ${i}`);
        return k;
      }),
    );
    await createsSent;
    const reads = Array.from({ length: 20 }, (_, i) =>
      secrets.getSecret("event-loop-probe").then((s) => {
        order.push(`secret ${i}`);
        return s;
      }),
    );
    const [created, read] = await Promise.all([Promise.all(creations), Promise.all(reads)]);

    for (const s of read) assert.equal(s.value, "still-answering");
    for (const k of created) assert.equal(k.key!.n!.length, 512, "not an RSA-4096 key");
    const firstKey = order.findIndex((e) => e.startsWith("key"));
    assert.equal(firstKey, 20, `a key creation finished before all reads did: ${order.join(", ")}`);
    assert.equal(order.length, 23);
  });

  test("no key material leaves Lockbox: getKey and raw GET carry no d/p/q/dp/dq/qi/k, and the server output never shows imported d or k", async () => {
    // Material of this test's own, plus everything the earlier tests imported.
    const rsa = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
    const ec = crypto.generateKeyPairSync("ec", { namedCurve: "secp384r1" }).privateKey;
    const k = crypto.randomBytes(32);
    const imported = [
      await importNodeKey("material-rsa", rsa),
      await importNodeKey("material-ec", ec, "P-384"),
      await importOctKey("material-oct", k),
    ];
    const created = [
      await keys.createRsaKey("material-created-rsa"),
      await keys.createEcKey("material-created-ec", { curve: "P-521" }),
      await keys.createOctKey("material-created-oct", { keySize: 256 }),
    ];
    // Some use of each, including refused requests that quote the key.
    await keys.getCryptographyClient("material-rsa").sign("RS256", crypto.randomBytes(32));
    await keys.getCryptographyClient("material-oct").encrypt({ algorithm: "A256GCM", plaintext: Buffer.from("x") });
    // Imports Lockbox refuses (parts that do not form a key; a 34-byte k): the refusal must not quote them.
    const rsaJwk = rsa.export({ format: "jwk" }) as Record<string, string>;
    const otherD = (
      crypto.generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" }) as Record<string, string>
    ).d!;
    importedSecrets.push({ what: "material-mismatched.d", b64url: otherD });
    const badK = Buffer.concat([k, Buffer.from([0x5a, 0xa5])]);
    importedSecrets.push({ what: "material-bad-oct.k", b64url: base64url(badK) });
    const errorBodies: string[] = [];
    const refusedImport = (e: any): boolean => {
      assert.equal(e.statusCode, 400, `expected 400 BadParameter, got ${e.statusCode} ${e.code}: ${e.message}`);
      assert.equal(e.code, "BadParameter");
      errorBodies.push(`${e.message} ${e.response?.bodyAsText ?? ""}`);
      return true;
    };
    const part = (m: string): Buffer => bytes(rsaJwk[m]!);
    await assert.rejects(
      keys.importKey("material-mismatched", {
        kty: "RSA",
        n: part("n"),
        e: part("e"),
        d: bytes(otherD),
        p: part("p"),
        q: part("q"),
        dp: part("dp"),
        dq: part("dq"),
        qi: part("qi"),
      }),
      refusedImport,
    );
    await assert.rejects(keys.importKey("material-bad-oct", { kty: "oct", k: badK }), refusedImport);
    assert.equal(errorBodies.length, 2);

    for (const key of [...imported, ...created]) {
      const got = await keys.getKey(key.name);
      for (const m of PRIVATE_MEMBERS) assert.equal(got.key?.[m], undefined, `getKey(${key.name}) returned ${m}`);
      const r = await raw(lockbox, { path: `/keys/${key.name}/?${API}`, host: vaultHost(), token });
      assert.equal(r.status, 200, r.text);
      for (const m of PRIVATE_MEMBERS) assert.equal(m in r.json.key, false, `GET /keys/${key.name} returned ${m}`);
      const versions = await raw(lockbox, { path: `/keys/${key.name}/versions?${API}`, host: vaultHost(), token });
      for (const m of PRIVATE_MEMBERS)
        assert.ok(!new RegExp(`"${m}"\\s*:`).test(versions.text), `the version list of ${key.name} has ${m}`);
    }
    for (const body of errorBodies) {
      for (const { what, b64url } of importedSecrets) assert.ok(!body.includes(b64url), `an error body quotes ${what}`);
    }

    const output = lockbox.output();
    for (const { what, b64url } of importedSecrets) {
      const material = bytes(b64url);
      for (const form of [b64url, material.toString("base64"), material.toString("hex")]) {
        assert.ok(!output.includes(form), `the server output contains ${what}`);
      }
    }
  });
});

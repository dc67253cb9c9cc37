import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import crypto, { constants } from "node:crypto";
import { DefaultAzureCredential } from "@azure/identity";
import { CryptographyClient, KeyClient, type KeyVaultKey } from "@azure/keyvault-keys";
import { base64url } from "../helpers/sdk.ts";
import { developerToken, raw, type RawResponse } from "../helpers/http.ts";
import { type Lockbox, serveForFile } from "../helpers/server.ts";

// Refused key operations, through the official SDK where it sends the request and with raw
// requests where the SDK refuses by itself (key_ops, nbf and exp are checked in the client,
// keyvault-rest.md §6.4) or cannot send the request at all. Every refusal is checked for its
// status, error code and innererror code (§7), and for leaving the key as it was.
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
const HOUR_MS = 3_600_000;
const vaultHost = (): string => new URL(lockbox.vaultUrl()).host;
const bytes = (s: string): Buffer => Buffer.from(s, "base64url");
const sha256 = (data: string | Buffer): Buffer => crypto.createHash("sha256").update(data).digest();

/** A raw key operation on a key version (or on the latest, with version ""). */
function operation(key: KeyVaultKey, segment: string, body: object, version = key.properties.version!): Promise<RawResponse> {
  return raw(lockbox, { method: "POST", path: `/keys/${key.name}/${version}/${segment}?${API}`, host: vaultHost(), token, body });
}

/** Everything a refused operation must leave alone: the version list with its attributes, and the latest bundle. */
async function stateOf(name: string): Promise<unknown> {
  const versions: unknown[] = [];
  for await (const p of keys.listPropertiesOfKeyVersions(name)) {
    versions.push({
      id: p.id,
      enabled: p.enabled,
      notBefore: p.notBefore?.getTime(),
      expiresOn: p.expiresOn?.getTime(),
      updatedOn: p.updatedOn?.getTime(),
    });
  }
  const latest = await raw(lockbox, { path: `/keys/${name}/?${API}`, host: vaultHost(), token });
  assert.equal(latest.status, 200, latest.text);
  return { versions, latest: latest.json };
}

/** The SDK call reached Lockbox and was refused with this status, code and innererror code (none for undefined). */
async function sdkRefused(p: Promise<unknown>, status: number, code: string, inner: string | undefined): Promise<void> {
  await assert.rejects(p, (e: any) => {
    assert.equal(e.statusCode, status, `expected ${status} ${code}, got ${e.statusCode} ${e.code}: ${e.message}`);
    assert.equal(e.code, code, e.message);
    assert.equal(e.details?.error?.innerError?.code, inner, `innererror of: ${e.message}`);
    assert.ok(typeof e.message === "string" && e.message.length > 0, "the error has no message");
    return true;
  });
}

/** The SDK refused by itself, without a request (no HTTP status). */
async function sdkRefusedLocally(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: any) => {
    assert.equal(e.statusCode, undefined, `expected a client-side refusal, got HTTP ${e.statusCode}: ${e.message}`);
    assert.match(e.message, pattern);
    return true;
  });
}

/** A raw response with Azure's error body: status, error.code, error.innererror.code (none for undefined). */
function refused(r: RawResponse, status: number, code: string, inner: string | undefined): void {
  assert.equal(r.status, status, r.text);
  assert.equal(r.json?.error?.code, code, r.text);
  assert.equal(r.json.error.innererror?.code, inner, r.text);
  assert.ok(typeof r.json.error.message === "string" && r.json.error.message.length > 0, `no error message: ${r.text}`);
}

describe("403 Forbidden: key_ops, disabled, nbf and exp", () => {
  test("a key created with keyOps sign/verify refuses encrypt, decrypt and wrapKey with 403 KeyOperationForbidden, and still signs", async () => {
    const key = await keys.createRsaKey("ops-sign-only", { keyOps: ["sign", "verify"] });
    assert.deepEqual(key.keyOperations, ["sign", "verify"]);
    const before = await stateOf(key.name);

    // The SDK checks key_ops itself and never asks Lockbox.
    await sdkRefusedLocally(
      new CryptographyClient(key, credential).encrypt({ algorithm: "RSA-OAEP-256", plaintext: Buffer.from("x") }),
      /not supported/,
    );

    const plaintext = base64url(Buffer.from("must not be encrypted"));
    refused(await operation(key, "encrypt", { alg: "RSA-OAEP-256", value: plaintext }), 403, "Forbidden", "KeyOperationForbidden");
    refused(await operation(key, "encrypt", { alg: "RSA-OAEP-256", value: plaintext }, ""), 403, "Forbidden", "KeyOperationForbidden");
    refused(await operation(key, "encrypt", { alg: "RSA1_5", value: plaintext }), 403, "Forbidden", "KeyOperationForbidden");
    refused(
      await operation(key, "wrapkey", { alg: "RSA-OAEP", value: base64url(crypto.randomBytes(32)) }),
      403,
      "Forbidden",
      "KeyOperationForbidden",
    );
    const ciphertext = crypto.publicEncrypt(
      {
        key: crypto.createPublicKey({ key: { kty: "RSA", n: base64url(key.key!.n!), e: base64url(key.key!.e!) }, format: "jwk" }),
        oaepHash: "sha256",
      },
      Buffer.from("secret"),
    );
    refused(
      await operation(key, "decrypt", { alg: "RSA-OAEP-256", value: base64url(ciphertext) }),
      403,
      "Forbidden",
      "KeyOperationForbidden",
    );

    assert.deepEqual(await stateOf(key.name), before);
    assert.deepEqual((await keys.getKey(key.name)).keyOperations, ["sign", "verify"]);
    // What key_ops allows still works.
    const digest = sha256("allowed");
    const client = keys.getCryptographyClient(key.name);
    const signed = await client.sign("RS256", digest);
    assert.equal((await client.verify("RS256", digest, signed.result)).result, true);
  });

  test("a disabled key refuses sign (and verify) with 403 Forbidden / KeyDisabled; re-enabled, it signs again", async () => {
    const key = await keys.createEcKey("disabled-sign", { curve: "P-256" });
    const digest = sha256("disabled");
    const fromObject = new CryptographyClient(key, credential); // knows the key as enabled
    const signature = (await fromObject.sign("ES256", digest)).result;
    await keys.updateKeyProperties(key.name, key.properties.version!, { enabled: false });
    const before = await stateOf(key.name);

    await sdkRefused(fromObject.sign("ES256", digest), 403, "Forbidden", "KeyDisabled");
    // A client by name fetches the key (200, enabled: false) and is refused by Lockbox.
    await sdkRefused(keys.getCryptographyClient(key.name).sign("ES256", digest), 403, "Forbidden", "KeyDisabled");
    await sdkRefused(new CryptographyClient(key.id!, credential).sign("ES256", digest), 403, "Forbidden", "KeyDisabled");
    await sdkRefused(fromObject.verify("ES256", digest, signature), 403, "Forbidden", "KeyDisabled");
    refused(await operation(key, "sign", { alg: "ES256", value: base64url(digest) }), 403, "Forbidden", "KeyDisabled");

    assert.deepEqual(await stateOf(key.name), before);
    assert.equal((await keys.getKey(key.name)).properties.enabled, false);
    await keys.updateKeyProperties(key.name, key.properties.version!, { enabled: true });
    const again = await fromObject.sign("ES256", digest);
    assert.equal((await fromObject.verify("ES256", digest, again.result)).result, true);
  });

  test("an expired key refuses sign, encrypt and wrapKey with 403 but still decrypts, unwraps and verifies", async () => {
    // The test holds the private key, so it can make signatures and ciphertexts for the expired key.
    const { privateKey, publicKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
    const jwk = privateKey.export({ format: "jwk" }) as Record<string, string>;
    const part = (m: string): Buffer => bytes(jwk[m]!);
    const expiresOn = new Date(Math.floor((Date.now() - HOUR_MS) / 1000) * 1000);
    const key = await keys.importKey(
      "expired-key",
      { kty: "RSA", n: part("n"), e: part("e"), d: part("d"), p: part("p"), q: part("q"), dp: part("dp"), dq: part("dq"), qi: part("qi") },
      { expiresOn },
    );
    assert.equal(key.properties.expiresOn?.getTime(), expiresOn.getTime());
    const before = await stateOf(key.name);

    // The SDK refuses every operation of an expired key itself.
    await sdkRefusedLocally(new CryptographyClient(key, credential).sign("RS256", sha256("x")), /expired/);

    const digest = sha256("signed before expiry");
    refused(await operation(key, "sign", { alg: "RS256", value: base64url(digest) }), 403, "Forbidden", "KeyExpired");
    refused(await operation(key, "encrypt", { alg: "RSA-OAEP-256", value: base64url(Buffer.from("x")) }), 403, "Forbidden", "KeyExpired");
    refused(await operation(key, "encrypt", { alg: "RSA1_5", value: base64url(Buffer.from("x")) }), 403, "Forbidden", "KeyExpired");
    refused(await operation(key, "wrapkey", { alg: "RSA-OAEP", value: base64url(crypto.randomBytes(32)) }), 403, "Forbidden", "KeyExpired");

    // Existing ciphertexts and signatures stay usable.
    const plaintext = Buffer.from("encrypted while valid");
    const ciphertext = crypto.publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, plaintext);
    const decrypted = await operation(key, "decrypt", { alg: "RSA-OAEP-256", value: base64url(ciphertext) });
    assert.equal(decrypted.status, 200, decrypted.text);
    assert.ok(bytes(decrypted.json.value).equals(plaintext), "decrypt of an expired key returned something else");
    const cek = crypto.randomBytes(32);
    const unwrapped = await operation(key, "unwrapkey", { alg: "RSA-OAEP", value: base64url(crypto.publicEncrypt(publicKey, cek)) });
    assert.equal(unwrapped.status, 200, unwrapped.text);
    assert.ok(bytes(unwrapped.json.value).equals(cek), "unwrapKey of an expired key returned something else");
    const signature = crypto.sign("sha256", Buffer.from("signed before expiry"), privateKey);
    const verified = await operation(key, "verify", { alg: "RS256", digest: base64url(digest), value: base64url(signature) });
    assert.equal(verified.status, 200, verified.text);
    assert.equal(verified.json.value, true);

    assert.deepEqual(await stateOf(key.name), before);
  });

  test("a not-yet-valid key (notBefore in the future) refuses sign with 403", async () => {
    const notBefore = new Date(Math.floor((Date.now() + 24 * HOUR_MS) / 1000) * 1000);
    const key = await keys.createEcKey("not-yet-valid", { curve: "P-256", notBefore });
    assert.equal(key.properties.notBefore?.getTime(), notBefore.getTime());
    const before = await stateOf(key.name);

    await sdkRefusedLocally(keys.getCryptographyClient(key.name).sign("ES256", sha256("early")), /can't be used before/);
    refused(await operation(key, "sign", { alg: "ES256", value: base64url(sha256("early")) }), 403, "Forbidden", "KeyNotYetValid");
    refused(await operation(key, "sign", { alg: "ES256", value: base64url(sha256("early")) }, ""), 403, "Forbidden", "KeyNotYetValid");

    assert.deepEqual(await stateOf(key.name), before);
  });
});

describe("400 BadParameter: algorithms, lengths and encodings", () => {
  let rsa: KeyVaultKey;
  let ec: KeyVaultKey;
  let oct: KeyVaultKey;
  before(async () => {
    rsa = await keys.createRsaKey("bad-rsa", { keySize: 2048 });
    ec = await keys.createEcKey("bad-ec", { curve: "P-256" });
    oct = await keys.createOctKey("bad-oct", { keySize: 256 });
  });

  /** Runs the refusals and checks that none of the three keys changed. */
  async function unchanged(refusals: () => Promise<void>): Promise<void> {
    const before = await Promise.all([rsa, ec, oct].map((k) => stateOf(k.name)));
    await refusals();
    assert.deepEqual(await Promise.all([rsa, ec, oct].map((k) => stateOf(k.name))), before);
  }

  test("an unknown algorithm RS999 is 400 BadParameter", async () => {
    await unchanged(async () => {
      refused(await operation(rsa, "sign", { alg: "RS999", value: base64url(sha256("x")) }), 400, "BadParameter", undefined);
      refused(await operation(rsa, "encrypt", { alg: "RS999", value: base64url(Buffer.from("x")) }), 400, "BadParameter", undefined);
      refused(
        await operation(rsa, "verify", { alg: "RS999", digest: base64url(sha256("x")), value: base64url(Buffer.alloc(256, 1)) }),
        400,
        "BadParameter",
        undefined,
      );
    });
  });

  test("an EC algorithm on an RSA key and RSA-OAEP on an EC key are 400 BadParameter", async () => {
    await unchanged(async () => {
      const rsaClient = keys.getCryptographyClient(rsa.name);
      await sdkRefused(rsaClient.sign("ES256", sha256("x")), 400, "BadParameter", undefined);
      await sdkRefused(rsaClient.verify("ES256", sha256("x"), Buffer.alloc(64, 1)), 400, "BadParameter", undefined);
      // The SDK refuses encrypt on an EC key itself (key_ops sign/verify), so this goes raw.
      refused(await operation(ec, "encrypt", { alg: "RSA-OAEP", value: base64url(Buffer.from("x")) }), 400, "BadParameter", undefined);
      refused(await operation(ec, "decrypt", { alg: "RSA-OAEP", value: base64url(Buffer.alloc(256, 1)) }), 400, "BadParameter", undefined);
      // And an AES algorithm on an RSA key (no local provider takes it: the SDK sends it).
      await sdkRefused(rsaClient.encrypt({ algorithm: "A256GCM", plaintext: Buffer.from("x") }), 400, "BadParameter", undefined);
    });
  });

  test("ES384 on a P-256 key is 400 BadParameter", async () => {
    await unchanged(async () => {
      const digest48 = crypto.createHash("sha384").update("x").digest();
      const client = new CryptographyClient(ec, credential);
      await sdkRefused(client.sign("ES384", digest48), 400, "BadParameter", undefined);
      await sdkRefused(client.verify("ES384", digest48, Buffer.alloc(96, 1)), 400, "BadParameter", undefined);
    });
  });

  test("a digest of the wrong length for RS256 (31 bytes) and ES256 is 400 BadParameter", async () => {
    await unchanged(async () => {
      refused(await operation(rsa, "sign", { alg: "RS256", value: base64url(crypto.randomBytes(31)) }), 400, "BadParameter", undefined);
      refused(await operation(rsa, "sign", { alg: "PS256", value: base64url(crypto.randomBytes(33)) }), 400, "BadParameter", undefined);
      refused(await operation(ec, "sign", { alg: "ES256", value: base64url(crypto.randomBytes(31)) }), 400, "BadParameter", undefined);
      refused(await operation(ec, "sign", { alg: "ES256", value: base64url(crypto.randomBytes(48)) }), 400, "BadParameter", undefined);
      // The right length is accepted.
      const ok = await operation(ec, "sign", { alg: "ES256", value: base64url(crypto.randomBytes(32)) });
      assert.equal(ok.status, 200, ok.text);
    });
  });

  test("a value that is not base64url ('!!!') is 400 BadParameter", async () => {
    await unchanged(async () => {
      refused(await operation(rsa, "sign", { alg: "RS256", value: "!!!" }), 400, "BadParameter", undefined);
      refused(await operation(rsa, "decrypt", { alg: "RSA-OAEP", value: "!!!" }), 400, "BadParameter", undefined);
      refused(
        await operation(rsa, "verify", { alg: "RS256", digest: "!!!", value: base64url(Buffer.alloc(256, 1)) }),
        400,
        "BadParameter",
        undefined,
      );
      refused(
        await operation(oct, "decrypt", {
          alg: "A256GCM",
          value: base64url(Buffer.from("x")),
          iv: "!!!",
          tag: base64url(Buffer.alloc(16)),
        }),
        400,
        "BadParameter",
        undefined,
      );
    });
  });

  test("verify without a digest is 400 BadParameter, on RSA and EC keys", async () => {
    await unchanged(async () => {
      for (const [key, alg, size] of [
        [rsa, "RS256", 256],
        [ec, "ES256", 64],
      ] as const) {
        const r = await operation(key, "verify", { alg, value: base64url(Buffer.alloc(size, 1)) });
        refused(r, 400, "BadParameter", undefined);
        assert.match(r.json.error.message, /digest/);
      }
    });
  });

  test("A256KW unwrap of an empty or truncated value is 400 BadParameter, never an empty key", async () => {
    await unchanged(async () => {
      const client = keys.getCryptographyClient(oct.name);
      for (const value of [Buffer.alloc(0), Buffer.alloc(8, 1), Buffer.alloc(16, 1), Buffer.alloc(25, 1)]) {
        refused(await operation(oct, "unwrapkey", { alg: "A256KW", value: base64url(value) }), 400, "BadParameter", undefined);
      }
      // A real wrap still unwraps.
      const cek = crypto.randomBytes(32);
      const wrapped = await client.wrapKey("A256KW", cek);
      assert.ok(Buffer.from((await client.unwrapKey("A256KW", wrapped.result)).result).equals(cek), "A256KW no longer round-trips");
    });
  });

  test("A256GCM decrypt with a wrong tag is 400 BadParameter", async () => {
    await unchanged(async () => {
      const client = keys.getCryptographyClient(oct.name);
      const plaintext = Buffer.from("authenticated");
      const aad = Buffer.from("aad");
      const encrypted = await client.encrypt({ algorithm: "A256GCM", plaintext, additionalAuthenticatedData: aad });
      const tag = Uint8Array.from(encrypted.authenticationTag!);
      tag[0] = tag[0]! ^ 0x80;
      const common = { algorithm: "A256GCM" as const, ciphertext: encrypted.result, iv: encrypted.iv!, additionalAuthenticatedData: aad };
      await sdkRefused(client.decrypt({ ...common, authenticationTag: tag }), 400, "BadParameter", undefined);
      await sdkRefused(
        client.decrypt({ ...common, authenticationTag: encrypted.authenticationTag!, additionalAuthenticatedData: Buffer.from("other") }),
        400,
        "BadParameter",
        undefined,
      );
      const good = await client.decrypt({ ...common, authenticationTag: encrypted.authenticationTag! });
      assert.ok(Buffer.from(good.result).equals(plaintext), "the right tag no longer decrypts");
    });
  });

  test("RSA-OAEP-256 encrypt of too long a plaintext (300 and 191 bytes on RSA-2048) is 400 BadParameter; 190 bytes works", async () => {
    await unchanged(async () => {
      const client = new CryptographyClient(rsa.id!, credential);
      await sdkRefused(client.encrypt({ algorithm: "RSA-OAEP-256", plaintext: crypto.randomBytes(300) }), 400, "BadParameter", undefined);
      await sdkRefused(client.encrypt({ algorithm: "RSA-OAEP-256", plaintext: crypto.randomBytes(191) }), 400, "BadParameter", undefined);
      const max = crypto.randomBytes(190);
      const encrypted = await client.encrypt({ algorithm: "RSA-OAEP-256", plaintext: max });
      assert.ok(
        Buffer.from((await client.decrypt({ algorithm: "RSA-OAEP-256", ciphertext: encrypted.result })).result).equals(max),
        "190 bytes did not round-trip",
      );
    });
  });

  test("getRandomBytes with count 0 or 129 is 400 BadParameter; 1 and 128 work", async () => {
    await sdkRefused(keys.getRandomBytes(0), 400, "BadParameter", undefined);
    await sdkRefused(keys.getRandomBytes(129), 400, "BadParameter", undefined);
    assert.equal((await keys.getRandomBytes(1)).length, 1);
    const many = await keys.getRandomBytes(128);
    assert.equal(many.length, 128);
    assert.notDeepEqual(Buffer.from(many), Buffer.alloc(128));
  });
});

describe("release", () => {
  // Lockbox answers 400 BadParameter, "AKV.SKR.1001: The key cannot be released because it is
  // not exportable." The spec records no real reply for this case (keyvault-rest.md §6.5 lists
  // the AKV.SKR 400 BadParameter family for other release-policy errors).
  test("release of a non-exportable key (raw POST /keys/{name}/{version}/release) is 400 BadParameter and changes nothing", async () => {
    const key = await keys.createRsaKey("not-exportable");
    const before = await stateOf(key.name);
    const r = await operation(key, "release", { target: "x" });
    refused(r, 400, "BadParameter", undefined);
    assert.match(r.json.error.message, /exportable/i);
    const latest = await operation(key, "release", { target: "x" }, "");
    refused(latest, 400, "BadParameter", undefined);
    assert.deepEqual(await stateOf(key.name), before);
  });

  test("KeyClient.releaseKey of a non-exportable key gets the same 400 BadParameter refusal", async () => {
    // keys 4.10.2 sends POST /keys/{name}/release (no version segment), which §6 lists as
    // POST /keys/{name}[/{version}]/release.
    const key = await keys.createRsaKey("not-exportable-sdk");
    const before = await stateOf(key.name);
    await assert.rejects(keys.releaseKey(key.name, "x"), (e: any) => {
      assert.equal(e.statusCode, 400, `expected 400 BadParameter, got ${e.statusCode} ${e.code}: ${e.message}`);
      assert.equal(e.code, "BadParameter");
      assert.match(e.message, /exportable/i);
      return true;
    });
    assert.deepEqual(await stateOf(key.name), before);
  });
});

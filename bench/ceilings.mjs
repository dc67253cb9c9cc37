// Machine ceilings, measured in the same run as Lockbox: argv[2] = case, argv[3] = seconds.
//   sqlite: one row per transaction, WAL, synchronous=FULL, one writer (commits/s)
//   postgres URL: one row per transaction (synchronous_commit on) from 32 connections (commits/s)
//   rsa-sign, rsa-decrypt, ec-sign, aes-gcm, rsa-keygen, token: node:crypto on every core (ops/s)
import Database from "better-sqlite3";
import pg from "pg";
import crypto from "node:crypto";
import { availableParallelism, tmpdir } from "node:os";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";

function cryptoLoop(kind, seconds) {
  const rsa = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
  const ec = crypto.generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const aes = crypto.randomBytes(32);
  const digest = crypto.createHash("sha256").update("bench").digest();
  const info = Buffer.concat([Buffer.from("3031300d060960864801650304020105000420", "hex"), digest]);
  const ct = crypto.publicEncrypt(
    { key: rsa.publicKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" },
    Buffer.from("data"),
  );
  const ops = {
    "rsa-sign": () => crypto.privateEncrypt({ key: rsa.privateKey, padding: crypto.constants.RSA_PKCS1_PADDING }, info),
    "rsa-decrypt": () =>
      crypto.privateDecrypt({ key: rsa.privateKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, ct),
    "ec-sign": () => crypto.sign("sha256", digest, { key: ec.privateKey, dsaEncoding: "ieee-p1363" }),
    "aes-gcm": () => {
      const c = crypto.createCipheriv("aes-256-gcm", aes, crypto.randomBytes(12));
      c.update(digest);
      c.final();
      c.getAuthTag();
    },
    // What a self-signed certificate's key costs: an RSA-2048 key pair.
    "rsa-keygen": () => crypto.generateKeyPairSync("rsa", { modulusLength: 2048 }),
    // What issuing a token costs: an ES256 signature over a JWT-sized input.
    token: () => crypto.sign("sha256", Buffer.alloc(400, 1), { key: ec.privateKey, dsaEncoding: "ieee-p1363" }),
  };
  const run = ops[kind];
  const end = performance.now() + seconds * 1000;
  let n = 0;
  while (performance.now() < end) {
    run();
    n++;
  }
  return n / seconds;
}

if (!isMainThread) {
  parentPort.postMessage(cryptoLoop(workerData.kind, workerData.seconds));
} else {
  const [kind, secondsText] = process.argv.slice(2);
  const seconds = Number(secondsText);
  let perSecond;
  if (kind === "postgres") {
    const pool = new pg.Pool({ connectionString: process.argv[4], max: 32 });
    await pool.query("CREATE TABLE IF NOT EXISTS ceiling (id BIGSERIAL PRIMARY KEY, v BYTEA)");
    const row = crypto.randomBytes(200);
    const end = performance.now() + seconds * 1000;
    let n = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (performance.now() < end) {
          await pool.query("INSERT INTO ceiling (v) VALUES ($1)", [row]);
          n++;
        }
      }),
    );
    await pool.query("DROP TABLE ceiling");
    await pool.end();
    perSecond = n / seconds;
  } else if (kind === "sqlite") {
    const dir = mkdtempSync(join(tmpdir(), "lockbox-ceiling-"));
    const db = new Database(join(dir, "c.db"));
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)");
    const insert = db.prepare("INSERT INTO t (v) VALUES (?)");
    const row = crypto.randomBytes(200);
    const end = performance.now() + seconds * 1000;
    let n = 0;
    while (performance.now() < end) {
      insert.run(row);
      n++;
    }
    db.close();
    rmSync(dir, { recursive: true, force: true });
    perSecond = n / seconds;
  } else {
    const threads = availableParallelism();
    const results = await Promise.all(
      Array.from(
        { length: threads },
        () =>
          new Promise((resolve, reject) => {
            const w = new Worker(new URL(import.meta.url), { workerData: { kind, seconds } });
            w.once("message", resolve);
            w.once("error", reject);
          }),
      ),
    );
    perSecond = results.reduce((a, b) => a + b, 0);
  }
  process.stdout.write(JSON.stringify({ perSecond }));
}

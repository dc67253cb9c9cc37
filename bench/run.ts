// npm run bench [-- --quick] [-- --only postgres]: Lockbox against this machine's own
// ceilings, measured in the same run. Prints a Markdown table and writes
// bench/results/latest.{md,json} (not with --only, which measures one group of cases).
import { spawn, spawnSync } from "node:child_process";
import { createHash, createPublicKey, publicEncrypt, constants, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { request } from "node:https";
import { availableParallelism, cpus, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { openInstance } from "../src/server/instance.ts";
import { createDatabase, findPostgresBin, startThrowawayCluster } from "../test/helpers/postgres.ts";

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const quick = process.argv.includes("--quick");
/** --only sqlite|postgres|scale: one group of cases. */
const only = process.argv.includes("--only") ? process.argv[process.argv.indexOf("--only") + 1] : undefined;
const want = (group: "sqlite" | "postgres" | "scale" | "workers"): boolean => only === undefined || only === group;
const DURATION = quick ? 3 : 10;
const CONNECTIONS = 32;
const SCALE = quick ? [1_000, 10_000] : [1_000, 100_000];

interface Load {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

interface Row {
  case: string;
  lockbox: number;
  p50: number;
  p99: number;
  ceiling: number;
  ceilingName: string;
  ratio: number;
  azureLimit: number | null;
  vsAzure: number | null;
  notes: string;
}

const log = (m: string): void => void process.stderr.write(`${m}\n`);

interface Server {
  port: number;
  pid: number;
  env: Record<string, string>;
  readyMs: number;
  stop(): Promise<void>;
}

async function startLockbox(dataDir: string, extraEnv: NodeJS.ProcessEnv = {}, args: string[] = []): Promise<Server> {
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [join(ROOT, "bin/lockbox.js"), "serve", "--port", "0", "--data-dir", dataDir, "--log-level", "warn", ...args],
    {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...extraEnv },
    },
  );
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d));
  child.stderr!.on("data", (d: Buffer) => (out += d));
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on("data", () => {
      const m = /listening on https:\/\/[^\s:]+:(\d+)/.exec(out);
      if (m && out.includes("lockbox env")) resolve(Number(m[1]));
    });
    child.once("exit", (code) => reject(new Error(`Lockbox exited ${code}: ${out}`)));
  });
  const readyMs = performance.now() - started;
  // The server prints no credential; a user gets the environment from `lockbox env`.
  const printed = spawnSync(process.execPath, [join(ROOT, "bin/lockbox.js"), "env", "--json", "--data-dir", dataDir], {
    env: { ...process.env, ...extraEnv },
    encoding: "utf8",
  });
  if (printed.status !== 0) throw new Error(`lockbox env failed: ${printed.stderr}`);
  const env = JSON.parse(printed.stdout) as Record<string, string>;
  return {
    port,
    pid: child.pid!,
    env,
    readyMs,
    stop: () =>
      new Promise((resolve) => (child.exitCode !== null ? resolve() : (child.once("exit", () => resolve()), child.kill("SIGTERM")))),
  };
}

function call(
  port: number,
  method: string,
  path: string,
  token?: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: any }> {
  const data = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        method,
        path,
        rejectUnauthorized: false,
        headers: {
          host: `localhost:${port}`,
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(data ? { "content-type": "application/json", "content-length": Buffer.byteLength(data) } : {}),
          ...headers,
        },
      },
      (res) => {
        let text = "";
        res.on("data", (d: Buffer) => (text += d));
        res.on("end", () => resolve({ status: res.statusCode!, json: text ? JSON.parse(text) : undefined }));
      },
    );
    req.on("error", reject);
    if (data) req.write(data);
    req.end();
  });
}

interface LoadSpec {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: unknown;
  /** Each request's "[<id>]" in the path becomes an id of its own (distinct names). */
  distinct?: boolean;
}

/**
 * The same load on several servers at once, the connections shared among them, each server
 * loaded by a generator process of its own: the requests per second summed, the worst p50
 * and p99.
 */
async function loadAll(ports: number[], spec: LoadSpec, connections = CONNECTIONS): Promise<Load> {
  const each = await Promise.all(
    ports.map((port, i) => load(port, spec, Math.floor(connections / ports.length) + (i < connections % ports.length ? 1 : 0))),
  );
  return {
    rps: each.reduce((n, l) => n + l.rps, 0),
    p50: Math.max(...each.map((l) => l.p50)),
    p99: Math.max(...each.map((l) => l.p99)),
    errors: each.reduce((n, l) => n + l.errors, 0),
    non2xx: each.reduce((n, l) => n + l.non2xx, 0),
  };
}

async function load(port: number, spec: LoadSpec, connections = CONNECTIONS, duration = DURATION): Promise<Load> {
  const child = spawn(
    process.execPath,
    [
      join(ROOT, "bench/load.mjs"),
      JSON.stringify({
        url: `https://127.0.0.1:${port}`,
        connections,
        duration,
        method: spec.method,
        path: spec.path,
        headers: { host: `localhost:${port}`, "content-type": "application/json", ...spec.headers },
        body: spec.body === undefined ? undefined : JSON.stringify(spec.body),
        distinct: spec.distinct,
      }),
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (out += d));
  child.stderr!.on("data", (d: Buffer) => (err += d));
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  if (code !== 0) throw new Error(`load failed: ${err}`);
  return JSON.parse(out) as Load;
}

function ceiling(kind: string, seconds = quick ? 2 : 5, ...args: string[]): number {
  const r = spawnSync(process.execPath, [join(ROOT, "bench/ceilings.mjs"), kind, String(seconds), ...args], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`ceiling ${kind} failed: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { perSecond: number }).perSecond;
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

async function withRss<T>(pid: number, fn: () => Promise<T>): Promise<{ value: T; peak: number }> {
  let peak = rssMb(pid);
  const timer = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 100);
  try {
    const value = await fn();
    return { value, peak };
  } finally {
    clearInterval(timer);
  }
}

const rows: Row[] = [];
const extra: Record<string, number | string> = {};

function row(name: string, l: Load, ceilingValue: number, ceilingName: string, azure: number | null, notes = ""): void {
  const bad = l.errors + l.non2xx;
  rows.push({
    case: name,
    lockbox: Math.round(l.rps),
    p50: l.p50,
    p99: l.p99,
    ceiling: Math.round(ceilingValue),
    ceilingName,
    ratio: l.rps / ceilingValue,
    azureLimit: azure,
    vsAzure: azure ? l.rps / azure : null,
    notes: bad ? `${bad} failed requests; ${notes}` : notes,
  });
  log(`${name}: ${Math.round(l.rps)}/s (p50 ${l.p50} ms, p99 ${l.p99} ms) vs ${ceilingName} ${Math.round(ceilingValue)}/s`);
}

const msiPath = `/msi/token?api-version=2019-08-01&resource=${encodeURIComponent("https://vault.localhost")}`;

/** A token for the server's developer identity, from its managed identity endpoint. */
async function tokenOf(s: Server): Promise<string> {
  return (await call(s.port, "GET", msiPath, undefined, undefined, { "x-identity-header": s.env.IDENTITY_HEADER! })).json
    .access_token as string;
}

/**
 * `serve --workers N` (N: this machine's cores) on the SQLite data directory: getSecret against
 * bare node:https with as many processes, RSA-2048 sign against node:crypto on every core.
 */
async function workerCases(
  dataDir: string,
  bareLoad: (bytes: number, processes?: number) => Promise<Load>,
  bodyBytes: number,
  signPath: string,
  digest: string,
): Promise<void> {
  const n = availableParallelism();
  const server = await startLockbox(dataDir, {}, ["--workers", String(n)]);
  try {
    extra.workersStartMs = Math.round(server.readyMs);
    const auth = { authorization: `Bearer ${await tokenOf(server)}` };
    // Per process: the primary and each worker.
    const children = readFileSync(`/proc/${server.pid}/task/${server.pid}/children`, "utf8").trim().split(/\s+/).map(Number);
    extra.workersIdleRssMb = [server.pid, ...children].map((pid) => Math.round(rssMb(pid))).join(" / ");
    const bare = await bareLoad(bodyBytes, n);
    row(
      `getSecret (latest), --workers ${n}`,
      await load(server.port, { path: "/secrets/bench/?api-version=7.6", headers: auth }),
      bare.rps,
      `bare node:https, ${n} processes, same body and TLS`,
      400,
    );
    row(
      `RSA-2048 sign (RS256), --workers ${n}`,
      await load(server.port, { method: "POST", path: signPath, headers: auth, body: { alg: "RS256", value: digest } }),
      ceiling("rsa-sign"),
      `node:crypto on ${n} cores`,
      400,
    );
  } finally {
    await server.stop();
  }
}

/** The PostgreSQL ceiling every PostgreSQL write case is set against. */
const PG_CEILING_NAME = "PostgreSQL on this machine, 1 row/commit, 32 connections";

/**
 * Reads and durable writes again with the store on PostgreSQL: a throwaway cluster on this
 * machine with durable settings (fsync, synchronous_commit on), when its binaries are here.
 */
async function postgresCases(bareRps: number, value: string): Promise<void> {
  if (!findPostgresBin()) {
    log("PostgreSQL: no server binaries (apt-get install postgresql); its rows are left out");
    extra.postgres = "not measured: no PostgreSQL server binaries";
    return;
  }
  const cluster = await startThrowawayCluster({ durable: true });
  const dir = mkdtempSync(join(tmpdir(), "lockbox-bench-pg-"));
  try {
    const server = await startLockbox(dir, { LOCKBOX_POSTGRES_URL: createDatabase(cluster.url) });
    try {
      const port = server.port;
      const token = await tokenOf(server);
      const auth = { authorization: `Bearer ${token}` };
      await call(port, "PUT", "/secrets/bench?api-version=7.6", token, { value });
      for (let i = 0; i < 30; i++) await call(port, "PUT", `/secrets/list-${i}?api-version=7.6`, token, { value });
      row(
        "getSecret (latest), PostgreSQL",
        await load(port, { path: "/secrets/bench/?api-version=7.6", headers: auth }),
        bareRps,
        "bare node:https, same body and TLS",
        400,
      );
      row(
        "listPropertiesOfSecrets, one page of 25, PostgreSQL",
        await load(port, { path: "/secrets?api-version=7.6&maxresults=25", headers: auth }),
        bareRps,
        "bare node:https",
        400,
      );
      const pgCeiling = ceiling("postgres", undefined, createDatabase(cluster.url));
      const oneName = { method: "PUT", path: "/secrets/bench-set?api-version=7.6", headers: auth, body: { value } };
      const distinct = { ...oneName, path: "/secrets/bench-[<id>]?api-version=7.6", distinct: true };
      row(
        "setSecret (durable), PostgreSQL",
        await load(port, oneName),
        pgCeiling,
        PG_CEILING_NAME,
        30,
        "writes share transactions (group commit)",
      );
      const oneDistinct = await load(port, distinct);
      row("setSecret (durable), PostgreSQL, distinct names", oneDistinct, pgCeiling, PG_CEILING_NAME, 30, "a new secret per request");
    } finally {
      await server.stop();
    }
    await postgresScaleOut(cluster.url, value);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await cluster.stop();
  }
}

/** Durable writes through three processes on one PostgreSQL database, against one process on another. */
async function postgresScaleOut(clusterUrl: string, value: string): Promise<void> {
  const db = createDatabase(clusterUrl);
  const env = { LOCKBOX_POSTGRES_URL: db, LOCKBOX_ROOT_KEY: randomBytes(32).toString("base64") };
  const dirs = [1, 2, 3].map(() => mkdtempSync(join(tmpdir(), "lockbox-bench-pg-scale-")));
  const servers: Server[] = [];
  try {
    servers.push(await startLockbox(dirs[0]!, env, ["--init"]));
    servers.push(...(await Promise.all(dirs.slice(1).map((d) => startLockbox(d, env)))));
    const token = await tokenOf(servers[0]!);
    const auth = { authorization: `Bearer ${token}` };
    const ports = servers.map((s) => s.port);
    for (const port of ports) await call(port, "PUT", `/secrets/warm-${port}?api-version=7.6`, token, { value });
    const pgCeiling = ceiling("postgres", undefined, createDatabase(clusterUrl));
    const distinct = { method: "PUT", path: "/secrets/bench-[<id>]?api-version=7.6", headers: auth, body: { value }, distinct: true };
    const three = await loadAll(ports, distinct);
    row(
      "setSecret (durable), PostgreSQL, 3 processes, distinct names",
      three,
      pgCeiling,
      PG_CEILING_NAME,
      30,
      "32 connections shared by the 3",
    );
    const one = rows.find((r) => r.case === "setSecret (durable), PostgreSQL, distinct names");
    if (one) extra.postgresScaleOut3vs1 = Number((three.rps / one.lockbox).toFixed(2));
    row(
      "setSecret (durable), PostgreSQL, 3 processes, one name",
      await loadAll(ports, { ...distinct, path: "/secrets/bench-shared?api-version=7.6", distinct: false }),
      pgCeiling,
      PG_CEILING_NAME,
      30,
      "every write a new version of one secret: they take turns",
    );
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  log(
    `Lockbox bench (${quick ? "quick" : "full"}): ${cpus().length} cores (${cpus()[0]?.model ?? "?"}), ${CONNECTIONS} connections, ${DURATION} s per case`,
  );
  const dataDir = mkdtempSync(join(tmpdir(), "lockbox-bench-"));
  try {
    const first = await startLockbox(dataDir);
    await first.stop();
    const server = await startLockbox(dataDir);
    extra.firstStartMs = Math.round(first.readyMs);
    extra.startMs = Math.round(server.readyMs);
    const port = server.port;
    const token = await tokenOf(server);
    const auth = { authorization: `Bearer ${token}` };
    extra.idleRssMb = Math.round(rssMb(server.pid));

    // Objects to work on.
    const value = "v".repeat(64);
    await call(port, "PUT", "/secrets/bench?api-version=7.6", token, { value });
    const got = await call(port, "GET", "/secrets/bench/?api-version=7.6", token);
    const bodyBytes = Buffer.byteLength(JSON.stringify(got.json));
    for (let i = 0; i < 30; i++) await call(port, "PUT", `/secrets/list-${i}?api-version=7.6`, token, { value });
    const rsa = (await call(port, "POST", "/keys/rsa/create?api-version=7.6", token, { kty: "RSA", key_size: 2048 })).json;
    const ec = (await call(port, "POST", "/keys/ec/create?api-version=7.6", token, { kty: "EC", crv: "P-256" })).json;
    const oct = (await call(port, "POST", "/keys/oct/create?api-version=7.6", token, { kty: "oct", key_size: 256 })).json;
    const version = (kid: string): string => kid.split("/").pop()!;
    const digest = createHash("sha256").update("bench").digest().toString("base64url");
    const pub = createPublicKey({ key: { kty: "RSA", n: rsa.key.n, e: rsa.key.e }, format: "jwk" });
    const ct = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, Buffer.from("data")).toString(
      "base64url",
    );

    // A self-signed certificate, whose backing secret is its PFX.
    const certificatePolicy = { policy: { x509_props: { subject: "CN=bench.contoso.test" }, issuer: { name: "Self" } } };
    await call(port, "POST", "/certificates/bench-cert/create?api-version=7.6", token, certificatePolicy);
    const pfx = await call(port, "GET", "/secrets/bench-cert/?api-version=7.6", token);
    const pfxBytes = Buffer.byteLength(JSON.stringify(pfx.json));

    // Reads against the bare HTTPS ceiling, answering bodies of the same size.
    const tls = join(dataDir, "tls");
    const bareLoad = async (bytes: number, processes = 1): Promise<Load> => {
      const bare = spawn(
        process.execPath,
        [join(ROOT, "bench/bare.mjs"), join(tls, "server.pem"), join(tls, "server.key"), String(bytes), String(processes)],
        {
          stdio: ["ignore", "pipe", "inherit"],
        },
      );
      try {
        const barePort = await new Promise<number>((resolve) =>
          bare.stdout!.on("data", (d: Buffer) => resolve(Number(/listening (\d+)/.exec(String(d))![1]))),
        );
        return await load(barePort, { path: "/" });
      } finally {
        bare.kill();
      }
    };
    const bareGet = await bareLoad(bodyBytes);

    if (want("sqlite")) {
      const { value: getLoad, peak } = await withRss(server.pid, () =>
        load(port, { path: "/secrets/bench/?api-version=7.6", headers: auth }),
      );
      extra.loadRssMb = Math.round(peak);
      row("getSecret (latest)", getLoad, bareGet.rps, "bare node:https, same body and TLS", 400);
      const listLoad = await load(port, { path: "/secrets?api-version=7.6&maxresults=25", headers: auth });
      row("listPropertiesOfSecrets, one page of 25", listLoad, bareGet.rps, "bare node:https", 400);

      row(
        "getSecret of a certificate's PFX",
        await load(port, { path: "/secrets/bench-cert/?api-version=7.6", headers: auth }),
        (await bareLoad(pfxBytes)).rps,
        `bare node:https, same ${pfxBytes}-byte body`,
        400,
      );

      const sqlite = ceiling("sqlite");
      const setLoad = await load(port, { method: "PUT", path: "/secrets/bench-set?api-version=7.6", headers: auth, body: { value } });
      row(
        "setSecret (durable)",
        setLoad,
        sqlite,
        "better-sqlite3, 1 row/commit, synchronous=FULL",
        30,
        "writes share commits (group commit)",
      );

      const op = (path: string, body: unknown) => load(port, { method: "POST", path, headers: auth, body });
      const rsaSign = await op(`/keys/rsa/${version(rsa.key.kid)}/sign?api-version=7.6`, { alg: "RS256", value: digest });
      row("RSA-2048 sign (RS256)", rsaSign, ceiling("rsa-sign"), `node:crypto on ${availableParallelism()} cores`, 400);
      row(
        "RSA-2048 decrypt (RSA-OAEP-256)",
        await op(`/keys/rsa/${version(rsa.key.kid)}/decrypt?api-version=7.6`, { alg: "RSA-OAEP-256", value: ct }),
        ceiling("rsa-decrypt"),
        `node:crypto on ${availableParallelism()} cores`,
        400,
      );
      row(
        "EC P-256 sign (ES256)",
        await op(`/keys/ec/${version(ec.key.kid)}/sign?api-version=7.6`, { alg: "ES256", value: digest }),
        ceiling("ec-sign"),
        `node:crypto on ${availableParallelism()} cores`,
        400,
      );
      row(
        "AES-256-GCM encrypt (oct key)",
        await op(`/keys/oct/${version(oct.key.kid)}/encrypt?api-version=7.6`, { alg: "A256GCM", value: digest }),
        ceiling("aes-gcm"),
        `node:crypto on ${availableParallelism()} cores`,
        400,
      );
      row(
        "create a self-signed RSA-2048 certificate",
        // Four at a time: each takes a key pair's generation (tens of ms of a core), so 32 at once
        // would still be waiting at the end of a short case.
        await load(
          port,
          { method: "POST", path: "/certificates/bench-cert/create?api-version=7.6", headers: auth, body: certificatePolicy },
          4,
        ),
        ceiling("rsa-keygen"),
        `RSA-2048 key pairs, node:crypto on ${availableParallelism()} cores`,
        2,
        "4 connections; each a new version with its key, secret (PFX) and CSR; Azure counts it as an RSA key CREATE (20 per 10 s)",
      );
      row(
        "token issuance (managed identity)",
        await load(port, { path: msiPath, headers: { "x-identity-header": server.env.IDENTITY_HEADER! } }),
        ceiling("token"),
        `ES256 signatures, node:crypto on ${availableParallelism()} cores`,
        null,
      );
    }
    await server.stop();

    if (want("workers")) await workerCases(dataDir, bareLoad, bodyBytes, `/keys/rsa/${version(rsa.key.kid)}/sign?api-version=7.6`, digest);

    if (want("postgres")) await postgresCases(bareGet.rps, value);

    // Scale: latency with many secrets in the vault, at one connection.
    if (want("scale")) {
      for (const count of SCALE) {
        const dir = mkdtempSync(join(tmpdir(), "lockbox-bench-scale-"));
        try {
          const t0 = performance.now();
          const instance = await openInstance(dir);
          const vault = (await instance.vaults.find("default"))!;
          for (let i = 0; i < count; i += 2000) {
            await Promise.all(
              Array.from({ length: Math.min(2000, count - i) }, (_, j) =>
                instance.secrets.set(vault, `s-${String(i + j).padStart(7, "0")}`, { value }),
              ),
            );
          }
          await instance.close();
          log(`filled ${count} secrets in ${Math.round(performance.now() - t0)} ms`);
          const s = await startLockbox(dir);
          const tok = await tokenOf(s);
          const h = { authorization: `Bearer ${tok}` };
          const get = await load(
            s.port,
            { path: `/secrets/s-${String(Math.floor(count / 2)).padStart(7, "0")}/?api-version=7.6`, headers: h },
            1,
            quick ? 2 : 5,
          );
          const list = await load(
            s.port,
            {
              path: `/secrets?api-version=7.6&maxresults=25&$skiptoken=${Buffer.from(`lb1:s-${String(Math.floor(count / 2)).padStart(7, "0")}`).toString("base64url")}`,
              headers: h,
            },
            1,
            quick ? 2 : 5,
          );
          extra[`getP50At${count}`] = get.p50;
          extra[`getP99At${count}`] = get.p99;
          extra[`listP50At${count}`] = list.p50;
          extra[`listP99At${count}`] = list.p99;
          await s.stop();
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }

  const fmt = (n: number | null, digits = 0): string => (n === null ? "—" : n.toFixed(digits));
  const lines = [
    `# Lockbox bench (${quick ? "quick" : "full"}), ${new Date().toISOString()}`,
    "",
    `${cpus().length} cores (${cpus()[0]?.model ?? "?"}), ${CONNECTIONS} keep-alive HTTPS connections from a separate process (autocannon), ${DURATION} s per case. Ceilings measured in the same run.`,
    "",
    "| case | Lockbox /s | p50 ms | p99 ms | ceiling /s | ceiling | Lockbox ÷ ceiling | Azure limit /s | Lockbox ÷ Azure | notes |",
    "|---|---:|---:|---:|---:|---|---:|---:|---:|---|",
    ...rows.map(
      (r) =>
        `| ${r.case} | ${r.lockbox} | ${r.p50} | ${r.p99} | ${r.ceiling} | ${r.ceilingName} | ${(r.ratio * 100).toFixed(0)}% | ${fmt(r.azureLimit)} | ${r.vsAzure === null ? "—" : `${r.vsAzure.toFixed(1)}×`} | ${r.notes} |`,
    ),
    "",
    "| measure | value |",
    "|---|---:|",
    ...Object.entries(extra).map(([k, v]) => `| ${k} | ${v} |`),
    "",
    "Azure limits are per vault, from Azure Key Vault's service limits: 4,000 reads and 300 secret creates per 10 s, RSA-2048 and other key operations 4,000 per 10 s.",
    "",
  ];
  const md = lines.join("\n");
  process.stdout.write(md);
  if (only) return; // a part of the bench is no record of it
  mkdirSync(join(ROOT, "bench/results"), { recursive: true });
  writeFileSync(join(ROOT, "bench/results/latest.md"), md);
  writeFileSync(join(ROOT, "bench/results/latest.json"), JSON.stringify({ quick, rows, extra }, null, 2) + "\n");
}

await main();

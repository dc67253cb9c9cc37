import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import pg from "pg";
import { ClientSecretCredential, DefaultAzureCredential } from "@azure/identity";
import { CertificateClient } from "@azure/keyvault-certificates";
import { KeyClient } from "@azure/keyvault-keys";
import { SecretClient, type SecretClientOptions } from "@azure/keyvault-secrets";
import { migrations } from "../../src/store/migrations.ts";
import { beginStatement } from "../../src/store/postgres/engine.ts";
import { advanceClock, clockNow, schedulerRan } from "../helpers/clock.ts";
import { developerToken, raw } from "../helpers/http.ts";
import { createDatabase, dropDatabase, testEngine } from "../helpers/postgres.ts";
import { collect } from "../helpers/sdk.ts";
import {
  cli,
  newDataDir,
  removeDataDir,
  saveEnvironment,
  startLockbox,
  stopOrKill,
  useEnvironment,
  type Lockbox,
} from "../helpers/server.ts";
import { errorText, eventually, sleep } from "../helpers/wait.ts";

// Scale-out: three Lockbox processes, each with its own data directory (TLS files,
// server.json, audit.log) but one PostgreSQL database and one root key, behave as one vault
// to the official SDKs: a write through one is read through the others at once, a process
// killed in a storm of writes loses nothing acknowledged and leaves nothing half-written,
// three schedulers carry out one rotation once, and a removed role is refused everywhere
// within a second. Last, three processes started together on an empty database agree.
//
// One database (and so one developer identity and token signing key) for the whole file:
// MSAL keeps managed-identity tokens in one cache per process and keeps the first
// IDENTITY_ENDPOINT, so a single DefaultAzureCredential (process A's endpoint) serves the
// clients of all three URLs; that a token from A is accepted by B and C is part of what is
// tested. Every process runs with --dev-clock from the start (the rotation test moves the
// clock; a process started without it would forget the stored offset).

const ADMIN_URL = process.env.LOCKBOX_TEST_POSTGRES_URL;
if (testEngine() !== "postgres" || !ADMIN_URL) {
  // test/run.mjs runs this file only in its PostgreSQL pass, which sets both.
  throw new Error("several processes on one database need LOCKBOX_TEST_ENGINE=postgres and LOCKBOX_TEST_POSTGRES_URL");
}
/** A test waiting on a stuck server fails at this limit instead of hanging the run. */
const LIMIT = { timeout: 180_000 };
const DAY = 86_400;
const SCOPE = "https://vault.localhost/.default";

const hex = (n = 4): string => randomBytes(n).toString("hex");
const randomValue = (label: string): string => `${label}-${randomBytes(12).toString("hex")}`;

/** Runs `fn` over `items`, at most `width` at a time. */
async function inBatches<T, R>(items: T[], width: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += width) out.push(...(await Promise.all(items.slice(i, i + width).map(fn))));
  return out;
}

// ---------------------------------------------------------------------------------------
// The three processes A, B and C on one database.

const databaseName = (url: string): string => new URL(url).pathname.slice(1);

/** One database and root key, and the processes started on it; everything goes in stopAll(). */
class Group {
  readonly url: string;
  readonly rootKey = randomBytes(32).toString("base64");
  readonly dirs: string[] = [];
  readonly servers: Lockbox[] = [];

  constructor(readonly args: string[]) {
    this.url = createDatabase(ADMIN_URL!);
  }

  /** What every process and CLI call gets: the shared database (over the data directory's own) and root key. */
  get env(): NodeJS.ProcessEnv {
    return { LOCKBOX_POSTGRES_URL: this.url, LOCKBOX_ROOT_KEY: this.rootKey };
  }

  newDir(): string {
    const dir = newDataDir();
    this.dirs.push(dir);
    return dir;
  }

  /** Whether a process has initialised the database: until then, processes start with --init (the root key is given). */
  private initialised = false;

  async start(dataDir: string): Promise<Lockbox> {
    const server = await startLockbox({ dataDir, env: this.env, args: [...this.args, ...(this.initialised ? [] : ["--init"])] });
    this.initialised = true;
    this.servers.push(server);
    return server;
  }

  /** `lockbox ARGS --data-dir DIR` against the shared database, which must succeed; its stdout. */
  cli(dataDir: string, ...args: string[]): string {
    const r = cli([...args, "--data-dir", dataDir], this.env);
    assert.equal(r.status, 0, `lockbox ${args.join(" ")} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  }

  async stopAll(): Promise<void> {
    const problems: unknown[] = [];
    for (const s of this.servers) {
      if (s.process.exitCode !== null || s.process.signalCode !== null) continue;
      await stopOrKill(s).catch((e: unknown) => problems.push(e));
    }
    for (const dir of this.dirs) {
      try {
        removeDataDir(dir); // also drops the database newDataDir() made for the directory
      } catch (e) {
        problems.push(e);
      }
    }
    try {
      dropDatabase(ADMIN_URL!, databaseName(this.url));
    } catch (e) {
      problems.push(e);
    }
    if (problems.length) console.error("scale-out cleanup:", ...problems);
  }
}

let group: Group;
let a: Lockbox;
let b: Lockbox;
let c: Lockbox;
let bDir: string;
/** The developer identity through process A's managed identity endpoint, for clients of every process. */
let credential: DefaultAzureCredential;
const restoreEnvironment = saveEnvironment();

const members = (): Array<[string, Lockbox]> => [
  ["A", a],
  ["B", b],
  ["C", c],
];

before(async () => {
  group = new Group(["--dev-clock"]);
  const [dirA, dirB, dirC] = [group.newDir(), group.newDir(), group.newDir()];
  bDir = dirB;
  a = await group.start(dirA);
  [b, c] = await Promise.all([group.start(dirB!), group.start(dirC!)]);
  useEnvironment(a);
  credential = new DefaultAzureCredential();
});

after(async () => {
  restoreEnvironment();
  await group?.stopAll();
});

/** A client of one process's vault, with the developer's credential; one call made, so concurrent calls may follow. */
async function warmSecretClient(server: Lockbox, options?: SecretClientOptions): Promise<SecretClient> {
  const client = new SecretClient(server.vaultUrl(), credential, options);
  // The SDK learns the challenge on a client's first call; concurrent first calls race in it
  // (../shared/spec/sdk-probe-notes.md, last section).
  await client.setSecret(`warmup-${hex()}`, "warm");
  return client;
}

// ---------------------------------------------------------------------------------------

test(
  "the three processes on one database print the same IDENTITY_HEADER and TENANT_ID, and a token from A works at all three",
  LIMIT,
  async (t) => {
    for (const [label, s] of members()) {
      assert.equal(s.env.IDENTITY_HEADER, a.env.IDENTITY_HEADER, `process ${label} prints another IDENTITY_HEADER than A`);
      assert.equal(s.env.TENANT_ID, a.env.TENANT_ID, `process ${label} prints another TENANT_ID than A`);
      assert.equal(s.env.KEYVAULT_URL, s.vaultUrl(), `process ${label} prints KEYVAULT_URL ${s.env.KEYVAULT_URL}`);
    }
    const token = await developerToken(a);
    for (const [label, s] of members()) {
      const r = await raw(s, { path: "/secrets?api-version=7.6", host: `default.vault.localhost:${s.port}`, token });
      assert.equal(r.status, 200, `listing secrets through ${label} with a token from A: ${r.status} ${r.text}`);
    }
    t.diagnostic(`ports A ${a.port}, B ${b.port}, C ${c.port}; database ${databaseName(group.url)}`);
  },
);

test(
  "a secret written through one process is read, value and version, through the other two right after the write resolves",
  LIMIT,
  async (t) => {
    const clients = await Promise.all(members().map(async ([label, s]) => ({ label, client: await warmSecretClient(s) })));
    const shared = `fresh-shared-${hex()}`;
    for (let round = 0; round < 9; round++) {
      const writer = clients[round % 3]!;
      const readers = clients.filter((x) => x !== writer);
      const fresh = `fresh-${round}-${hex()}`;
      for (const name of [fresh, shared]) {
        const value = randomValue(name);
        const set = await writer.client.setSecret(name, value);
        assert.equal(set.value, value, `setSecret ${name} through ${writer.label} answered another value`);
        const version = set.properties.version!;
        // No wait: the reads go out as soon as the write resolved.
        const reads = await Promise.all(
          readers.flatMap(({ label, client }) => [
            client.getSecret(name).then((got) => ({ label, what: "latest", got })),
            client.getSecret(name, { version }).then((got) => ({ label, what: `version ${version}`, got })),
          ]),
        );
        for (const { label, what, got } of reads) {
          assert.equal(
            got.value,
            value,
            `round ${round}: ${name} (${what}) written through ${writer.label}, read through ${label}: another value`,
          );
          assert.equal(
            got.properties.version,
            version,
            `round ${round}: ${name} (${what}) written through ${writer.label}, read through ${label}: version ${got.properties.version}, not ${version}`,
          );
        }
      }
    }
    const versions = await collect(clients[1]!.client.listPropertiesOfSecretVersions(shared));
    assert.equal(versions.length, 9, `${shared} has ${versions.length} versions listed through B, not the 9 written through A, B and C`);
    t.diagnostic("9 rounds, writer A/B/C in turn, a new name and a shared name per round; every read right after the write saw it");
  },
);

// The storm. Clients have retryOptions { maxRetries: 0 }: each call is one HTTP attempt, so a
// call's outcome says what its one request did, a request to the killed process fails at once
// (connection reset, or refused for those sent after) instead of after the SDK's backoff, and
// no retry of a PUT that may have committed adds a second version behind the test's back. Each
// call also has a 30 s abort signal, so a hung call is reported as hung rather than stalling
// the test. A and C's calls have no reason to fail, and must all succeed.
test(
  "a storm of setSecret through all three with B killed (SIGKILL) in the middle: every acknowledged write is there, every version listed is whole",
  LIMIT,
  async (t) => {
    const P = `storm-${hex()}`;
    const WORKERS = 40; // concurrent calls per client
    const KILL_AFTER_ACKS = 100; // B is killed once each of A, B and C acknowledged this many writes
    const ROUNDS_AFTER_KILL = 3; // A's and C's workers go on this many rounds after the kill
    const MAX_ROUNDS = 40;
    const HANG_MS = 30_000;
    const sharedName = `${P}-shared`;

    interface Write {
      via: "A" | "B" | "C";
      name: string;
      value: string;
      ok: boolean;
      version?: string;
      error?: string;
      aborted?: boolean;
      settledAt: number;
    }
    const writes: Write[] = [];
    const sent = new Map<string, Set<string>>();
    let killedAt: number | undefined;
    const acks = { A: 0, B: 0, C: 0 };
    let onKillThreshold!: () => void;
    const killThreshold = new Promise<void>((r) => (onKillThreshold = r));

    // Whatever happens here, B runs again (on a new port) for the tests that follow.
    t.after(async () => {
      if (b.process.exitCode !== null || b.process.signalCode !== null) b = await group.start(bDir);
    });
    const stormOptions: SecretClientOptions = { retryOptions: { maxRetries: 0 } };
    const [ca, cb, cc] = await Promise.all([
      warmSecretClient(a, stormOptions),
      warmSecretClient(b, stormOptions),
      warmSecretClient(c, stormOptions),
    ]);

    const worker = async (via: Write["via"], client: SecretClient, w: number): Promise<void> => {
      let roundsAfterKill = 0;
      for (let i = 0; i < MAX_ROUNDS; i++) {
        if (via !== "B" && killedAt !== undefined && roundsAfterKill++ >= ROUNDS_AFTER_KILL) return;
        // Every tenth worker writes the name all three share; the others a name of their own.
        const name = w % 10 === 0 ? sharedName : `${P}-${via}-${w}-${i}`;
        const value = randomValue(`${via}${w}.${i}`);
        if (!sent.has(name)) sent.set(name, new Set());
        sent.get(name)!.add(value);
        const signal = AbortSignal.timeout(HANG_MS);
        try {
          const r = await client.setSecret(name, value, { abortSignal: signal });
          assert.equal(r.value, value, `setSecret ${name} through ${via} answered another value`);
          writes.push({ via, name, value, ok: true, version: r.properties.version, settledAt: performance.now() });
          acks[via]++;
          if (Object.values(acks).every((n) => n >= KILL_AFTER_ACKS)) onKillThreshold();
        } catch (e) {
          writes.push({ via, name, value, ok: false, error: errorText(e), aborted: signal.aborted, settledAt: performance.now() });
          if (via === "B") return; // B is gone: this worker stops
        }
      }
    };

    const started = performance.now();
    const storm = Promise.all([
      ...Array.from({ length: WORKERS }, (_, w) => worker("A", ca, w)),
      ...Array.from({ length: WORKERS }, (_, w) => worker("B", cb, w)),
      ...Array.from({ length: WORKERS }, (_, w) => worker("C", cc, w)),
    ]);
    let giveUp: NodeJS.Timeout | undefined;
    await Promise.race([killThreshold, new Promise<void>((r) => (giveUp = setTimeout(r, 60_000)))]);
    clearTimeout(giveUp);
    assert.ok(
      Object.values(acks).every((n) => n >= KILL_AFTER_ACKS),
      `not ${KILL_AFTER_ACKS} writes through each process resolved within 60 s of the storm's start: ${JSON.stringify(acks)}`,
    );
    const atKill = { A: writes.filter((x) => x.via === "A").length, C: writes.filter((x) => x.via === "C").length };
    killedAt = performance.now();
    await b.kill();
    await storm;
    const ended = performance.now();

    const of = (via: Write["via"]) => writes.filter((x) => x.via === via);
    const acked = writes.filter((x) => x.ok);
    const bLate = of("B").filter((x) => !x.ok);
    t.diagnostic(
      `storm ${Math.round(ended - started)} ms; B killed at +${Math.round(killedAt - started)} ms, when A had ${atKill.A} and C ${atKill.C} calls settled; ` +
        (["A", "B", "C"] as const)
          .map((v) => `${v}: ${of(v).filter((x) => x.ok).length} ok / ${of(v).filter((x) => !x.ok).length} failed`)
          .join(", ") +
        `; ${acked.filter((x) => x.name === sharedName).length} acknowledged writes to the shared name`,
    );

    // A and C went on through the kill, and none of their calls failed.
    for (const via of ["A", "C"] as const) {
      const failed = of(via).filter((x) => !x.ok);
      assert.equal(
        failed.length,
        0,
        `${failed.length} writes through ${via} failed: ${failed
          .slice(0, 5)
          .map((x) => `${x.name}: ${x.error}`)
          .join("; ")}`,
      );
      const afterKill = of(via).filter((x) => x.settledAt > killedAt!).length;
      assert.ok(
        afterKill >= WORKERS,
        `only ${afterKill} writes through ${via} settled after B was killed; the storm did not go on around the kill`,
      );
    }
    // Every call to B that had not resolved failed, and fast: none hung until its abort signal.
    assert.ok(bLate.length > 0, "no call to B failed: B was not killed in the middle of the storm");
    const hung = bLate.filter((x) => x.aborted);
    assert.equal(
      hung.length,
      0,
      `${hung.length} calls to B hung until their ${HANG_MS} ms abort signal: ${hung
        .slice(0, 3)
        .map((x) => x.error)
        .join("; ")}`,
    );
    const slowest = Math.max(...bLate.map((x) => x.settledAt - killedAt!));
    assert.ok(slowest < 10_000, `the last failing call to B settled ${Math.round(slowest)} ms after the kill`);
    const reasons = new Map<string, number>();
    for (const x of bLate) {
      const key = /ECONNRESET|ECONNREFUSED|socket hang up|EPIPE|other side closed/.exec(x.error ?? "")?.[0] ?? (x.error ?? "").slice(0, 80);
      reasons.set(key, (reasons.get(key) ?? 0) + 1);
    }
    t.diagnostic(
      `${bLate.length} calls to B failed, the last ${Math.round(slowest)} ms after the kill: ${[...reasons].map(([k, n]) => `${n} x ${k}`).join(", ")}`,
    );

    // Every acknowledged write, through A and through C: its value under its version; for a name
    // written once, also as the latest.
    const readA = await warmSecretClient(a);
    const readC = await warmSecretClient(c);
    const mismatches: string[] = [];
    await inBatches(acked, 20, async (x) => {
      for (const [label, client] of [
        ["A", readA],
        ["C", readC],
      ] as const) {
        try {
          const got = await client.getSecret(x.name, { version: x.version });
          if (got.value !== x.value)
            mismatches.push(`${x.name}/${x.version} (written through ${x.via}) read through ${label}: another value`);
          if (x.name !== sharedName) {
            const latest = await client.getSecret(x.name);
            if (latest.properties.version !== x.version || latest.value !== x.value)
              mismatches.push(
                `${x.name} (written through ${x.via}) read through ${label}: latest is ${latest.properties.version}, not ${x.version}`,
              );
          }
        } catch (e) {
          mismatches.push(`${x.name}/${x.version} (written through ${x.via}) read through ${label}: ${errorText(e)}`);
        }
      }
    });
    assert.equal(
      mismatches.length,
      0,
      `${mismatches.length} acknowledged writes are not there as acknowledged:\n${mismatches.slice(0, 10).join("\n")}`,
    );

    // Every version of every name the storm touched is whole: readable, and holding a value the
    // test sent for that name. Versions not acknowledged may exist (a write through B committed
    // before its answer was lost), but only with values sent through B.
    const listed = (await collect(readA.listPropertiesOfSecrets())).map((p) => p.name).filter((n) => n.startsWith(`${P}-`));
    const ackedNames = new Set(acked.map((x) => x.name));
    const missing = [...ackedNames].filter((n) => !listed.includes(n));
    assert.equal(
      missing.length,
      0,
      `acknowledged names missing from listPropertiesOfSecrets through A: ${missing.slice(0, 10).join(", ")}`,
    );
    const strangers = listed.filter((n) => !sent.has(n));
    assert.equal(strangers.length, 0, `names listed that the test never wrote: ${strangers.join(", ")}`);
    const ackedVersions = new Set(acked.map((x) => `${x.name}/${x.version}`));
    const failedBValues = new Set(bLate.map((x) => x.value));
    const problems: string[] = [];
    let versionCount = 0;
    let committedUnacknowledged = 0;
    await inBatches(listed, 10, async (name) => {
      const versions = await collect(readC.listPropertiesOfSecretVersions(name));
      for (const v of versions) {
        versionCount++;
        try {
          const got = await readA.getSecret(name, { version: v.version });
          if (!sent.get(name)!.has(got.value ?? "")) problems.push(`${name}/${v.version}: a value the test never sent for it`);
          else if (!ackedVersions.has(`${name}/${v.version}`)) {
            committedUnacknowledged++;
            if (!failedBValues.has(got.value!)) problems.push(`${name}/${v.version}: not acknowledged, yet not from a failed call to B`);
          }
        } catch (e) {
          problems.push(`${name}/${v.version}: listed (through C) but not readable (through A): ${errorText(e)}`);
        }
      }
      const mine = acked.filter((x) => x.name === name).map((x) => x.version);
      const notListed = mine.filter((version) => !versions.some((v) => v.version === version));
      if (notListed.length) problems.push(`${name}: acknowledged versions not listed through C: ${notListed.join(", ")}`);
    });
    assert.equal(problems.length, 0, `${problems.length} problems with the stored versions:\n${problems.slice(0, 10).join("\n")}`);
    t.diagnostic(
      `${listed.length} names and ${versionCount} versions listed, all whole; ${acked.length} acknowledged, ${committedUnacknowledged} committed though their call to B failed`,
    );

    // B comes back (new port) and sees the storm as A and C do.
    b = await group.start(bDir);
    const readB = await warmSecretClient(b);
    const lastShared = await readA.getSecret(sharedName);
    const throughB = await readB.getSecret(sharedName);
    assert.equal(
      throughB.properties.version,
      lastShared.properties.version,
      `the restarted B reads ${sharedName} at ${throughB.properties.version}, A at ${lastShared.properties.version}`,
    );
    assert.equal(throughB.value, lastShared.value, `the restarted B reads another value of ${sharedName} than A`);
  },
);

// ---------------------------------------------------------------------------------------
// Three schedulers, one rotation policy.

const auditLines = (server: Lockbox): Array<Record<string, any>> => {
  const file = join(server.dataDir, "audit.log");
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, any>);
};

/** Waits until every process's dev clock reached `target`, then has each run its due work once (POST advance 0 answers after that). */
async function allCaughtUp(target: number): Promise<void> {
  for (const [label, s] of members()) {
    await eventually(`process ${label}'s clock reaching ${target}`, 5_000, async () => {
      const now = await clockNow(s);
      assert.ok(now >= target, `process ${label}'s clock is at ${now}, not yet ${target}`);
    });
  }
  // Only once it follows: advancing by 0 stores the process's own offset.
  for (const [, s] of members()) await advanceClock(s, 0);
}

test(
  "three schedulers, one rotation policy: 31 days on the dev clock give each key exactly one new version and one KeyRotateIfDue across the three audit logs",
  LIMIT,
  async (t) => {
    const keys = Object.fromEntries(members().map(([label, s]) => [label, new KeyClient(s.vaultUrl(), credential)])) as Record<
      "A" | "B" | "C",
      KeyClient
    >;
    const labels = ["A", "B", "C"] as const;
    // Several keys fall due at once, so that A's pass (A runs its due work as the clock moves)
    // is still rotating when B's and C's one-second ticks find the same work due.
    const KEYS = 6;
    const prefix = `scale-rotation-${hex()}`;
    const names = Array.from({ length: KEYS }, (_, i) => `${prefix}-${i}`);
    const rotationsOf = (name: string): Array<{ process: string; line: Record<string, any> }> =>
      members().flatMap(([label, s]) =>
        auditLines(s)
          .filter((l) => l.operationName === "KeyRotateIfDue" && String(l.properties?.id ?? "").includes(`/keys/${name}/`))
          .map((line) => ({ process: label, line })),
      );
    const versionsThrough = async (label: "A" | "B" | "C", name: string) => collect(keys[label].listPropertiesOfKeyVersions(name));
    const policy = { expiresIn: "P90D", lifetimeActions: [{ action: "Rotate" as const, timeAfterCreate: "P30D" }] };

    // Created through A, B and C in turn; the policy set through the next one, read through the one after.
    const first = new Map<string, string>();
    for (const [i, name] of names.entries()) {
      const created = await keys[labels[i % 3]!].createRsaKey(name);
      first.set(name, created.properties.version!);
      await keys[labels[(i + 1) % 3]!].updateKeyRotationPolicy(name, policy);
      const read = await keys[labels[(i + 2) % 3]!].getKeyRotationPolicy(name);
      // (Azure adds its default Notify 30 days before expiry; the Rotate action is the one set.)
      const rotate = read.lifetimeActions?.filter((x) => x.action === "Rotate") ?? [];
      assert.deepEqual(
        rotate.map((x) => [x.timeAfterCreate, x.timeBeforeExpiry]),
        [["P30D", undefined]],
        `${name}: the policy set through ${labels[(i + 1) % 3]}, read through ${labels[(i + 2) % 3]}: ${JSON.stringify(read.lifetimeActions)}`,
      );
      assert.equal(read.expiresIn, "P90D", `${name}: the policy's expiresIn is ${read.expiresIn}`);
    }

    const startedMs = performance.now();
    const moved = await advanceClock(a, 31 * DAY);
    const postMs = performance.now() - startedMs;
    await eventually(`a second version of each of the ${KEYS} keys (through C)`, 15_000, async () => {
      for (const name of names) {
        const versions = await versionsThrough("C", name);
        assert.ok(versions.length >= 2, `${name}: ${versions.length} version(s) after 31 days`);
      }
    });
    const appearedMs = performance.now() - startedMs;

    // Every scheduler had its chance: every clock followed, and every process then ended two
    // more scheduler runs.
    await allCaughtUp(moved);
    for (const [, s] of members()) await schedulerRan(s);
    const rotatedBy: string[] = [];
    for (const name of names) {
      for (const label of labels) {
        const versions = await versionsThrough(label, name);
        assert.equal(
          versions.length,
          2,
          `${name} has ${versions.length} versions listed through ${label} after 31 days, not 2: ${versions.map((v) => v.version).join(", ")}`,
        );
      }
      const latest = await keys.B.getKey(name);
      assert.notEqual(latest.properties.version, first.get(name), `${name}: the latest version through B is still the first`);
      const expires = Math.floor(latest.properties.expiresOn!.getTime() / 1000);
      assert.ok(
        Math.abs(expires - (moved + 90 * DAY)) <= 120,
        `${name}: the rotated version expires at ${expires}, not about ${moved} + 90 days`,
      );
      const once = rotationsOf(name);
      assert.equal(
        once.length,
        1,
        `KeyRotateIfDue for ${name} appears ${once.length} times across the three audit logs: ${JSON.stringify(once)}`,
      );
      assert.equal(once[0]!.line.resultType, "Success", `${name}: the KeyRotateIfDue entry: ${JSON.stringify(once[0]!.line)}`);
      assert.ok(
        String(once[0]!.line.properties.id).endsWith(`/keys/${name}/${latest.properties.version}`),
        `${name}: the KeyRotateIfDue entry names ${once[0]!.line.properties.id}, not the new version ${latest.properties.version}`,
      );
      rotatedBy.push(once[0]!.process);
    }

    // One more day, moved through C this time: nothing more is due.
    const later = await advanceClock(c, DAY);
    await allCaughtUp(later);
    for (const [, s] of members()) await schedulerRan(s);
    for (const name of names) {
      for (const label of labels) {
        const versions = await versionsThrough(label, name);
        assert.equal(versions.length, 2, `${name} has ${versions.length} versions listed through ${label} after 32 days, not 2`);
      }
      const still = rotationsOf(name);
      assert.equal(
        still.length,
        1,
        `KeyRotateIfDue for ${name} appears ${still.length} times after one more day: ${JSON.stringify(still)}`,
      );
    }
    const all = members().flatMap(([label, s]) =>
      auditLines(s)
        .filter((l) => l.operationName === "KeyRotateIfDue" && String(l.properties?.id ?? "").includes(`/keys/${prefix}-`))
        .map(() => label),
    );
    assert.equal(all.length, KEYS, `${all.length} KeyRotateIfDue entries for the ${KEYS} keys across the three audit logs`);
    t.diagnostic(
      `POST /clock to A answered after ${Math.round(postMs)} ms; every key had its new version listed ${Math.round(appearedMs)} ms after it began; rotated by: ${rotatedBy.join(", ")}`,
    );
  },
);

test(
  "three schedulers, one AutoRenew policy: a certificate due for renewal gets one new version, with its key and secret, and one CertificateAutoRenew across the three audit logs",
  LIMIT,
  async () => {
    const certificates = Object.fromEntries(
      members().map(([label, s]) => [label, new CertificateClient(s.vaultUrl(), credential)]),
    ) as Record<"A" | "B" | "C", CertificateClient>;
    const labels = ["A", "B", "C"] as const;
    const prefix = `scale-renewal-${hex()}`;
    const names = labels.map((_, i) => `${prefix}-${i}`);
    // One month of validity, renewed at half of it: due about 15 days after issue.
    const policy = {
      issuerName: "Self",
      subject: "CN=renewed.contoso.test",
      validityInMonths: 1,
      lifetimeActions: [{ action: "AutoRenew" as const, lifetimePercentage: 50 }],
    };
    const first = new Map<string, string>();
    for (const [i, name] of names.entries()) {
      const made = await (await certificates[labels[i]!].beginCreateCertificate(name, policy)).pollUntilDone();
      first.set(name, made.properties.version!);
    }
    const renewalsOf = (name: string): string[] =>
      members().flatMap(([label, s]) =>
        auditLines(s)
          .filter((l) => l.operationName === "CertificateAutoRenew" && String(l.properties?.id ?? "").includes(`/certificates/${name}/`))
          .map(() => label),
      );
    const versionsThrough = (label: "A" | "B" | "C", name: string) =>
      collect(certificates[label].listPropertiesOfCertificateVersions(name));

    const moved = await advanceClock(b, 16 * DAY);
    await eventually("a second version of each certificate (through A)", 15_000, async () => {
      for (const name of names) assert.equal((await versionsThrough("A", name)).length, 2, `${name} after 16 days`);
    });
    await allCaughtUp(moved);
    for (const [, s] of members()) await schedulerRan(s);
    const secrets = new SecretClient(c.vaultUrl(), credential);
    const keys = new KeyClient(a.vaultUrl(), credential);
    for (const name of names) {
      for (const label of labels) {
        const versions = await versionsThrough(label, name);
        assert.equal(versions.length, 2, `${name} has ${versions.length} versions through ${label}, not 2`);
      }
      const latest = await certificates.C.getCertificate(name);
      assert.notEqual(latest.properties.version, first.get(name));
      assert.equal((await secrets.getSecret(name)).properties.version, latest.properties.version, `${name}: the secret follows`);
      assert.equal((await secrets.getSecret(name)).properties.previousVersion, first.get(name));
      assert.equal((await keys.getKey(name)).properties.version, latest.properties.version, `${name}: the key follows`);
      const renewals = renewalsOf(name);
      assert.equal(renewals.length, 1, `CertificateAutoRenew for ${name} in the audit logs of: ${renewals.join(", ")}`);
    }
  },
);

// ---------------------------------------------------------------------------------------
// Writes of different names do not wait for each other across processes; writes of one name
// take turns, and each is a version of its own.

/** Each client calls `write(i)` for i in 0..count-1, `width` at a time; all the results. */
async function writeThrough<R>(clients: SecretClient[], count: number, width: number, write: (c: SecretClient, i: number) => Promise<R>) {
  return Promise.all(clients.map((client) => inBatches([...Array(count).keys()], width, (i) => write(client, i))));
}

test(
  "writers on distinct names through A, B and C all commit; writers on one name make exactly as many versions, each writer's in its order",
  LIMIT,
  async (t) => {
    // maxRetries 0: a retried PUT that had committed would add a version the test did not count.
    const clients = await Promise.all(members().map(([, s]) => warmSecretClient(s, { retryOptions: { maxRetries: 0 } })));
    const run = hex();
    const distinct = await writeThrough(clients, 40, 8, async (client, i) => {
      const name = `distinct-${run}-${clients.indexOf(client)}-${i}`;
      return { name, version: (await client.setSecret(name, randomValue(name))).properties.version };
    });
    const listed = new Set(
      (await collect(clients[0]!.listPropertiesOfSecrets())).map((p) => p.name).filter((n) => n.startsWith(`distinct-${run}-`)),
    );
    assert.equal(listed.size, 120, `${listed.size} of the 120 secrets written through A, B and C are listed`);
    for (const { name, version } of distinct.flat()) assert.ok(listed.has(name) && version, `${name} is missing`);

    // Three writers per process, each writing its values in order on one name.
    const shared = `one-name-${run}`;
    const written = await Promise.all(
      clients.flatMap((client, p) =>
        [0, 1, 2].map(async (w) => {
          const versions: string[] = [];
          for (let i = 0; i < 10; i++) versions.push((await client.setSecret(shared, `${p}-${w}-${i}`)).properties.version!);
          return versions;
        }),
      ),
    );
    const versions = await collect(clients[1]!.listPropertiesOfSecretVersions(shared));
    assert.equal(versions.length, 90, `${shared} has ${versions.length} versions, not the 90 written`);
    const acknowledged = new Set(written.flat());
    assert.equal(acknowledged.size, 90, "every write was acknowledged with a version of its own");
    for (const v of versions) assert.ok(acknowledged.has(v.version!), `version ${v.version} was never acknowledged`);
    // Listed oldest first, each writer's values come in the order it wrote them.
    const values = await inBatches(versions, 16, async (v) => (await clients[2]!.getSecret(shared, { version: v.version })).value!);
    const order = new Map<string, number[]>();
    for (const value of values) {
      const [p, w, i] = value.split("-");
      order.set(`${p}-${w}`, [...(order.get(`${p}-${w}`) ?? []), Number(i)]);
    }
    for (const [writer, seen] of order) assert.deepEqual(seen, [...Array(10).keys()], `writer ${writer}'s versions are out of order`);
    assert.equal((await clients[0]!.getSecret(shared)).value, values.at(-1), "the latest is the last written");

    // Five names written at once by all three, each process in another order: the transactions
    // that group them take their turns in one order, so none waits on another that waits on it.
    const crossed = [0, 1, 2, 3, 4].map((n) => `crossed-${run}-${n}`);
    await Promise.all(
      clients.map(async (client, p) => {
        for (let round = 0; round < 4; round++) {
          const mine = p === 1 ? [...crossed].reverse() : [...crossed.slice(p), ...crossed.slice(0, p)];
          await Promise.all(mine.map((name) => client.setSecret(name, `${p}-${round}`)));
        }
      }),
    );
    for (const name of crossed) {
      assert.equal((await collect(clients[0]!.listPropertiesOfSecretVersions(name))).length, 12, `${name}: 3 processes x 4 rounds`);
    }
    t.diagnostic("120 distinct names through A, B and C; 90 versions of one name by 9 writers, in order");
  },
);

test(
  "while a transaction of one name holds its turn, writes of other names through A, B and C go on, and the waiting write commits after it",
  LIMIT,
  async () => {
    const clients = await Promise.all(members().map(([, s]) => warmSecretClient(s, { retryOptions: { maxRetries: 0 } })));
    const held = `held-${hex()}`;
    // The test is the other writer: a transaction holding the locks a write of `held` takes.
    const other = new pg.Client({ connectionString: group.url });
    await other.connect();
    try {
      await other.query(beginStatement([{ vault: "default", name: held }]));
      let settled = false;
      const waiting = clients[0]!.setSecret(held, "after-the-turn").finally(() => (settled = true));
      await eventually("A's write of the held name waits for its lock", 10_000, async () => {
        const r = await other.query("SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted");
        assert.equal(r.rows[0].n, 1);
      });
      const others = await Promise.all(
        clients.slice(1).flatMap((client, p) => [0, 1, 2, 3].map((i) => client.setSecret(`beside-${held}-${p}-${i}`, "v"))),
      );
      assert.equal(others.length, 8);
      assert.equal(settled, false, "the write of the held name waited for the transaction that holds it");
      await other.query("COMMIT");
      assert.equal((await waiting).value, "after-the-turn");
      assert.equal((await clients[2]!.getSecret(held)).value, "after-the-turn");
    } finally {
      await other.end();
    }
  },
);

// ---------------------------------------------------------------------------------------

test("a role removed through A is refused through A, B and C within a second", LIMIT, async (t) => {
  const spName = `scale-reader-${hex()}`;
  const sp = JSON.parse(group.cli(a.dataDir, "sp", "create", spName, "--json")) as {
    objectId: string;
    clientId: string;
    clientSecret: string;
    tenantId: string;
  };
  assert.equal(sp.tenantId, a.env.TENANT_ID, `the service principal's tenant ${sp.tenantId} is not the processes' ${a.env.TENANT_ID}`);
  group.cli(b.dataDir, "role", "assign", "--vault", "default", "--assignee", spName, "--role", "Key Vault Secrets User");

  const probe = `role-probe-${hex()}`;
  const value = randomValue("probe");
  await (await warmSecretClient(a)).setSecret(probe, value);

  // One credential, with A as its authority: its token is used at all three.
  const spCredential = new ClientSecretCredential(sp.tenantId, sp.clientId, sp.clientSecret, {
    authorityHost: `https://127.0.0.1:${a.port}`,
    disableInstanceDiscovery: true,
  });
  assert.ok((await spCredential.getToken(SCOPE)).token, "the service principal got no token");
  const clients = members().map(([label, s]) => ({
    label,
    client: new SecretClient(s.vaultUrl(), spCredential, { retryOptions: { maxRetries: 0 } }),
  }));
  for (const { label, client } of clients) {
    const got = await client.getSecret(probe);
    assert.equal(got.value, value, `the service principal reads another value of ${probe} through ${label}`);
  }

  const token = await developerToken(a);
  const list = await raw(a, { path: "/lockbox/v1/vaults/default/roleassignments", token });
  assert.equal(list.status, 200, `GET roleassignments through A: ${list.status} ${list.text}`);
  const assignment = (list.json.value as Array<{ id: string; principal: string; role: string }>).find((x) => x.principal === sp.objectId);
  assert.ok(assignment, `no role assignment for ${spName} (${sp.objectId}) listed through A: ${list.text}`);
  assert.equal(assignment.role, "Key Vault Secrets User", `the assignment listed is ${assignment.role}`);

  // Each process is polled every 100 ms, from before the removal (so its grant cache is hot)
  // until 3 s after the removal was acknowledged. The promise is a second at most (the grant
  // cache's lifetime, even if a change notice were lost); the bound asserted leaves half a
  // second more for the polls themselves to be scheduled on a loaded machine.
  const REFUSED_WITHIN_MS = 1_500;
  type Outcome = { sentMs: number; answeredMs: number; allowed: boolean };
  let removedAt: number | undefined;
  // When the removal is acknowledged, each poller's pause ends at once: its next call goes out right then.
  let onRemoved!: () => void;
  const removal = new Promise<void>((r) => (onRemoved = r));
  let stop = false;
  const seen: Outcome[][] = clients.map(() => []);
  const poll = async (client: SecretClient, outcomes: Outcome[]): Promise<Outcome[]> => {
    while (!stop) {
      const sentMs = performance.now();
      let allowed: boolean;
      try {
        const got = await client.getSecret(probe);
        assert.equal(got.value, value, `getSecret ${probe} answered another value`);
        allowed = true;
      } catch (e) {
        const err = e as { statusCode?: number; code?: string };
        if (err.statusCode !== 403 || err.code !== "Forbidden") throw e;
        allowed = false;
      }
      const answeredMs = performance.now();
      outcomes.push({ sentMs, answeredMs, allowed });
      if (removedAt !== undefined && answeredMs - removedAt > 3_000) break;
      const pause = sleep(Math.max(0, 100 - (answeredMs - sentMs)));
      await (removedAt === undefined ? Promise.race([pause, removal]) : pause);
    }
    return outcomes;
  };
  const polls = clients.map(({ client }, i) => poll(client, seen[i]!));
  for (const p of polls) p.catch(() => undefined); // a failure is reported by Promise.all below, not as unhandled
  let results: Outcome[][];
  try {
    // Two allowed calls through each first: its cache holds the grant.
    await eventually("two allowed calls through each process", 10_000, async () => {
      clients.forEach(({ label }, i) =>
        assert.ok(seen[i]!.filter((o) => o.allowed).length >= 2, `${label}: fewer than two allowed calls so far`),
      );
    });
  } catch (e) {
    stop = true;
    await Promise.allSettled(polls);
    throw e;
  }
  const sentAt = performance.now();
  const removed = await raw(a, { method: "DELETE", path: `/lockbox/v1/vaults/default/roleassignments/${assignment.id}`, token });
  removedAt = performance.now();
  onRemoved();
  try {
    assert.equal(removed.status, 204, `DELETE roleassignments/${assignment.id} through A: ${removed.status} ${removed.text}`);
    results = await Promise.all(polls);
  } finally {
    stop = true;
    await Promise.allSettled(polls);
  }

  const figures: string[] = [];
  clients.forEach(({ label }, i) => {
    const outcomes = results[i]!;
    const rel = (ms: number): number => Math.round(ms - removedAt!);
    assert.ok(
      outcomes.some((o) => o.allowed && o.answeredMs < sentAt),
      `${label}: no allowed call before the removal`,
    );
    const firstRefused = outcomes.findIndex((o) => !o.allowed);
    assert.ok(firstRefused >= 0, `${label}: getSecret still allowed 3 s after the removal was acknowledged (${outcomes.length} calls)`);
    const refused = outcomes[firstRefused]!;
    // The grant's end is no later than when the first refused call was sent.
    assert.ok(
      refused.sentMs - removedAt! <= REFUSED_WITHIN_MS,
      `${label}: the first refused call was sent ${rel(refused.sentMs)} ms after the removal was acknowledged`,
    );
    const flips = outcomes.slice(firstRefused).filter((o) => o.allowed);
    assert.equal(flips.length, 0, `${label}: allowed again after being refused (${flips.map((o) => `+${rel(o.sentMs)} ms`).join(", ")})`);
    const lastAllowed = outcomes.slice(0, firstRefused).at(-1);
    figures.push(
      `${label}: last allowed call answered at ${lastAllowed ? `${rel(lastAllowed.answeredMs)} ms` : "-"}, first refused call sent at ${rel(refused.sentMs)} ms and answered at ${rel(refused.answeredMs)} ms`,
    );
  });
  t.diagnostic(`relative to the DELETE's 204 through A (the DELETE took ${Math.round(removedAt - sentAt)} ms): ${figures.join("; ")}`);
});

// ---------------------------------------------------------------------------------------

test(
  "three processes started at the same moment on a new, empty database all come up: one schema, one default vault, one developer identity, one tenant",
  LIMIT,
  async (t) => {
    const fresh = new Group([]);
    t.after(() => fresh.stopAll());
    const dirs = [fresh.newDir(), fresh.newDir(), fresh.newDir()];
    const startedMs = performance.now();
    const settled = await Promise.allSettled(dirs.map((dir) => fresh.start(dir)));
    const failures = settled.flatMap((s, i) => (s.status === "rejected" ? [`process ${i}: ${String(s.reason).slice(0, 2000)}`] : []));
    assert.equal(failures.length, 0, `not every process came up:\n${failures.join("\n")}`);
    const servers = settled.map((s) => (s as PromiseFulfilledResult<Lockbox>).value);
    t.diagnostic(`all three listening ${Math.round(performance.now() - startedMs)} ms after they were started together`);

    for (const [i, s] of servers.entries()) {
      assert.equal(s.env.IDENTITY_HEADER, servers[0]!.env.IDENTITY_HEADER, `process ${i} prints another IDENTITY_HEADER than process 0`);
      assert.equal(s.env.TENANT_ID, servers[0]!.env.TENANT_ID, `process ${i} prints another TENANT_ID than process 0`);
    }

    const db = new pg.Client({ connectionString: fresh.url });
    await db.connect();
    try {
      const applied = (await db.query<{ version: number }>("SELECT version FROM schema_migrations ORDER BY version")).rows.map((r) =>
        Number(r.version),
      );
      assert.deepEqual(
        applied,
        migrations.map((m) => m.version),
        `schema_migrations holds ${JSON.stringify(applied)}`,
      );
      const vaults = (await db.query<{ name: string }>("SELECT name FROM vaults")).rows.map((r) => r.name);
      assert.deepEqual(vaults, ["default"], `the vaults table holds ${JSON.stringify(vaults)}`);
      const developers = (await db.query<{ n: string }>("SELECT count(*) AS n FROM identities WHERE name = 'developer'")).rows[0]!.n;
      assert.equal(Number(developers), 1, `${developers} developer identities`);
      const identities = (await db.query<{ n: string }>("SELECT count(*) AS n FROM identities")).rows[0]!.n;
      assert.equal(Number(identities), 1, `${identities} identities on a new database`);
      const tenant = (await db.query<{ v: string }>("SELECT v FROM meta WHERE k = 'tenant_id'")).rows.map((r) => r.v);
      assert.deepEqual(tenant, [servers[0]!.env.TENANT_ID], `meta tenant_id is ${JSON.stringify(tenant)}`);
    } finally {
      await db.end();
    }

    // A token from each process works at every process.
    for (const [i, issuer] of servers.entries()) {
      const token = await developerToken(issuer);
      for (const [j, s] of servers.entries()) {
        const r = await raw(s, { path: "/secrets?api-version=7.6", host: `default.vault.localhost:${s.port}`, token });
        assert.equal(r.status, 200, `a token from process ${i} at process ${j}: ${r.status} ${r.text}`);
      }
    }
  },
);

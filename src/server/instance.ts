import { createPrivateKey, randomBytes, randomUUID, X509Certificate, type KeyObject } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Keyring, KEY_BYTES, parseRootKey } from "../crypto/envelope.ts";
import { SealedSetting } from "../crypto/settings.ts";
import { Identities } from "../identity/identities.ts";
import { MEMORY, SqliteStore } from "../store/sqlite/engine.ts";
import { PostgresStore } from "../store/postgres/engine.ts";
import { storageOf, withoutPassword, type Storage } from "./config.ts";
import type { Store } from "../store/store.ts";
import type { CommitObserver } from "../store/group.ts";
import type { CacheObserver } from "../kernel/cache.ts";
import { systemClock, type Clock } from "../kernel/clock.ts";
import { StoredDevClock } from "../vault/devclock.ts";
import { ScheduledLifecycle } from "../scheduler/planning.ts";
import { UpcomingWork } from "../scheduler/upcoming.ts";
import { webhookRotator } from "../webhooks/send.ts";
import { Subscriptions } from "../events/subscriptions.ts";
import { AccessControl } from "../authz/access.ts";
import { CertificateService, type CertificateAuthority } from "../vault/certificates.ts";
import { CertificateSettings } from "../vault/issuers.ts";
import { SecretService } from "../vault/secrets.ts";
import { KeyService } from "../vault/keys.ts";
import { CryptoPool } from "../crypto/pool.ts";
import { DEFAULT_VAULT, Vaults } from "../vault/vaults.ts";
import { newLocalCa, type CaPem, type SharedCa } from "./tls.ts";
import { KvError } from "../kernel/errors.ts";
import { prepareDataDir, readMarker, writeMarker } from "./datadir.ts";

export const DEVELOPER_IDENTITY = "developer";
const DEVELOPER_HEADER_META = "developer_identity_header";
const DEVELOPER_HEADER_AAD = "lockbox/v1/developer-identity-header";
const LOCAL_CA_META = "local_ca";
const LOCAL_CA_AAD = "lockbox/v1/local-ca-key";

/** One Lockbox instance's state: its store, keys and services. Used by `serve` and the CLI. */
export interface Instance {
  dataDir: string;
  store: Store;
  keyring: Keyring;
  clock: Clock;
  tenantId: string;
  vaults: Vaults;
  identities: Identities;
  secrets: SecretService;
  keys: KeyService;
  certificates: CertificateService;
  /** A vault's certificate contacts and issuers. */
  certificateSettings: CertificateSettings;
  subscriptions: Subscriptions;
  access: AccessControl;
  /** What the scheduler has still to do: pending actions and purges, soonest first. */
  upcoming: UpcomingWork;
  /** Present when time is the dev clock (`serve --dev-clock`, and the CLI on its data directory). */
  devClock?: StoredDevClock;
  /** The local CA, kept in the store for every process that shares it (its key sealed by the root key). */
  sharedCa: SharedCa;
  /** The developer identity's IDENTITY_HEADER value. */
  developerHeader(): Promise<string>;
  close(): Promise<void>;
}

const ROOT_KEY_CHECK_META = "root_key_check";
const ROOT_KEY_CHECK_AAD = "lockbox/v1/root-key-check";

/**
 * The root key: LOCKBOX_ROOT_KEY from the environment (then never written anywhere), or
 * `<dataDir>/root.key`, made with mode 0600 when the store is new. A store that has data
 * but no key is refused, never given a new one.
 */
async function loadRootKey(dataDir: string, store: Store, where: string, env: NodeJS.ProcessEnv): Promise<Buffer> {
  if (env.LOCKBOX_ROOT_KEY) return parseRootKey(env.LOCKBOX_ROOT_KEY);
  const file = join(dataDir, "root.key");
  if (!existsSync(file)) {
    if (await store.read((repo) => repo.getMeta(ROOT_KEY_CHECK_META))) {
      throw new Error(`${where} has data but no root key: set LOCKBOX_ROOT_KEY, or put ${file} back.`);
    }
    writeFileSync(file, randomBytes(KEY_BYTES).toString("base64") + "\n", { mode: 0o600, flag: "wx" });
  }
  return parseRootKey(readFileSync(file, "utf8"));
}

/** The store, described without credentials, and (for SQLite) without the data directory's path, which may move. */
function describeStore(storage: Storage): string {
  if (storage.engine === "sqlite") return "the SQLite database lockbox.db in the data directory";
  if (storage.engine === "memory") return "an in-memory SQLite database";
  const url = new URL(storage.url);
  return `the PostgreSQL database ${url.pathname.slice(1) || url.username} on ${url.host}`;
}

/** The storage as the data directory records it: a PostgreSQL URL without its password. */
const recordOf = (storage: Storage): Storage =>
  storage.engine === "postgres" ? { engine: "postgres", url: withoutPassword(storage.url) } : storage;
const storageName = (storage: Storage): string =>
  storage.engine === "postgres"
    ? `PostgreSQL at ${withoutPassword(storage.url)}`
    : storage.engine === "memory"
      ? "an in-memory database"
      : "SQLite in the data directory";

function openStore(dataDir: string, storage: Storage, observer?: CommitObserver): Promise<Store> | Store {
  if (storage.engine === "postgres") return PostgresStore.open(storage.url, observer);
  return new SqliteStore(storage.engine === "memory" ? MEMORY : join(dataDir, "lockbox.db"), observer);
}

const INSTANCE_META = "instance_id";

/**
 * A store is never silently replaced: a first start is only a first start. An empty (or
 * missing) store is refused when the data directory says it belongs to an instance, or when
 * a root key was given (LOCKBOX_ROOT_KEY, or root.key in the data directory), since either
 * means there was a store; unless `init` says to begin a new instance.
 */
function refuseEmptyStore(dataDir: string, where: string, env: NodeJS.ProcessEnv, init: boolean): void {
  if (init) return;
  const marker = readMarker(dataDir);
  const startAgain = "If a new, empty instance is what you want, start it with `lockbox serve --init`.";
  if (marker) {
    throw new Error(
      `${dataDir} belongs to the Lockbox instance ${marker.instance}, kept in ${marker.store}, but ${where} is empty or missing: nothing was started or changed. Restore that store, or point Lockbox at it. ${startAgain}`,
    );
  }
  const keyFile = join(dataDir, "root.key");
  const key = env.LOCKBOX_ROOT_KEY ? "LOCKBOX_ROOT_KEY is set" : existsSync(keyFile) ? `${keyFile} exists` : undefined;
  if (key) {
    throw new Error(
      `${key}, so there was a store, but ${where} is empty or missing: nothing was started or changed. Restore the store, or point Lockbox at it. ${startAgain}`,
    );
  }
}

/** Proves the root key is this data directory's before anything is read or written with it. */
async function checkRootKey(store: Store, keyring: Keyring, where: string): Promise<void> {
  const check = new SealedSetting(store, keyring, ROOT_KEY_CHECK_META, ROOT_KEY_CHECK_AAD);
  try {
    if (await check.read()) return;
  } catch {
    throw new Error(`the root key given is not the one ${where} was made with; nothing was changed.`);
  }
  await check.keep(randomBytes(16));
}

/**
 * Opens (and on first start, initialises) the data directory: root key, database, tenant
 * id, the vault `default` and the developer managed identity, which may do everything.
 */
export interface InstanceOptions {
  /** true: time is the dev clock; false: real time (and any dev clock is forgotten); absent: as the data directory says. */
  devClock?: boolean;
  /** Default: from LOCKBOX_STORAGE and LOCKBOX_POSTGRES_URL, else SQLite in the data directory. */
  storage?: Storage;
  /** An empty store begins a new instance even where there was one (a root key, a data directory that names its instance). */
  init?: boolean;
  /**
   * Open only a store that exists (the CLI's commands other than serve and init): a data
   * directory with no Lockbox data is refused, and nothing is created.
   */
  existing?: boolean;
  /** Told of the store's transactions and the caches' lookups (the server's metrics). */
  observers?: { commits?: CommitObserver; cache?: CacheObserver };
  /** The server runs a process per core (`--workers N`): key operations are placed for that (crypto/pool.ts). */
  processPerCore?: boolean;
}

export async function openInstance(
  dataDir: string,
  env: NodeJS.ProcessEnv = process.env,
  options: InstanceOptions = {},
): Promise<Instance> {
  const recorded = readMarker(dataDir)?.storage;
  const storage = options.storage ?? storageOf({}, env, recorded);
  if (options.existing && recorded && storageName(recorded) !== storageName(storage))
    throw new Error(
      `the server of ${dataDir} uses ${storageName(recorded)}, but this command was pointed at ${storageName(storage)}: nothing was done. Unset LOCKBOX_STORAGE and LOCKBOX_POSTGRES_URL to follow the server, or give the same storage.`,
    );
  const where = storage.engine === "sqlite" ? `the SQLite database ${join(dataDir, "lockbox.db")}` : describeStore(storage);
  const noData = (): Error =>
    new Error(
      `${dataDir} holds no Lockbox data (${where} is missing or empty), and nothing was created. Give the --data-dir (or LOCKBOX_DATA_DIR, and LOCKBOX_POSTGRES_URL) of your server, or start one there first: lockbox serve --data-dir ${dataDir} (or lockbox init).`,
    );
  if (options.existing && storage.engine === "sqlite" && !existsSync(join(dataDir, "lockbox.db"))) throw noData();
  prepareDataDir(dataDir);
  // A missing SQLite file is refused before it is made (and before a stale WAL is replayed into it).
  if (storage.engine === "sqlite" && !existsSync(join(dataDir, "lockbox.db"))) refuseEmptyStore(dataDir, where, env, options.init ?? false);
  const store = await openStore(dataDir, storage, options.observers?.commits);
  const observeCache = options.observers?.cache;
  let keyring: Keyring;
  try {
    if (storage.engine === "memory") {
      // Always a new instance, written nowhere: no root key file, no instance.json (the data
      // directory then holds only the TLS files and the server's runtime state).
      keyring = new Keyring(env.LOCKBOX_ROOT_KEY ? parseRootKey(env.LOCKBOX_ROOT_KEY) : randomBytes(KEY_BYTES));
      await checkRootKey(store, keyring, where);
      await store.write((repo) => repo.keepMeta(INSTANCE_META, randomUUID()));
    } else {
      keyring = await openPersistent();
    }
  } catch (e) {
    await store.close();
    throw e;
  }

  /** The root key and the instance of a store kept on disk or in PostgreSQL, checked against the data directory's marker. */
  async function openPersistent(): Promise<Keyring> {
    if (!(await store.read((repo) => repo.getMeta(ROOT_KEY_CHECK_META)))) {
      if (options.existing) throw noData();
      refuseEmptyStore(dataDir, where, env, options.init ?? false);
    }
    const keyring = new Keyring(await loadRootKey(dataDir, store, where, env));
    await checkRootKey(store, keyring, where);
    const instanceId =
      (await store.read((repo) => repo.getMeta(INSTANCE_META))) ??
      (await store.write((repo) => repo.keepMeta(INSTANCE_META, randomUUID())));
    const marker = readMarker(dataDir);
    if (marker && marker.instance !== instanceId && !options.init) {
      throw new Error(
        `${dataDir} belongs to the Lockbox instance ${marker.instance}, kept in ${marker.store}, but ${where} holds the instance ${instanceId}: nothing was started or changed. Point Lockbox at the store of this data directory, or use a data directory of its own for the other store.`,
      );
    }
    const record = recordOf(storage);
    if (
      marker?.instance !== instanceId ||
      marker.store !== describeStore(storage) ||
      JSON.stringify(marker.storage) !== JSON.stringify(record)
    )
      writeMarker(dataDir, { instance: instanceId, store: describeStore(storage), storage: record });
    prepareDataDir(dataDir); // the files the store made just now
    return keyring;
  }
  const devClock = await StoredDevClock.open(store, options.devClock);
  const clock: Clock = devClock ?? systemClock;
  const lifecycle = new ScheduledLifecycle(clock);
  const vaults = new Vaults(store, keyring, clock, observeCache);
  const identities = new Identities(store, clock, observeCache);

  const tenantId =
    (await store.read((repo) => repo.getMeta("tenant_id"))) ?? (await store.write((repo) => repo.keepMeta("tenant_id", randomUUID())));
  // Several processes may initialise one PostgreSQL database at once: each step is a no-op
  // for all but the first.
  if (!(await vaults.find(DEFAULT_VAULT))) {
    await vaults.create(DEFAULT_VAULT).catch((e: unknown) => {
      if (!(e instanceof KvError && e.status === 409)) throw e;
    });
  }
  const developerHeader = new SealedSetting(store, keyring, DEVELOPER_HEADER_META, DEVELOPER_HEADER_AAD);
  if ((await developerHeader.stored()) === undefined) {
    const developer = identities.prepare(DEVELOPER_IDENTITY, "managed", { admin: true });
    await store.write(async (repo) => {
      if (await developerHeader.keepIn(repo, Buffer.from(developer.credential))) await repo.insertIdentity(developer.identity);
    });
  }

  // The local CA: its certificate in the clear, its key sealed.
  const caKey = new SealedSetting(store, keyring, LOCAL_CA_META, LOCAL_CA_AAD);
  const openCa = (stored: string): CaPem => {
    const { cert, key } = JSON.parse(stored) as CaPem;
    return { cert, key: caKey.open(key).toString("utf8") };
  };

  const sharedCa: SharedCa = {
    async load() {
      const stored = await caKey.stored();
      return stored === undefined ? undefined : openCa(stored);
    },
    async save(ca) {
      const stored = JSON.stringify({ cert: ca.cert, key: caKey.seal(Buffer.from(ca.key)) });
      return openCa(await store.write((repo) => repo.keepMeta(LOCAL_CA_META, stored)));
    },
  };
  // Issuers of provider Lockbox issue from the same CA, made here first when the server has
  // an operator's TLS certificate (every process keeps the first one saved).
  let caForIssuing: Promise<{ certificate: Buffer; key: KeyObject }> | undefined;
  const localCa: CertificateAuthority = () => {
    caForIssuing ??= (async () => {
      const pem = (await sharedCa.load()) ?? (await sharedCa.save(await newLocalCa()));
      return { certificate: Buffer.from(new X509Certificate(pem.cert).raw), key: createPrivateKey(pem.key) };
    })();
    caForIssuing.catch(() => (caForIssuing = undefined));
    return caForIssuing;
  };

  const access = new AccessControl(store, clock, observeCache);
  // Caches follow changes made by any process sharing the store. The dev clock's refresh is
  // returned, so that a request that syncs changes first (server/app.ts) sees the new time.
  store.onChange((topic) => {
    if (topic === "vaults") vaults.forget();
    else if (topic === "identities") identities.forget();
    else if (topic === "access") access.forget();
    else if (topic === "meta") return devClock?.refresh().catch(() => undefined);
  });

  const pool = new CryptoPool(options.processPerCore);
  const secrets = new SecretService(store, keyring, clock, webhookRotator(), lifecycle);
  const keys = new KeyService(store, keyring, clock, (request) => pool.run(request), lifecycle);
  const certificateSettings = new CertificateSettings(store, keyring, clock);
  return {
    dataDir,
    store,
    keyring,
    clock,
    tenantId,
    vaults,
    identities,
    secrets,
    keys,
    certificates: new CertificateService(store, keyring, clock, keys, secrets, certificateSettings, localCa, lifecycle),
    certificateSettings,
    subscriptions: new Subscriptions(store, clock, async (vault) => Boolean(await vaults.find(vault))),
    access,
    upcoming: new UpcomingWork(store, clock),
    devClock,
    sharedCa,
    async developerHeader() {
      return (await developerHeader.read())!.toString("utf8");
    },
    async close() {
      await pool.close();
      await store.close();
    },
  };
}

import { createHash } from "node:crypto";
import pg from "pg";
import { migrations } from "../migrations.ts";
import { GroupCommit, type CommitObserver } from "../group.ts";
import { SqlRepo, type Executor, type Row, type SqlValue } from "../sql.ts";
import { StoreUnavailable, type ChangeListener, type ChangeTopic, type Repo, type Store, type WriteScope } from "../store.ts";

const TOPICS: readonly ChangeTopic[] = ["vaults", "identities", "access", "meta"];
const CHANNEL = "lockbox_changes";
/**
 * The advisory lock every write transaction takes first: shared by a write with a scope,
 * exclusive by one without ("Lockbox" in ASCII).
 */
const WRITE_LOCK = "21479328318001528";
/** pg_advisory_lock key held while migrating. */
const MIGRATION_LOCK = "21479328318001529";
/** Connections for reads. */
const POOL_SIZE = 10;
/**
 * Write lanes: each a connection of its own with its own group commit, so that one process
 * has this many write transactions under way at once (a transaction is a few round trips
 * after another; one lane would make the whole process wait on each in turn).
 */
const WRITE_LANES = 2;

type Queryable = Pick<pg.Pool | pg.PoolClient, "query">;

/** A scope's advisory lock key: 64 bits of the SHA-256 of its vault and name (a collision only makes two scopes wait on each other). */
const scopeKey = (scope: WriteScope): bigint => createHash("sha256").update(`${scope.vault}\u0000${scope.name}`).digest().readBigInt64BE(0);

/**
 * BEGIN and a transaction's locks, in one round trip: the write lock, shared when the
 * transaction has scopes, and then each scope's lock, exclusive, in the order of their keys,
 * which every process follows, so no two transactions can each hold what the other awaits.
 * (The keys are numbers made here, never text from a request.)
 */
export function beginStatement(scopes: readonly WriteScope[] | undefined): string {
  if (!scopes) return `BEGIN; SELECT pg_advisory_xact_lock(${WRITE_LOCK})`;
  const keys = [...new Set(scopes.map(scopeKey))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return [`BEGIN; SELECT pg_advisory_xact_lock_shared(${WRITE_LOCK})`, ...keys.map((k) => `SELECT pg_advisory_xact_lock(${k})`)].join("; ");
}

/**
 * Errors that say the database could not be reached or went away (not that the request was
 * wrong) become StoreUnavailable: socket errors, SQLSTATE class 08 (connection exception)
 * and 57P01-57P03 (shutting down, cannot connect now), a connection ended mid-query; and
 * class 53 (insufficient resources: a full disk above all).
 */
function unavailable(e: unknown): never {
  const err = e as { code?: string; message?: string };
  const code = String(err?.code ?? "");
  // 53100 disk_full; 53200 out_of_memory and 53300 too_many_connections pass too.
  if (code === "53100") throw new StoreUnavailable(e, "full");
  if (code === "53200" || code === "53300") throw new StoreUnavailable(e, "busy");
  if (
    ["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH", "ENOTFOUND", "57P01", "57P02", "57P03"].includes(code) ||
    code.startsWith("08") ||
    /Connection terminated|Client has encountered a connection error|not queryable/i.test(err?.message ?? "")
  ) {
    throw new StoreUnavailable(e);
  }
  throw e;
}

/** The repository's portable SQL (`?` placeholders) turned into PostgreSQL's `$n`, once per statement. */
const statements = new Map<string, { name: string; text: string }>();
function statement(sql: string): { name: string; text: string } {
  let s = statements.get(sql);
  if (!s) {
    let n = 0;
    s = { name: `lockbox_${statements.size}`, text: sql.replace(/\?/g, () => `$${++n}`) };
    statements.set(sql, s);
  }
  return s;
}

class PgExecutor implements Executor {
  constructor(private readonly db: () => Queryable) {}

  private async query(sql: string, params: readonly SqlValue[]): Promise<pg.QueryResult<Row>> {
    const { name, text } = statement(sql);
    return this.db().query<Row>({ name, text, values: params as unknown[] });
  }

  async all(sql: string, params: readonly SqlValue[]): Promise<Row[]> {
    return (await this.query(sql, params)).rows;
  }

  async get(sql: string, params: readonly SqlValue[]): Promise<Row | undefined> {
    return (await this.query(sql, params)).rows[0];
  }

  async run(sql: string, params: readonly SqlValue[]): Promise<number> {
    return (await this.query(sql, params)).rowCount ?? 0;
  }

  async notify(topic: ChangeTopic): Promise<void> {
    // Delivered when the transaction commits, to every process listening (this one too).
    await this.query("SELECT pg_notify(?, ?)", [CHANNEL, topic]);
  }
}

/** One write connection with its group commit (store/group.ts). */
class WriteLane {
  private client: pg.PoolClient | undefined;
  private broken = false;
  readonly group: GroupCommit;

  constructor(pool: pg.Pool, observer?: CommitObserver) {
    const repo = new SqlRepo(new PgExecutor(() => this.client!));
    this.group = new GroupCommit(
      {
        repo,
        begin: async (scopes) => {
          if (this.client && this.broken) {
            this.client.release(true);
            this.client = undefined;
          }
          if (!this.client) {
            this.client = await pool.connect();
            this.broken = false;
            this.client.on("error", () => (this.broken = true));
          }
          await this.client.query(beginStatement(scopes));
        },
        exec: async (sql) => {
          if (!this.client) return;
          try {
            await this.client.query(sql);
          } catch (e) {
            if (sql === "ROLLBACK") this.broken = true;
            else throw e;
          }
        },
      },
      () => undefined,
      observer,
    );
  }

  async close(): Promise<void> {
    await this.group.close();
    this.client?.release();
    this.client = undefined;
  }
}

/**
 * PostgreSQL, for several Lockbox processes on one database. Reads go to a pool. Writes are
 * grouped per process as on SQLite (store/group.ts), and each group's transaction first takes
 * the advisory locks of what its writes touch (beginStatement): writes of one name in one
 * vault, from any process, take turns, so the domain's check-then-write transactions stay
 * exact without retry loops, while writes of other names go on beside them; a write without a
 * scope (vaults, identities, access, the scheduler's claims) takes turns with all. A commit is acknowledged only once PostgreSQL has made it durable.
 * Cache-relevant changes are announced with NOTIFY in the writing transaction and heard
 * through LISTEN by every process.
 */
export class PostgresStore implements Store {
  private readonly pool: pg.Pool;
  private readonly readRepo: Repo;
  private readonly lanes: WriteLane[];
  private listener: pg.Client | undefined;
  private readonly listeners: ChangeListener[] = [];
  private closed = false;

  private constructor(
    private readonly url: string,
    observer?: CommitObserver,
  ) {
    this.pool = new pg.Pool({ connectionString: url, max: POOL_SIZE + WRITE_LANES, application_name: "lockbox" });
    // An idle pooled connection that dies (a database restart) must not crash the process.
    this.pool.on("error", () => undefined);
    this.readRepo = new SqlRepo(new PgExecutor(() => this.pool));
    this.lanes = Array.from({ length: WRITE_LANES }, () => new WriteLane(this.pool, observer));
  }

  /** Connects, runs migrations under an advisory lock (so processes may start together), and listens for changes. */
  static async open(url: string, observer?: CommitObserver): Promise<PostgresStore> {
    const store = new PostgresStore(url, observer);
    try {
      await store.migrate();
      await store.listen();
    } catch (e) {
      await store.close().catch(() => undefined);
      // The URL's host and database name only: it may carry a password.
      const { host, pathname } = new URL(url);
      throw new Error(`PostgreSQL database ${pathname.slice(1) || "(default)"} on ${host}: ${e instanceof Error ? e.message : String(e)}`, {
        cause: e,
      });
    }
    return store;
  }

  private async migrate(): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query(`SELECT pg_advisory_lock(${MIGRATION_LOCK})`);
      try {
        await client.query("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied BIGINT NOT NULL)");
        const done = new Set(
          (await client.query<{ version: number }>("SELECT version FROM schema_migrations")).rows.map((r) => Number(r.version)),
        );
        for (const m of migrations) {
          if (done.has(m.version)) continue;
          await client.query("BEGIN");
          try {
            for (const s of m.statements) {
              await client.query(
                s.replaceAll("{{BLOB}}", "BYTEA").replaceAll("{{SEQ_PK}}", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
              );
            }
            await client.query("INSERT INTO schema_migrations (version, applied) VALUES ($1, $2)", [m.version, Date.now()]);
            await client.query("COMMIT");
          } catch (e) {
            await client.query("ROLLBACK");
            throw e;
          }
        }
      } finally {
        await client.query(`SELECT pg_advisory_unlock(${MIGRATION_LOCK})`);
      }
    } finally {
      client.release();
    }
  }

  /** LISTEN on a connection of its own; if it drops, caches are flushed and it reconnects. */
  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url, application_name: "lockbox-listen" });
    client.on("notification", (n) => {
      if (TOPICS.includes(n.payload as ChangeTopic)) this.emit(n.payload as ChangeTopic);
    });
    client.on("error", () => undefined);
    client.on("end", () => {
      if (this.closed || this.listener !== client) return;
      this.listener = undefined;
      const retry = (): void => {
        if (this.closed) return;
        this.listen().then(
          () => TOPICS.forEach((t) => this.emit(t)), // what changed while deaf is unknown
          () => setTimeout(retry, 500).unref(),
        );
      };
      setTimeout(retry, 100).unref();
    });
    await client.connect();
    await client.query(`LISTEN ${CHANNEL}`);
    this.listener = client;
  }

  private emit(topic: ChangeTopic): void {
    for (const l of this.listeners) void l(topic);
  }

  read<T>(fn: (repo: Repo) => Promise<T>): Promise<T> {
    return fn(this.readRepo).catch(unavailable);
  }

  /**
   * A scoped write goes to its scope's lane, so that the writes of one name are grouped in
   * one transaction rather than waiting on each other's locks in several; one without a
   * scope excludes all other writes anyway, and goes to the first lane.
   */
  write<T>(fn: (repo: Repo) => Promise<T>, scope?: WriteScope): Promise<T> {
    const lane = this.lanes[scope ? Number(BigInt.asUintN(32, scopeKey(scope)) % BigInt(WRITE_LANES)) : 0]!;
    return lane.group.write(fn, scope).catch(unavailable);
  }

  onChange(listener: ChangeListener): void {
    this.listeners.push(listener);
  }

  /** Every process hears every change through LISTEN, as it is committed: nothing to catch up with. */
  syncChanges(): undefined {
    return undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.lanes.map((l) => l.close()));
    const listener = this.listener;
    this.listener = undefined;
    await listener?.end().catch(() => undefined);
    await this.pool.end();
  }
}

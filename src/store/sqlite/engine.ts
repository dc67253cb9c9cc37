import Database from "better-sqlite3";
import type { Database as Db, Statement } from "better-sqlite3";
import { migrations } from "../migrations.ts";
import { SqlRepo, type Executor, type Row, type SqlValue } from "../sql.ts";
import { StoreUnavailable, type ChangeListener, type ChangeTopic, type Repo, type Store } from "../store.ts";
import { GroupCommit, type CommitObserver } from "../group.ts";

/** Bumps a topic's counter in the writing transaction (migration 10), for the other processes' syncChanges. */
const BUMP = "INSERT INTO change_counters (topic, n) VALUES (?, 1) ON CONFLICT (topic) DO UPDATE SET n = change_counters.n + 1";
const COUNTERS = "SELECT topic, n FROM change_counters";

/** Prepared statements, one cache per connection. */
class SqliteExecutor implements Executor {
  private readonly statements = new Map<string, Statement>();
  constructor(
    private readonly db: Db,
    private readonly changed: (topic: ChangeTopic) => void,
    /** Whether notices bump change_counters: on the writer of a file, which other processes may share. */
    private readonly counted = false,
  ) {}

  prepare(sql: string): Statement {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  async all(sql: string, params: readonly SqlValue[]): Promise<Row[]> {
    return this.prepare(sql).all(...params) as Row[];
  }

  async get(sql: string, params: readonly SqlValue[]): Promise<Row | undefined> {
    return this.prepare(sql).get(...params) as Row | undefined;
  }

  async run(sql: string, params: readonly SqlValue[]): Promise<number> {
    return this.prepare(sql).run(...params).changes;
  }

  async notify(topic: ChangeTopic): Promise<void> {
    if (this.counted) this.prepare(BUMP).run(topic);
    this.changed(topic);
  }
}

/**
 * How this process sees the changes other processes commit to the file: each transaction
 * that announces a topic has bumped its counter, and a look at the counters is needed only
 * when the reader's PRAGMA data_version moved (another connection, this process's writer
 * included, has committed since the last look): a few microseconds, one read transaction.
 */
class ChangeCounters {
  private readonly version: Statement;
  private readonly counters: Statement;
  private lastVersion: unknown;
  /** Each topic's counter as this process has taken it into account. */
  private readonly seen = new Map<string, number>();

  constructor(reader: Db) {
    this.version = reader.prepare("PRAGMA data_version").pluck();
    this.counters = reader.prepare(COUNTERS);
    this.moved(); // what was committed before this process opened the file is no news
  }

  /** The topics whose counters moved since the last look; undefined if none did. */
  moved(): ChangeTopic[] | undefined {
    const version = this.version.get();
    if (version === this.lastVersion) return undefined;
    this.lastVersion = version;
    return this.take(this.counters.all() as Row[]);
  }

  /** Takes counters as read (by the reader, or by the writer inside its transaction); returns those that moved. */
  take(rows: readonly Row[]): ChangeTopic[] | undefined {
    let moved: ChangeTopic[] | undefined;
    for (const row of rows) {
      const topic = String(row.topic);
      const n = Number(row.n);
      if (this.seen.get(topic) === n) continue;
      this.seen.set(topic, n);
      (moved ??= []).push(topic as ChangeTopic);
    }
    return moved;
  }
}

/**
 * Conditions that pass, so the request may be retried: the file stayed locked by another
 * process (e.g. a long CLI command) past busy_timeout, or its filesystem is full.
 */
function unavailable(e: unknown): never {
  const code = String((e as { code?: string })?.code ?? "");
  if (code === "SQLITE_BUSY" || code.startsWith("SQLITE_BUSY_")) throw new StoreUnavailable(e, "busy");
  if (code === "SQLITE_FULL" || (e as NodeJS.ErrnoException)?.code === "ENOSPC") throw new StoreUnavailable(e, "full");
  throw e;
}

/**
 * Readers share the one connection of an in-memory database; a write transaction has it
 * alone. So reads see only committed data there too, as on a file's second connection (an
 * in-memory database cannot have a second connection: better-sqlite3 has neither shared
 * cache nor URI file names). A waiting transaction goes before readers that come later.
 */
class Turns {
  private readers = 0;
  private writing = false;
  private writersWaiting = 0;
  private waiters: Array<() => void> = [];

  private wait(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  async read<T>(fn: () => Promise<T>): Promise<T> {
    while (this.writing || this.writersWaiting > 0) await this.wait();
    this.readers++;
    try {
      return await fn();
    } finally {
      this.readers--;
      this.wake();
    }
  }

  async beginWrite(): Promise<void> {
    this.writersWaiting++;
    while (this.writing || this.readers > 0) await this.wait();
    this.writersWaiting--;
    this.writing = true;
  }

  endWrite(): void {
    this.writing = false;
    this.wake();
  }
}

/** `new SqliteStore(MEMORY)`: a database in this process's memory, gone when the store is closed. */
export const MEMORY = ":memory:";

/**
 * SQLite in WAL mode with synchronous=FULL: a write is acknowledged only after its commit
 * reached the disk. Writes go through one connection, grouped (store/group.ts). Reads use
 * a second connection and so only ever see committed data. Change notices go to this
 * process's listeners once their transaction has ended; those of other processes on the
 * same file (CLI commands, other workers) when syncChanges finds their counters moved (see
 * ChangeCounters). With MEMORY (tests, `serve --in-memory`), the database lives in memory
 * on one connection, shared by turns (see Turns), and is no other process's.
 */
export class SqliteStore implements Store {
  private readonly writer: Db;
  private readonly reader: Db;
  private readonly readRepo: Repo;
  private readonly group: GroupCommit;
  private readonly listeners: ChangeListener[] = [];
  private readonly pending = new Set<ChangeTopic>();
  /** Absent for an in-memory database, which no other process can change. */
  private readonly changes: ChangeCounters | undefined;

  /** Present for an in-memory database. */
  private readonly turns: Turns | undefined;

  constructor(file: string, observer?: CommitObserver) {
    const memory = file === MEMORY;
    this.writer = new Database(file);
    if (!memory) {
      this.writer.pragma("journal_mode = WAL");
      this.writer.pragma("synchronous = FULL");
      this.writer.pragma("busy_timeout = 5000");
    }
    this.writer.pragma("foreign_keys = ON");
    migrate(this.writer);
    if (memory) {
      this.reader = this.writer;
      this.turns = new Turns();
    } else {
      this.reader = new Database(file);
      this.reader.pragma("busy_timeout = 5000");
      this.changes = new ChangeCounters(this.reader);
    }
    this.readRepo = new SqlRepo(new SqliteExecutor(this.reader, () => undefined));
    const writeExecutor = new SqliteExecutor(this.writer, (topic) => this.pending.add(topic), !memory);
    const writeRepo = new SqlRepo(writeExecutor);
    const writer = this.writer;
    const turns = this.turns;
    const changes = this.changes;
    this.group = new GroupCommit(
      {
        repo: writeRepo,
        begin: async () => {
          await turns?.beginWrite();
          writer.exec("BEGIN IMMEDIATE");
        },
        exec: async (sql) => {
          if (sql === "ROLLBACK" && !writer.inTransaction) return;
          if (sql !== "COMMIT" || !changes || this.pending.size === 0) return void writer.exec(sql);
          // This transaction's own bumps must not come back to this process as news. No other
          // process can commit while it holds the write lock: first the others' changes until
          // now are announced, then the counters read inside it are those it commits.
          void this.announce(changes.moved());
          const counters = writeExecutor.prepare(COUNTERS).all() as Row[];
          writer.exec(sql);
          changes.take(counters);
        },
      },
      () => {
        turns?.endWrite(); // the transaction ended: readers may use the connection again
        this.flushChanges();
      },
      observer,
    );
  }

  read<T>(fn: (repo: Repo) => Promise<T>): Promise<T> {
    const read = (): Promise<T> => fn(this.readRepo);
    return (this.turns ? this.turns.read(read) : read()).catch(unavailable);
  }

  /** SQLite has one writer at a time whatever the scope. */
  write<T>(fn: (repo: Repo) => Promise<T>): Promise<T> {
    return this.group.write(fn).catch(unavailable);
  }

  onChange(listener: ChangeListener): void {
    this.listeners.push(listener);
  }

  syncChanges(): Promise<void> | undefined {
    if (!this.changes) return undefined;
    let moved: ChangeTopic[] | undefined;
    try {
      moved = this.changes.moved();
    } catch (e) {
      return Promise.resolve(e).then(unavailable);
    }
    return moved && this.announce(moved);
  }

  /** Calls the listeners of each topic; a promise if any of them returned one, settled when they are. */
  private announce(topics: readonly ChangeTopic[] | undefined): Promise<void> | undefined {
    if (!topics) return undefined;
    let waiting: Array<Promise<void>> | undefined;
    for (const topic of topics) {
      for (const l of this.listeners) {
        const result = l(topic);
        if (result) (waiting ??= []).push(result);
      }
    }
    return waiting && Promise.all(waiting).then(() => undefined);
  }

  private flushChanges(): void {
    const topics = [...this.pending];
    this.pending.clear();
    void this.announce(topics);
  }

  async close(): Promise<void> {
    await this.group.close();
    if (this.reader !== this.writer) this.reader.close();
    this.writer.close();
  }
}

function migrate(db: Db): void {
  db.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied BIGINT NOT NULL)");
  const done = new Set((db.prepare("SELECT version FROM schema_migrations").all() as Array<{ version: number }>).map((r) => r.version));
  for (const m of migrations) {
    if (done.has(m.version)) continue;
    db.transaction(() => {
      for (const s of m.statements) {
        db.exec(s.replaceAll("{{BLOB}}", "BLOB").replaceAll("{{SEQ_PK}}", "INTEGER PRIMARY KEY"));
      }
      db.prepare("INSERT INTO schema_migrations (version, applied) VALUES (?, ?)").run(m.version, Date.now());
    }).immediate();
  }
}

import Database from "better-sqlite3";
import type { Database as Db, Statement } from "better-sqlite3";
import { migrations } from "../migrations.ts";
import { SqlRepo, type Executor, type Row, type SqlValue } from "../sql.ts";
import { StoreUnavailable, type ChangeTopic, type Repo, type Store } from "../store.ts";
import { GroupCommit, type CommitObserver } from "../group.ts";

/** Prepared statements, one cache per connection. */
class SqliteExecutor implements Executor {
  private readonly statements = new Map<string, Statement>();
  constructor(
    private readonly db: Db,
    private readonly changed: (topic: ChangeTopic) => void,
  ) {}

  private prepare(sql: string): Statement {
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
    this.changed(topic);
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
 * SQLite in WAL mode with synchronous=FULL: a write is acknowledged only after its commit
 * reached the disk. Writes go through one connection, grouped (store/group.ts). Reads use
 * a second connection and so only ever see committed data. Change notices go to this
 * process's listeners once their transaction has ended: the database is this process's own.
 */
export class SqliteStore implements Store {
  private readonly writer: Db;
  private readonly reader: Db;
  private readonly readRepo: Repo;
  private readonly group: GroupCommit;
  private readonly listeners: Array<(topic: ChangeTopic) => void> = [];
  private readonly pending = new Set<ChangeTopic>();

  constructor(file: string, observer?: CommitObserver) {
    this.writer = new Database(file);
    this.writer.pragma("journal_mode = WAL");
    this.writer.pragma("synchronous = FULL");
    this.writer.pragma("busy_timeout = 5000");
    this.writer.pragma("foreign_keys = ON");
    migrate(this.writer);
    this.reader = new Database(file);
    this.reader.pragma("busy_timeout = 5000");
    this.readRepo = new SqlRepo(new SqliteExecutor(this.reader, () => undefined));
    const writeRepo = new SqlRepo(new SqliteExecutor(this.writer, (topic) => this.pending.add(topic)));
    const writer = this.writer;
    this.group = new GroupCommit(
      {
        repo: writeRepo,
        begin: async () => void writer.exec("BEGIN IMMEDIATE"),
        exec: async (sql) => {
          if (sql === "ROLLBACK" && !writer.inTransaction) return;
          writer.exec(sql);
        },
      },
      () => this.flushChanges(),
      observer,
    );
  }

  read<T>(fn: (repo: Repo) => Promise<T>): Promise<T> {
    return fn(this.readRepo).catch(unavailable);
  }

  write<T>(fn: (repo: Repo) => Promise<T>): Promise<T> {
    return this.group.write(fn).catch(unavailable);
  }

  onChange(listener: (topic: ChangeTopic) => void): void {
    this.listeners.push(listener);
  }

  private flushChanges(): void {
    const topics = [...this.pending];
    this.pending.clear();
    for (const topic of topics) for (const l of this.listeners) l(topic);
  }

  async close(): Promise<void> {
    await this.group.close();
    this.reader.close();
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

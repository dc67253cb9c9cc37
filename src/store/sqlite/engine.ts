import Database from "better-sqlite3";
import type { Database as Db, Statement } from "better-sqlite3";
import { migrations } from "../migrations.ts";
import { SqlRepo, type Executor, type Row, type SqlValue } from "../sql.ts";
import type { Repo, Store } from "../store.ts";

/** Prepared statements, one cache per connection. */
class SqliteExecutor implements Executor {
  private readonly statements = new Map<string, Statement>();
  constructor(private readonly db: Db) {}

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
}

interface Job {
  fn: (repo: Repo) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

const MAX_BATCH = 512;

/**
 * SQLite in WAL mode with synchronous=FULL: a write is acknowledged only after its commit
 * reached the disk. Writes go through one connection and are grouped: every write that
 * arrives while a commit is under way joins the next transaction, each inside its own
 * savepoint, so one fsync acknowledges many writes and a failing write undoes only itself.
 * Reads use a second connection and so only ever see committed data.
 */
export class SqliteStore implements Store {
  private readonly writer: Db;
  private readonly reader: Db;
  private readonly writeRepo: Repo;
  private readonly readRepo: Repo;
  private queue: Job[] = [];
  private draining = false;
  private closed = false;

  constructor(file: string) {
    this.writer = new Database(file);
    this.writer.pragma("journal_mode = WAL");
    this.writer.pragma("synchronous = FULL");
    this.writer.pragma("busy_timeout = 5000");
    this.writer.pragma("foreign_keys = ON");
    migrate(this.writer);
    this.reader = new Database(file);
    this.reader.pragma("busy_timeout = 5000");
    this.writeRepo = new SqlRepo(new SqliteExecutor(this.writer));
    this.readRepo = new SqlRepo(new SqliteExecutor(this.reader));
  }

  read<T>(fn: (repo: Repo) => Promise<T>): Promise<T> {
    return fn(this.readRepo);
  }

  write<T>(fn: (repo: Repo) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error("the store is closed"));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.draining) {
        this.draining = true;
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, MAX_BATCH);
      const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
      try {
        this.writer.exec("BEGIN IMMEDIATE");
      } catch (error) {
        for (const job of batch) job.reject(error);
        continue;
      }
      for (const job of batch) {
        this.writer.exec("SAVEPOINT job");
        try {
          const value = await job.fn(this.writeRepo);
          this.writer.exec("RELEASE job");
          outcomes.push({ ok: true, value });
        } catch (error) {
          this.writer.exec("ROLLBACK TO job");
          this.writer.exec("RELEASE job");
          outcomes.push({ ok: false, error });
        }
      }
      try {
        this.writer.exec("COMMIT");
      } catch (error) {
        if (this.writer.inTransaction) this.writer.exec("ROLLBACK");
        for (const job of batch) job.reject(error);
        continue;
      }
      batch.forEach((job, i) => {
        const o = outcomes[i]!;
        if (o.ok) job.resolve(o.value);
        else job.reject(o.error);
      });
    }
    this.draining = false;
  }

  async close(): Promise<void> {
    this.closed = true;
    while (this.draining || this.queue.length > 0) await new Promise((r) => setTimeout(r, 5));
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

import type { Repo, WriteScope } from "./store.ts";

/** One engine's write connection, as the group commit drives it. */
export interface WriteConnection {
  readonly repo: Repo;
  /**
   * BEGIN, plus the locks the transaction needs: those of `scopes` (distinct, in one order,
   * so that no two transactions wait on each other), or, when `scopes` is undefined, that of
   * the only writer. An engine with one writer at a time needs none.
   */
  begin(scopes: readonly WriteScope[] | undefined): Promise<void>;
  /** Runs transaction control: SAVEPOINT, RELEASE (and a SAVEPOINT after it, in one call), ROLLBACK TO, COMMIT, ROLLBACK. */
  exec(sql: string): Promise<void>;
}

interface Job {
  fn: (repo: Repo) => Promise<unknown>;
  scope: WriteScope | undefined;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

const MAX_BATCH = 512;

/** Told of each transaction the group commit ends (the server turns these into metrics). */
export interface CommitObserver {
  /** `writes` writes went in one transaction, which took `seconds` from BEGIN to its end; `committed` false if it was rolled back whole. */
  transaction(writes: number, seconds: number, committed: boolean): void;
}

/** The distinct scopes of a batch; undefined if a write of it has none (it excludes all others). */
function scopesOf(batch: readonly Job[]): WriteScope[] | undefined {
  const scopes = new Map<string, WriteScope>();
  for (const { scope } of batch) {
    if (!scope) return undefined;
    scopes.set(`${scope.vault}\u0000${scope.name}`, scope);
  }
  return [...scopes.values()];
}

/**
 * Group commit, shared by the engines. Writes are carried out one at a time on one
 * connection, and every write that arrives while a commit is under way joins the next
 * transaction, each inside its own savepoint: one durable commit acknowledges many writes,
 * and a failing write undoes only itself. A write's promise settles after the commit.
 */
export class GroupCommit {
  private queue: Job[] = [];
  private draining: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly connection: WriteConnection,
    /** Called after each transaction ends, committed or not. */
    private readonly afterTransaction: () => void = () => undefined,
    private readonly observer?: CommitObserver,
  ) {}

  write<T>(fn: (repo: Repo) => Promise<T>, scope?: WriteScope): Promise<T> {
    if (this.closed) return Promise.reject(new Error("the store is closed"));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, scope, resolve: resolve as (v: unknown) => void, reject });
      this.draining ??= new Promise<void>((done) => setImmediate(() => void this.drain().finally(done)));
    });
  }

  private async drain(): Promise<void> {
    const c = this.connection;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, MAX_BATCH);
      // Alone in its transaction, a write needs no savepoint: if it fails, all is rolled back.
      const savepoints = batch.length > 1;
      let outcomes: Outcome[] = [];
      let committed = true;
      const started = performance.now();
      try {
        await c.begin(scopesOf(batch));
        for (const [i, job] of batch.entries()) {
          // The previous job's savepoint is released as the next one is made: one statement less per write.
          if (savepoints) await c.exec(i === 0 ? "SAVEPOINT job" : "RELEASE job; SAVEPOINT job");
          try {
            outcomes.push({ ok: true, value: await job.fn(c.repo) });
          } catch (error) {
            outcomes.push({ ok: false, error });
            if (savepoints) await c.exec("ROLLBACK TO job");
          }
        }
        committed = savepoints || outcomes[0]!.ok;
        await c.exec(committed ? "COMMIT" : "ROLLBACK");
      } catch (error) {
        // The transaction itself failed (BEGIN, a savepoint, COMMIT): no write of the batch is kept.
        await c.exec("ROLLBACK").catch(() => undefined);
        outcomes = batch.map(() => ({ ok: false, error }));
        committed = false;
      }
      this.observer?.transaction(batch.length, (performance.now() - started) / 1000, committed);
      this.afterTransaction();
      batch.forEach((job, i) => {
        const o = outcomes[i]!;
        if (o.ok) job.resolve(o.value);
        else job.reject(o.error);
      });
    }
    this.draining = undefined;
  }

  /** Refuses new writes and waits for those queued to be committed. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.draining) await this.draining;
  }
}

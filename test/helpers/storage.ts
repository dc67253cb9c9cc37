import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { engineEnv } from "./server.ts";

/**
 * What a data directory's store holds, beneath the API, on either engine: for tests that
 * tamper with stored records or look for plaintext at rest. SQL uses `?` placeholders.
 */
export interface RawStore {
  all(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  run(sql: string, params?: unknown[]): Promise<number>;
  close(): Promise<void>;
}

export async function openRawStore(dataDir: string): Promise<RawStore> {
  const url = engineEnv(dataDir).LOCKBOX_POSTGRES_URL;
  if (url) {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const numbered = (sql: string): string => {
      let n = 0;
      return sql.replace(/\?/g, () => `$${++n}`);
    };
    return {
      all: async (sql, params = []) => (await client.query(numbered(sql), params)).rows,
      run: async (sql, params = []) => (await client.query(numbered(sql), params)).rowCount ?? 0,
      close: () => client.end(),
    };
  }
  const db = new Database(join(dataDir, "lockbox.db"));
  return {
    all: async (sql, params = []) => db.prepare(sql).all(...params) as Record<string, unknown>[],
    run: async (sql, params = []) => db.prepare(sql).run(...params).changes,
    close: async () => void db.close(),
  };
}

/**
 * Every file under dir with its bytes. A file or folder that goes away while it is read is
 * left out: the test run's PostgreSQL cluster is shared, and other tests drop their databases
 * while this one reads it.
 */
function filesUnder(dir: string): Array<{ where: string; bytes: Buffer }> {
  const gone = (e: unknown): boolean => (e as NodeJS.ErrnoException).code === "ENOENT";
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    if (gone(e)) return [];
    throw e;
  }
  return entries.flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return filesUnder(path);
    if (!entry.isFile()) return [];
    try {
      return [{ where: path, bytes: readFileSync(path) }];
    } catch (e) {
      if (gone(e)) return [];
      throw e;
    }
  });
}

/**
 * Every stored byte string, with where it is: each file of the data directory (on SQLite,
 * lockbox.db and its WAL among them), and on PostgreSQL every value of every table as the
 * database returns it, plus every file of the cluster when the test run made the cluster
 * (LOCKBOX_TEST_POSTGRES_DIR).
 */
export async function storedBytes(dataDir: string): Promise<Array<{ where: string; bytes: Buffer }>> {
  const found = filesUnder(dataDir);
  if (!engineEnv(dataDir).LOCKBOX_POSTGRES_URL) return found;
  const raw = await openRawStore(dataDir);
  try {
    const tables = await raw.all("SELECT tablename FROM pg_tables WHERE schemaname = 'public'");
    for (const { tablename } of tables) {
      const rows = await raw.all(`SELECT * FROM "${String(tablename)}"`);
      const values = rows.flatMap((r) => Object.values(r)).map((v) => (Buffer.isBuffer(v) ? v : Buffer.from(String(v))));
      found.push({ where: `table ${String(tablename)}`, bytes: Buffer.concat(values) });
    }
    await raw.run("CHECKPOINT"); // what the database holds in memory goes to its files
  } finally {
    await raw.close();
  }
  const clusterDir = process.env.LOCKBOX_TEST_POSTGRES_DIR;
  if (clusterDir) found.push(...filesUnder(clusterDir));
  return found;
}

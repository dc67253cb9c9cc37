import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import pg from "pg";
import { createDatabase, dropDatabase, findPostgresBin, startThrowawayCluster } from "../helpers/postgres.ts";

// The PostgreSQL test pass stands on this helper: a cluster that starts, serves a fresh
// database and leaves nothing behind.
test("a throwaway PostgreSQL cluster serves a new database and is gone after stop()", async () => {
  assert.ok(findPostgresBin(), "PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql");
  const cluster = await startThrowawayCluster();
  try {
    assert.ok(existsSync(cluster.dir), `cluster directory ${cluster.dir} exists while running`);
    const url = createDatabase(cluster.url);
    const name = new URL(url).pathname.slice(1);
    assert.match(name, /^lockbox_test_[0-9a-f]+$/, `database name ${name}`);

    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ one: number; db: string }>("SELECT 1 AS one, current_database() AS db");
      assert.deepEqual(rows, [{ one: 1, db: name }], "SELECT 1 on the new database");
    } finally {
      await client.end();
    }

    dropDatabase(cluster.url, name);
    const admin = new pg.Client({ connectionString: cluster.url });
    await admin.connect();
    try {
      const { rowCount } = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
      assert.equal(rowCount, 0, `database ${name} is dropped`);
    } finally {
      await admin.end();
    }
  } finally {
    await cluster.stop();
  }
  assert.equal(existsSync(cluster.dir), false, `cluster directory ${cluster.dir} is removed after stop()`);
});

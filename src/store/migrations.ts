/**
 * Versioned schema, written once for every engine. Engines substitute the few words the
 * dialects spell differently: {{BLOB}} and {{SEQ_PK}}.
 */
export interface Migration {
  version: number;
  statements: string[];
}

export const migrations: Migration[] = [
  {
    version: 1,
    statements: [
      `CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)`,
      `CREATE TABLE vaults (
        name TEXT PRIMARY KEY,
        wrapped_key {{BLOB}} NOT NULL,
        retention_days INTEGER NOT NULL,
        purge_protection INTEGER NOT NULL,
        created BIGINT NOT NULL
      )`,
      `CREATE TABLE identities (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        client_id TEXT NOT NULL UNIQUE,
        secret_hash TEXT NOT NULL UNIQUE,
        enabled INTEGER NOT NULL,
        admin INTEGER NOT NULL,
        created BIGINT NOT NULL
      )`,
      `CREATE TABLE objects (
        vault TEXT NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        display_name TEXT NOT NULL,
        deleted_at BIGINT,
        purge_at BIGINT,
        PRIMARY KEY (vault, kind, name)
      )`,
      `CREATE INDEX objects_deleted ON objects (vault, kind, name) WHERE deleted_at IS NOT NULL`,
      `CREATE INDEX objects_purge_due ON objects (purge_at) WHERE purge_at IS NOT NULL`,
      `CREATE TABLE versions (
        seq {{SEQ_PK}},
        vault TEXT NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        version TEXT NOT NULL,
        created BIGINT NOT NULL,
        updated BIGINT NOT NULL,
        enabled INTEGER NOT NULL,
        nbf BIGINT,
        exp BIGINT,
        content_type TEXT,
        tags TEXT,
        props TEXT,
        sealed {{BLOB}} NOT NULL
      )`,
      `CREATE UNIQUE INDEX versions_by_id ON versions (vault, kind, name, version)`,
      `CREATE INDEX versions_by_object ON versions (vault, kind, name, seq)`,
    ],
  },
  {
    // A rotation policy belongs to the object (all its versions), for keys and secrets alike.
    version: 2,
    statements: [`ALTER TABLE objects ADD COLUMN policy TEXT`],
  },
];

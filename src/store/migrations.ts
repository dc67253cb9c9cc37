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
  {
    // Lifetime actions and events. Due work is found through schedule_due, never by a scan.
    version: 3,
    statements: [
      `ALTER TABLE objects ADD COLUMN max_versions INTEGER`,
      `CREATE TABLE schedule (
        vault TEXT NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        action TEXT NOT NULL,
        version TEXT NOT NULL,
        due_at BIGINT NOT NULL,
        done INTEGER NOT NULL,
        PRIMARY KEY (vault, kind, name, action)
      )`,
      `CREATE INDEX schedule_due ON schedule (due_at) WHERE done = 0`,
      `CREATE TABLE subscriptions (
        id TEXT PRIMARY KEY,
        vault TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        schema TEXT NOT NULL,
        types TEXT,
        validated INTEGER NOT NULL,
        attempts INTEGER NOT NULL,
        next_attempt_at BIGINT NOT NULL,
        created BIGINT NOT NULL
      )`,
      `CREATE INDEX subscriptions_by_vault ON subscriptions (vault)`,
      `CREATE TABLE events (
        seq {{SEQ_PK}},
        id TEXT NOT NULL,
        vault TEXT NOT NULL,
        event_type TEXT NOT NULL,
        subject TEXT NOT NULL,
        time BIGINT NOT NULL,
        data TEXT NOT NULL
      )`,
      `CREATE TABLE deliveries (
        subscription TEXT NOT NULL,
        event_seq BIGINT NOT NULL,
        object TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        first_attempt_at BIGINT,
        next_attempt_at BIGINT NOT NULL,
        PRIMARY KEY (subscription, event_seq)
      )`,
      `CREATE INDEX deliveries_due ON deliveries (next_attempt_at)`,
      `CREATE INDEX deliveries_order ON deliveries (subscription, object, event_seq)`,
    ],
  },
  {
    // Access control: Azure RBAC role assignments or access policies, per vault.
    version: 4,
    statements: [
      `ALTER TABLE vaults ADD COLUMN rbac INTEGER NOT NULL DEFAULT 1`,
      `CREATE TABLE role_assignments (
        id TEXT PRIMARY KEY,
        vault TEXT NOT NULL,
        principal TEXT NOT NULL,
        role TEXT NOT NULL,
        scope TEXT NOT NULL,
        created BIGINT NOT NULL
      )`,
      `CREATE INDEX role_assignments_by_principal ON role_assignments (vault, principal)`,
      `CREATE TABLE access_policies (
        vault TEXT NOT NULL,
        principal TEXT NOT NULL,
        secrets TEXT NOT NULL,
        keys TEXT NOT NULL,
        PRIMARY KEY (vault, principal)
      )`,
    ],
  },
  {
    // Several processes on one database: a due action is leased to the one doing it.
    version: 5,
    statements: [`ALTER TABLE schedule ADD COLUMN lease_until BIGINT`],
  },
  {
    // Access policies grant certificate permissions too.
    version: 6,
    statements: [`ALTER TABLE access_policies ADD COLUMN certificates TEXT NOT NULL DEFAULT '[]'`],
  },
  {
    // A vault's certificate settings: its contacts and its issuers, each sealed (issuers hold credentials).
    version: 7,
    statements: [
      `CREATE TABLE vault_settings (
        vault TEXT NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        sealed {{BLOB}} NOT NULL,
        created BIGINT NOT NULL,
        updated BIGINT NOT NULL,
        PRIMARY KEY (vault, kind, name)
      )`,
    ],
  },
  {
    // Event deliveries keep their last attempt's outcome, and each subscription a bounded
    // history of the deliveries that ended (delivered, or abandoned), newest kept.
    version: 8,
    statements: [
      `ALTER TABLE deliveries ADD COLUMN last_attempt_at BIGINT`,
      `ALTER TABLE deliveries ADD COLUMN last_status INTEGER`,
      `ALTER TABLE deliveries ADD COLUMN last_error TEXT`,
      `CREATE TABLE delivery_history (
        seq {{SEQ_PK}},
        subscription TEXT NOT NULL,
        event_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        subject TEXT NOT NULL,
        event_time BIGINT NOT NULL,
        outcome TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        last_attempt_at BIGINT NOT NULL,
        last_status INTEGER,
        last_error TEXT
      )`,
      `CREATE INDEX delivery_history_by_subscription ON delivery_history (subscription, seq)`,
    ],
  },
  {
    // A vault's own throttling (azure or off); NULL follows `serve --throttle`.
    version: 9,
    statements: [`ALTER TABLE vaults ADD COLUMN throttle TEXT`],
  },
  {
    // How often each change topic (store.ts ChangeTopic) was announced, bumped in the writing
    // transaction: on SQLite the only way another process learns of a change before its
    // caches expire (PostgreSQL has LISTEN/NOTIFY and leaves it empty). A topic's row is
    // made by its first bump.
    version: 10,
    statements: [`CREATE TABLE change_counters (topic TEXT PRIMARY KEY, n BIGINT NOT NULL)`],
  },
];

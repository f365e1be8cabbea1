import type { Migration } from '../schema.js';

/**
 * The SQLite schema, as ordered migrations. `PRAGMA user_version` records the
 * last one applied; a store with a higher version than the last one here was
 * written by a newer release and is refused. Migrations live in code so the
 * CLI finds them from any working directory.
 */

/** Marks a SQLite file as a TakeANumber store (`PRAGMA application_id`, "TaN1"). */
export const APPLICATION_ID = 0x54614e31;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'sequences with their last issued value',
    // STRICT: a value that is not an integer is an error, never silently a float.
    // WITHOUT ROWID: the name is the key, looked up on every allocation.
    sql: `
      CREATE TABLE sequences (
        name TEXT NOT NULL PRIMARY KEY,
        last_value INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;
    `,
  },
  {
    version: 2,
    description: 'per-sequence options (PostgreSQL semantics) and idempotency keys',
    // Version 1 kept the last issued value, 0 meaning none: that becomes
    // PostgreSQL's (last_value, is_called) pair, with is_called false before the first value.
    sql: `
      ALTER TABLE sequences ADD COLUMN is_called INTEGER NOT NULL DEFAULT 1;
      ALTER TABLE sequences ADD COLUMN start_value INTEGER NOT NULL DEFAULT 1;
      ALTER TABLE sequences ADD COLUMN increment INTEGER NOT NULL DEFAULT 1;
      ALTER TABLE sequences ADD COLUMN min_value INTEGER NOT NULL DEFAULT 1;
      ALTER TABLE sequences ADD COLUMN max_value INTEGER NOT NULL DEFAULT 9223372036854775807;
      ALTER TABLE sequences ADD COLUMN cycle INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE sequences ADD COLUMN cache INTEGER NOT NULL DEFAULT 1;
      UPDATE sequences SET last_value = 1, is_called = 0 WHERE last_value = 0;
      CREATE TABLE idempotency_keys (
        key TEXT NOT NULL PRIMARY KEY,
        name TEXT NOT NULL,
        request_count INTEGER,
        first_value INTEGER NOT NULL,
        last_value INTEGER NOT NULL,
        created_at INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
      CREATE INDEX idempotency_keys_by_name ON idempotency_keys (name);
    `,
  },
  {
    version: 3,
    description: 'API tokens (hashes only)',
    sql: `
      CREATE TABLE api_tokens (
        name TEXT NOT NULL PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        scopes TEXT NOT NULL,
        name_prefix TEXT,
        created_at INTEGER NOT NULL,
        expires_at INTEGER,
        last_used_at INTEGER
      ) STRICT;
    `,
  },
  {
    version: 4,
    description: 'high-water marks, tombstones of deleted sequences, idempotency keys per sequence',
    // issued_low/issued_high: the values ever handed out. Rows of earlier
    // versions get what their position proves (impliedIssued in sequence.ts):
    // the values from start up to the last one handed out. deleted_at marks a
    // tombstone. Idempotency keys become per sequence: the key (name, key).
    sql: `
      ALTER TABLE sequences ADD COLUMN issued_low INTEGER;
      ALTER TABLE sequences ADD COLUMN issued_high INTEGER;
      ALTER TABLE sequences ADD COLUMN deleted_at INTEGER;
      UPDATE sequences SET
        issued_low = CASE
          WHEN increment > 0 AND is_called = 1 THEN min(start_value, last_value)
          WHEN increment > 0 AND start_value < last_value THEN start_value
          WHEN increment < 0 AND is_called = 1 THEN last_value
          WHEN increment < 0 AND start_value > last_value THEN last_value + 1
        END,
        issued_high = CASE
          WHEN increment > 0 AND is_called = 1 THEN last_value
          WHEN increment > 0 AND start_value < last_value THEN last_value - 1
          WHEN increment < 0 AND is_called = 1 THEN max(start_value, last_value)
          WHEN increment < 0 AND start_value > last_value THEN start_value
        END;
      CREATE TABLE idempotency_keys_4 (
        name TEXT NOT NULL,
        key TEXT NOT NULL,
        request_count INTEGER,
        first_value INTEGER NOT NULL,
        last_value INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (name, key)
      ) STRICT, WITHOUT ROWID;
      INSERT INTO idempotency_keys_4 (name, key, request_count, first_value, last_value, created_at)
        SELECT name, key, request_count, first_value, last_value, created_at FROM idempotency_keys;
      DROP TABLE idempotency_keys;
      ALTER TABLE idempotency_keys_4 RENAME TO idempotency_keys;
      CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
    `,
  },
  {
    version: 5,
    description: "the store's identity: a random id, and a generation each checkpoint raises",
    // The row lives alone on its page, which the file guard reads from the database file itself (file-guard.ts).
    sql: `
      CREATE TABLE store_identity (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        store_id TEXT NOT NULL,
        generation INTEGER NOT NULL
      ) STRICT;
      INSERT INTO store_identity (id, store_id, generation) VALUES (1, lower(hex(randomblob(16))), 0);
    `,
  },
  {
    version: 6,
    description: 'gapless sequences: options, the values not confirmed, every reservation id issued',
    // gapless_values holds only values that are not confirmed (core/gapless.ts); the partial index finds the
    // lowest free or expired one and counts the open ones without reading the voids. reservations keeps
    // every id issued, for the life of the sequence. A recorded idempotency key keeps its reservation.
    sql: `
      ALTER TABLE sequences ADD COLUMN gapless INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE sequences ADD COLUMN lease_seconds INTEGER NOT NULL DEFAULT 300;
      ALTER TABLE sequences ADD COLUMN series_first INTEGER;
      ALTER TABLE idempotency_keys ADD COLUMN reservation TEXT;
      ALTER TABLE idempotency_keys ADD COLUMN expires_at INTEGER;
      CREATE TABLE gapless_values (
        name TEXT NOT NULL,
        value INTEGER NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('reserved', 'free', 'void')),
        reservation TEXT,
        expires_at INTEGER,
        reason TEXT,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (name, value)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX gapless_values_open ON gapless_values (name, value) WHERE state IN ('reserved', 'free');
      CREATE TABLE reservations (
        name TEXT NOT NULL,
        id TEXT NOT NULL,
        value INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('reserved', 'confirmed', 'free', 'void')),
        reason TEXT,
        settled_at INTEGER,
        PRIMARY KEY (name, id)
      ) STRICT, WITHOUT ROWID;
    `,
  },
  {
    version: 7,
    description: 'calendar periods and formats: options, the recorded period, labels on keys, values and reservations',
    // The recorded period (core/period.ts): its label and bounds in ms, all NULL before the first allocation
    // with periods. Keys, values and reservations keep the labels they were answered with. A value's key
    // gains its period ('' for none): a counter that restarts hands out the same value once a period. The
    // table is rebuilt for the new key; the partial index keeps finding the earliest open value.
    sql: `
      ALTER TABLE sequences ADD COLUMN restart TEXT NOT NULL DEFAULT 'never';
      ALTER TABLE sequences ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';
      ALTER TABLE sequences ADD COLUMN format TEXT;
      ALTER TABLE sequences ADD COLUMN period_label TEXT;
      ALTER TABLE sequences ADD COLUMN period_starts_at INTEGER;
      ALTER TABLE sequences ADD COLUMN period_ends_at INTEGER;
      ALTER TABLE idempotency_keys ADD COLUMN period TEXT;
      ALTER TABLE idempotency_keys ADD COLUMN formatted TEXT;
      ALTER TABLE idempotency_keys ADD COLUMN last_formatted TEXT;
      ALTER TABLE reservations ADD COLUMN period TEXT;
      ALTER TABLE reservations ADD COLUMN formatted TEXT;
      CREATE TABLE gapless_values_7 (
        name TEXT NOT NULL,
        period TEXT NOT NULL,
        value INTEGER NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('reserved', 'free', 'void')),
        reservation TEXT,
        expires_at INTEGER,
        reason TEXT,
        updated_at INTEGER NOT NULL,
        formatted TEXT,
        PRIMARY KEY (name, period, value)
      ) STRICT, WITHOUT ROWID;
      INSERT INTO gapless_values_7 (name, period, value, state, reservation, expires_at, reason, updated_at)
        SELECT name, '', value, state, reservation, expires_at, reason, updated_at FROM gapless_values;
      DROP TABLE gapless_values;
      ALTER TABLE gapless_values_7 RENAME TO gapless_values;
      CREATE INDEX gapless_values_open ON gapless_values (name, period, value) WHERE state IN ('reserved', 'free');
    `,
  },
  {
    version: 8,
    description: 'the allocation log: the rows of plain sequences each commit changed, folded into sequences later',
    // One row per commit (allocation-log.ts): appending touches the rightmost leaf only. entries: the
    // changed rows, encoded (log-codec.ts); checksum: their CRC-32. Empty whenever the store is closed cleanly.
    sql: `
      CREATE TABLE allocation_log (
        seq INTEGER PRIMARY KEY,
        entries BLOB NOT NULL,
        checksum INTEGER NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 9,
    description: 'allocation log rows may hold an integer in 1 or 6 bytes (log-codec.ts)',
    // Nothing changes in the tables. The version tells a release of schema 8, which would refuse such a
    // row as a damaged log, that the store is newer than it (open.ts refuses a newer store by its version).
    sql: '',
  },
];

export const LATEST_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;

import type { Migration } from '../schema.js';

/**
 * The PostgreSQL schema, as ordered migrations recorded in
 * takeanumber_schema_migrations. They run at start (and by
 * `take-a-number migrate`) under a transaction-scoped advisory lock, so
 * instances starting together apply each one exactly once.
 */

/** Key of the advisory lock taken while migrating ("TaN1"). */
export const MIGRATION_LOCK_KEY = 0x54614e31;

export const POSTGRES_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'sequences with options, idempotency keys',
    // Names compare in the "C" collation: byte order of their UTF-8, as on SQLite,
    // so listings page the same way on both stores. `version` changes with every
    // admin change (reset, options, delete and re-create): instances holding a
    // cached block compare it when they refill.
    sql: `
      CREATE SEQUENCE takeanumber_versions;
      CREATE TABLE takeanumber_sequences (
        name text COLLATE "C" PRIMARY KEY,
        last_value bigint NOT NULL,
        is_called boolean NOT NULL,
        start_value bigint NOT NULL,
        increment bigint NOT NULL CHECK (increment <> 0),
        min_value bigint NOT NULL,
        max_value bigint NOT NULL,
        cycle boolean NOT NULL,
        cache bigint NOT NULL CHECK (cache >= 1),
        version bigint NOT NULL DEFAULT nextval('takeanumber_versions'),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CHECK (min_value < max_value)
      );
      CREATE TABLE takeanumber_idempotency_keys (
        key text COLLATE "C" PRIMARY KEY,
        name text COLLATE "C" NOT NULL,
        request_count bigint,
        first_value bigint NOT NULL,
        last_value bigint NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX takeanumber_idempotency_keys_by_age ON takeanumber_idempotency_keys (created_at);
      CREATE INDEX takeanumber_idempotency_keys_by_name ON takeanumber_idempotency_keys (name);
    `,
  },
  {
    version: 2,
    description: 'API tokens (hashes only)',
    sql: `
      CREATE TABLE takeanumber_api_tokens (
        name text COLLATE "C" PRIMARY KEY,
        token_hash text NOT NULL UNIQUE,
        scopes text NOT NULL,
        name_prefix text,
        created_at timestamptz NOT NULL,
        expires_at timestamptz,
        last_used_at timestamptz
      );
    `,
  },
  {
    version: 3,
    description: 'high-water marks, tombstones of deleted sequences, idempotency keys per sequence',
    // As SQLite's version 4: issued_low/issued_high are the values ever handed
    // out, set for existing rows to what their position proves (impliedIssued
    // in sequence.ts); deleted_at marks a tombstone; keys are per sequence.
    sql: `
      ALTER TABLE takeanumber_sequences
        ADD COLUMN issued_low bigint,
        ADD COLUMN issued_high bigint,
        ADD COLUMN deleted_at timestamptz;
      UPDATE takeanumber_sequences SET
        issued_low = CASE
          WHEN increment > 0 AND is_called THEN least(start_value, last_value)
          WHEN increment > 0 AND start_value < last_value THEN start_value
          WHEN increment < 0 AND is_called THEN last_value
          WHEN increment < 0 AND start_value > last_value THEN last_value + 1
        END,
        issued_high = CASE
          WHEN increment > 0 AND is_called THEN last_value
          WHEN increment > 0 AND start_value < last_value THEN last_value - 1
          WHEN increment < 0 AND is_called THEN greatest(start_value, last_value)
          WHEN increment < 0 AND start_value > last_value THEN start_value
        END;
      ALTER TABLE takeanumber_idempotency_keys DROP CONSTRAINT takeanumber_idempotency_keys_pkey;
      ALTER TABLE takeanumber_idempotency_keys ADD PRIMARY KEY (name, key);
      DROP INDEX takeanumber_idempotency_keys_by_name;
    `,
  },
  {
    version: 4,
    description: 'gapless sequences: options, the values not confirmed, every reservation id issued',
    // As SQLite's version 6 (core/gapless.ts says what the tables hold). Times
    // of the gapless tables are ms since the epoch by the database's clock
    // (clock_timestamp()), the clock every instance judges leases by. The
    // partial indexes find the lowest free value, the reservations past their
    // lease, and the counts, without reading the voids; the primary key pages.
    sql: `
      ALTER TABLE takeanumber_sequences
        ADD COLUMN gapless boolean NOT NULL DEFAULT false,
        ADD COLUMN lease_seconds integer NOT NULL DEFAULT 300 CHECK (lease_seconds BETWEEN 1 AND 86400),
        ADD COLUMN series_first bigint;
      ALTER TABLE takeanumber_idempotency_keys
        ADD COLUMN reservation text,
        ADD COLUMN expires_at bigint;
      CREATE TABLE takeanumber_gapless_values (
        name text COLLATE "C" NOT NULL,
        value bigint NOT NULL,
        state text NOT NULL CHECK (state IN ('reserved', 'free', 'void')),
        reservation text,
        expires_at bigint,
        reason text,
        updated_at bigint NOT NULL,
        PRIMARY KEY (name, value),
        CHECK ((state = 'reserved') = (reservation IS NOT NULL AND expires_at IS NOT NULL))
      );
      CREATE INDEX takeanumber_gapless_values_free ON takeanumber_gapless_values (name, value) WHERE state = 'free';
      CREATE INDEX takeanumber_gapless_values_leases ON takeanumber_gapless_values (name, expires_at) INCLUDE (value) WHERE state = 'reserved';
      CREATE TABLE takeanumber_gapless_reservations (
        name text COLLATE "C" NOT NULL,
        id text COLLATE "C" NOT NULL,
        value bigint NOT NULL,
        expires_at bigint NOT NULL,
        state text NOT NULL CHECK (state IN ('reserved', 'confirmed', 'free', 'void')),
        reason text,
        settled_at bigint,
        PRIMARY KEY (name, id)
      );
    `,
  },
  {
    version: 5,
    description: 'calendar periods and formats: options, the recorded period, labels of keys, gapless values and reservations',
    // As core/period.ts and core/periodic.ts. The recorded period's bounds are ms since the epoch. A gapless
    // value is keyed by its period too ('' for none): after a restart the same value goes out again in the
    // new period, and a free value of an earlier period keeps its own. The free index orders by period then
    // value (earliest period first); the leases index carries the period for the rows it finds.
    sql: `
      ALTER TABLE takeanumber_sequences
        ADD COLUMN restart text NOT NULL DEFAULT 'never' CHECK (restart IN ('never', 'yearly', 'monthly', 'daily')),
        ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC',
        ADD COLUMN format text,
        ADD COLUMN period_label text COLLATE "C",
        ADD COLUMN period_starts_at bigint,
        ADD COLUMN period_ends_at bigint,
        ADD CHECK ((period_label IS NULL) = (period_starts_at IS NULL) AND (period_label IS NULL) = (period_ends_at IS NULL));
      ALTER TABLE takeanumber_idempotency_keys
        ADD COLUMN period text,
        ADD COLUMN formatted text,
        ADD COLUMN last_formatted text;
      ALTER TABLE takeanumber_gapless_values
        ADD COLUMN period text COLLATE "C" NOT NULL DEFAULT '',
        ADD COLUMN formatted text;
      ALTER TABLE takeanumber_gapless_values DROP CONSTRAINT takeanumber_gapless_values_pkey;
      ALTER TABLE takeanumber_gapless_values ADD PRIMARY KEY (name, period, value);
      DROP INDEX takeanumber_gapless_values_free;
      DROP INDEX takeanumber_gapless_values_leases;
      CREATE INDEX takeanumber_gapless_values_free ON takeanumber_gapless_values (name, period, value) WHERE state = 'free';
      CREATE INDEX takeanumber_gapless_values_leases ON takeanumber_gapless_values (name, expires_at) INCLUDE (period, value) WHERE state = 'reserved';
      ALTER TABLE takeanumber_gapless_reservations
        ADD COLUMN period text COLLATE "C" NOT NULL DEFAULT '',
        ADD COLUMN formatted text;
    `,
  },
];

export const LATEST_POSTGRES_VERSION = POSTGRES_MIGRATIONS[POSTGRES_MIGRATIONS.length - 1]?.version ?? 0;

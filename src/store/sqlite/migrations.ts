/**
 * The SQLite schema, as ordered migrations. `PRAGMA user_version` records the
 * last one applied; a store with a higher version than the last one here was
 * written by a newer release and is refused. Migrations live in code so the
 * CLI finds them from any working directory.
 */
export interface Migration {
  readonly version: number;
  readonly description: string;
  readonly sql: string;
}

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
];

export const LATEST_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;

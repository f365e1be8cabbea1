import type pg from 'pg';
import { StoreOpenError } from '../../core/store.js';
import { promisedTables } from '../schema.js';
import { inTransaction } from './connection.js';
import { LATEST_POSTGRES_VERSION, MIGRATION_LOCK_KEY, POSTGRES_MIGRATIONS } from './migrations.js';

/**
 * Checks the schema version and applies missing migrations (unless `migrate`
 * is false), in one transaction under an advisory lock: instances starting
 * together queue here and each migration runs once. Then every table the
 * schema promises must exist. Fails with a StoreOpenError naming the store.
 */
export async function prepareSchema(pool: pg.Pool, location: string, migrate: boolean): Promise<void> {
  await inTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await client.query(
      'CREATE TABLE IF NOT EXISTS takeanumber_schema_migrations (version int PRIMARY KEY, description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const { rows } = await client.query<{ version: number | null }>('SELECT max(version) AS version FROM takeanumber_schema_migrations');
    const current = rows[0]?.version ?? 0;
    if (current > LATEST_POSTGRES_VERSION) {
      throw new StoreOpenError(
        `The PostgreSQL store ${location} has schema version ${current}, written by a newer take-a-number; ` +
          `this one knows versions up to ${LATEST_POSTGRES_VERSION}. Upgrade take-a-number.`,
      );
    }
    if (current < LATEST_POSTGRES_VERSION && !migrate) {
      throw new StoreOpenError(`The PostgreSQL store ${location} has schema version ${current}; run 'take-a-number migrate' first.`);
    }
    for (const migration of POSTGRES_MIGRATIONS) {
      if (migration.version <= current) continue;
      await client.query(migration.sql);
      await client.query('INSERT INTO takeanumber_schema_migrations (version, description) VALUES ($1, $2)', [
        migration.version,
        migration.description,
      ]);
    }
    await refuseMissingTables(client, location);
  });
}

/** A table dropped by hand (or a damaged schema) would make every request fail later: refused now. */
async function refuseMissingTables(client: pg.PoolClient, location: string): Promise<void> {
  const tables = promisedTables(POSTGRES_MIGRATIONS, LATEST_POSTGRES_VERSION);
  const { rows } = await client.query<{ name: string }>(
    "SELECT c.relname AS name FROM pg_class c WHERE c.relkind IN ('r', 'p') AND c.relname = ANY($1::text[]) AND pg_table_is_visible(c.oid)",
    [tables],
  );
  const missing = tables.filter((table) => !rows.some((row) => row.name === table));
  if (missing.length > 0) {
    throw new StoreOpenError(
      `The PostgreSQL store ${location} has no ${missing.join(', ')} table${missing.length === 1 ? '' : 's'}, which its schema ` +
        'version has: it was changed by hand or damaged. It is left untouched and no counter is reset: restore it from a backup.',
    );
  }
}

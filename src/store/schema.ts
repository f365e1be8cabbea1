/**
 * Versioned migrations, as both stores keep them: each store lists its own
 * (sqlite/migrations.ts, postgres/migrations.ts) and records the last one
 * applied; a store of a higher version was written by a newer release.
 */
export interface Migration {
  readonly version: number;
  readonly description: string;
  readonly sql: string;
}

/**
 * The tables a store of schema `version` has, read from its migrations'
 * SQL: those created (or renamed into) and not dropped by the migrations up
 * to that version. Both stores check them at start, so a store missing one is
 * refused with a message instead of answering 503 for ever.
 */
export function promisedTables(migrations: readonly Migration[], version: number): string[] {
  const tables = new Set<string>();
  const statements = /\b(CREATE|DROP) TABLE (?:IF (?:NOT )?EXISTS )?(\w+)|\bALTER TABLE (\w+) RENAME TO (\w+)/gi;
  for (const migration of migrations) {
    if (migration.version > version) break;
    for (const [, verb, name, renamed, to] of migration.sql.matchAll(statements)) {
      if (renamed !== undefined && to !== undefined) {
        tables.delete(renamed);
        tables.add(to);
      } else if (name !== undefined) {
        if (verb?.toUpperCase() === 'CREATE') tables.add(name);
        else tables.delete(name);
      }
    }
  }
  return [...tables];
}

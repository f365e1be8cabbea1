import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { promisedTables as promisedTablesOf } from '../schema.js';
import { StoreOpenError } from '../../core/store.js';
import { APPLICATION_ID, LATEST_SCHEMA_VERSION, MIGRATIONS } from './migrations.js';

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** Opens `path` and checks it is a sound TakeANumber store, or throws a StoreOpenError naming file and cause. */
export function openChecked(path: string, mode: 'write' | 'read'): Database.Database {
  if (mode === 'read' && !existsSync(path)) {
    throw new StoreOpenError(`No store at ${path}: the file does not exist.`);
  }
  let db: Database.Database;
  try {
    // Never created here: a new store is made whole beforehand (create-store.ts).
    db = new Database(path, { readonly: mode === 'read', fileMustExist: true, timeout: 2000 });
  } catch (error) {
    throw new StoreOpenError(`Cannot open the store ${path}: ${(error as Error).message}`, { cause: error });
  }
  try {
    if (mode === 'read' && isEmptyDatabase(db)) throw new StoreOpenError(`No store at ${path}: the file is empty.`);
    checkStore(db, path, mode);
    return db;
  } catch (error) {
    db.close();
    if (error instanceof StoreOpenError) throw error;
    const code = errorCode(error);
    if (code === 'SQLITE_NOTADB' || code?.startsWith('SQLITE_CORRUPT')) {
      throw new StoreOpenError(
        `The store ${path} is not a readable SQLite database (${(error as Error).message}). ` +
          'It is left untouched and no counter is reset: restore it from a backup. ' +
          "(To migrate a Python TakeANumber sequences.json, use 'take-a-number import'.)",
        { cause: error },
      );
    }
    throw new StoreOpenError(`Cannot use the store ${path}: ${(error as Error).message}`, { cause: error });
  }
}

function checkStore(db: Database.Database, path: string, mode: 'write' | 'read'): void {
  const applicationId = db.pragma('application_id', { simple: true }) as number;
  const version = db.pragma('user_version', { simple: true }) as number;
  const objects = db.prepare('SELECT count(*) FROM sqlite_schema').pluck().get() as number;
  if (applicationId !== APPLICATION_ID && !(applicationId === 0 && version === 0 && objects === 0)) {
    throw new StoreOpenError(`The file ${path} is a SQLite database but not a TakeANumber store; it is left untouched.`);
  }
  if (version > LATEST_SCHEMA_VERSION) {
    throw new StoreOpenError(
      `The store ${path} has schema version ${version}, written by a newer take-a-number; ` +
        `this one knows versions up to ${LATEST_SCHEMA_VERSION}. Upgrade take-a-number.`,
    );
  }
  if (mode === 'read' && version < LATEST_SCHEMA_VERSION) {
    throw new StoreOpenError(
      `The store ${path} has schema version ${version}; this take-a-number needs ${LATEST_SCHEMA_VERSION}. ` +
        "Run 'take-a-number serve' on it once to upgrade it.",
    );
  }
  const missing = promisedTables(version).filter(
    (table) => db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?").get(table) === undefined,
  );
  if (missing.length > 0) {
    throw new StoreOpenError(
      `The store ${path} has no ${missing.join(', ')} table${missing.length === 1 ? '' : 's'}, which its schema version ${version} has: ` +
        'it was changed by hand or damaged. It is left untouched and no counter is reset: restore it from a backup.',
    );
  }
  const problems = db.pragma('quick_check', { simple: false }) as { quick_check: string }[];
  if (problems.length !== 1 || problems[0]?.quick_check !== 'ok') {
    const detail = problems
      .slice(0, 3)
      .map((row) => row.quick_check)
      .join('; ');
    throw new StoreOpenError(
      `The store ${path} is corrupt (${detail}). It is left untouched and no counter is reset: restore it from a backup.`,
    );
  }
}

/** The tables a store of schema `version` has (schema-tables.ts). */
export function promisedTables(version: number): string[] {
  return promisedTablesOf(MIGRATIONS, version);
}

/** A SQLite file with nothing in it yet (no schema, no application id): what a lost store's file can look like. */
export function isEmptyDatabase(db: Database.Database): boolean {
  const applicationId = db.pragma('application_id', { simple: true }) as number;
  const version = db.pragma('user_version', { simple: true }) as number;
  const objects = db.prepare('SELECT count(*) FROM sqlite_schema').pluck().get() as number;
  return applicationId === 0 && version === 0 && objects === 0;
}

/** Applies the migrations the store has not had yet, in one transaction. */
export function migrate(db: Database.Database): void {
  db.transaction(() => {
    const current = db.pragma('user_version', { simple: true }) as number;
    for (const migration of MIGRATIONS) {
      if (migration.version <= current) continue;
      db.exec(migration.sql);
      db.pragma(`user_version = ${migration.version}`);
    }
    db.pragma(`application_id = ${APPLICATION_ID}`);
  }).immediate();
}

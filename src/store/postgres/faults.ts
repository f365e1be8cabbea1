import pg from 'pg';
import { StoreUnavailableError } from '../../core/store.js';

/**
 * SQLSTATE classes and codes that are faults of the database, not of our SQL:
 * connection exceptions (08), insufficient resources (53), operator
 * intervention (57: a statement timeout, a shutdown), system errors (58),
 * transaction rollbacks (40: serialization failure, deadlock), a lock not
 * available (55P03), authorization failures (28: a password changed) and a
 * database that does not exist (3D000). Anything else (a syntax error, an
 * undefined column, a constraint) is a bug of ours and keeps its own error.
 */
const DATABASE_FAULT = /^(?:08|53|57|58|40|28)|^55P03$|^3D000$/;

/** What the pg driver throws when the connection fails or times out (no SQLSTATE). */
const DRIVER_FAULT = /Connection terminated|timeout|not queryable|connection error|Connection refused|pool after calling end/i;
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

/** `error` as the store contract reports it: a fault of the database as StoreUnavailableError, anything else as it is. */
export function asStoreFault(error: unknown): unknown {
  if (error instanceof StoreUnavailableError || !(error instanceof Error)) return error;
  if (error instanceof pg.DatabaseError) {
    return error.code !== undefined && DATABASE_FAULT.test(error.code)
      ? new StoreUnavailableError(`PostgreSQL: ${error.code}: ${error.message}`, { cause: error })
      : error;
  }
  const code = (error as NodeJS.ErrnoException).code;
  if ((code !== undefined && NETWORK_CODES.has(code)) || DRIVER_FAULT.test(error.message)) {
    return new StoreUnavailableError(`PostgreSQL: ${error.message}`, { cause: error });
  }
  return error;
}

/** Awaits `work`, reporting a fault of the database as StoreUnavailableError. */
export async function reportingFaults<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    throw asStoreFault(error);
  }
}

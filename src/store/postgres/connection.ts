import pg from 'pg';

export interface PostgresSettings {
  /** postgres://user:pass@host:port/db[?sslmode=…] */
  readonly url: string;
  readonly poolSize: number;
  /** Bound on every statement and on connecting, in milliseconds. */
  readonly statementTimeoutMs: number;
}

/** The URL without its password, for logs and messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'postgres://(unparsable URL)';
  }
}

/**
 * node-postgres reads `sslmode=require` as verify-full (it checks the
 * certificate); libpq, and every user's expectation, is "encrypt, do not
 * verify". `uselibpqcompat=true` gives libpq's meaning to every sslmode.
 */
export function withLibpqSslModes(url: string): string {
  const parsed = new URL(url);
  if (parsed.searchParams.has('sslmode') && !parsed.searchParams.has('uselibpqcompat')) {
    parsed.searchParams.set('uselibpqcompat', 'true');
  }
  return parsed.toString();
}

/**
 * A pool whose every wait is bounded: connecting, and each statement (on the
 * server and, should the network hang, on the client). An idle client's error
 * (the server restarted) is reported, not thrown: unhandled, it would crash
 * the process.
 */
export function createPool(settings: PostgresSettings, onIdleError: (error: Error) => void): pg.Pool {
  const pool = new pg.Pool({
    connectionString: withLibpqSslModes(settings.url),
    max: settings.poolSize,
    connectionTimeoutMillis: settings.statementTimeoutMs,
    statement_timeout: settings.statementTimeoutMs,
    // The client-side bound catches a server that does not answer at all (frozen, network gone).
    query_timeout: settings.statementTimeoutMs,
    idleTimeoutMillis: 30_000,
    application_name: 'take-a-number',
  });
  pool.on('error', onIdleError);
  return pool;
}

/**
 * Runs `work` in one transaction on one connection: committed if it resolves,
 * rolled back if it throws. While the connection is checked out the pool does
 * not listen for its errors: one arriving between two statements (the server
 * shutting down sends FATAL 57P01 to every connection) would be an unhandled
 * 'error' event and crash the process. It is caught here instead (the next
 * statement then fails, so `work` throws: 503), and the broken connection is
 * discarded rather than returned to the pool.
 */
export async function inTransaction<R>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<R>): Promise<R> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const onError = (error: Error): void => {
    broken = error;
  };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.removeListener('error', onError);
    client.release(broken);
  }
}

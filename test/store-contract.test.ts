import { join } from 'node:path';
import pg from 'pg';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { startPostgres } from './helpers/postgres.js';
import { gaplessContract } from './helpers/gapless-contract.js';
import { periodContract, type ClockedHarness } from './helpers/period-contract.js';
import { storeContract, type StoreHarness } from './helpers/store-contract.js';
import { tempDir } from './helpers/temp.js';

const sqliteHarness = (): Promise<StoreHarness> => {
  const path = join(tempDir(), 'contract.db');
  return Promise.resolve({ open: () => Promise.resolve(SqliteStore.open(path, { mode: 'write' })) });
};
storeContract('SQLite', sqliteHarness);
gaplessContract('SQLite', sqliteHarness);
// The store's clock decides the period: the tests set it.
const clockedSqliteHarness = (): Promise<ClockedHarness> => {
  const path = join(tempDir(), 'periods.db');
  let now = Date.now();
  return Promise.resolve({
    open: () => Promise.resolve(SqliteStore.open(path, { mode: 'write', clock: () => now })),
    setNow: (at: number) => {
      now = at;
    },
  });
};
periodContract('SQLite', clockedSqliteHarness, true);

// One server for the file (started at the top level, so it lives until the file ends), a database per test.
const server = await startPostgres();
const postgresHarness = async (): Promise<StoreHarness> => {
  const url = await server.newDatabase();
  return { open: () => PostgresStore.open({ url, poolSize: 4, statementTimeoutMs: 5000 }) };
};
storeContract('PostgreSQL', postgresHarness);
gaplessContract('PostgreSQL', postgresHarness);
// The database's clock decides the period: the store reads a one-row table the tests set in place of clock_timestamp().
periodContract(
  'PostgreSQL',
  async () => {
    const url = await server.newDatabase();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query('CREATE TABLE test_clock (at timestamptz NOT NULL)');
      await client.query('INSERT INTO test_clock (at) VALUES (now())');
    } finally {
      await client.end();
    }
    const clock = '(SELECT at FROM test_clock)';
    return {
      open: () => PostgresStore.open({ url, poolSize: 4, statementTimeoutMs: 5000 }, { migrate: true, clock }),
      setNow: async (at: number) => {
        const setter = new pg.Client({ connectionString: url });
        await setter.connect();
        try {
          await setter.query('UPDATE test_clock SET at = $1', [new Date(at).toISOString()]);
        } finally {
          await setter.end();
        }
      },
    };
  },
  true,
);

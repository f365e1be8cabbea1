import { join } from 'node:path';
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
// The database's clock decides the period: on the real clock, only the cases that hold whatever the date.
periodContract('PostgreSQL', async () => ({ ...(await postgresHarness()), setNow: undefined }), false);

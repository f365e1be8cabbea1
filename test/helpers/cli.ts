import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after } from 'node:test';

/** The built CLI entry (`npm run build` first): process tests run what users run. */
export const CLI_PATH = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

/** Settings that would change the CLI's defaults; removed so the tests see only what they pass. */
const CONFIG_ENV = ['TAKEANUMBER_STORE', 'PORT', 'HOST', 'TAKEANUMBER_LOG_LEVEL'];

export interface CliOptions {
  /** Working directory (default: this process's). */
  readonly cwd?: string;
  /** Extra environment variables, on top of this process's minus the CLI's own settings. */
  readonly env?: Readonly<Record<string, string>>;
  /** How long the command may run before it is killed and the call fails (default 10 s). */
  readonly timeoutMs?: number;
  /** A command to run the CLI under, e.g. `['prlimit', '--fsize=300000']`. */
  readonly launcher?: readonly string[];
}

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface CliResult extends ExitStatus {
  readonly stdout: string;
  readonly stderr: string;
}

/** Every process a test started and that has not exited yet; killed when the test file ends. */
const running = new Set<ChildProcess>();

after(() => {
  for (const child of running) child.kill('SIGKILL');
});

function childEnv(extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of CONFIG_ENV) Reflect.deleteProperty(env, name);
  return { ...env, ...extra };
}

function spawnCli(args: readonly string[], options: CliOptions): ChildProcess {
  const [command = process.execPath, ...prefix] = options.launcher === undefined ? [] : [...options.launcher, process.execPath];
  const child = spawn(command, [...prefix, CLI_PATH, ...args], {
    cwd: options.cwd,
    env: childEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  // Also stop it when the test that started it ends, if that is sooner than the file.
  after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return child;
}

function exitOf(child: ChildProcess): Promise<ExitStatus> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode });
      return;
    }
    child.once('error', reject);
    // 'close' rather than 'exit': stdout and stderr have been read to the end.
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
}

/** Rejects after `ms` with `message()`, unless `promise` settles first. */
export async function within<T>(promise: Promise<T>, ms: number, message: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(message())), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `take-a-number ARGS…` to completion; kills it and fails if it takes longer than the timeout. */
export async function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const child = spawnCli(args, options);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  try {
    const status = await within(
      exitOf(child),
      timeoutMs,
      () => `take-a-number ${args.join(' ')} did not exit within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`,
    );
    return { ...status, stdout, stderr };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

/** One line of the server's pino log (JSON on stdout). */
export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [field: string]: unknown;
}

export interface ServerOptions extends CliOptions {
  /** `--store` value, e.g. `sqlite:/tmp/x/s.db`; omitted: the CLI's default store in `cwd`. */
  readonly store?: string;
  /** More `serve` flags, e.g. `['--log-level', 'debug']`. */
  readonly args?: readonly string[];
}

export interface RunningServer {
  /** `http://127.0.0.1:PORT`, from the "take-a-number ready" log line. */
  readonly url: string;
  readonly process: ChildProcess;
  /** Every JSON log line so far (stdout). */
  readonly logs: LogLine[];
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Resolves once a log line matching `predicate` has been written (bounded by `timeoutMs`). */
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Resolves once `count` log lines match `predicate` (bounded by `timeoutMs`). */
  waitForLogs(predicate: (line: LogLine) => boolean, count: number, timeoutMs?: number): Promise<void>;
  /** Resolves when the process has exited (and its output is read). */
  readonly exited: Promise<ExitStatus>;
  /** `exited`, failing if that takes longer than `timeoutMs` (default 10 s); it is then killed. */
  waitForExit(timeoutMs?: number): Promise<ExitStatus>;
  /**
   * Sends `signal` and resolves the exit code (null when the signal killed it).
   * Fails if it has not exited within `timeoutMs`; it is then killed.
   */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
}

/** A server that exited before it was ready: its exit status and output. */
export class ServerStartError extends Error {
  constructor(
    message: string,
    readonly status: ExitStatus | undefined,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(`${message}\nstdout: ${stdout}\nstderr: ${stderr}`);
    this.name = 'ServerStartError';
  }
}

function isLogLine(value: unknown): value is LogLine {
  return typeof value === 'object' && value !== null && typeof (value as { msg?: unknown }).msg === 'string';
}

/**
 * Starts `take-a-number serve --port 0 --host 127.0.0.1 [--store STORE]` and
 * resolves once it logs "take-a-number ready". Rejects with a
 * ServerStartError if it exits first or is not ready within the timeout
 * (default 10 s).
 */
export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const args = ['serve', '--port', '0', '--host', '127.0.0.1'];
  if (options.store !== undefined) args.push('--store', options.store);
  args.push(...(options.args ?? []));
  const child = spawnCli(args, options);
  const exited = exitOf(child);

  const logs: LogLine[] = [];
  const waiters = new Set<{ predicate: (line: LogLine) => boolean; resolve: (line: LogLine) => void }>();
  let stdout = '';
  let stderr = '';
  let partial = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const text of lines) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        continue; // not a log line
      }
      if (!isLogLine(parsed)) continue;
      logs.push(parsed);
      for (const waiter of waiters) {
        if (waiter.predicate(parsed)) {
          waiters.delete(waiter);
          waiter.resolve(parsed);
        }
      }
    }
  });

  const waitForLog = (predicate: (line: LogLine) => boolean, waitMs = 10_000): Promise<LogLine> => {
    const seen = logs.find(predicate);
    if (seen !== undefined) return Promise.resolve(seen);
    let waiter: { predicate: (line: LogLine) => boolean; resolve: (line: LogLine) => void } | undefined;
    const found = new Promise<LogLine>((resolve) => {
      waiter = { predicate, resolve };
      waiters.add(waiter);
    });
    const exitedFirst = exited.then((status) => {
      throw new ServerStartError(`the server exited (${JSON.stringify(status)}) before logging the line awaited`, status, stdout, stderr);
    });
    return within(Promise.race([found, exitedFirst]), waitMs, () => {
      if (waiter !== undefined) waiters.delete(waiter);
      return `no matching log line within ${waitMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`;
    });
  };

  let ready: LogLine;
  try {
    ready = await waitForLog((line) => line.msg === 'take-a-number ready', timeoutMs);
  } catch (error) {
    child.kill('SIGKILL');
    if (error instanceof ServerStartError) throw error;
    throw new ServerStartError(`the server was not ready within ${timeoutMs} ms`, undefined, stdout, stderr);
  }
  if (typeof ready.url !== 'string') throw new Error(`the ready line has no url: ${JSON.stringify(ready)}`);
  const url = ready.url;

  const waitForExit = async (exitMs = 10_000): Promise<ExitStatus> => {
    try {
      return await within(exited, exitMs, () => `the server did not exit within ${exitMs} ms\nstderr: ${stderr}`);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  };

  return {
    url,
    process: child,
    logs,
    stderr: () => stderr,
    waitForLog,
    async waitForLogs(predicate, count, waitMs) {
      let matched = 0;
      // Counts every line in order, those already logged first; resolves on the count-th.
      await waitForLog((line) => predicate(line) && ++matched === count, waitMs);
    },
    exited,
    waitForExit,
    async stop(signal: NodeJS.Signals = 'SIGTERM', stopMs = 10_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return (await waitForExit(stopMs)).code;
    },
  };
}

export interface NextAnswer {
  readonly status: number;
  /** The body as sent: `next_value` is checked in it exactly, beyond 2^53. */
  readonly text: string;
  /** `next_value` read exactly from the text, when the answer is 200. */
  readonly value: bigint | undefined;
}

/** `POST {url}/next/{name}` (name percent-encoded here) with global fetch. */
export async function postNext(url: string, name: string): Promise<NextAnswer> {
  const response = await fetch(`${url}/next/${encodeURIComponent(name)}`, { method: 'POST' });
  const text = await response.text();
  const match = /"next_value":(-?\d+)/.exec(text);
  return { status: response.status, text, value: response.status === 200 && match?.[1] !== undefined ? BigInt(match[1]) : undefined };
}

/** `postNext` that insists on a 200 and returns the value. */
export async function nextValue(url: string, name: string): Promise<bigint> {
  const answer = await postNext(url, name);
  const sequenceId = answer.status === 200 ? (JSON.parse(answer.text) as { sequence_id?: unknown }).sequence_id : undefined;
  if (answer.status !== 200 || answer.value === undefined || sequenceId !== name) {
    throw new Error(`POST /next/${name} answered ${answer.status}: ${answer.text}`);
  }
  return answer.value;
}

/** Waits (polling) until `condition()` holds; fails after `limitMs`, and stops polling then. */
export async function until(condition: () => boolean, limitMs: number, message: () => string): Promise<void> {
  const deadline = performance.now() + limitMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(message());
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

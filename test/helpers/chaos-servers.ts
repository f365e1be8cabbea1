/**
 * The crash side of the chaos tests: `serve` processes on one store, in
 * slots, killed with SIGKILL at random moments under load and started again,
 * cycle after cycle.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { between, type Target } from './chaos.js';
import { startServer, type RunningServer } from './cli.js';

const lastLogs = (server: RunningServer): string =>
  server.logs
    .slice(-5)
    .map((line) => JSON.stringify(line))
    .join('\n');

export interface Instance {
  readonly server: RunningServer;
  readonly target: Target;
}

export interface ChaosServersOptions {
  readonly store: string;
  readonly slots: number;
  /** The name of a process in the history (one per process: a restarted slot is a new one). */
  readonly name: (slot: number, generation: number) => string;
  /** Called with the new process's name before it is spawned (e.g. a restart boundary). */
  readonly onStart?: (process: string) => void;
  readonly startTimeoutMs: number;
  /** Extra environment variables of every server (test knobs such as TAKEANUMBER_FOLD_ENTRIES). */
  readonly env?: Readonly<Record<string, string>>;
}

/** Servers in slots; a killed slot is empty (no target) until it is started again. */
export class ChaosServers {
  readonly slots: (Instance | undefined)[] = [];
  /** Every process started, live or killed. */
  readonly every: Instance[] = [];
  #generation = 0;
  /** Processes this harness ended (killed, or stopped at the end). */
  readonly #ended = new Set<string>();

  constructor(private readonly options: ChaosServersOptions) {}

  /** Starts every slot, one after the other. */
  async startAll(): Promise<this> {
    for (let slot = 0; slot < this.options.slots; slot += 1) await this.start(slot);
    return this;
  }

  async start(slot: number): Promise<Instance> {
    this.#generation += 1;
    const process = this.options.name(slot, this.#generation);
    this.options.onStart?.(process);
    // The lock of a killed SQLite server is released by the OS: this starts right away, or fails.
    const server = await startServer({ store: this.options.store, timeoutMs: this.options.startTimeoutMs, env: this.options.env ?? {} });
    const instance = { server, target: { url: server.url, process } };
    // A process that ends without being killed crashed: say so at once, with its last words (the test fails later, in stopAll).
    void server.exited.then(() => {
      if (!this.#ended.has(process)) console.error(`${process} ended without being killed:\n${server.stderr()}\n${lastLogs(server)}`);
    });
    this.every.push(instance);
    this.slots[slot] = instance;
    return instance;
  }

  live(): Instance[] {
    return this.slots.filter((instance): instance is Instance => instance !== undefined);
  }

  targets(): Target[] {
    return this.live().map((instance) => instance.target);
  }

  /** Processes started after the first of each slot. */
  restarts(): number {
    return this.#generation - this.options.slots;
  }

  /** Takes `slot` out of the targets, calls `onKill` (e.g. the history's kill), kills it with SIGKILL and checks that this is how it died. */
  async kill(slot: number, onKill: (process: string) => void): Promise<void> {
    const instance = this.slots[slot];
    assert.ok(instance !== undefined, `slot ${slot} has a live server`);
    this.slots[slot] = undefined;
    onKill(instance.target.process);
    this.#ended.add(instance.target.process);
    assert.equal(await instance.server.stop('SIGKILL', 5000), null, `${instance.target.process} ended before the kill: ${instance.server.stderr()}\n${lastLogs(instance.server)}`);
    assert.equal(instance.server.process.signalCode, 'SIGKILL', `${instance.target.process} was killed, not stopped otherwise`);
  }

  /** Checks that only the killed processes died, then stops the live ones with SIGTERM (each must exit 0). */
  async stopAll(): Promise<void> {
    const live = this.live();
    for (const instance of this.every) {
      const { exitCode, signalCode } = instance.server.process;
      if (live.includes(instance)) assert.ok(exitCode === null && signalCode === null, `${instance.target.process} still runs: ${instance.server.stderr()}`);
      else assert.equal(signalCode, 'SIGKILL', `${instance.target.process} ended by the kill only: ${instance.server.stderr()}`);
    }
    for (const instance of live) {
      this.#ended.add(instance.target.process);
      assert.equal(await instance.server.stop('SIGTERM'), 0, instance.server.stderr());
    }
  }
}

export interface KillCyclesOptions {
  readonly cycles: number;
  readonly random: () => number;
  readonly servers: ChaosServers;
  readonly load: { waitForAcknowledged(more: number, what: string): Promise<void> };
  /** The history's kill, called before the signal. */
  readonly onKill: (process: string) => void;
  /** Acknowledged answers to wait for in each cycle before the kill: a random number in this range. */
  readonly answers: readonly [number, number];
  /** Called once, in the middle cycle, before its kill (e.g. the database stopped and started). */
  readonly midway?: (cycle: number) => Promise<void>;
}

/**
 * Each cycle: some answers, a random pause, then a random slot killed (SIGKILL)
 * and, after another short pause, started again. Returns the cycle `midway`
 * ran in (undefined without one).
 */
export async function runKillCycles(options: KillCyclesOptions): Promise<number | undefined> {
  const { random, servers } = options;
  const midCycle = options.midway === undefined ? undefined : Math.floor(options.cycles / 2) + 1;
  for (let cycle = 1; cycle <= options.cycles; cycle += 1) {
    await options.load.waitForAcknowledged(between(random, ...options.answers), `cycle ${cycle}`);
    await sleep(between(random, 0, 250));
    if (cycle === midCycle) await options.midway?.(cycle);
    const victim = between(random, 0, servers.slots.length - 1);
    await servers.kill(victim, options.onKill);
    await sleep(between(random, 0, 200));
    await servers.start(victim);
  }
  return midCycle;
}

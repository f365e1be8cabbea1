/**
 * The rows of `npm run bench`: what each starts, where it sends its load, and
 * how its figure reads (requests/s, numbers/s, reserve + confirm pairs/s).
 */
import { join } from 'node:path';
import { loadRedis } from './redis.js';
import { load, root, serveArgs, start, stop, type Measure } from './servers.js';

const post = 'wrk.method = "POST"\n';
/** 100,000 names, created by their first request during the run (each row has a fresh store). */
export const randomNames = 'math.randomseed(42)\nrequest = function() return wrk.format("POST", "/next/r-" .. math.random(1, 100000)) end\n';
/**
 * Reserve + confirm pairs on the gapless sequence `gapless`: each answer to
 * /next queues its reservation, and the next request a connection sends
 * confirms the oldest queued one (else reserves). Every request is one
 * durable commit (group-committed). done() prints the pairs confirmed and the
 * run's length, read by `pairsPerSecond`.
 */
const gaplessPairs = `
local pending = {}
confirmed = 0
request = function()
  local id = table.remove(pending, 1)
  if id then return wrk.format("POST", "/sequences/gapless/reservations/" .. id .. "/confirm") end
  return wrk.format("POST", "/next/gapless")
end
response = function(status, headers, body)
  local id = string.match(body, '"reservation":"([A-Za-z0-9_-]+)"')
  if id then table.insert(pending, id) elseif status == 200 then confirmed = confirmed + 1 end
end
local threads = {}
setup = function(thread) table.insert(threads, thread) end
done = function(summary, latency, requests)
  local pairs = 0
  for _, thread in ipairs(threads) do pairs = pairs + thread:get("confirmed") end
  io.write(string.format("confirmed pairs: %d in %d us\\n", pairs, summary.duration))
end
`;

export interface RunOptions {
  readonly connections: number;
  readonly seconds: number;
  readonly warmupSeconds: number;
}

export interface Row {
  /** The row's name in the table. */
  readonly what: string;
  /** The unit of its throughput figure, and that figure from one run. */
  readonly unit: string;
  readonly throughput: (measure: Measure) => number;
  /** Runs only at the first connection count of the run (it answers another question than the connection count's). */
  readonly firstConnectionsOnly?: boolean;
  /** When set, the row cannot run here; the text says how to install what it needs. */
  readonly missing?: string;
  readonly measure: (options: RunOptions) => Promise<Measure>;
}

const requestsPerSecond = (measure: Measure): number => measure.rps;

/** Starts `args` on a fresh folder, runs `prepare`, loads `path`, stops it. */
function served(args: readonly string[], path: string, script: string, prepare?: (url: string) => Promise<void>): Row['measure'] {
  return async (options) => {
    const server = await start(args);
    try {
      await prepare?.(server.url);
      return await load(server, path, { ...options, script });
    } finally {
      await stop(server);
    }
  };
}

async function createGapless(url: string): Promise<void> {
  const created = await fetch(`${url}/sequences/gapless`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"gapless":true}' });
  if (created.status !== 201) throw new Error(`PUT /sequences/gapless answered ${created.status}: ${await created.text()}`);
}

export const FLOOR = 'floor: bare node:http, constant body, no fsync';
export const DURABLE_FLOOR = 'durable floor: bare node:http, append + fdatasync per event-loop turn';

export function rows(redisMissing: string | undefined): Row[] {
  return [
    { what: FLOOR, unit: 'requests/s', throughput: requestsPerSecond, measure: served(['--import', 'tsx', join(root, 'bench/floor.ts')], '/next/bench', post) },
    {
      what: DURABLE_FLOOR,
      unit: 'requests/s',
      throughput: requestsPerSecond,
      measure: served(['--import', 'tsx', join(root, 'bench/floor-durable.ts')], '/next/bench', post),
    },
    {
      what: 'Redis INCR, appendfsync always (redis-benchmark)',
      unit: 'commands/s',
      throughput: requestsPerSecond,
      ...(redisMissing === undefined ? {} : { missing: redisMissing }),
      measure: loadRedis,
    },
    { what: 'POST /next/hot (one hot sequence)', unit: 'requests/s', throughput: requestsPerSecond, measure: served(serveArgs(), '/next/hot', post) },
    { what: 'POST /next/r-N (100,000 random names)', unit: 'requests/s', throughput: requestsPerSecond, measure: served(serveArgs(), '/', randomNames) },
    {
      what: 'POST /next/batch?count=1000',
      unit: 'numbers/s',
      throughput: (measure) => measure.rps * 1000,
      measure: served(serveArgs(), '/next/batch?count=1000', post),
    },
    {
      what: 'POST /next/gapless + …/confirm (reserve + confirm pairs, one gapless sequence)',
      unit: 'pairs/s',
      throughput: (measure) => {
        const match = /confirmed pairs: (\d+) in (\d+) us/.exec(measure.out);
        return match === null ? 0 : Number(match[1]) / (Number(match[2]) / 1e6);
      },
      firstConnectionsOnly: true,
      measure: served(serveArgs(), '/', gaplessPairs, createGapless),
    },
  ];
}

/**
 * What recording costs on the /next path (GET /stats's tracker): ns per
 * LiveStats.allocated + answered, one hot name or 100,000 names spread, with
 * a second closed every 1,000,000 calls; and the heap the window holds with
 * 1,000,000 names. Run: node --expose-gc --import tsx bench/live-stats.ts
 */
import { LiveStats } from '../src/live-stats.js';

const NAMES = Array.from({ length: 1_000_000 }, (_, i) => `r-${i}`);
const CALLS = 10_000_000;

function run(label: string, spread: number): void {
  const stats = new LiveStats();
  let next = 0;
  const started = process.hrtime.bigint();
  for (let i = 0; i < CALLS; i += 1) {
    next = (next + 7919) % spread;
    stats.allocated(NAMES[next] as string, 1);
    stats.answered();
    if (i % 1_000_000 === 999_999) stats.closeSecond();
  }
  const ns = Number(process.hrtime.bigint() - started) / CALLS;
  // The loop without recording: the names' own cost (reading them from a large array).
  const bare = process.hrtime.bigint();
  let length = 0;
  for (let i = 0; i < CALLS; i += 1) {
    next = (next + 7919) % spread;
    length += (NAMES[next] as string).length;
  }
  const bareNs = Number(process.hrtime.bigint() - bare) / CALLS;
  if (length === 0) throw new Error('no names');
  stats.busiest(20); // warm
  stats.closeSecond();
  const busiest = process.hrtime.bigint();
  stats.busiest(20);
  stats.rates(NAMES.slice(0, 100));
  const statsMs = Number(process.hrtime.bigint() - busiest) / 1e6;
  console.log(`${label}: ${(ns - bareNs).toFixed(1)} ns per allocation recorded (${ns.toFixed(1)} with the loop); busiest(20) + 100 rates: ${statsMs.toFixed(1)} ms`);
}

function heap(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed;
}

run('1 name', 1);
run('100,000 names', 100_000);
run('1,000,000 names', 1_000_000);
// The names come from requests: strings of their own, which the window keeps alive.
const before = heap();
const full = new LiveStats();
for (let second = 0; second < 10; second += 1) {
  for (let i = 0; i < 1_000_000; i += 1) full.allocated(`r-${(i * 7919 + second) % 1_000_000}`, 1);
  full.closeSecond();
}
console.log(`heap held by the rate window, full (10 s x 5,000 names, of 1,000,000 names): ${((heap() - before) / 1e6).toFixed(1)} MB`);
full.answered();

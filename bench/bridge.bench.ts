/**
 * Bridge overhead: p50/p99 of an empty round trip, and throughput of 1,000 strings of ~200 characters each way —
 * through PythonWorker (envelope, zod validation, death tracking) and, side by side in the same run, through
 * pythonia directly (the reference: the same Python function, no checks). Run: `npx tsx bench/bridge.bench.ts`.
 */
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { diagnostics } from '../fixtures/diagnostics.js';
import { PythonWorker } from '../ts/bridge/worker.js';

const ROUND_TRIPS = 2_000;
const BATCHES = 30;
const STRINGS = 1_000;
const STRING_CHARS = 200;

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

async function measure(label: string, call: (texts: string[]) => Promise<unknown>) {
  for (let i = 0; i < 50; i++) await call([]);
  const times: number[] = [];
  for (let i = 0; i < ROUND_TRIPS; i++) {
    const start = performance.now();
    await call([]);
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  const texts = Array.from({ length: STRINGS }, (_, i) => `${i}:`.padEnd(STRING_CHARS, 'abcdefghij'));
  const start = performance.now();
  for (let i = 0; i < BATCHES; i++) await call(texts);
  const seconds = (performance.now() - start) / 1000;
  return {
    path: label,
    'empty p50 (ms)': quantile(times, 0.5).toFixed(3),
    'empty p99 (ms)': quantile(times, 0.99).toFixed(3),
    '1k×200-char batch, both ways (ms)': ((seconds / BATCHES) * 1000).toFixed(1),
    'strings/s each way': Math.round((BATCHES * STRINGS) / seconds),
  };
}

// echo is a test diagnostic: the worker imports it into service.py's method table, which the reference calls too.
const worker = new PythonWorker({ extension: diagnostics });
await worker.call('ping', {});
const pythonia = createRequire(import.meta.url)('pythonia') as {
  python: (m: string) => Promise<{ call$: (n: string, p: string, o: { $timeout: number }) => Promise<string> }>;
};
const service = await pythonia.python('refine_af.service');
const rows = [
  await measure('pythonia direct (reference)', async (texts) =>
    JSON.parse(await service.call$('echo', JSON.stringify({ texts }), { $timeout: Infinity })),
  ),
  await measure('PythonWorker (typed bridge)', (texts) => worker.call('echo', { texts })),
];
console.table(rows);
await worker.close();

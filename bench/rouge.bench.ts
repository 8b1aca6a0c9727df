/**
 * The novelty filter: 15,000 candidates into a pool growing from the 175 seeds, ours (ts/rouge) against the reference
 * (rouge_score, every pair scored, as Alpaca's generate_instruction.py does) in one run. The reference would take
 * hours on all 15,000, so it runs on two windows — the first candidates (small pool) and a window near the end
 * (largest pool, the pool state given by the decisions before it) — where its decisions and max scores must equal
 * ours; its pairs/second there extrapolates its time for the whole run.
 *
 *   npx tsx bench/rouge.bench.ts            (CANDIDATES, EARLY, LATE override the sizes)
 */

import { cpus } from 'node:os';
import { execaSync } from 'execa';
import { defaultPython } from '../ts/paths.js';
import { type DedupRecord, offerCandidate } from '../ts/rouge/dedup.js';
import { NoveltyIndex } from '../ts/rouge/index.js';
import { LONG_SHARE, makeCandidates, NEAR_DUPLICATE_SHARE, seedInstructions } from './candidates.js';

const COUNT = Number(process.env.CANDIDATES ?? 15_000);
const EARLY = Number(process.env.EARLY ?? 300);
const LATE = Number(process.env.LATE ?? 60);
const THRESHOLD = 0.7;
const TOP_K = 10;

const seeds = seedInstructions();
const candidates = makeCandidates(COUNT, 1);

// Ours, on everything.
const index = new NoveltyIndex(seeds);
const cpu0 = process.cpuUsage();
const wall0 = performance.now();
const ours: DedupRecord[] = candidates.map((c) => offerCandidate(index, c, { threshold: THRESHOLD, topK: TOP_K }));
const oursWall = (performance.now() - wall0) / 1000;
const oursCpuUsage = process.cpuUsage(cpu0);
const oursCpu = (oursCpuUsage.user + oursCpuUsage.system) / 1e6;

// The reference, on two windows.
interface ReferenceResult {
  kept: boolean[];
  max_rouge_l: number[];
  pairs: number;
  seconds: number;
  cpu_seconds: number;
}
function reference(pool: string[], window: string[]): ReferenceResult {
  const { stdout } = execaSync(defaultPython, [new URL('./rouge_reference.py', import.meta.url).pathname], {
    input: JSON.stringify({ pool, candidates: window, threshold: THRESHOLD }),
    maxBuffer: 1 << 28,
  });
  return JSON.parse(stdout);
}
const lateStart = COUNT - LATE;
const keptBefore = (end: number) => candidates.slice(0, end).filter((_, i) => ours[i]!.kept);
const windows = [
  { name: `first ${EARLY}`, start: 0, result: reference(seeds, candidates.slice(0, EARLY)) },
  { name: `last ${LATE}`, start: lateStart, result: reference([...seeds, ...keptBefore(lateStart)], candidates.slice(lateStart)) },
];

let mismatches = 0;
for (const { start, result } of windows) {
  result.kept.forEach((kept, i) => {
    const mine = ours[start + i]!;
    if (mine.kept !== kept || mine.max_rouge_l !== result.max_rouge_l[i]) mismatches++;
  });
}
const refPairs = windows.reduce((s, w) => s + w.result.pairs, 0);
const refSeconds = windows.reduce((s, w) => s + w.result.seconds, 0);
const refCpuSeconds = windows.reduce((s, w) => s + w.result.cpu_seconds, 0);
// Extrapolated by pairs: the reference's cost is one LCS per pair, whatever the pool holds.
const refWall = (index.counters.pairs * refSeconds) / refPairs;
const refCpu = (index.counters.pairs * refCpuSeconds) / refPairs;
const kept = ours.filter((r) => r.kept).length;
const c = index.counters;

const fmt = (x: number, digits = 0) => x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
console.log(
  `candidates: ${COUNT} (seeded; ${NEAR_DUPLICATE_SHARE * 100}% near-duplicates, ${LONG_SHARE * 100}% long), kept ${kept}, pool ${seeds.length} → ${index.size}`,
);
console.log(
  `pairs (candidate × pool at its turn): ${fmt(c.pairs)}; sharing a token: ${fmt(c.pairsSharingTokens)}; LCS computed: ${fmt(c.pairsScored)} (${fmt((100 * c.pairsScored) / c.pairs, 2)}%)`,
);
console.log(
  `reference windows: ${windows.map((w) => `${w.name} (${fmt(w.result.pairs)} pairs, ${fmt(w.result.seconds, 1)} s wall, ${fmt(w.result.cpu_seconds, 1)} s CPU)`).join('; ')}`,
);
console.log(`decisions and max scores compared on ${EARLY + LATE} candidates: ${mismatches} mismatches`);
console.log(`machine: ${cpus().length} cores (${cpus()[0]?.model}), node ${process.version}; both single-threaded`);
console.log('');
console.log(`| implementation | clock | ${fmt(COUNT)} candidates (s) | pairs/s | speed-up |`);
console.log('| --- | --- | --- | --- | --- |');
const rows: [string, string, number, number][] = [
  [`rouge_score, every pair (reference; extrapolated from ${fmt(refPairs)} pairs)`, 'wall', refWall, refWall],
  ['ts/rouge NoveltyIndex', 'wall', oursWall, refWall],
  [`rouge_score, every pair (reference; extrapolated from ${fmt(refPairs)} pairs)`, 'CPU', refCpu, refCpu],
  ['ts/rouge NoveltyIndex', 'CPU', oursCpu, refCpu],
];
for (const [name, clock, seconds, base] of rows) {
  console.log(`| ${name} | ${clock} | ${fmt(seconds, seconds < 100 ? 2 : 0)} | ${fmt(c.pairs / seconds)} | ${fmt(base / seconds)}× |`);
}
if (mismatches > 0) process.exitCode = 1;

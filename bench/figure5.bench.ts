/**
 * Figure 5's cost: the max ROUGE-L of generated instructions against a reference set the size of Self-Instruct's
 * GPT-3 generations (about 52K instructions; the real file is not vendored, seeds/README.md), through ts/rouge's
 * NoveltyIndex as `refine-af stats` computes it. The reference and the queries are bench/candidates.ts's seeded
 * stand-ins; the first CHECKED queries are also scored against every reference entry, and must agree exactly.
 *
 *   npx tsx bench/figure5.bench.ts            (REFERENCE, QUERIES, CHECKED override the sizes)
 */
import { NoveltyIndex } from '../ts/rouge/index.js';
import { rougeL } from '../ts/rouge/score.js';
import { makeCandidates } from './candidates.js';

const REFERENCE = Number(process.env.REFERENCE ?? 52_000);
const QUERIES = Number(process.env.QUERIES ?? 200);
const CHECKED = Number(process.env.CHECKED ?? 10);

const reference = makeCandidates(REFERENCE, 1);
const queries = makeCandidates(QUERIES, 2);

const seconds = <T>(work: () => T): [T, number, number] => {
  const cpu = process.cpuUsage();
  const wall = performance.now();
  const result = work();
  const used = process.cpuUsage(cpu);
  return [result, (performance.now() - wall) / 1000, (used.user + used.system) / 1e6];
};

const [index, buildWall, buildCpu] = seconds(() => new NoveltyIndex(reference));
const [scores, queryWall, queryCpu] = seconds(() => queries.map((q) => index.nearest(q, 1).maxScore));
const mismatches = queries.slice(0, CHECKED).filter((q, i) => Math.max(...reference.map((r) => rougeL(r, q))) !== scores[i]).length;

const c = index.counters;
console.log(`reference ${REFERENCE.toLocaleString('en-US')} instructions, ${QUERIES} queries`);
console.log(`index build: ${buildWall.toFixed(2)} s wall, ${buildCpu.toFixed(2)} s CPU`);
console.log(
  `queries: ${queryWall.toFixed(2)} s wall, ${queryCpu.toFixed(2)} s CPU (${((1000 * queryWall) / QUERIES).toFixed(1)} ms per instruction)`,
);
console.log(`mean max ROUGE-L ${(scores.reduce((a, b) => a + b, 0) / QUERIES).toFixed(3)}`);
console.log(
  `pairs ${c.pairs.toLocaleString('en-US')}, sharing a token ${c.pairsSharingTokens.toLocaleString('en-US')}, LCS computed ${c.pairsScored.toLocaleString('en-US')}`,
);
console.log(`checked against every pair: ${CHECKED} queries, ${mismatches} mismatches`);

/**
 * Start-up and a whole short command, side by side in one run: the `refine-af` command as it was (its bin registered
 * tsx and imported ts/cli.ts, compiling TypeScript at every start) against the compiled dist/ that bin/refine-af.js
 * imports now. Measures `refine-af --help` and `refine-af dedup` on 15,000 candidates (bench/candidates.ts, the
 * ROUGE benchmark's stand-in; pool = the 175 seeds), wall clock and CPU (user + system), interleaved run by run so
 * both see the same load.
 *
 * Run: `make build && npx tsx bench/startup.bench.ts` (HELP_RUNS=10, DEDUP_RUNS=3 override the counts). Prints Markdown.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageRoot } from '../ts/paths.js';
import { makeCandidates } from './candidates.js';

const helpRuns = Number(process.env.HELP_RUNS ?? 10);
const dedupRuns = Number(process.env.DEDUP_RUNS ?? 3);
const work = mkdtempSync(join(tmpdir(), 'startup-bench-'));

// The bin as it was before the build step, verbatim but for the absolute path.
const tsxBin = join(work, 'refine-af-tsx.mjs');
const tsxApi = import.meta.resolve('tsx/esm/api');
const cliSource = pathToFileURL(join(packageRoot, 'ts', 'cli.ts')).href;
writeFileSync(tsxBin, `import { register } from '${tsxApi}';\nregister();\nawait import('${cliSource}');\n`);
const commands = {
  'tsx on ts/cli.ts (before)': ['node', tsxBin],
  'node on dist/ (now)': ['node', join(packageRoot, 'bin', 'refine-af.js')],
} as const;
type Name = keyof typeof commands;

const candidates = join(work, 'candidates.jsonl');
writeFileSync(
  candidates,
  `${makeCandidates(15_000, 2026)
    .map((instruction) => JSON.stringify({ instruction }))
    .join('\n')}\n`,
);
const dedupArgs = ['dedup', '--pool', join(packageRoot, 'seeds', 'seed_tasks.jsonl'), '--candidates', candidates, '--threshold', '0.7'];

interface Sample {
  wall: number;
  cpu: number;
}
function timed(argv: readonly string[]): Sample {
  const run = spawnSync('/usr/bin/time', ['-f', 'TIME %e %U %S', ...argv], {
    cwd: work,
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  const line = run.stderr.split('\n').find((l) => l.startsWith('TIME '));
  if (run.status !== 0 || !line) throw new Error(`${argv.join(' ')} failed (${run.status}): ${run.stderr.slice(-2000)}`);
  const [wall, user, system] = line.slice(5).split(' ').map(Number) as [number, number, number];
  return { wall, cpu: user + system };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function measure(label: string, args: (run: number) => string[], runs: number): string[] {
  const samples: Record<Name, Sample[]> = { 'tsx on ts/cli.ts (before)': [], 'node on dist/ (now)': [] };
  for (const name of Object.keys(commands) as Name[]) timed([...commands[name], ...args(-1)]); // warm-up: file caches, tsx's cache
  for (let i = 0; i < runs; i++)
    for (const name of Object.keys(commands) as Name[]) samples[name].push(timed([...commands[name], ...args(i)]));
  const before = samples['tsx on ts/cli.ts (before)'];
  return (Object.keys(commands) as Name[]).map((name) => {
    const s = samples[name];
    const speedup = median(before.map((x) => x.wall)) / median(s.map((x) => x.wall));
    return `| ${label} | ${name} | ${runs} | ${median(s.map((x) => x.wall)).toFixed(2)} | ${Math.min(...s.map((x) => x.wall)).toFixed(2)} | ${median(s.map((x) => x.cpu)).toFixed(2)} | ${speedup.toFixed(2)}× |`;
  });
}

const loadBefore = loadavg()[0]!;
const rows = [
  ...measure('`refine-af --help`', () => ['--help'], helpRuns),
  ...measure('`refine-af dedup`, 15,000 candidates', (i) => [...dedupArgs, '--out', join(work, `dedup-${i}.jsonl`)], dedupRuns),
];
console.log('| command | how it starts | runs | median wall (s) | best wall (s) | median CPU (s) | wall speed-up |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const row of rows) console.log(row);
console.log(`\nLoad average (1 min) ${loadBefore.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after; ${process.version}.`);

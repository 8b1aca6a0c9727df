/**
 * `make reliability`: run the crash harness with N kill points per stage and the fault tests, and write RELIABILITY.md.
 *
 *   npx tsx tests/reliability/report.ts [--seed 2026] [--per-stage 6] [--out RELIABILITY.md] [--work DIR] [--reuse-harness]
 *
 * --reuse-harness takes the crash harness's results from the last run with the same seed and count (in --work) and
 * re-runs only the fault tests.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { z } from 'zod';
import { packageRoot } from '../../ts/paths.js';
import { STAGE_NAMES } from '../../ts/pipeline/run.js';
import { crashAndResume, type HarnessReport } from './harness.js';

const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: '2026' },
    'per-stage': { type: 'string', default: '6' },
    out: { type: 'string', default: join(packageRoot, 'RELIABILITY.md') },
    work: { type: 'string', default: join(tmpdir(), 'refine-af-reliability') },
    'reuse-harness': { type: 'boolean', default: false },
  },
});
const seed = Number(values.seed);
const perStage = Number(values['per-stage']);
const work = values.work!;

/** Faults covered by tests elsewhere: what is injected, how often, what is checked; the result comes from running them now. */
interface FaultRow {
  fault: string;
  times: string;
  checked: string;
  file: string;
  /** Test titles (substrings) that make up the row. */
  tests: string[];
}

const FAULT_ROWS: FaultRow[] = [
  {
    fault: 'SIGINT (Ctrl-C) during PPO',
    times: '1',
    checked:
      'step in flight finished and checkpointed; exit 1; one error line "…; state saved, continue with: refine-af run --config X --resume"; no Python process left',
    file: 'tests/ts/run-faults.test.ts',
    tests: ['SIGINT during PPO'],
  },
  {
    fault: 'SIGTERM during stage 3',
    times: '1',
    checked: 'stops after the batch in flight (whole batches, no torn line); same message; no Python process left',
    file: 'tests/ts/run-faults.test.ts',
    tests: ['SIGTERM during stage 3'],
  },
  {
    fault: 'Python worker SIGKILLed mid-call (stage 3)',
    times: '1',
    checked: 'one error line "the Python process died (signal SIGKILL)"; batches done before are kept',
    file: 'tests/ts/run-faults.test.ts',
    tests: ['the worker killed mid-call'],
  },
  {
    fault: '…then `--resume` after the three faults above',
    times: '1',
    checked: 'the run completes; every JSONL artifact parses strictly, no duplicate key; PPO steps 1..3 and every pool index exactly once',
    file: 'tests/ts/run-faults.test.ts',
    tests: ['--resume then completes'],
  },
  {
    fault:
      "CPU out of memory in stage 2 (the worker's address space capped with prlimit RLIMIT_AS after step 1: the next rollout or PPO update fails to allocate)",
    times: '1',
    checked: 'one error line "worker.ppo_… failed in Python: out of memory (…)"; completed steps kept; --resume finishes all steps',
    file: 'tests/ts/run-oom.test.ts',
    tests: ['reports the out-of-memory in one line'],
  },
  {
    fault: 'Worker killed (idle, busy, closed), job killed, job aborted, Python exception in a call or job',
    times: '1 each',
    checked:
      'typed error (WorkerDiedError / PythonError with type, message, traceback); the next call starts a fresh worker; no process left',
    file: 'tests/ts/bridge.test.ts',
    tests: [
      'rejects every pending call when the worker dies',
      'SIGKILL during a long call',
      'reports a Python exception in a job',
      'reports a killed job as WorkerDiedError',
      'stops the job process when the caller aborts',
      'turns a Python exception into a typed error',
    ],
  },
  {
    fault: 'Generator path that does not exist',
    times: '1',
    checked: 'one error line naming the path; stage 1, already complete, kept',
    file: 'tests/ts/run-inputs.test.ts',
    tests: ['a generator path that does not exist'],
  },
  {
    fault: 'Interrupted stage re-run without --resume',
    times: '1',
    checked: 'refused with "pass --resume"',
    file: 'tests/ts/run-inputs.test.ts',
    tests: ['does not restart an interrupted stage'],
  },
  {
    fault: 'Config changed under an existing run',
    times: '1',
    checked: 'refused without --force, files byte-identical; --force discards that stage and later ones and redoes them',
    file: 'tests/ts/run-inputs.test.ts',
    tests: ['never overwrites artifacts made by a different config'],
  },
  {
    fault: 'Full disk mid-run (12 KiB tmpfs, root only)',
    times: '1',
    checked:
      'exit 1 naming ENOSPC; kept instructions parse strictly and are a prefix of the uninterrupted run; after remount with room, --resume gives the uninterrupted output',
    file: 'tests/ts/run-inputs.test.ts',
    tests: ['a full disk'],
  },
  {
    fault: 'Full disk under the crash-safe writer (short write)',
    times: '2',
    checked: 'append and atomic snapshot throw ENOSPC and leave the old content whole',
    file: 'tests/ts/run-inputs.test.ts',
    tests: ['the crash-safe writer on a full disk'],
  },
  {
    fault: 'Malformed YAML, wrongly typed value, unknown key (typo), non-mapping top level, missing file',
    times: '1 each',
    checked: 'error names file, line (and column), key path, value and expectation',
    file: 'tests/ts/config.test.ts',
    tests: ['wrongly typed value', 'unknown key', 'malformed YAML', 'not a mapping', 'missing file'],
  },
  {
    fault: 'Seed file with a broken line',
    times: '1',
    checked: 'error names the file and line',
    file: 'tests/ts/instructions.test.ts',
    tests: ['names the file and line of a bad one'],
  },
  {
    fault: 'Dataset with a missing or wrongly typed field (stage-3 pool, SFT dataset)',
    times: '3',
    checked: 'error names file, line and field before any model work; nothing written',
    file: 'tests/ts/bad-datasets.test.ts',
    tests: ['stage 3: a pool line', 'SFT: an IFT record'],
  },
  {
    fault: 'Super-NI directory with a missing task file',
    times: '1',
    checked: 'error names the missing file and the split line that lists it',
    file: 'tests/ts/eval-superni.test.ts',
    tests: ['names the missing task file'],
  },
  {
    fault: 'OpenAI-compatible server failing / rate-limiting / dying replica / all replicas down / wrong URL / unserved model',
    times: '1 each',
    checked:
      "the openai client's retries with backoff, Retry-After honoured; a dying replica's requests move to a healthy one; then one error naming the server(s); HTTP 404 not retried; an unserved model refused before any work",
    file: 'tests/ts/openai-backend.test.ts',
    tests: [
      'retries HTTP 503',
      'waits as long as a 429 Retry-After says',
      'gives up with an EndpointError naming the server',
      'moves the requests of a replica that dies',
      'fails when every replica is down',
      'HTTP 404 is not retried',
      'refuses a model the server does not list',
    ],
  },
  {
    fault: "Random model output into stage 1's parser and filters (fast-check)",
    times: '2000 + 2000 + 100 inputs',
    checked:
      'never throws; single-line trimmed instructions; only the last one of a cut completion marked truncated; numbered tasks round-trip',
    file: 'tests/ts/instructions-postprocess.property.test.ts',
    tests: ['never throws', 'recovers every numbered task', 'the filters give'],
  },
  {
    fault: "Random model output into stage 3's instance parser (fast-check)",
    times: 'fast-check default runs',
    checked: 'never throws; trimmed strings; no line of a next task kept; written instances recovered',
    file: 'tests/ts/instance-parser.test.ts',
    tests: ['never throws, returns trimmed strings', 'recovers every instance written', 'recovers labelled pairs'],
  },
  {
    fault: 'Random strings into the ROUGE tokenizer and LCS (fast-check)',
    times: 'fast-check default runs',
    checked: 'never throws; equals the rouge_score package and the DP LCS',
    file: 'tests/ts/rouge.test.ts',
    tests: ['never throws on any string', 'matches the package on random strings', 'equals the dynamic-programming LCS'],
  },
  {
    fault:
      "Rating web app: no token, forged cookie, wrong token, another rater's token, CSRF missing/forged, cross-origin and Origin:null posts, oversized bodies (declared and streamed), wrong content type, malformed bodies, markup in stored text, DNS-rebinding Host",
    times: '1 each',
    checked: 'refused (401/403/413/415/400/421) or rendered inert',
    file: 'tests/ts/human-eval-server.test.ts',
    tests: [
      'without a valid token',
      'loopback name',
      "another rater's items",
      'forged, cross-site',
      'oversized bodies',
      'malformed bodies',
      'markup in instructions',
    ],
  },
];

const vitestJson = z.object({
  testResults: z.array(z.object({ name: z.string(), assertionResults: z.array(z.object({ fullName: z.string(), status: z.string() })) })),
});

async function runFaultTests(): Promise<Map<string, { fullName: string; status: string }[]>> {
  const files = [...new Set(FAULT_ROWS.map((r) => r.file))];
  const output = join(work, 'vitest.json');
  await execa('npx', ['vitest', 'run', ...files, '--reporter=json', `--outputFile=${output}`], {
    cwd: packageRoot,
    reject: false,
    stdio: 'inherit',
  });
  const report = vitestJson.parse(JSON.parse(readFileSync(output, 'utf8')));
  return new Map(report.testResults.map((f) => [f.name.replace(`${packageRoot}/`, ''), f.assertionResults]));
}

function faultResult(row: FaultRow, results: Map<string, { fullName: string; status: string }[]>): string {
  const tests = row.tests.map((title) => results.get(row.file)?.find((t) => t.fullName.includes(title)));
  const statuses = tests.map((t) => t?.status ?? 'not found');
  const passed = statuses.filter((s) => s === 'passed').length;
  const other = statuses.filter((s) => s !== 'passed');
  return other.length === 0 ? `pass (${passed}/${statuses.length} tests)` : `**${other.join(', ')}** (${passed}/${statuses.length} passed)`;
}

function crashTable(report: HarnessReport): string[] {
  const lines = [
    '| Stage the SIGKILL landed in | Kills | Kill moments (progress counter at the kill) | Python processes left 10 s after | Torn JSONL lines | Work redone on resume |',
    '|---|---|---|---|---|---|',
  ];
  for (const stage of [...STAGE_NAMES, 'none'] as const) {
    const kills = report.kills.filter((k) => k.landed === stage);
    if (kills.length === 0 && stage === 'none') continue;
    const redone = kills.map((k) => k.redone);
    lines.push(
      `| ${stage === 'none' ? 'none (run finished before the kill moment)' : stage} | ${kills.length} | ${kills.map((k) => k.progressAtKill).join(', ') || '-'} | ` +
        `${kills.reduce((a, k) => a + k.orphans, 0)} | ${kills.reduce((a, k) => a + k.tornLines, 0)} | ${redone.length ? `max ${Math.max(...redone)}` : '-'} |`,
    );
  }
  return lines;
}

async function main(): Promise<void> {
  mkdirSync(work, { recursive: true });
  console.log(`crash harness: seed ${seed}, ${perStage} kill points per stage, work dir ${work}`);
  const saved = join(work, `crash-${seed}-${perStage}.json`);
  const report: HarnessReport = values['reuse-harness']
    ? (JSON.parse(readFileSync(saved, 'utf8')) as HarnessReport)
    : await crashAndResume(work, { seed, perStage });
  writeFileSync(saved, JSON.stringify(report, null, 2));
  const compared = Object.entries(report.comparison);
  const equal = compared.filter(([, same]) => same).length;
  const parsed = Object.entries(report.strictParse);
  console.log('fault tests: vitest');
  const results = await runFaultTests();

  const md = [
    '# Reliability',
    '',
    'What a long run survives, shown by tests. Produced by `make reliability` ' +
      `(\`npx tsx tests/reliability/report.ts --seed ${seed} --per-stage ${perStage}\`); every figure below comes from that run.`,
    '',
    '## Crash and resume (SIGKILL), every stage',
    '',
    `A real \`refine-af run\` (child process, its own Python worker and jobs) on tiny settings — stage 1 on the deterministic ` +
      'OpenAI-compatible test server (tests/ts/fixtures/completions-server.ts), stages 2, 3 and SFT on a scripted tiny Llama ' +
      '(tests/py/scripted_llama.py), the judge as feedback backend — is SIGKILLed at ' +
      `${report.kills.length} seeded points (seed ${seed}: ${perStage} per stage, each at a random progress counter and a random delay after it ` +
      `of up to one unit of that stage's work as timed in the uninterrupted run: ${STAGE_NAMES.map((st) => `${st} ${(report.times.unitMs[st] / 1000).toFixed(1)} s of ${(report.times.stageMs[st] / 1000).toFixed(1)} s`).join(', ')}), resumed with \`--resume\` after each, ${report.attempts} attempts in all, and compared with an uninterrupted run of the same config.`,
    'Only the Node process is killed, as in a real crash: its Python worker and job must exit on their own.',
    '',
    ...crashTable(report),
    '',
    '"Work redone": stage 1, kept instructions written after the last snapshot (cut and generated again); stage 2, PPO steps logged after ' +
      'the last complete checkpoint; stage 3 and SFT appends/checkpoints are kept whole (0). A redone unit is at most the batch in flight.',
    '',
    `| Check after the last resume | Result |`,
    '|---|---|',
    `| Every JSONL artifact read strictly (no torn-tail repair) | ${parsed.every(([, p]) => p.ok) ? 'pass' : '**FAIL**'}: ${parsed.map(([n, p]) => `${n} ${p.ok ? `${p.records} records` : p.error}`).join('; ')} |`,
    `| No duplicate (instruction, PPO step, rollout, pool index, instance, training pair) | ${parsed.every(([, p]) => p.duplicates === 0) ? 'pass' : '**FAIL**'}: ${parsed.reduce((a, [, p]) => a + p.duplicates, 0)} duplicates |`,
    `| Every artifact equal to the uninterrupted run's | ${equal === compared.length ? 'pass' : '**FAIL**'}: ${equal}/${compared.length} equal${
      equal < compared.length
        ? ` (differ: ${compared
            .filter(([, s]) => !s)
            .map(([n]) => n)
            .join(', ')})`
        : ''
    } |`,
    '',
    "Compared: every file of the run directory except logs, the config copy, the Trainer's pickled arguments (they hold the absolute run " +
      'directory) and intermediate checkpoints (which ones exist depends on where the kills fell); paths are compared relative to the run ' +
      'directory, and wall-clock fields (`seconds*`, `runtime_s`, `updated_at`) and per-call figures (`generatedNow`, `resumed_from`, the ' +
      "Trainer's `train_loss`, a mean over the steps of the last call only) are left out. This includes the stage-1 instructions, the PPO " +
      'metrics and rollouts (sampled, seeded per step), the stage-3 generations (greedy) and the SFT adapter weights, byte for byte' +
      (equal === compared.length
        ? ': on this CPU, with fixed seeds, PPO and SFT resumed from a checkpoint are bit-identical to the uninterrupted run.'
        : '.'),
    '',
    `Reference run ${report.referenceSeconds.toFixed(0)} s; the whole experiment ${report.totalSeconds.toFixed(0)} s.`,
    '',
    '## Other faults',
    '',
    '| Fault injected | Times | Checked | Result | Test |',
    '|---|---|---|---|---|',
    ...FAULT_ROWS.map((row) => `| ${row.fault} | ${row.times} | ${row.checked} | ${faultResult(row, results)} | ${row.file} |`),
    '',
    'Not injected here: CUDA out-of-memory, recognised by the same `PythonError.isOutOfMemory` (torch.OutOfMemoryError), needs a GPU.',
    '',
  ].join('\n');
  // Biome aligns the tables' columns, and `make lint` checks RELIABILITY.md like any other file: write it the way Biome
  // would (formatted through stdin, so that an --out outside the project works too).
  const formatted = await execa('npx', ['biome', 'format', '--stdin-file-path=RELIABILITY.md'], { cwd: packageRoot, input: md });
  writeFileSync(values.out!, formatted.stdout.endsWith('\n') ? formatted.stdout : `${formatted.stdout}\n`);
  console.log(`wrote ${values.out}`);
}

await main();

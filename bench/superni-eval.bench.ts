/**
 * Super-NI evaluation throughput on CPU with the embedded model: instances per second of `evalSuperNi` (prompts, batched
 * generation through the worker, append + fsync per batch, scoring) and, side by side in the same run, the reference —
 * the same prompts in one bare `generate` call on the same loaded model. Then the scorer alone (EM + stemmed ROUGE-L),
 * against the benchmark's own scoring in Python (rouge_score) on the same pairs.
 * Run: `npx tsx bench/superni-eval.bench.ts [instances_per_task] [max_new_tokens]` (on the fixture in data/superni-mini).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { execa } from 'execa';
import { LocalWorkerBackend } from '../ts/backends/local.js';
import { PythonWorker } from '../ts/bridge/worker.js';
import { parseConfig } from '../ts/config/load.js';
import { buildPrompt, evalSuperNi, loadSuperNi, type Prediction, scoreSuperNi } from '../ts/eval/superni.js';

const instancesPerTask = Number(process.argv[2] ?? 2);
const maxNewTokens = Number(process.argv[3] ?? 32);
const dataDir = resolve(import.meta.dirname, '..', 'data', 'superni-mini');
const config = parseConfig({
  eval: { instances_per_task: instancesPerTask, batch_size: 8, decoding: { max_new_tokens: maxNewTokens, prompt_format: 'chat' } },
  models: { device: 'cpu' },
});

const worker = new PythonWorker();
const backend = new LocalWorkerBackend(worker, config.models, { stage: 'eval', batchSize: config.eval.batch_size, handle: 'bench' });
await backend.load();
const tasks = loadSuperNi(dataDir, instancesPerTask);
const n = tasks.reduce((sum, t) => sum + t.instances.length, 0);
const rate = (seconds: number, count = n) => (count / seconds).toFixed(count === n ? 2 : 0);

let start = performance.now();
await evalSuperNi(config, { dataDir, outDir: mkdtempSync(join(tmpdir(), 'bench-superni-')), backend, model: config.models.generator });
const evalSeconds = (performance.now() - start) / 1000;

const prompts = tasks.flatMap((t) => t.instances.map((i) => buildPrompt(config.eval.template, t, i)));
start = performance.now();
await backend.generate({
  prompts,
  seed: config.run.seed,
  decoding: { max_new_tokens: maxNewTokens, do_sample: false, temperature: 1, top_p: 1, stop: [], prompt_format: 'chat' },
});
const bareSeconds = (performance.now() - start) / 1000;
await worker.close();

// The scorer alone, on predictions that are another instance's reference (a realistic length), repeated to time it.
const allTasks = loadSuperNi(dataDir, 100);
const predictions: Prediction[] = allTasks.flatMap((t) =>
  t.instances.map((instance, i) => ({ id: instance.id, task: t.name, prediction: t.instances[(i + 1) % t.instances.length]!.output[0]! })),
);
const repeats = 50;
start = performance.now();
for (let r = 0; r < repeats; r++) scoreSuperNi(allTasks, predictions);
const scoreSeconds = (performance.now() - start) / 1000;
const pairs = allTasks.flatMap((t) =>
  t.instances.map((instance, _i) => [predictions.find((p) => p.id === instance.id)!.prediction, instance.output]),
);
const reference = await execa(
  resolve(import.meta.dirname, '..', '.venv', 'bin', 'python'),
  [resolve(import.meta.dirname, 'superni_score_reference.py')],
  {
    input: JSON.stringify({ pairs, repeats }),
  },
);
const referenceScoreSeconds = (JSON.parse(reference.stdout) as { seconds: number }).seconds;

console.log(
  `${n} instances (${tasks.length} tasks × ${instancesPerTask}), max_new_tokens ${maxNewTokens}, batch 8, ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]} load`,
);
console.table([
  { path: 'evalSuperNi (prompts, generate, append+fsync, score)', seconds: evalSeconds.toFixed(1), 'instances/s': rate(evalSeconds) },
  { path: 'bare worker generate, one call (reference)', seconds: bareSeconds.toFixed(1), 'instances/s': rate(bareSeconds) },
  {
    path: 'scoring only (EM + stemmed ROUGE-L), TS',
    seconds: scoreSeconds.toFixed(2),
    'instances/s': rate(scoreSeconds, repeats * predictions.length),
  },
  {
    path: 'scoring only, rouge_score + Python EM (reference)',
    seconds: referenceScoreSeconds.toFixed(2),
    'instances/s': rate(referenceScoreSeconds, repeats * predictions.length),
  },
]);

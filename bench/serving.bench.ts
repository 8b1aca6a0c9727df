/**
 * The local torch worker against llama.cpp's server (backend llama_cpp, started by the stage), side by side in one run,
 * on the same model (the embedded SmolLM2-135M-Instruct: float32 safetensors-equivalent weights in the worker, its Q4_1
 * GGUF in llama.cpp), the same prompts, seed and decoding settings: stage-1 kept instructions per minute, and Super-NI
 * instances per second on data/superni-mini. The two backends alternate, ROUNDS times, so that a change in the
 * machine's load falls on both.
 *
 * llama.cpp runs twice: on half the cores (llama-cpp-python's own default) and on every core (the schema's default,
 * n_threads null, as the torch worker has).
 *
 *   npx tsx bench/serving.bench.ts      (PROMPTS=8 stage-1 prompts, MAX_NEW_TOKENS=64, SUPERNI_PER_TASK=1, ROUNDS=1)
 */
import { mkdtempSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BackendKind, stageBackendSpec, withStageBackend, workerFromConfig } from '../ts/backends/from-config.js';
import { parseConfig } from '../ts/config/load.js';
import { evalSuperNi } from '../ts/eval/superni.js';
import { packageRoot } from '../ts/paths.js';
import { generateInstructionsWith } from '../ts/stages/instructions.js';

const PROMPTS = Number(process.env.PROMPTS ?? 8);
const MAX_NEW_TOKENS = Number(process.env.MAX_NEW_TOKENS ?? 64);
const SUPERNI_PER_TASK = Number(process.env.SUPERNI_PER_TASK ?? 1);
const ROUNDS = Number(process.env.ROUNDS ?? 1);
const HALF_THE_CORES = Math.max(1, Math.floor(availableParallelism() / 2));
const BACKENDS: { label: string; kind: BackendKind; threads: number | null }[] = [
  { label: 'local', kind: 'local', threads: null },
  { label: `llama_cpp, n_threads ${HALF_THE_CORES}`, kind: 'llama_cpp', threads: HALF_THE_CORES },
  { label: `llama_cpp, n_threads ${availableParallelism()}`, kind: 'llama_cpp', threads: null },
];

const configFor = (kind: BackendKind, threads: number | null) =>
  parseConfig({
    run: { dir: mkdtempSync(join(tmpdir(), `bench-serving-${kind}-`)), seed: 1 },
    server: { llama_cpp: { n_threads: threads } },
    logging: { level: 'warn' },
    // Batches as large as the work: the worker batches them, the server gets them as concurrent requests.
    openai: { concurrency: PROMPTS },
    instructions: { backend: kind, request_batch_size: PROMPTS, decoding: { max_new_tokens: MAX_NEW_TOKENS } },
    eval: { backend: kind, instances_per_task: SUPERNI_PER_TASK, batch_size: 12 * SUPERNI_PER_TASK, decoding: { max_new_tokens: 32 } },
  });

const worker = workerFromConfig(parseConfig({}));
const rows: string[] = [];
try {
  for (let round = 1; round <= ROUNDS; round++) {
    for (const { label, kind, threads } of BACKENDS) {
      const config = configFor(kind, threads);
      // Start-up (loading the model, starting the server) is timed apart from the work.
      const opened = performance.now();
      await withStageBackend(config, stageBackendSpec(config, 'instructions', { worker, handle: 'generator' }), async (backend) => {
        const ready = performance.now();
        const summary = await generateInstructionsWith(config, backend, { maxRequests: PROMPTS });
        const seconds = (performance.now() - ready) / 1000;
        rows.push(
          `| ${round} | ${label} | stage 1 | ${((ready - opened) / 1000).toFixed(1)} | ${summary.requests} prompts → ${summary.generated} generated, ${summary.kept} kept | ${seconds.toFixed(1)} | ${((60 * summary.kept) / seconds).toFixed(1)} kept/min | ${loadavg()[0]!.toFixed(1)} |`,
        );
      });
      const dataDir = join(packageRoot, 'data', 'superni-mini');
      const outDir = mkdtempSync(join(tmpdir(), `bench-serving-superni-${kind}-`));
      const openedEval = performance.now();
      await withStageBackend(config, stageBackendSpec(config, 'eval', { worker, handle: 'bench-superni' }), async (backend) => {
        const ready = performance.now();
        const report = await evalSuperNi(config, { dataDir, outDir, backend, model: config.models.generator });
        const seconds = (performance.now() - ready) / 1000;
        rows.push(
          `| ${round} | ${label} | Super-NI | ${((ready - openedEval) / 1000).toFixed(1)} | ${report.overall.instances} instances | ${seconds.toFixed(1)} | ${(report.overall.instances / seconds).toFixed(3)} inst/s | ${loadavg()[0]!.toFixed(1)} |`,
        );
      });
      console.log(rows.at(-2));
      console.log(rows.at(-1));
    }
  }
} finally {
  await worker.close();
}
console.log('');
console.log(
  `stage 1: ${PROMPTS} prompts, max_new_tokens ${MAX_NEW_TOKENS}, seed 1; Super-NI: data/superni-mini × ${SUPERNI_PER_TASK} per task, greedy, 32 new tokens`,
);
console.log('| round | backend | work | start-up s | done | seconds | rate | load average (1 min) |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
for (const row of rows) console.log(row);

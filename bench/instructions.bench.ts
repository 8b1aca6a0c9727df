/**
 * Stage 1 generation speed: kept instructions per minute with the embedded SmolLM2-135M-Instruct for generation
 * batch sizes 1, 4 and 16, the same number of prompts each, one worker with the model loaded once.
 *
 *   npx tsx bench/instructions.bench.ts      (PROMPTS=16 prompts per batch size, MAX_NEW_TOKENS, BATCH_SIZES=1,4,16)
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { workerFromConfig } from '../ts/backends/from-config.js';
import { LocalWorkerBackend } from '../ts/backends/local.js';
import { parseConfig } from '../ts/config/load.js';
import { generateInstructionsWith } from '../ts/stages/instructions.js';

const PROMPTS = Number(process.env.PROMPTS ?? 16);
const BATCH_SIZES = (process.env.BATCH_SIZES ?? '1,4,16').split(',').map(Number);
const MAX_NEW_TOKENS = process.env.MAX_NEW_TOKENS === undefined ? undefined : Number(process.env.MAX_NEW_TOKENS);

const base = parseConfig({});
const worker = workerFromConfig(base);
try {
  const info = await new LocalWorkerBackend(worker, base.models, { stage: 'instructions', batchSize: 1 }).load();
  console.log(`model ${info.resolved.ref} on ${info.device} (${info.dtype}); ${PROMPTS} prompts per batch size`);
  console.log('');
  console.log('| batch size | prompts | max new tokens | generated | kept | seconds | kept/min | prompts/min |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const batchSize of BATCH_SIZES) {
    const config = parseConfig({
      run: { dir: mkdtempSync(join(tmpdir(), 'bench-stage1-')), seed: 1 },
      instructions: { request_batch_size: batchSize, ...(MAX_NEW_TOKENS ? { decoding: { max_new_tokens: MAX_NEW_TOKENS } } : {}) },
    });
    const start = performance.now();
    const summary = await generateInstructionsWith(
      config,
      new LocalWorkerBackend(worker, config.models, { stage: 'instructions', batchSize }),
      {
        maxRequests: PROMPTS,
      },
    );
    const seconds = (performance.now() - start) / 1000;
    const perMinute = (n: number) => ((60 * n) / seconds).toFixed(1);
    console.log(
      `| ${batchSize} | ${summary.requests} | ${config.instructions.decoding.max_new_tokens} | ${summary.generated} | ${summary.kept} | ${seconds.toFixed(0)} | ${perMinute(summary.kept)} | ${perMinute(summary.requests)} |`,
    );
  }
} finally {
  await worker.close();
}

/**
 * models.load_in_4bit is one setting per stage: each stage sends its own entry across the contract to the real Python
 * worker (load_model, ppo_init) or the SFT job. The settings alternate, so a stage reading another stage's entry, or one
 * flag for all, shows up. (On this CPU the flag is ignored by the loader; what is checked is what each stage asks for.)
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStageBackend, stageBackendSpec } from '../../ts/backends/from-config.js';
import type { MethodParams, WorkerMethod } from '../../ts/bridge/contract.js';
import { PythonWorker } from '../../ts/bridge/worker.js';
import { parseConfig } from '../../ts/config/load.js';
import { logger } from '../../ts/log.js';
import { generateInstances } from '../../ts/stages/instances.js';
import { generateInstructionsWith } from '../../ts/stages/instructions.js';
import { trainRlaf } from '../../ts/stages/rlaf.js';
import { runSft } from '../../ts/stages/sft.js';
import { buildGenerator } from '../reliability/harness.js';

/** The real worker, keeping a copy of the parameters of every call. */
class RecordingWorker extends PythonWorker {
  readonly calls: { method: WorkerMethod; params: unknown }[] = [];
  override call<M extends WorkerMethod>(name: M, params: MethodParams<M>, options?: { timeoutMs?: number }) {
    this.calls.push({ method: name, params });
    return super.call(name, params, options);
  }
  fourBit(method: WorkerMethod): boolean[] {
    return this.calls.filter((c) => c.method === method).map((c) => (c.params as { load_in_4bit: boolean }).load_in_4bit);
  }
}

const root = mkdtempSync(join(tmpdir(), 'refine-af-quantization-'));
const worker = new RecordingWorker();
let generator = '';
beforeAll(() => {
  generator = buildGenerator(root);
}, 600_000); // building the tiny model takes minutes on a loaded 2-core machine
afterAll(async () => {
  await worker.close();
  rmSync(root, { recursive: true, force: true });
});

const config = () =>
  parseConfig({
    run: { dir: root, seed: 3 },
    models: {
      generator,
      dtype: 'float32',
      device: 'cpu',
      load_in_4bit: { instructions: true, rlaf: false, instances: true, sft: false, eval: true },
    },
    pipeline: { method: 'self-instruct' },
    instructions: { request_batch_size: 1, decoding: { max_new_tokens: 4 } },
    rlaf: {
      steps: 1,
      ppo: { batch_size: 1, mini_batch_size: 1, gradient_accumulation_steps: 1, ppo_epochs: 1 },
      decoding: { max_new_tokens: 4 },
      out_dir: join(root, 'rlaf'),
    },
    instances: { batch_size: 2, decoding: { max_new_tokens: 8 }, drop_truncated: false },
    sft: {
      training: { max_steps: 1, per_device_train_batch_size: 1, gradient_accumulation_steps: 1, save_steps: 1, logging_steps: 1 },
      max_seq_length: 64,
    },
  });

describe('models.load_in_4bit: each stage loads with its own entry', () => {
  it('stage 1 loads the generator with instructions: true', async () => {
    const c = config();
    const { backend } = await openStageBackend(c, stageBackendSpec(c, 'instructions', { worker, handle: 'generator' }));
    await generateInstructionsWith(c, backend, { maxRequests: 1 });
    expect(worker.fourBit('load_model')).toEqual([true]);
  });

  it('stage 2 opens the PPO policy with rlaf: false', async () => {
    const pool = join(root, 'pool.jsonl');
    writeFileSync(pool, `${['Name a colour.', 'Name a fruit.'].map((instruction) => JSON.stringify({ instruction })).join('\n')}\n`);
    await trainRlaf(
      { ...config(), rlaf: { ...config().rlaf, pool } },
      { worker, reward: async (t) => t.map(() => ({ reward: 0, indicators: {} })) },
    );
    expect(worker.fourBit('policy_init')).toEqual([false]);
  });

  it('stage 3 loads the policy with instances: true', async () => {
    await generateInstances(
      { config: config(), worker, runDir: root, logger },
      { instructionsFile: join(root, 'pool.jsonl'), adapter: null },
    );
    expect(worker.fourBit('load_model')).toEqual([true, true]);
  });

  it('SFT runs its job with sft: false', async () => {
    const dataset = join(root, 'ift.jsonl');
    writeFileSync(dataset, `${JSON.stringify({ instruction: 'Name a colour.', input: '', output: 'red' })}\n`);
    const run = await runSft({ config: config(), worker, runDir: root, logger }, { datasetFile: dataset });
    expect(JSON.parse(readFileSync(join(run.outDir, 'result.json'), 'utf8')).params.load_in_4bit).toBe(false);
  });
});

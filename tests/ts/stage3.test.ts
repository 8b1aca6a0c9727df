/** Stage 3 and SFT end to end on a tiny random Llama (built by the pytest helper): real jobs, real worker, real files. */
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../ts/config/load.js';
import type { ConfigInput } from '../../ts/config/schema.js';
import { defaultPython, packageRoot } from '../../ts/paths.js';
import { withStageContext } from '../../ts/stages/context.js';
import { generateInstances } from '../../ts/stages/instances.js';
import { runSft, sftModelTemplates, sftPromptTemplates } from '../../ts/stages/sft.js';
import type { IftRecord } from '../../ts/stats/dataset.js';

const dir = mkdtempSync(join(tmpdir(), 'refine-af-stage3-'));
const tinyModel = join(dir, 'tiny-llama');
const datasetFile = join(dir, 'ift.jsonl');
const poolFile = join(dir, 'pool.jsonl');
const records: IftRecord[] = [
  { instruction: 'Name a colour.', input: '', output: 'red' },
  { instruction: 'Sort the list.', input: 'List: [3, 1, 2]', output: '[1, 2, 3]' },
  { instruction: 'Say hello.', input: '', output: 'hello there' },
  { instruction: 'Add the numbers.', input: 'Numbers: 2 and 3', output: '5' },
];

function config(runDir: string, extra: ConfigInput = {}) {
  return parseConfig({
    ...extra,
    run: { dir: runDir, seed: 3 },
    models: { generator: tinyModel, dtype: 'float32', device: 'cpu' },
    sft: {
      training: {
        learning_rate: 5e-2,
        lr_scheduler_type: 'constant',
        warmup_ratio: 0,
        max_steps: 12,
        gradient_accumulation_steps: 1,
        save_steps: 3,
        logging_steps: 3,
      },
      max_seq_length: 128,
      // A random tiny model's logits stay near uniform unless the head adapts too.
      lora: { target_modules: ['q_proj', 'v_proj', 'lm_head'] },
      ...extra.sft,
    },
  });
}

beforeAll(async () => {
  await execa(defaultPython, [join(packageRoot, 'tests', 'py', 'tiny_models.py'), tinyModel]);
  writeFileSync(datasetFile, records.map((r) => `${JSON.stringify(r)}\n`).join(''));
  writeFileSync(
    poolFile,
    `${readFileSync(join(packageRoot, 'seeds', 'seed_tasks.jsonl'), 'utf8')
      .split('\n')
      .slice(0, 6)
      .join('\n')}\n`,
  );
});

describe('SFT through runJob on a tiny model, then stage 3 with its adapter', () => {
  let adapterDir = '';

  it('is killed mid-run, resumes from its last checkpoint, lowers the loss, and is not redone once finished', async () => {
    const cfg = config(join(dir, 'sft-run'));
    const abort = new AbortController();
    const killed = withStageContext(cfg, (ctx) =>
      runSft(ctx, { datasetFile, signal: abort.signal, onProgress: (e) => e.type === 'progress' && e.step === 5 && abort.abort() }),
    );
    await expect(killed).rejects.toThrow(/cancelled/);

    const steps: number[] = [];
    const losses: number[] = [];
    const resumed = await withStageContext(cfg, (ctx) =>
      runSft(ctx, { datasetFile, onProgress: (e) => (e.type === 'progress' ? steps.push(e.step) : losses.push(e.loss)) }),
    );
    const from = Number(/checkpoint-(\d+)$/.exec(resumed.result.resumed_from ?? '')?.[1]);
    expect(from).toBeGreaterThanOrEqual(3); // at least the checkpoint written before the kill at step 5
    expect(steps[0]).toBe(from + 1);
    expect(steps.at(-1)).toBe(12);
    expect(resumed.result.steps).toBe(12);
    expect(resumed.instructions).toBe(4);
    const curve = resumed.result.loss_curve.map((p) => p.loss);
    expect(curve).toHaveLength(4); // steps 3, 6, 9, 12: the curve spans the killed and the resumed part
    expect(curve.at(-1)!).toBeLessThan(0.8 * curve[0]!);
    expect(readFileSync(join(resumed.result.model_dir, 'adapter_config.json'), 'utf8')).toContain('lm_head');
    expect(JSON.parse(readFileSync(join(resumed.result.model_dir, 'refine-af-config.json'), 'utf8')).sft.training.max_steps).toBe(12);
    // The template texts (not only their file names) are recorded beside the adapter: evaluation prompts it with them.
    const template = (file: string) => readFileSync(join(packageRoot, 'seeds', 'templates', file), 'utf8');
    expect(JSON.parse(readFileSync(join(resumed.result.model_dir, 'refine-af-sft.json'), 'utf8')).prompt_templates).toEqual({
      input: template('sft_alpaca_input.txt'),
      no_input: template('sft_alpaca_no_input.txt'),
    });
    adapterDir = resumed.result.model_dir;

    const again: unknown[] = [];
    const redone = await withStageContext(cfg, (ctx) => runSft(ctx, { datasetFile, onProgress: (e) => again.push(e) }));
    expect(again).toEqual([]);
    expect(redone.result).toEqual(resumed.result);
  });

  it('measures the loss of held-out instances before and after training, rendered with the training prompts', async () => {
    const cfg = config(join(dir, 'sft-held-out'));
    // The training instances themselves: a tiny random model cannot generalise, so only on them must the loss fall.
    const run = await withStageContext(cfg, (ctx) => runSft(ctx, { datasetFile, evalDatasetFile: datasetFile }));
    expect(readFileSync(join(run.outDir, 'eval.jsonl'), 'utf8')).toBe(readFileSync(run.trainFile, 'utf8'));
    expect(run.result.eval_loss_after!).toBeLessThan(0.8 * run.result.eval_loss_before!);
  });

  it('fine-tunes every weight with sft.lora: null: a whole model that evaluation recognises as ours, no adapter', async () => {
    const cfg = config(join(dir, 'sft-full'), { sft: { lora: null } });
    const run = await withStageContext(cfg, (ctx) => runSft(ctx, { datasetFile }));
    expect(run.result.adapter).toBe(false);
    expect(run.result.model_dir).toBe(join(run.outDir, 'model'));
    expect(run.result.merged_dir).toBeNull();
    expect(readdirSync(run.result.model_dir)).toEqual(expect.arrayContaining(['config.json', 'model.safetensors', 'tokenizer.json']));
    expect(readdirSync(run.result.model_dir)).not.toContain('adapter_config.json');
    expect(readFileSync(join(run.result.model_dir, 'model.safetensors'))).not.toEqual(readFileSync(join(tinyModel, 'model.safetensors')));
    const curve = run.result.loss_curve.map((p) => p.loss);
    expect(curve.at(-1)!).toBeLessThan(0.8 * curve[0]!);
    // Evaluation and stage 3 take the directory as a model of our SFT (its training prompts), as they take an adapter.
    expect(sftModelTemplates(run.result.model_dir)?.templates).toEqual(sftPromptTemplates(cfg.sft));
    const loads = await execa(defaultPython, [
      '-c',
      'import sys; from transformers import AutoModelForCausalLM; print(type(AutoModelForCausalLM.from_pretrained(sys.argv[1])).__name__)',
      run.result.model_dir,
    ]);
    expect(loads.stdout.trim()).toBe('LlamaForCausalLM');
  });

  it('stage 3 generates with the adapter, resumes exactly after a torn write, and refuses the wrong policy', async () => {
    const runDir = join(dir, 'stage3-run');
    // The short prompt: the full one (~1,500 tokens) is past the tiny model's 512 positions.
    const cfg = config(runDir, {
      instances: { template: 'instance_generation_short.txt', batch_size: 4, decoding: { max_new_tokens: 12, do_sample: true } },
    });
    const first = await withStageContext(cfg, (ctx) => generateInstances(ctx, { instructionsFile: poolFile, adapter: adapterDir }));
    expect(first.generatedNow).toBe(6);
    expect(first.poolSize).toBe(6);
    const generations = readFileSync(first.files.generations, 'utf8');
    const lines = generations
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { index: number; completion: string });
    expect(lines.map((l) => l.index)).toEqual([0, 1, 2, 3, 4, 5]);
    const summary = JSON.parse(readFileSync(first.files.summary, 'utf8'));
    expect(summary.policy).toBe(`local:${tinyModel}+${adapterDir}`);
    // Table V's "# of instructions" is the pool, whatever the tiny model's completions kept.
    expect(summary.statistics.pool_instructions).toBe(6);
    expect(first.statistics.pool_instructions).toBe(6);

    // A crash in the second batch: its append was torn half-way.
    const firstBatch = `${generations.split('\n').slice(0, 4).join('\n')}\n`;
    writeFileSync(first.files.generations, firstBatch);
    appendFileSync(first.files.generations, generations.split('\n')[4]!.slice(0, 20));
    const resumed = await withStageContext(cfg, (ctx) => generateInstances(ctx, { instructionsFile: poolFile, adapter: adapterDir }));
    expect(resumed.generatedNow).toBe(2);
    expect(readFileSync(first.files.generations, 'utf8')).toBe(generations);
    expect(resumed.statistics).toEqual(first.statistics);

    const done = await withStageContext(cfg, (ctx) => generateInstances(ctx, { instructionsFile: poolFile, adapter: adapterDir }));
    expect(done.generatedNow).toBe(0);

    await expect(withStageContext(cfg, (ctx) => generateInstances(ctx, { instructionsFile: poolFile, adapter: null }))).rejects.toThrow(
      /self-instruct/,
    );
    const baseline = config(runDir, { pipeline: { method: 'self-instruct' } });
    await expect(
      withStageContext(baseline, (ctx) => generateInstances(ctx, { instructionsFile: poolFile, adapter: null })),
    ).rejects.toThrow(/other settings/);
  });
});

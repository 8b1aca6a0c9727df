/**
 * The SFT regime (issue 21 §1): does an adapter at the paper's learning rate move the model? Three fine-tunings of the
 * embedded SmolLM2-135M-Instruct on the seed tasks' instances, the same data, steps, batch, warm-up and seed:
 *   - LoRA (the schema's r 16, q/v) at the paper's 2e-5 (§III-A), what the lab configs did;
 *   - LoRA at 2e-4, the rate the QLoRA paper trains 7B and 13B adapters with (Dettmers et al. 2023, arXiv 2305.14314, Table 9);
 *   - full fine-tuning (sft.lora: null) at the paper's 2e-5.
 * Each reports the loss on held-out seed tasks (a split by task, fixed seed) before and after training, and Super-NI
 * ROUGE-L on data/superni-mini after training; the base model's ROUGE-L is the "before" of all three.
 * Run: `npx tsx bench/sft-regime.bench.ts` with, in the environment, HELD_OUT_TASKS (25), EPOCHS (1), MAX_STEPS (-1: the
 * full epochs), INSTANCES_PER_TASK (2), MAX_NEW_TOKENS (32). Prints a Markdown table; everything it made stays in the directory it names.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseConfig } from '../ts/config/load.js';
import { evalSuperNiModel, type SuperNiReport } from '../ts/eval/superni.js';
import { loadSeedTasks } from '../ts/io/seeds.js';
import { Random } from '../ts/random.js';
import { runSftTraining } from '../ts/stages/sft.js';
import type { IftRecord } from '../ts/stats/dataset.js';

const heldOutTasks = Number(process.env.HELD_OUT_TASKS ?? 25);
const epochs = Number(process.env.EPOCHS ?? 1);
const maxSteps = Number(process.env.MAX_STEPS ?? -1);
const instancesPerTask = Number(process.env.INSTANCES_PER_TASK ?? 2);
const maxNewTokens = Number(process.env.MAX_NEW_TOKENS ?? 32);
const seed = 42;
const model = 'embedded:smollm2-135m-instruct';
const dataDir = resolve(import.meta.dirname, '..', 'data', 'superni-mini');
const workDir = mkdtempSync(join(tmpdir(), 'bench-sft-regime-'));
const loadAverage = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

const arms = [
  { name: 'LoRA r16 q/v, lr 2e-5 (paper §III-A rate)', key: 'lora-2e-5', lora: {}, learningRate: 2e-5 },
  { name: 'LoRA r16 q/v, lr 2e-4 (QLoRA, 7B/13B)', key: 'lora-2e-4', lora: {}, learningRate: 2e-4 },
  { name: 'full fine-tuning, lr 2e-5 (paper §III-A)', key: 'full-2e-5', lora: null, learningRate: 2e-5 },
] as const;

/** Every arm's config: the paper's SFT settings (§III-A: batch 2, warm-up 0.3, cosine) but its own rate and adapter. */
const configFor = (arm: { lora: object | null; learningRate: number }) =>
  parseConfig({
    run: { dir: workDir, seed },
    models: { generator: model, device: 'cpu' },
    sft: {
      training: {
        num_train_epochs: epochs,
        max_steps: maxSteps,
        learning_rate: arm.learningRate,
        gradient_accumulation_steps: 1,
        logging_steps: 5,
      },
      max_seq_length: 512,
      lora: arm.lora,
    },
    eval: { instances_per_task: instancesPerTask, batch_size: 8, decoding: { max_new_tokens: maxNewTokens } },
  });

// The split is by task, so no held-out instruction was seen in training; each seed task contributes its instances.
const tasks = new Random(seed).shuffle(loadSeedTasks());
const records = (slice: typeof tasks): IftRecord[] =>
  slice.flatMap((task) => task.instances.map((instance) => ({ instruction: task.instruction, ...instance })));
const trainFile = join(workDir, 'train.jsonl');
const heldOutFile = join(workDir, 'held-out.jsonl');
const jsonl = (rows: IftRecord[]) => `${rows.map((row) => JSON.stringify(row)).join('\n')}\n`;
writeFileSync(trainFile, jsonl(records(tasks.slice(heldOutTasks))));
writeFileSync(heldOutFile, jsonl(records(tasks.slice(0, heldOutTasks))));

console.log(`${workDir}: ${tasks.length - heldOutTasks} training tasks, ${heldOutTasks} held out; load ${loadAverage()}`);
const started = performance.now();
const rougeL = (report: SuperNiReport) => report.overall.rougeL.toFixed(2);

const baseConfig = configFor(arms[0]);
const base = await evalSuperNiModel(baseConfig, { dataDir, outDir: join(workDir, 'base-superni'), model });
console.log(`base: Super-NI ROUGE-L ${rougeL(base)} (${base.prompt}); load ${loadAverage()}`);

const rows = [];
for (const arm of arms) {
  const config = configFor(arm);
  const armStarted = performance.now();
  const { result } = await runSftTraining(config, {
    datasetFile: trainFile,
    evalDatasetFile: heldOutFile,
    outDir: join(workDir, arm.key),
  });
  const trained = result.adapter ? { model, adapter: result.model_dir } : { model: result.model_dir };
  const report = await evalSuperNiModel(config, { dataDir, outDir: join(workDir, `${arm.key}-superni`), ...trained });
  rows.push({
    arm: arm.name,
    steps: result.steps,
    'held-out loss before': result.eval_loss_before?.toFixed(3),
    'held-out loss after': result.eval_loss_after?.toFixed(3),
    'train loss': result.train_loss?.toFixed(3),
    'ROUGE-L before': rougeL(base),
    'ROUGE-L after': rougeL(report),
    'exact match after': report.overall.exact_match.toFixed(2),
    'minutes (train + eval)': ((performance.now() - armStarted) / 60_000).toFixed(1),
  });
  console.log(`${arm.name}: done; load ${loadAverage()}`);
}

writeFileSync(join(workDir, 'results.json'), `${JSON.stringify(rows, null, 2)}\n`);
console.log(`\n${((performance.now() - started) / 60_000).toFixed(1)} min in all; load ${loadAverage()}\n`);
const columns = Object.keys(rows[0]!);
console.log(`| ${columns.join(' | ')} |\n| ${columns.map(() => '---').join(' | ')} |`);
for (const row of rows) console.log(`| ${Object.values(row).join(' | ')} |`);

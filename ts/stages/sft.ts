/**
 * Instruction fine-tuning (§II-D, §III-A): the base model is fine-tuned on the IFT dataset of stage 3.
 *
 *   read dataset → keep the first N instructions (Table II subsets) → render prompt/response pairs → run the `sft` job
 *   (HF Trainer in a subprocess, optionally under `accelerate launch`) → record its result next to the adapter.
 *
 * The prompt format is configuration (Alpaca's by default), rendered here; its template texts are recorded beside the
 * model (SFT_RECORD_FILE) so that evaluation prompts the fine-tuned model the same way (`sftPrompt`, `readSftPromptTemplates`).
 * A killed run resumes from the job's Trainer checkpoints; a finished one is not redone.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { z } from 'zod';
import { type JobProgress, type JobResult, jobs, sftPromptTemplatesSchema, sftTrainLineSchema } from '../bridge/contract.js';
import { runJob } from '../bridge/jobs.js';
import { modelLoading } from '../config/model-loading.js';
import type { Config } from '../config/schema.js';
import { DataFileError, readJsonIfExists, readJsonl, writeFileAtomic, writeJsonAtomic } from '../io/files.js';
import { tensorboardDir } from '../paths.js';
import { type Progress, startProgress } from '../progress.js';
import { loadTemplate, renderTemplateText } from '../prompts/render.js';
import { type IftRecord, iftRecordSchema } from '../stats/dataset.js';
import { type StageContext, withStageContext } from './context.js';
import { hashOf, Ledger } from './ledger.js';

export type SftJobResult = JobResult<'sft'>;
type SftJobParams = z.output<typeof jobs.sft.params>;

export interface SftOptions {
  /** The IFT dataset (JSONL of {instruction, input, output}) from stage 3. */
  datasetFile: string;
  /** Train on the instances of the first N instructions only; default config.sft.max_instructions. */
  maxInstructions?: number | null;
  /** Held-out instances (the same JSONL format) whose loss the job measures before and after training; default none. */
  evalDatasetFile?: string;
  /** Output directory; default <run dir>/sft (or sft-<N> for a subset). */
  outDir?: string;
  signal?: AbortSignal;
  /** Discard a fine-tuning of other inputs (dataset, settings) in the output directory instead of refusing. */
  force?: boolean;
  /** Every progress and loss event of the job, besides the progress bar and log lines. */
  onProgress?: (event: JobProgress<'sft'>) => void;
}

export interface SftRunResult {
  outDir: string;
  trainFile: string;
  instructions: number;
  result: SftJobResult;
}

export type SftPromptTemplates = z.infer<typeof sftPromptTemplatesSchema>;

/** The file the sft job writes beside the adapter (or full model): its parameters, the prompt template texts among them. */
export const SFT_RECORD_FILE = 'refine-af-sft.json';

/** The template texts the config names (sft.prompt_template, sft.prompt_template_no_input). */
export function sftPromptTemplates(settings: Config['sft']): SftPromptTemplates {
  return { input: loadTemplate(settings.prompt_template), no_input: loadTemplate(settings.prompt_template_no_input) };
}

/** The training prompt of one instance; evaluation prompts the fine-tuned model with the same function. */
export function sftPrompt(
  templates: SftPromptTemplates,
  record: { instruction: string; input: string },
  source = 'sft prompt template',
): string {
  return record.input.trim() === ''
    ? renderTemplateText(templates.no_input, { instruction: record.instruction }, `${source} (no input)`)
    : renderTemplateText(templates.input, { instruction: record.instruction, input: record.input }, `${source} (input)`);
}

/**
 * The prompt templates a model directory was fine-tuned with, from its SFT_RECORD_FILE; undefined when the directory has
 * no such file (not made by our SFT). A record without the template texts (written before they were recorded) is an
 * error: the prompts it was trained on cannot be known, and evaluating it with other prompts would be silently wrong.
 */
export function readSftPromptTemplates(modelDir: string): SftPromptTemplates | undefined {
  const file = join(modelDir, SFT_RECORD_FILE);
  const record = readJsonIfExists(file, z.looseObject({ prompt_templates: sftPromptTemplatesSchema.optional() }));
  if (record === undefined) return undefined;
  if (record.prompt_templates === undefined) {
    throw new DataFileError(
      file,
      undefined,
      'no prompt_templates (this model was fine-tuned by an older refine-af, which did not record its training prompt texts): ' +
        'add "prompt_templates": {"input": ..., "no_input": ...} with the template texts it was trained with, or fine-tune it again',
    );
  }
  return record.prompt_templates;
}

/**
 * The model a (model, adapter) pair names as made by our SFT, with the templates it was trained with: the adapter, or a
 * fully fine-tuned model directory; undefined for any other model (a hub id, the base weights, an adapter from elsewhere).
 * Evaluation and the user-oriented responses choose their prompt with it.
 */
export function sftModelTemplates(model: string, adapter?: string): { record: string; templates: SftPromptTemplates } | undefined {
  const modelDir = adapter ?? (existsSync(model) && statSync(model).isDirectory() ? model : undefined);
  const templates = modelDir === undefined ? undefined : readSftPromptTemplates(modelDir);
  return templates === undefined ? undefined : { record: resolve(modelDir!, SFT_RECORD_FILE), templates };
}

/** Every fine-tuning a config asks for: the main one, then one per extra Table II subset. */
export function sftSubsets(config: Config): (number | null)[] {
  return [config.sft.max_instructions, ...config.sft.extra_subsets];
}

/** The sft stage's artifact name of the model fine-tuned on the first `maxInstructions` instructions (null: all). */
export const sftArtifactKey = (maxInstructions: number | null): string => (maxInstructions === null ? 'model' : `model_${maxInstructions}`);

export function sftOutDir(runDir: string, maxInstructions: number | null): string {
  return join(runDir, maxInstructions === null ? 'sft' : `sft-${maxInstructions}`);
}

/** Instances of the first `max` distinct instructions, in dataset (= pool) order: what a shorter stage-1 run would have given. */
export function firstInstructions(records: readonly IftRecord[], max: number | null): IftRecord[] {
  if (max === null) return [...records];
  const kept = new Set<string>();
  return records.filter((r) => {
    if (!kept.has(r.instruction) && kept.size < max) kept.add(r.instruction);
    return kept.has(r.instruction);
  });
}

/** What a fine-tuning directory records beside its ledger: the job's parameters, the instructions it saw, its result. */
const runRecordSchema = z.strictObject({
  params: jobs.sft.params,
  instructions: z.number().int(),
  result: jobs.sft.result,
});

/** What a finished fine-tuning in `outDir` recorded (result.json), or undefined when none finished there. */
export function readSftRecord(outDir: string): z.infer<typeof runRecordSchema> | undefined {
  return readJsonIfExists(join(outDir, 'result.json'), runRecordSchema);
}

/** The ledger of one fine-tuning directory: a finished fine-tuning with the same inputs is not redone. */
const SFT_LEDGER_FILE = 'ledger.json';

/** SFT on its own (`refine-af sft`): the same shape as every stage entry point, config + options. */
export function runSftTraining(config: Config, options: SftOptions): Promise<SftRunResult> {
  return withStageContext(config, (ctx) => runSft(ctx, options));
}

export async function runSft(ctx: StageContext, options: SftOptions): Promise<SftRunResult> {
  const { config } = ctx;
  const settings = config.sft;
  const maxInstructions = options.maxInstructions === undefined ? settings.max_instructions : options.maxInstructions;
  const outDir = options.outDir ?? sftOutDir(ctx.runDir, maxInstructions);
  const trainFile = join(outDir, 'train.jsonl');
  const evalFile = options.evalDatasetFile === undefined ? null : join(outDir, 'eval.jsonl');
  const recordFile = join(outDir, 'result.json');

  const records = firstInstructions(readJsonl(options.datasetFile, iftRecordSchema), maxInstructions);
  if (records.length === 0) throw new DataFileError(options.datasetFile, undefined, 'no instances to fine-tune on');
  const instructions = new Set(records.map((r) => r.instruction)).size;
  const templates = sftPromptTemplates(settings);
  const trainText = sftTrainText(templates, records);
  const evalText =
    options.evalDatasetFile === undefined ? null : sftTrainText(templates, readJsonl(options.evalDatasetFile, iftRecordSchema));

  // The job's parameters: the sft section's hyperparameters (zod drops the keys the job does not take) and the model.
  const params = jobs.sft.params.parse({
    ...settings,
    model: config.models.generator,
    ...modelLoading(config.models, 'sft'),
    train_file: trainFile,
    eval_file: evalFile,
    output_dir: outDir,
    seed: config.run.seed,
    prompt_templates: templates,
    logging_dir: tensorboardDir(ctx.runDir, basename(outDir)),
  });
  // What is trained, not where: the paths all lie in the ledger's own directory, so a run moved or copied keeps its hash.
  const { train_file: _trainFile, eval_file: _evalFile, output_dir: _outputDir, logging_dir: _loggingDir, ...trainedWith } = params;
  // A killed job resumes from its Trainer checkpoints: an interrupted fine-tuning is always continued.
  const ledger = new Ledger(
    join(outDir, SFT_LEDGER_FILE),
    'steps',
    { resume: true, force: options.force, signal: options.signal },
    `${outDir} `,
  );
  const step = {
    name: 'fine-tuning',
    inputs: { params: trainedWith, train_hash: hashOf(trainText), eval_hash: evalText === null ? null : hashOf(evalText) },
    outputs: [outDir], // the ledger file in it is written again after a discard
  };
  await ledger.run(step, async () => {
    writeFileAtomic(trainFile, trainText);
    if (evalFile !== null && evalText !== null) writeFileAtomic(evalFile, evalText);
    const result = await runSftJob(ctx, params, options, `${records.length} instances of ${instructions} instructions`);
    writeJsonAtomic(recordFile, { params, instructions, result });
    writeJsonAtomic(join(result.model_dir, 'refine-af-config.json'), config); // the whole config that made this model
    return { artifacts: { model: result.model_dir, record: recordFile } };
  });
  const { result } = readSftRecord(outDir)!;
  return { outDir, trainFile, instructions, result };
}

/** The job's JSONL of prompt/response pairs for IFT records, rendered with the training prompt templates. */
function sftTrainText(templates: SftPromptTemplates, records: readonly IftRecord[]): string {
  const lines = records.map((r) => JSON.stringify(sftTrainLineSchema.parse({ prompt: sftPrompt(templates, r), response: r.output })));
  return `${lines.join('\n')}\n`;
}

/** The `sft` job, its progress shown as a bar and its losses as log lines. */
async function runSftJob(ctx: StageContext, params: SftJobParams, options: SftOptions, what: string): Promise<SftJobResult> {
  const { config, logger } = ctx;
  logger.info(`sft: ${what} → ${params.output_dir} (base ${config.models.generator})`);
  let progress: Progress | undefined;
  let lastLoss: number | undefined;
  try {
    const result = await runJob('sft', params, {
      python: config.bridge.python,
      launcher: config.bridge.job_launcher,
      signal: options.signal,
      onProgress: (event) => {
        options.onProgress?.(event);
        if (event.type === 'loss') {
          lastLoss = event.loss;
          logger.info(
            `sft: step ${event.step} epoch ${event.epoch.toFixed(2)} loss ${event.loss.toFixed(4)} lr ${event.learning_rate.toExponential(2)}`,
          );
          return;
        }
        progress ??= startProgress('sft', event.total_steps, event.step - 1);
        progress.update(event.step, lastLoss === undefined ? {} : { loss: lastLoss.toFixed(4) });
      },
    });
    logger.info(
      `sft: ${result.steps} steps, train loss ${result.train_loss?.toFixed(4) ?? 'n/a'}` +
        `${result.eval_loss_after === null ? '' : `, held-out loss ${result.eval_loss_before?.toFixed(4)} → ${result.eval_loss_after.toFixed(4)}`}` +
        `${result.resumed_from ? ` (resumed from ${result.resumed_from})` : ''}; ${result.adapter ? 'adapter' : 'model'} in ${result.model_dir}`,
    );
    return result;
  } finally {
    progress?.stop();
  }
}

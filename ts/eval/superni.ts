/**
 * Zero-shot evaluation on Super-NaturalInstructions (§V-A), top to bottom:
 * read the benchmark in its native layout → choose the prompt (a model made by our SFT: the template it was trained with,
 * recorded beside it; any other model: Tk-Instruct's definition-only prompt) → generate in batches (appended to
 * predictions.jsonl, resumable) → score Exact Match and ROUGE-L per task, per category and overall → write JSON + table.
 * Works unchanged on a checkout of allenai/natural-instructions (119 tasks) and on the 12-task fixture.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { resolveBackends } from '../backends/engine.js';
import { stageBackendSpec, withStageBackend, withWorker } from '../backends/from-config.js';
import type { GenerationBackend } from '../backends/types.js';
import { type Decoding, GREEDY } from '../bridge/contract.js';
import type { Config } from '../config/schema.js';
import { throwIfInterrupted } from '../interrupt.js';
import { appendJsonl, DataFileError, readJsonIfExists, readJsonl, writeFileAtomic, writeJsonAtomic } from '../io/files.js';
import { logger } from '../log.js';
import { startProgress } from '../progress.js';
import { renderTemplate } from '../prompts/render.js';
import { sftModelTemplates, sftPrompt } from '../stages/sft.js';
import { aggregate, type InstanceScore, scoreInstance } from './metrics.js';

// ---------------------------------------------------------------- the benchmark

export const SPLIT_FILE = join('splits', 'default', 'test_tasks.txt');

const taskFileSchema = z.looseObject({
  Categories: z.array(z.string()).min(1),
  Definition: z.array(z.string()).min(1),
  Instances: z.array(z.object({ id: z.string(), input: z.string(), output: z.array(z.string()).min(1) })),
});

export interface SuperNiInstance {
  id: string;
  input: string;
  /** Reference outputs; a prediction scores the maximum over them. */
  output: string[];
}

export interface SuperNiTask {
  name: string;
  /** First entry of Categories, lower-cased with spaces as "_", as the benchmark names categories. */
  category: string;
  definition: string;
  instances: SuperNiInstance[];
}

export const categoryOf = (categories: readonly string[]): string => categories[0]!.toLowerCase().replaceAll(' ', '_');

/** The test tasks named in splits/default/test_tasks.txt, each with its first `instancesPerTask` instances. */
export function loadSuperNi(dataDir: string, instancesPerTask: number): SuperNiTask[] {
  const splitFile = resolve(dataDir, SPLIT_FILE);
  if (!existsSync(splitFile)) {
    throw new DataFileError(
      splitFile,
      undefined,
      `no test split here: is ${dataDir} a Super-NaturalInstructions checkout (tasks/ and ${SPLIT_FILE})?`,
    );
  }
  const names = readFileSync(splitFile, 'utf8')
    .split('\n')
    .map((line) => line.trim());
  const tasks: SuperNiTask[] = [];
  names.forEach((name, index) => {
    if (name === '') return;
    const file = resolve(dataDir, 'tasks', `${name}.json`);
    if (!existsSync(file)) {
      throw new DataFileError(file, undefined, `task file missing: task ${name} is listed at ${splitFile}:${index + 1}`);
    }
    const task = readJsonIfExists(file, taskFileSchema)!;
    tasks.push({
      name,
      category: categoryOf(task.Categories),
      definition: task.Definition[0]!,
      instances: task.Instances.slice(0, instancesPerTask),
    });
  });
  if (tasks.length === 0) throw new DataFileError(splitFile, undefined, 'lists no task');
  return tasks;
}

// ---------------------------------------------------------------- prompts

const PYTHON_PUNCTUATION = `!"#$%&'()*+,-./:;<=>?@[\\]^_\`{|}~`;
/** Tk-Instruct ends the definition and the input with a period unless they already end in punctuation. */
const withFinalPunctuation = (text: string): string => (text.length > 0 && PYTHON_PUNCTUATION.includes(text.at(-1)!) ? text : `${text}.`);

/** The definition-only zero-shot prompt of one instance (no demonstrations). */
export function buildPrompt(template: string, task: SuperNiTask, instance: SuperNiInstance): string {
  return renderTemplate(template, {
    definition: withFinalPunctuation(task.definition.trim()),
    input: withFinalPunctuation(instance.input.trim()),
  });
}

/** How the evaluated model is prompted; `description` goes into eval-run.json, scores.json and the printed table. */
export interface EvalPrompt {
  description: string;
  prompt_format: 'raw' | 'chat';
  render: (task: SuperNiTask, instance: SuperNiInstance) => string;
}

export const RAW_PROMPT_DESCRIPTION = 'raw Tk-Instruct definition-only';

/**
 * The prompt for a model: one made by our SFT (an adapter, or a fully fine-tuned model directory, holding SFT_RECORD_FILE)
 * is prompted with the template texts recorded there, raw, as it was trained: instruction = the task Definition (with
 * Tk-Instruct's final punctuation), input = the instance input. Any other model (the base, an adapter from elsewhere) gets
 * the Tk-Instruct definition-only prompt of `settings.template` in `settings.prompt_format`.
 */
export function evalPromptFor(settings: Config['eval'], model: string, adapter?: string): EvalPrompt {
  const sft = sftModelTemplates(model, adapter);
  if (sft !== undefined) {
    const { record, templates } = sft;
    return {
      description: `sft template from ${record}`,
      prompt_format: 'raw',
      render: (task, instance) =>
        sftPrompt(templates, { instruction: withFinalPunctuation(task.definition.trim()), input: instance.input.trim() }, record),
    };
  }
  return {
    description: settings.decoding.prompt_format === 'raw' ? RAW_PROMPT_DESCRIPTION : 'Tk-Instruct definition-only in the chat template',
    prompt_format: settings.decoding.prompt_format,
    render: (task, instance) => buildPrompt(settings.template, task, instance),
  };
}

// ---------------------------------------------------------------- generation

/** `prompt`: what the model was sent (absent in predictions made elsewhere and scored with --predictions). */
export const predictionSchema = z.object({ id: z.string(), task: z.string(), prediction: z.string(), prompt: z.string().optional() });
export type Prediction = z.infer<typeof predictionSchema>;

export const PREDICTIONS_FILE = 'predictions.jsonl';
const RUN_FILE = 'eval-run.json';

const runInfoSchema = z.object({
  benchmark: z.literal('super-natural-instructions'),
  data_dir: z.string(),
  model: z.string(),
  adapter: z.string().nullable(),
  eval: z.record(z.string(), z.unknown()),
  seed: z.number().int(),
  prompt: z.string().optional(),
});
type RunInfo = z.infer<typeof runInfoSchema>;

export interface GenerateOptions {
  backend: GenerationBackend;
  settings: Config['eval'];
  prompt: EvalPrompt;
  seed: number;
  /** Called with the predictions already on disk at the start, then after each batch is safely on disk. */
  onBatch?: (done: number, total: number) => void;
  /** Aborting stops after the batch in flight is written (Ctrl-C); a rerun continues. */
  signal?: AbortSignal;
}

/**
 * Generate a prediction for every instance not yet in `outDir/predictions.jsonl`, one batch at a time, appending
 * each batch before the next starts: a crash loses at most the batch in flight, and a rerun continues where it stopped.
 */
export async function generatePredictions(tasks: SuperNiTask[], outDir: string, options: GenerateOptions): Promise<Prediction[]> {
  const file = join(outDir, PREDICTIONS_FILE);
  const done = new Set(readJsonl(file, predictionSchema, { repairTornTail: true }).map((p) => p.id));
  const pending = tasks.flatMap((task) => task.instances.filter((i) => !done.has(i.id)).map((instance) => ({ task, instance })));
  const total = tasks.reduce((n, t) => n + t.instances.length, 0);
  const { settings, prompt } = options;
  const decoding: Decoding = { ...GREEDY, ...settings.decoding, prompt_format: prompt.prompt_format };
  if (pending.length < total) logger.info(`resuming: ${total - pending.length} of ${total} predictions already in ${file}`);
  options.onBatch?.(total - pending.length, total);
  for (let start = 0; start < pending.length; start += settings.batch_size) {
    throwIfInterrupted(options.signal);
    const batch = pending.slice(start, start + settings.batch_size);
    const prompts = batch.map(({ task, instance }) => prompt.render(task, instance));
    const completions = await options.backend.generate({ prompts, decoding, seed: options.seed });
    appendJsonl(
      file,
      batch.map(({ task, instance }, i) => ({ id: instance.id, task: task.name, prediction: completions[i]!.text, prompt: prompts[i]! })),
    );
    options.onBatch?.(total - pending.length + start + batch.length, total);
  }
  return readJsonl(file, predictionSchema);
}

// ---------------------------------------------------------------- scoring

export interface Scores extends InstanceScore {
  instances: number;
}

export interface SuperNiReport {
  /** How the model was prompted (EvalPrompt.description); absent when predictions made elsewhere were scored. */
  prompt?: string;
  overall: Scores;
  categories: Record<string, Scores>;
  tasks: Record<string, Scores & { category: string }>;
  /** Evaluated instances with no prediction: scored as the empty string (0 on both metrics). */
  missing_predictions: number;
  /** Predictions for instances outside the evaluated set (other tasks, or beyond instances_per_task). */
  ignored_predictions: number;
}

/** Score predictions against the references; every level is a micro-average over its instances, in file order. */
export function scoreSuperNi(tasks: SuperNiTask[], predictions: readonly Prediction[], source = 'predictions'): SuperNiReport {
  const byId = new Map<string, Prediction>();
  predictions.forEach((p, index) => {
    if (byId.has(p.id))
      throw new DataFileError(source, undefined, `duplicate prediction for id ${p.id} (prediction ${index + 1}, counting from 1)`);
    byId.set(p.id, p);
  });
  const perTask = new Map<SuperNiTask, InstanceScore[]>();
  let missing = 0;
  let matched = 0;
  for (const task of tasks) {
    perTask.set(
      task,
      task.instances.map((instance) => {
        const prediction = byId.get(instance.id);
        if (prediction === undefined) missing++;
        else {
          matched++;
          if (prediction.task !== task.name) {
            throw new DataFileError(
              source,
              undefined,
              `prediction ${instance.id} names task ${prediction.task}, but the id is in ${task.name}`,
            );
          }
        }
        return scoreInstance(prediction?.prediction ?? '', instance.output);
      }),
    );
  }
  const categories = [...new Set(tasks.map((t) => t.category))].sort();
  return {
    overall: aggregate([...perTask.values()].flat()),
    categories: Object.fromEntries(
      categories.map((c) => [c, aggregate(tasks.filter((t) => t.category === c).flatMap((t) => perTask.get(t)!))]),
    ),
    tasks: Object.fromEntries(tasks.map((t) => [t.name, { category: t.category, ...aggregate(perTask.get(t)!) }])),
    missing_predictions: missing,
    ignored_predictions: predictions.length - matched,
  };
}

/** The metric Tk-Instruct reports per category (EM for the classification-like ones); the paper uses ROUGE-L throughout. */
const EXACT_MATCH_CATEGORIES = new Set([
  'textual_entailment',
  'cause_effect_classification',
  'coreference_resolution',
  'dialogue_act_recognition',
  'answerability_classification',
  'word_analogy',
]);

const fixed = (x: number): string => x.toFixed(2).padStart(7);

/** A readable table: per category (Table III) with both metrics, overall, then per task. */
export function formatReport(report: SuperNiReport): string {
  const width = Math.max(30, ...Object.keys(report.tasks).map((t) => t.length)) + 2;
  const row = (name: string, s: Scores, note = '') =>
    `${name.padEnd(width)}${fixed(s.rougeL)} ${fixed(s.exact_match)} ${String(s.instances).padStart(6)}${note}`;
  const header = `${''.padEnd(width)}${'ROUGE-L'.padStart(7)} ${'EM'.padStart(7)} ${'n'.padStart(6)}`;
  const lines = [
    'Super-NaturalInstructions, zero-shot (ROUGE-L and Exact Match ×100)',
    `prompt: ${report.prompt ?? 'unknown (predictions scored from a file)'}`,
    '',
    'per category',
    header,
  ];
  for (const [name, s] of Object.entries(report.categories)) {
    lines.push(row(name, s, EXACT_MATCH_CATEGORIES.has(name) ? '   (Tk-Instruct reports EM)' : ''));
  }
  lines.push(row('overall', report.overall), '', 'per task', header);
  for (const [name, s] of Object.entries(report.tasks)) lines.push(row(name, s));
  if (report.missing_predictions > 0) lines.push('', `${report.missing_predictions} instances had no prediction (scored as empty)`);
  if (report.ignored_predictions > 0)
    lines.push('', `${report.ignored_predictions} predictions were for instances outside the evaluated set`);
  return `${lines.join('\n')}\n`;
}

export const SCORES_JSON = 'scores.json';
export const SCORES_TXT = 'scores.txt';

function writeReport(outDir: string, report: SuperNiReport): void {
  writeJsonAtomic(join(outDir, SCORES_JSON), report);
  writeFileAtomic(join(outDir, SCORES_TXT), formatReport(report));
}

export interface EvalSuperNiOptions {
  dataDir: string;
  outDir: string;
  backend: GenerationBackend;
  model: string;
  adapter?: string;
  signal?: AbortSignal;
}

/** Generate (resuming) and score. A run directory belongs to one model, adapter, benchmark and setting. */
export async function evalSuperNi(config: Config, options: EvalSuperNiOptions): Promise<SuperNiReport> {
  const settings = config.eval;
  const tasks = loadSuperNi(options.dataDir, settings.instances_per_task);
  const prompt = evalPromptFor(settings, options.model, options.adapter);
  const info: RunInfo = {
    benchmark: 'super-natural-instructions',
    data_dir: resolve(options.dataDir),
    model: options.model,
    adapter: options.adapter === undefined ? null : resolve(options.adapter),
    // Batch size is left out: it is a hardware choice, and a run may resume on another machine.
    eval: Object.fromEntries(Object.entries(settings).filter(([key]) => key !== 'batch_size')),
    seed: config.run.seed,
    prompt: prompt.description,
  };
  const runFile = join(options.outDir, RUN_FILE);
  const previous = readJsonIfExists(runFile, runInfoSchema);
  if (previous !== undefined && JSON.stringify(previous) !== JSON.stringify(info)) {
    throw new DataFileError(
      runFile,
      undefined,
      `this directory holds a run with other settings (${JSON.stringify(previous)}); use another --out`,
    );
  }
  writeJsonAtomic(runFile, info);
  const total = tasks.reduce((n, t) => n + t.instances.length, 0);
  const progress = startProgress('super-ni', total);
  try {
    const predictions = await generatePredictions(tasks, options.outDir, {
      backend: options.backend,
      settings,
      prompt,
      seed: config.run.seed,
      onBatch: (done) => progress.update(done),
      signal: options.signal,
    });
    const report = { prompt: prompt.description, ...scoreSuperNi(tasks, predictions, join(options.outDir, PREDICTIONS_FILE)) };
    writeReport(options.outDir, report);
    return report;
  } finally {
    progress.stop();
  }
}

/** Load `model` (plus `adapter`) on eval.backend with a worker of its own and evaluate it; all is closed afterwards. */
export function evalSuperNiModel(config: Config, options: Omit<EvalSuperNiOptions, 'backend'>): Promise<SuperNiReport> {
  return withWorker(config, async (worker) => {
    const resolved = await resolveBackends(config, worker);
    return withStageBackend(
      resolved,
      stageBackendSpec(resolved, 'eval', {
        worker,
        handle: 'superni-eval',
        model: options.model,
        adapter: options.adapter,
        signal: options.signal,
      }),
      (backend) => evalSuperNi(resolved, { ...options, backend }),
    );
  });
}

/**
 * Score an existing predictions file (lines {"id", "task", "prediction"}) and write the report to `outDir`. The file is
 * scored on the instances it predicts, whatever instances_per_task it was made with: the benchmark's other instances
 * are not its to answer.
 */
export function scorePredictionsFile(options: { dataDir: string; predictionsFile: string; outDir: string }): SuperNiReport {
  const { dataDir, predictionsFile, outDir } = options;
  if (!existsSync(predictionsFile)) throw new DataFileError(predictionsFile, undefined, 'predictions file not found');
  const predictions = readJsonl(predictionsFile, predictionSchema);
  const predicted = new Set(predictions.map((p) => p.id));
  const tasks = loadSuperNi(dataDir, Number.POSITIVE_INFINITY)
    .map((task) => ({ ...task, instances: task.instances.filter((instance) => predicted.has(instance.id)) }))
    .filter((task) => task.instances.length > 0);
  if (tasks.length === 0) throw new DataFileError(predictionsFile, undefined, `predicts no instance of the benchmark in ${dataDir}`);
  const report = scoreSuperNi(tasks, predictions, predictionsFile);
  writeReport(outDir, report);
  return report;
}

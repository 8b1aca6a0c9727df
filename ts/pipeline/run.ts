/**
 * The whole run: stage 1 (instructions) → stage 2 (PPO from automated feedback; skipped by the Self-Instruct baseline)
 * → stage 3 (instances, the IFT dataset) → SFT, into one run directory.
 *
 * `run.json` records, per stage, a hash of everything the stage's output depends on (its config sections and the
 * hash of the stage before it) and whether it completed. A completed stage with the same hash is skipped; a stage
 * interrupted under the same hash is continued with --resume; artifacts made by a different config are never
 * replaced without --force.
 *
 * `pipeline.instructions_from` makes stage 1 a copy of another run's completed stage 1 (the Self-Instruct baseline takes
 * its REFINE-AF run's instructions); the hash is then that file's content hash, so a changed source is noticed.
 *
 * Every stage ends with its models released from the shared worker (completed, failed or interrupted alike), so no
 * stage runs beside the models of the one before; run.json records what each completed stage held and left.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { localAtScaleWarning, stageWorkCount } from '../backends/engine.js';
import { stageEngineInputs, stageKind } from '../backends/from-config.js';
import { RL_ALGORITHMS } from '../bridge/contract.js';
import { modelLoading } from '../config/model-loading.js';
import type { Config } from '../config/schema.js';
import { throwIfInterrupted } from '../interrupt.js';
import { writeFileAtomic } from '../io/files.js';
import { logger } from '../log.js';
import { runLedgerFile } from '../paths.js';
import { loadTemplate } from '../prompts/render.js';
import { releaseModels, type StageContext, type StageRelease, withStageContext } from '../stages/context.js';
import { generateInstances } from '../stages/instances.js';
import { generateInstructions, instructionsOutputPaths, seedTasksFile } from '../stages/instructions.js';
import { hashOf, Ledger, type LedgerOptions, type LedgerStep, RunConflictError, readLedger, type StepWork } from '../stages/ledger.js';
import { rlafPaths } from '../stages/rlaf/paths.js';
import { trainRlafWithFeedback } from '../stages/rlaf.js';
import { readSftRecord, runSft, sftArtifactKey, sftOutDir, sftPromptTemplates, sftSubsets } from '../stages/sft.js';
import { analyseDataset } from '../stats/report.js';

export const STAGE_NAMES = ['instructions', 'rlaf', 'instances', 'sft'] as const;
export type StageName = (typeof STAGE_NAMES)[number];

export interface RunOptions extends LedgerOptions {
  /** Called when a stage that ran ends (completed or not), after its models were released from the worker. */
  onStageEnd?: (end: StageEnd) => void;
}

export interface StageEnd {
  stage: StageName;
  completed: boolean;
  release: StageRelease | null;
}

export interface StageReport {
  stage: StageName;
  outcome: 'ran' | 'skipped (already complete)' | 'not in this pipeline';
  artifacts: Record<string, string>;
}

export interface RunSummary {
  runDir: string;
  stages: StageReport[];
  /**
   * The run's report (<run.dir>/report/report.html): the dataset's statistics and figures, the reward curve, the
   * fine-tuning; null when the stages' artifacts it reads are gone (a warning says which).
   */
  report: string | null;
}

/** What a stage's run receives besides the context: whether to continue, and the artifacts of the stages before it. */
interface StageRun {
  resume: boolean;
  upstream: Record<StageName, Record<string, string>>;
  signal?: AbortSignal;
}

interface StageDefinition {
  name: StageName;
  /** The config a stage's output depends on (besides the stage before it). */
  inputs: (config: Config) => unknown;
  /** Files and directories the stage writes; removed by --force when its config changed. */
  outputs: (config: Config) => string[];
  /** The stage's own entry, `(ctx, options)` like every stage's, with the options taken from the run. */
  run: (ctx: StageContext, run: StageRun) => Promise<Record<string, string>>;
}

const STAGES: StageDefinition[] = [
  {
    name: 'instructions',
    inputs: (c) =>
      c.pipeline.instructions_from === null
        ? {
            seed: c.run.seed,
            generator: c.models.generator,
            instructions: c.instructions,
            engine: stageEngineInputs(c, 'instructions'),
            texts: {
              template: loadTemplate(c.instructions.template),
              seed_tasks_sha256: sha256(readFileSync(seedTasksFile(c.instructions))),
            },
          }
        : { instructions_from_sha256: sharedInstructions(c).sha256 },
    outputs: (c) => Object.values(instructionsOutputPaths(c)),
    run: async (ctx, { resume, signal }) => {
      const { config } = ctx;
      if (config.pipeline.instructions_from !== null) {
        const { file, content } = sharedInstructions(config);
        const output = instructionsOutputPaths(config).output;
        writeFileAtomic(output, content);
        logger.info(`instructions: copied ${file} (stage 1 of ${config.pipeline.instructions_from}) to ${output}; nothing generated`);
        return { instructions: output };
      }
      // A crash right after run.json said "running" leaves no snapshot yet: then there is nothing to resume.
      const summary = await generateInstructions(ctx, { resume: resume && existsSync(instructionsOutputPaths(config).state), signal });
      return { instructions: summary.output };
    },
  },
  {
    name: 'rlaf',
    inputs: (c) => ({
      seed: c.run.seed,
      generator: c.models.generator,
      loading: modelLoading(c.models, 'rlaf'),
      rlaf: rlafInputs(c.rlaf),
      feedback: c.feedback,
      texts: { template: loadTemplate(c.rlaf.template) },
    }),
    outputs: (c) => [rlafPaths(c).dir],
    run: async (ctx, { resume, signal }) => {
      const summary = await trainRlafWithFeedback(ctx, { resume, signal });
      return { adapter: summary.adapter, metrics: summary.metrics, reward_curve: summary.chart };
    },
  },
  {
    name: 'instances',
    inputs: (c) => ({
      seed: c.run.seed,
      generator: c.models.generator,
      method: c.pipeline.method,
      instances: c.instances,
      engine: stageEngineInputs(c, 'instances'),
      texts: { template: loadTemplate(c.instances.template) },
    }),
    outputs: (c) => [join(c.run.dir, 'instances')],
    run: async (ctx, { upstream, signal }) => {
      const result = await generateInstances(ctx, {
        instructionsFile: upstream.instructions.instructions!,
        adapter: ctx.config.pipeline.method === 'refine-af' ? upstream.rlaf.adapter! : null,
        signal,
      });
      return { dataset: result.files.dataset, alpaca: result.files.alpaca, summary: result.files.summary };
    },
  },
  {
    name: 'sft',
    inputs: (c) => ({
      seed: c.run.seed,
      generator: c.models.generator,
      loading: modelLoading(c.models, 'sft'),
      sft: c.sft,
      texts: sftPromptTemplates(c.sft),
    }),
    outputs: (c) => sftSubsets(c).map((max) => sftOutDir(c.run.dir, max)),
    run: async (ctx, { upstream, signal }) => {
      const artifacts: Record<string, string> = {};
      for (const maxInstructions of sftSubsets(ctx.config)) {
        throwIfInterrupted(signal);
        const run = await runSft(ctx, { datasetFile: upstream.instances.dataset!, maxInstructions, signal });
        artifacts[sftArtifactKey(maxInstructions)] = run.result.model_dir;
      }
      return artifacts;
    },
  },
];

/** The completed stage-1 output of the run named by pipeline.instructions_from, or a refusal saying what to run first. */
function sharedInstructions(config: Config): { file: string; content: Buffer; sha256: string } {
  const source = config.pipeline.instructions_from!;
  if (resolve(source) === resolve(config.run.dir))
    throw new RunConflictError(`pipeline.instructions_from names this run's own run.dir (${source})`);
  const entry = readLedger(runLedgerFile(source), 'stages').instructions;
  const file = entry?.artifacts.instructions;
  if (entry?.status !== 'complete' || file === undefined) {
    throw new RunConflictError(
      `pipeline.instructions_from: ${source} has no completed instructions stage (${entry ? `it is ${entry.status}` : 'no run there'}); ` +
        `run that arm first: refine-af run --config <its config, with run.dir ${source}>`,
    );
  }
  const content = readFileSync(file);
  return { file, content, sha256: sha256(content) };
}

const sha256 = (content: Buffer) => createHash('sha256').update(content).digest('hex');

function inPipeline(config: Config, stage: StageName): boolean {
  return stage !== 'rlaf' || config.pipeline.method === 'refine-af';
}

/** The stages of the config's pipeline, in order (the Self-Instruct baseline has no stage 2). */
export function pipelineStageNames(config: Config): StageName[] {
  return STAGE_NAMES.filter((stage) => inPipeline(config, stage));
}

/**
 * The ledger step of every stage in the config's pipeline, in order: its inputs are its config and the hash of the
 * stage before it, so a change anywhere reaches every later stage.
 */
function pipelineSteps(config: Config): { stage: StageDefinition; step: LedgerStep; hash: string }[] {
  let upstream = '';
  return STAGES.flatMap((stage, index) => {
    if (!inPipeline(config, stage.name)) return [];
    const inputs = { upstream, inputs: stage.inputs(config) };
    upstream = hashOf(inputs);
    const dependents = STAGES.slice(index + 1).map((later) => ({ name: later.name, outputs: later.outputs(config) }));
    return [{ stage, step: { name: stage.name, inputs, outputs: stage.outputs(config), dependents }, hash: upstream }];
  });
}

/**
 * What run.json records as each stage's input hash for this config, its `backend: auto` resolved (resolveBackends);
 * a stage recorded under another one is refused.
 */
export function stageHashes(config: Config): Partial<Record<StageName, string>> {
  return Object.fromEntries(pipelineSteps(config).map(({ stage, hash }) => [stage.name, hash]));
}

export async function runPipeline(config: Config, options: RunOptions = {}): Promise<RunSummary> {
  const ledger = new Ledger(runLedgerFile(config.run.dir), 'stages', options);
  const upstream = {} as Record<StageName, Record<string, string>>;

  return withStageContext(config, async (ctx) => {
    // The steps hash the engines `backend: auto` resolved to on this machine (ctx.config).
    const steps = pipelineSteps(ctx.config);
    warnOfLocalAtScale(ctx.config);
    writeFileAtomic(join(config.run.dir, 'config.yaml'), stringify(config));
    for (const { stage, step } of steps) {
      const { artifacts } = await ledger.run(step, (resume) =>
        runReleasing(ctx, stage.name, options, () => stage.run(ctx, { resume, upstream, signal: options.signal })),
      );
      upstream[stage.name] = artifacts;
    }
    const outcomes = new Map(ledger.outcomes.map(({ step, outcome }) => [step, outcome]));
    const stages = STAGES.map(({ name }) => ({
      stage: name,
      outcome: outcomes.get(name) ?? ('not in this pipeline' as const),
      artifacts: upstream[name] ?? {},
    }));
    return { runDir: config.run.dir, stages, report: writeRunReport(config, upstream) };
  });
}

/** Say loudly, before any work, which of the run's generating stages would take days on the local worker. */
function warnOfLocalAtScale(config: Config): void {
  for (const stage of ['instructions', 'instances'] as const) {
    if (stage === 'instructions' && config.pipeline.instructions_from !== null) continue;
    if (stageKind(config, stage) !== 'local') continue;
    const warning = localAtScaleWarning(stage, stageWorkCount(config, stage));
    if (warning !== null) logger.warn(warning);
  }
}

/**
 * The run's report in <run.dir>/report (rewritten by every run: it reads what the stages left, and costs seconds), or
 * null with a warning saying why when what a stage left is gone: the stages' work is done, only its summary is missing.
 */
function writeRunReport(config: Config, upstream: Record<StageName, Record<string, string>>): string | null {
  const outDir = join(config.run.dir, 'report');
  const sftDir = sftOutDir(config.run.dir, config.sft.max_instructions);
  const fineTuned = readSftRecord(sftDir);
  const missing = [
    fineTuned === undefined ? join(sftDir, 'result.json') : null,
    ...[upstream.instances.dataset, upstream.instructions.instructions].map((file) =>
      file !== undefined && existsSync(file) ? null : (file ?? 'a stage artifact'),
    ),
  ].filter((file) => file !== null);
  if (fineTuned === undefined || missing.length > 0) {
    logger.warn(`the run's report was not written: ${missing.join(', ')} not found (run with --force to redo the stages that made them)`);
    return null;
  }
  analyseDataset(config, {
    dataset: upstream.instances.dataset!,
    pool: upstream.instructions.instructions!,
    ...(upstream.rlaf === undefined ? {} : { metrics: upstream.rlaf.metrics! }),
    outDir,
    fineTuning: {
      model: fineTuned.result.model_dir,
      instructions: fineTuned.instructions,
      steps: fineTuned.result.steps,
      trainLoss: fineTuned.result.train_loss,
    },
  });
  return join(outDir, 'report.html');
}

/** Run a stage, then release every model it loaded in the worker, whether it completed, failed or was interrupted. */
async function runReleasing(
  ctx: StageContext,
  stage: StageName,
  options: RunOptions,
  run: () => Promise<Record<string, string>>,
): Promise<StepWork> {
  let completed = false;
  let artifacts: Record<string, string> = {};
  let release: StageRelease | null = null;
  let stageError: unknown;
  try {
    artifacts = await run();
    throwIfInterrupted(options.signal);
    completed = true;
  } catch (error) {
    stageError = error;
  }
  try {
    release = await releaseModels(ctx.worker);
  } catch (error) {
    if (completed) throw error;
    // The stage's own error is the one to report; the worker may be what failed.
    logger.warn(`${stage}: releasing its models failed: ${(error as Error).message}`);
  }
  if (release) logger.info(`${stage}: released ${describeRelease(release)}`);
  options.onStageEnd?.({ stage, completed, release });
  if (!completed) throw stageError;
  return { artifacts, release };
}

/** The rlaf settings a run's stage 2 depends on: its algorithm's section, not the other two; a PPO run hashes as it did
 * before GRPO and RLOO were added (same keys, same order), so its finished stage is not redone. */
function rlafInputs(rlaf: Config['rlaf']): Record<string, unknown> {
  const unused = new Set<string>(RL_ALGORITHMS.filter((algorithm) => algorithm !== rlaf.algorithm));
  if (rlaf.algorithm === 'ppo') unused.add('algorithm');
  return Object.fromEntries(Object.entries(rlaf).filter(([key]) => !unused.has(key)));
}

function describeRelease({ before, after }: StageRelease): string {
  const held = [
    ...before.handles.map((h) => `${h.handle} (${h.kind} ${h.ref})`),
    ...(before.policy ? [`PPO policy (${before.policy})`] : []),
  ];
  const mib = (bytes: number) => `${Math.round(bytes / 2 ** 20)} MiB`;
  return `${held.join(', ') || 'nothing'}; worker RSS ${mib(before.rss_bytes)} → ${mib(after.rss_bytes)}`;
}

/** Readable lines: every stage, what happened, and where its artifacts are. */
export function formatRunSummary(summary: RunSummary): string {
  const lines = [`run directory: ${summary.runDir}`];
  for (const { stage, outcome, artifacts } of summary.stages) {
    lines.push(`  ${stage}: ${outcome}`);
    for (const [name, path] of Object.entries(artifacts)) lines.push(`    ${name}: ${path}`);
  }
  if (summary.report !== null) lines.push(`report: ${summary.report} (open it in a browser; training curves: make tensorboard)`);
  return lines.join('\n');
}

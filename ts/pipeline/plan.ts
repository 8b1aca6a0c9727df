/**
 * `refine-af plan`: what a run will cost before it starts. The counts of every stage come from the config alone;
 * with calibration, a few real units of each stage run on this machine and engine through the stages' own entries, in
 * a scratch directory (never the run's), and each stage's time is extrapolated as
 *
 *   fixed + units × per-unit
 *
 * where per-unit is the mean interval between the stage's progress updates after the first (warm), and fixed is what
 * the calibration's stage took beyond its units: model loads, server start, the final save, the release. A small run
 * is mostly fixed cost, a lab run mostly per-unit, so extrapolating the total alone would be wrong for both.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import type { Config } from '../config/schema.js';
import { RefineAfError } from '../errors.js';
import { loadSuperNi } from '../eval/superni.js';
import { readJsonIfExists, readJsonl } from '../io/files.js';
import { logger } from '../log.js';
import { packageRoot } from '../paths.js';
import { formatDuration, observeProgress, type ProgressEvent } from '../progress.js';
import { releaseModels, type StageContext, withStageContext } from '../stages/context.js';
import { generateInstances } from '../stages/instances.js';
import { generateInstructions, instructionsOutputPaths } from '../stages/instructions.js';
import { trainRlafWithFeedback } from '../stages/rlaf.js';
import { runSft, sftSubsets } from '../stages/sft.js';
import { pipelineStageNames, STAGE_NAMES, type StageName } from './run.js';

/** Instructions one stage-1 completion can give: the prompt asks for tasks 9 and 10 (seeds/templates/instruction_generation.txt). */
const INSTRUCTIONS_PER_REQUEST = 2;
/** The user-oriented instructions of the human evaluation (seeds/user_oriented_instructions.jsonl, §V-B). */
const USER_ORIENTED_INSTRUCTIONS = 252;
/** Super-NI's test split when eval.data_dir is not there to count (§V-A: 119 test tasks). */
const SUPERNI_TEST_TASKS = 119;
/** Units each stage runs when calibrating: the first is cold (it carries the fixed cost), the others give the per-unit time. */
const CALIBRATION_UNITS = 3;

/**
 * What a plan assumes until a calibration measures it (priors of `plan` without --calibrate), with where each comes
 * from; a calibration replaces both with what it saw.
 */
export const PLAN_PRIORS = {
  /** Kept instructions per stage-1 request. */
  keptPerRequest: { value: 1, source: 'ours: half of the two instructions a prompt asks for survive the filters' },
  /** IFT instances per instruction (stage 3). */
  instancesPerInstruction: { value: 1.1, source: 'paper Table V: 1.0–1.17 instances per instruction' },
};

export const PLAN_STAGES = [...STAGE_NAMES, 'eval'] as const;
export type PlanStage = (typeof PLAN_STAGES)[number];

const estimateSchema = z.strictObject({
  seconds: z.number().nonnegative(),
  fixed_seconds: z.number().nonnegative(),
  per_unit_seconds: z.number().nonnegative(),
  units: z.number().nonnegative(),
  unit: z.string(),
  /** Peak resident memory of this process and its children (worker, server, job) while the calibration ran the stage. */
  peak_rss_bytes: z.number().int().nonnegative().nullable(),
  extrapolated_from: z.string(),
});
export type StageEstimate = z.infer<typeof estimateSchema>;

const stagePlanSchema = z.strictObject({
  stage: z.enum(PLAN_STAGES),
  /** false: not part of `refine-af run` (eval runs in `refine-af repro`); not in the total. */
  in_run: z.boolean(),
  counts: z.record(z.string(), z.number()),
  estimate: estimateSchema.nullable(),
});
export type StagePlan = z.infer<typeof stagePlanSchema>;

export const planSchema = z.strictObject({
  run_dir: z.string(),
  generator: z.string(),
  calibrated: z.boolean(),
  stages: z.array(stagePlanSchema),
  /** Sum of the estimates of the run's stages; null when one has none. */
  total_seconds: z.number().nonnegative().nullable(),
  created_at: z.string(),
});
export type Plan = z.infer<typeof planSchema>;

/** What the counts assume about the data; a calibration measures both. */
export interface PlanRates {
  keptPerRequest: number;
  instancesPerInstruction: number;
}

const priorRates: PlanRates = {
  keptPerRequest: PLAN_PRIORS.keptPerRequest.value,
  instancesPerInstruction: PLAN_PRIORS.instancesPerInstruction.value,
};

/** The work of every stage the config describes, counted from the config (and `rates`) alone. */
export function planCounts(config: Config, rates: PlanRates = priorRates): Record<PlanStage, Record<string, number>> {
  const { instructions, rlaf, instances, sft } = config;
  const pool = instructions.num_instructions;
  const requestsAtLeast = Math.ceil(pool / INSTRUCTIONS_PER_REQUEST);
  const requests = Math.max(requestsAtLeast, Math.ceil(pool / rates.keptPerRequest));
  const batches = Math.ceil(requests / instructions.request_batch_size);
  const rollouts = rlaf.steps * rlaf.ppo.batch_size;
  const models = sftSubsets(config).map((max) => Math.min(max ?? pool, pool));
  const sftSteps = models.map((kept) => sftOptimizerSteps(config, Math.ceil(kept * rates.instancesPerInstruction)));
  const sftInstances = models.reduce((sum, kept) => sum + Math.ceil(kept * rates.instancesPerInstruction), 0);
  const evaluated = 1 + models.length; // the base model and every fine-tuning
  const superniPrompts = superniTaskInstances(config) * evaluated;
  return {
    instructions:
      config.pipeline.instructions_from === null
        ? {
            instructions: pool,
            requests_at_least: requestsAtLeast,
            requests,
            batches,
            max_generated_tokens: batches * instructions.request_batch_size * instructions.decoding.max_new_tokens,
          }
        : { copied_instructions: pool },
    rlaf: {
      ppo_steps: rlaf.steps,
      rollouts,
      max_generated_tokens: rollouts * rlaf.decoding.max_new_tokens,
      forward_backward_passes: rlaf.steps * rlaf.ppo.ppo_epochs * (rlaf.ppo.batch_size / rlaf.ppo.mini_batch_size),
      feedback_scores: rollouts,
    },
    instances: {
      prompts: pool,
      batches: Math.ceil(pool / instances.batch_size),
      max_generated_tokens: pool * instances.decoding.max_new_tokens,
    },
    sft: {
      models: models.length,
      instances: sftInstances,
      optimizer_steps: sftSteps.reduce((a, b) => a + b, 0),
      max_tokens: sftSteps.reduce((a, b) => a + b, 0) * sftBatch(config) * sft.max_seq_length,
    },
    eval: {
      models: evaluated,
      superni_prompts: superniPrompts,
      superni_max_generated_tokens: superniPrompts * config.eval.decoding.max_new_tokens,
      human_eval_responses: USER_ORIENTED_INSTRUCTIONS * evaluated,
    },
  };
}

const sftBatch = (config: Config) => config.sft.training.per_device_train_batch_size * config.sft.training.gradient_accumulation_steps;

/** Optimizer updates of one fine-tuning on `instances` examples: max_steps when set, else epochs over the batches. */
function sftOptimizerSteps(config: Config, instances: number): number {
  const { max_steps, num_train_epochs } = config.sft.training;
  return max_steps > 0 ? max_steps : Math.ceil(Math.ceil(instances / sftBatch(config)) * num_train_epochs);
}

/** Test instances of Super-NI: counted in eval.data_dir when it is there, else 119 tasks × instances_per_task. */
function superniTaskInstances(config: Config): number {
  const { data_dir, instances_per_task } = config.eval;
  try {
    if (data_dir !== null) return loadSuperNi(data_dir, instances_per_task).reduce((sum, task) => sum + task.instances.length, 0);
  } catch {
    // No benchmark checkout yet: the paper's count.
  }
  return SUPERNI_TEST_TASKS * instances_per_task;
}

/** A table of published generation throughputs (docs/throughput.json): each profile with its source. */
export const throughputTableSchema = z.strictObject({
  about: z.string(),
  profiles: z.record(
    z.string(),
    z.strictObject({
      hardware: z.string(),
      engine: z.string(),
      output_tokens_per_s: z.number().positive(),
      source: z.string().min(1),
    }),
  ),
});
export type ThroughputTable = z.infer<typeof throughputTableSchema>;

export const DEFAULT_THROUGHPUT_TABLE = join(packageRoot, 'docs', 'throughput.json');

/** A profile asked for that the table lacks, or a table that is not there. */
export class ThroughputProfileError extends RefineAfError {
  override name = 'ThroughputProfileError';
  readonly code = 'throughput-profile';
}

export interface PlanOptions {
  /** Estimate the generation stages from this profile of the throughput table (cited figures, not measurements). */
  throughput?: string;
  /** The table; default docs/throughput.json. */
  throughputTable?: string;
}

/**
 * The plan from the counts alone; with a throughput profile, the generation stages (1, 3, Super-NI) estimated from their
 * token counts at the profile's published rate. Every completion is counted at max_new_tokens, so the estimate is an upper
 * bound of the generation; PPO and SFT get none (no cited figure fits them: calibrate on the lab machine).
 */
export function planRun(config: Config, options: PlanOptions = {}): Plan {
  const counts = planCounts(config);
  if (options.throughput === undefined) return assemble(config, counts, {});
  const file = options.throughputTable ?? DEFAULT_THROUGHPUT_TABLE;
  const table = readJsonIfExists(file, throughputTableSchema);
  if (table === undefined) throw new ThroughputProfileError(`${file}: no such throughput table`);
  const profile = table.profiles[options.throughput];
  if (profile === undefined) {
    throw new ThroughputProfileError(
      `--throughput ${options.throughput}: ${file} has no such profile (it has ${Object.keys(table.profiles).join(', ')})`,
    );
  }
  const fromTokens = (tokens: number, what: string): StageEstimate => ({
    seconds: tokens / profile.output_tokens_per_s,
    fixed_seconds: 0,
    per_unit_seconds: 1 / profile.output_tokens_per_s,
    units: tokens,
    unit: 'generated token',
    peak_rss_bytes: null,
    extrapolated_from:
      `estimate, not a measurement: at most ${tokens} ${what} tokens at ${profile.output_tokens_per_s} tokens/s ` +
      `(${profile.engine} on ${profile.hardware}; ${profile.source})`,
  });
  const estimates: Partial<Record<PlanStage, StageEstimate>> = {
    instances: fromTokens(counts.instances.max_generated_tokens!, 'stage-3'),
    eval: fromTokens(counts.eval.superni_max_generated_tokens!, 'Super-NI'),
  };
  if (config.pipeline.instructions_from === null) estimates.instructions = fromTokens(counts.instructions.max_generated_tokens!, 'stage-1');
  return assemble(config, counts, estimates);
}

function assemble(
  config: Config,
  counts: Record<PlanStage, Record<string, number>>,
  estimates: Partial<Record<PlanStage, StageEstimate>>,
  calibrated = false,
): Plan {
  const inRun = new Set<PlanStage>(pipelineStageNames(config));
  const stages = PLAN_STAGES.filter((stage) => stage === 'eval' || inRun.has(stage)).map((stage) => ({
    stage,
    in_run: inRun.has(stage),
    counts: counts[stage],
    estimate: estimates[stage] ?? null,
  }));
  const run = stages.filter((s) => s.in_run);
  const total = run.every((s) => s.estimate !== null) ? run.reduce((sum, s) => sum + s.estimate!.seconds, 0) : null;
  return {
    run_dir: config.run.dir,
    generator: config.models.generator,
    calibrated,
    stages,
    total_seconds: total,
    created_at: new Date().toISOString(),
  };
}

export interface CalibrateOptions {
  /** Where the calibration's stages write; default a new temporary directory, removed afterwards. */
  scratchDir?: string;
  signal?: AbortSignal;
}

/** What one calibrated stage measured: its whole time, and the moments its loop advanced. */
interface StageTiming {
  seconds: number;
  events: ProgressEvent[];
  started: number;
  peakRss: number | null;
}

/**
 * Run CALIBRATION_UNITS units of each stage of the run on this machine, in a scratch run directory, and extrapolate
 * every stage's time to the config's counts. The run's own directory is never read or written.
 */
export async function calibratePlan(config: Config, options: CalibrateOptions = {}): Promise<Plan> {
  const scratch = options.scratchDir ?? mkdtempSync(join(tmpdir(), 'refine-af-plan-'));
  const inRun = pipelineStageNames(config);
  const units = CALIBRATION_UNITS;
  const calibration: Config = {
    ...config,
    run: { ...config.run, dir: scratch },
    // Stage 1 always generates here: a run that copies another's instructions still needs a pool for the stages after it.
    pipeline: { ...config.pipeline, instructions_from: null },
    rlaf: { ...config.rlaf, steps: units, pool: undefined },
    sft: { ...config.sft, extra_subsets: [], max_instructions: null, training: { ...config.sft.training, max_steps: units } },
  };
  logger.info(`plan: calibrating ${inRun.join(', ')} in ${scratch} (${units} units each)`);
  try {
    return await withStageContext(calibration, async (ctx) => {
      const timings: Partial<Record<StageName, StageTiming>> = {};
      const measure = async (stage: StageName, work: () => Promise<void>) => {
        timings[stage] = await timeStage(ctx, work);
        logger.info(`plan: ${stage} calibrated in ${timings[stage]!.seconds.toFixed(1)} s (${timings[stage]!.events.length} units)`);
      };
      const settings = config.instructions;
      let kept = 0;
      let requests = 0;
      await measure('instructions', async () => {
        const summary = await generateInstructions(ctx, { maxRequests: units * settings.request_batch_size, signal: options.signal });
        kept = summary.kept;
        requests = summary.requests;
      });
      const pool = instructionsOutputPaths(calibration).output;
      let adapter: string | null = null;
      if (inRun.includes('rlaf')) {
        await measure('rlaf', async () => {
          adapter = (await trainRlafWithFeedback(ctx, { signal: options.signal })).adapter;
        });
      }
      // Stage 3 on the first few batches' worth of the calibration's pool.
      const calibrationPool = join(scratch, 'calibration-pool.jsonl');
      const lines = readFileSync(pool, 'utf8').split('\n').filter(Boolean);
      writeFileSync(calibrationPool, `${lines.slice(0, units * config.instances.batch_size).join('\n')}\n`);
      let dataset = '';
      let instancesPerInstruction = PLAN_PRIORS.instancesPerInstruction.value;
      await measure('instances', async () => {
        const result = await generateInstances(ctx, { instructionsFile: calibrationPool, adapter, signal: options.signal });
        dataset = result.files.dataset;
        instancesPerInstruction = readJsonl(dataset, z.object({})).length / Math.max(result.poolSize, 1);
      });
      await measure('sft', async () => {
        await runSft(ctx, { datasetFile: dataset, maxInstructions: null, signal: options.signal });
      });

      const rates: PlanRates = {
        keptPerRequest: kept > 0 ? kept / requests : PLAN_PRIORS.keptPerRequest.value,
        instancesPerInstruction: instancesPerInstruction > 0 ? instancesPerInstruction : PLAN_PRIORS.instancesPerInstruction.value,
      };
      const counts = planCounts(config, rates);
      // The engine that ran: the context's config has backend auto resolved.
      const backend = (stage: 'instructions' | 'instances') => ctx.config[stage].backend;
      const estimates: Partial<Record<PlanStage, StageEstimate>> = {};
      const fromConfig = config.pipeline.instructions_from;
      estimates.instructions =
        fromConfig === null
          ? extrapolate(
              timings.instructions!,
              counts.instructions.batches!,
              'batch',
              (perUnit, n) =>
                `${n} batches of ${settings.request_batch_size} prompts on ${backend('instructions')}, ${perUnit} per batch, ` +
                `${kept} kept of ${requests} requests (${rates.keptPerRequest.toFixed(2)} per request)`,
            )
          : {
              ...extrapolate(timings.instructions!, 0, 'batch', () => `a copy of ${fromConfig}'s instructions`),
              seconds: 0,
              fixed_seconds: 0,
            };
      if (timings.rlaf)
        estimates.rlaf = extrapolate(
          timings.rlaf,
          config.rlaf.steps,
          'PPO step',
          (perUnit, n) => `${n} PPO steps of ${config.rlaf.ppo.batch_size} rollouts, ${perUnit} per step`,
        );
      estimates.instances = extrapolate(
        timings.instances!,
        counts.instances.batches!,
        'batch',
        (perUnit, n) =>
          `${n} batches of ${config.instances.batch_size} instructions on ${backend('instances')}, ${perUnit} per batch, ` +
          `${rates.instancesPerInstruction.toFixed(2)} instances per instruction`,
      );
      estimates.sft = extrapolateSft(config, timings.sft!, counts.sft.models!, counts.sft.optimizer_steps!);
      return assemble(config, counts, estimates, true);
    });
  } finally {
    if (options.scratchDir === undefined) rmSync(scratch, { recursive: true, force: true });
  }
}

/** Run one calibrated stage: its time (its models' release included, as `refine-af run` counts it), its loop's updates and peak memory. */
async function timeStage(ctx: StageContext, work: () => Promise<void>): Promise<StageTiming> {
  const events: ProgressEvent[] = [];
  const stopObserving = observeProgress((event) => events.push(event));
  const memory = sampleTreeRss();
  const started = performance.now();
  try {
    await work();
    await releaseModels(ctx.worker);
  } finally {
    stopObserving();
  }
  return { seconds: (performance.now() - started) / 1000, events, started, peakRss: memory.stop() };
}

/** The warm per-unit time (between the loop's updates after the first) and the rest of the stage's time as fixed. */
function splitTiming(timing: StageTiming): { perUnit: number; fixed: number; measured: number } {
  const { events, seconds } = timing;
  const measured = events.length;
  if (measured === 0) return { perUnit: 0, fixed: seconds, measured };
  // One update only: no warm interval to tell, so the whole first unit counts as per-unit (an overestimate of it).
  const perUnit = measured >= 2 ? (events.at(-1)!.at - events[0]!.at) / 1000 / (measured - 1) : (events[0]!.at - timing.started) / 1000;
  return { perUnit, fixed: Math.max(seconds - measured * perUnit, 0), measured };
}

function extrapolate(
  timing: StageTiming,
  units: number,
  unit: string,
  describe: (perUnit: string, measured: number) => string,
): StageEstimate {
  const { perUnit, fixed, measured } = splitTiming(timing);
  return {
    seconds: fixed + units * perUnit,
    fixed_seconds: fixed,
    per_unit_seconds: perUnit,
    units,
    unit,
    peak_rss_bytes: timing.peakRss,
    extrapolated_from: `${describe(`${perUnit.toFixed(1)} s`, measured)}; fixed ${fixed.toFixed(1)} s (calibration: ${timing.seconds.toFixed(1)} s)`,
  };
}

/** Every fine-tuning (the main one and each Table II subset) pays the fixed cost again: its own process and model load. */
function extrapolateSft(config: Config, timing: StageTiming, models: number, steps: number): StageEstimate {
  const estimate = extrapolate(
    timing,
    steps,
    'optimizer step',
    (perUnit, n) =>
      `${n} optimizer steps of ${sftBatch(config)} examples, ${perUnit} per step, × ${models} fine-tuning${models > 1 ? 's' : ''}`,
  );
  return {
    ...estimate,
    fixed_seconds: estimate.fixed_seconds * models,
    seconds: estimate.fixed_seconds * models + steps * estimate.per_unit_seconds,
  };
}

/**
 * The peak resident memory of this process and every process under it (the worker, a server, a job), sampled every
 * half second from /proc; null where there is no /proc.
 */
function sampleTreeRss(): { stop: () => number | null } {
  let peak: number | null = null;
  const sample = () => {
    const total = treeRss(process.pid);
    if (total !== null) peak = Math.max(peak ?? 0, total);
  };
  sample();
  const timer = setInterval(sample, 500);
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      return peak;
    },
  };
}

function treeRss(root: number): number | null {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return null;
  }
  const children = new Map<number, number[]>();
  for (const pid of entries) {
    try {
      // The parent pid is the fourth field after the command name, which may hold spaces and parentheses.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(parent, [...(children.get(parent) ?? []), Number(pid)]);
    } catch {
      // The process ended while we read.
    }
  }
  let total = 0;
  const pending = [root];
  while (pending.length > 0) {
    const pid = pending.pop()!;
    try {
      const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      total += rss ? Number(rss[1]) * 1024 : 0;
    } catch {
      continue;
    }
    pending.push(...(children.get(pid) ?? []));
  }
  return total;
}

/** The plan as a table: per stage its counts, estimate and what the estimate was extrapolated from. */
export function formatPlan(plan: Plan): string {
  const lines = [`plan for ${plan.run_dir} (${plan.generator})${plan.calibrated ? ', calibrated on this machine' : ''}`];
  const rows = plan.stages.map((s) => [
    s.stage + (s.in_run ? '' : ' (repro)'),
    s.estimate ? formatDuration(s.estimate.seconds) : '-',
    s.estimate?.peak_rss_bytes ? `${Math.round(s.estimate.peak_rss_bytes / 2 ** 20)} MiB` : '-',
    Object.entries(s.counts)
      .map(([name, n]) => `${name.replaceAll('_', ' ')} ${n}`)
      .join(', '),
  ]);
  const header = ['stage', 'time', 'peak RSS', 'work'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const row = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  lines.push(row(header), ...rows.map(row));
  for (const s of plan.stages) if (s.estimate) lines.push(`  ${s.stage}: ${s.estimate.extrapolated_from}`);
  lines.push(
    `total (refine-af run): ${plan.total_seconds === null ? 'unknown (a stage has no estimate; --calibrate times them all)' : formatDuration(plan.total_seconds)}`,
  );
  return lines.join('\n');
}

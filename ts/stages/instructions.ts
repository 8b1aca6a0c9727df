/**
 * Stage 1 (§II-B): bootstrapped instruction generation. Each batch: sample 8 in-context instructions per prompt
 * (6 seeds + 2 machine ones) → render the prompt (Table VI) → generate → parse "Task 9: …" → filter (length,
 * blacklist, form) → novelty filter (ROUGE-L > 0.7 with the pool drops) → append the kept ones, then snapshot the
 * state. A crash loses at most the batch in flight; `resume` continues the same random stream exactly.
 */
import { existsSync, readFileSync, statSync, truncateSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { stageBackendSpec, withStageBackend } from '../backends/from-config.js';
import type { GenerationBackend } from '../backends/types.js';
import { decodingSchema } from '../bridge/contract.js';
import { ConfigError } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { throwIfInterrupted } from '../interrupt.js';
import { appendJsonl, DataFileError, readJsonIfExists, readJsonl, writeJsonAtomic } from '../io/files.js';
import { defaultSeedTasksFile, loadSeedTasks } from '../io/seeds.js';
import { logger } from '../log.js';
import { startProgress } from '../progress.js';
import { Random } from '../random.js';
import { isNovel } from '../rouge/dedup.js';
import { NoveltyIndex } from '../rouge/index.js';
import { type StageContext, withStageContext } from './context.js';
import { parseCompletion, REJECTION_REASONS, type RejectionReason, rejectionReason } from './instructions/postprocess.js';
import { renderInstructionPrompt, sampleInContext } from './instructions/prompt.js';
import { RunConflictError } from './ledger.js';

export const machineInstructionSchema = z.strictObject({
  instruction: z.string(),
  most_similar: z.array(z.strictObject({ instruction: z.string(), score: z.number() })),
  avg_similarity_score: z.number(),
  /** Index of the prompt (request) that produced it, counted over the whole run. */
  request_idx: z.number().int().nonnegative(),
  generation: z.strictObject({ seed: z.number().int(), decoding: decodingSchema }),
  model: z.string(),
});
export type MachineInstruction = z.infer<typeof machineInstructionSchema>;

const rejectionCounts = z.strictObject(
  Object.fromEntries(REJECTION_REASONS.map((r) => [r, z.number().int().nonnegative()])) as Record<RejectionReason, z.ZodNumber>,
);

/** Written atomically after every batch is appended: what resume needs to continue exactly. */
const stateSchema = z.strictObject({
  random_state: z.tuple([z.number(), z.number(), z.number(), z.number()]),
  /** Prompts sent so far (the next request index). */
  requests: z.number().int().nonnegative(),
  /** Lines of the output file this state accounts for; more lines on resume are the batch in flight, and are cut. */
  output_lines: z.number().int().nonnegative(),
  /** Instructions parsed out of completions. */
  generated: z.number().int().nonnegative(),
  rejected: rejectionCounts,
});
type StageState = z.infer<typeof stateSchema>;

export interface InstructionsSummary {
  output: string;
  kept: number;
  generated: number;
  requests: number;
  rejected: Record<RejectionReason, number>;
}

export function instructionsOutputPaths(config: Config): { output: string; state: string } {
  const output = join(config.run.dir, config.instructions.output_file);
  return { output, state: `${output.replace(/\.jsonl$/, '')}.state.json` };
}

/** What a finished (or interrupted) stage 1 recorded: prompts sent, instructions parsed, and why each rejected one was; undefined when the run has no snapshot (its instructions were copied from another run). */
export function readInstructionsRecord(config: Config): Omit<StageState, 'random_state' | 'output_lines'> | undefined {
  const state = readJsonIfExists(instructionsOutputPaths(config).state, stateSchema);
  return state && { requests: state.requests, generated: state.generated, rejected: state.rejected };
}

export interface InstructionsOptions {
  /** Continue the run in run.dir from its snapshot. */
  resume?: boolean;
  /** Stop once the run has sent this many prompts, even short of num_instructions (a budget; resume goes on later). */
  maxRequests?: number;
  /** Aborting stops the stage after the batch in flight is written (Ctrl-C); `resume` continues it. */
  signal?: AbortSignal;
}

/** Stage 1 in a run: instructions.backend, generating with models.generator. */
export function generateInstructions(ctx: StageContext, options: InstructionsOptions = {}): Promise<InstructionsSummary> {
  const spec = stageBackendSpec(ctx.config, 'instructions', { worker: ctx.worker, handle: 'generator', signal: options.signal });
  return withStageBackend(ctx.config, spec, (backend) => generateInstructionsWith(ctx.config, backend, options));
}

/** Stage 1 on a given backend (the tests' and benchmarks' fixed or instrumented ones). */
export async function generateInstructionsWith(
  config: Config,
  backend: GenerationBackend,
  options: InstructionsOptions = {},
): Promise<InstructionsSummary> {
  const settings = config.instructions;
  const paths = instructionsOutputPaths(config);
  const seedFile = seedTasksFile(settings);
  const seeds = loadSeedTasks(seedFile).map((task) => task.instruction);
  if (settings.num_machine_instructions > settings.num_prompt_instructions) {
    throw ConfigError.at(
      ['instructions.num_machine_instructions', 'instructions.num_prompt_instructions'],
      `instructions: num_machine_instructions (${settings.num_machine_instructions}) is more than num_prompt_instructions (${settings.num_prompt_instructions})`,
    );
  }
  // The pool of machine instructions starts empty, so the first prompts take all their in-context instructions from the seeds.
  if (settings.num_prompt_instructions > seeds.length) {
    throw ConfigError.at(
      ['instructions.num_prompt_instructions', 'instructions.seed_tasks'],
      `instructions: ${settings.num_prompt_instructions} in-context instructions per prompt need at least that many seed tasks (the first prompts have no machine instructions yet); ${seedFile} has ${seeds.length}`,
    );
  }

  const { state, kept } = options.resume ? reconcile(paths) : startFresh(paths, config.run.seed);
  const random = new Random(state.random_state);
  const pool = new NoveltyIndex(seeds);
  const machine = kept.map((record) => record.instruction);
  for (const instruction of machine) pool.add(instruction);
  if (options.resume) logger.info(`resuming ${paths.output}: ${machine.length} kept, ${state.requests} requests done`);

  const progress = startProgress('instructions', settings.num_instructions, machine.length);
  const started = Date.now();
  const keptAtStart = machine.length;
  const report = () => {
    const minutes = (Date.now() - started) / 60_000;
    const rejected = REJECTION_REASONS.filter((r) => state.rejected[r] > 0).map((r) => `${r} ${state.rejected[r]}`);
    progress.update(machine.length, {
      generated: state.generated,
      rejected: rejected.join(', ') || 'none',
      'kept/min': minutes > 0 ? ((machine.length - keptAtStart) / minutes).toFixed(1) : '-',
    });
  };
  try {
    while (machine.length < settings.num_instructions && state.requests < (options.maxRequests ?? Infinity)) {
      throwIfInterrupted(options.signal);
      // Sample → prompt.
      const prompts = Array.from({ length: settings.request_batch_size }, () =>
        renderInstructionPrompt(
          settings.template,
          sampleInContext(random, seeds, machine, settings.num_prompt_instructions, settings.num_machine_instructions),
        ),
      );
      const seed = random.nextUint32() >>> 1;
      // Generate.
      const completions = await backend.generate({ prompts, decoding: settings.decoding, seed });
      // Parse → filter → novelty filter, in order, so a later instruction is compared with earlier ones of the batch.
      const batch: MachineInstruction[] = [];
      completions.forEach((completion, i) => {
        for (const parsed of parseCompletion(completion)) {
          if (machine.length >= settings.num_instructions) return;
          state.generated++;
          const reason = parsed.rejected ?? rejectionReason(parsed.instruction, settings);
          if (reason !== undefined) {
            state.rejected[reason]++;
            continue;
          }
          const { maxScore, mostSimilar } = pool.nearest(parsed.instruction, settings.most_similar_k);
          if (!isNovel(maxScore, settings.rouge_threshold)) {
            state.rejected.too_similar++;
            continue;
          }
          batch.push({
            instruction: parsed.instruction,
            most_similar: mostSimilar.map(({ instruction, score }) => ({ instruction, score })),
            avg_similarity_score: pool.averageSimilarity(parsed.instruction),
            request_idx: state.requests + i,
            generation: { seed, decoding: settings.decoding },
            model: backend.name,
          });
          pool.add(parsed.instruction);
          machine.push(parsed.instruction);
        }
      });
      // Write: the batch first, then the snapshot that accounts for it.
      appendJsonl(paths.output, batch);
      state.requests += prompts.length;
      state.output_lines += batch.length;
      state.random_state = random.state();
      writeJsonAtomic(paths.state, state);
      report();
    }
  } finally {
    progress.stop();
  }
  return {
    output: paths.output,
    kept: machine.length,
    generated: state.generated,
    requests: state.requests,
    rejected: { ...state.rejected },
  };
}

/** The seed tasks stage 1 starts from: instructions.seed_tasks (relative to the working directory), else the 175 in seeds/. */
export function seedTasksFile(settings: Config['instructions']): string {
  return settings.seed_tasks === undefined
    ? defaultSeedTasksFile
    : isAbsolute(settings.seed_tasks)
      ? settings.seed_tasks
      : resolve(settings.seed_tasks);
}

function startFresh(paths: { output: string; state: string }, seed: number): { state: StageState; kept: MachineInstruction[] } {
  for (const file of [paths.output, paths.state]) {
    if (existsSync(file) && statSync(file).size > 0) {
      throw new RunConflictError(`${file} exists: pass --resume to continue that run, or choose another run.dir`);
    }
  }
  const state: StageState = {
    random_state: new Random(seed).state(),
    requests: 0,
    output_lines: 0,
    generated: 0,
    rejected: Object.fromEntries(REJECTION_REASONS.map((r) => [r, 0])) as Record<RejectionReason, number>,
  };
  // Snapshot before the first batch, so that a resume always has one to reconcile the output with.
  writeJsonAtomic(paths.state, state);
  return { state, kept: [] };
}

/** The snapshot is the truth: output lines beyond it belong to the batch in flight at the crash, and are cut. */
function reconcile(paths: { output: string; state: string }): { state: StageState; kept: MachineInstruction[] } {
  const state = readJsonIfExists(paths.state, stateSchema);
  if (state === undefined) throw new RunConflictError(`${paths.state}: no snapshot to resume from (was the run started in this run.dir?)`);
  const kept = readJsonl(paths.output, machineInstructionSchema, { repairTornTail: true });
  if (kept.length < state.output_lines) {
    throw new DataFileError(
      paths.output,
      undefined,
      `has ${kept.length} records but the snapshot accounts for ${state.output_lines}; the output was altered`,
    );
  }
  if (kept.length > state.output_lines) {
    logger.warn(
      `${paths.output}: dropping ${kept.length - state.output_lines} records of the batch in flight at the crash; it is generated again`,
    );
    const text = readFileSync(paths.output, 'utf8');
    let cut = 0;
    for (let line = 0; line < state.output_lines; line++) cut = text.indexOf('\n', cut) + 1;
    truncateSync(paths.output, Buffer.byteLength(text.slice(0, cut)));
  }
  return { state, kept: kept.slice(0, state.output_lines) };
}

/** The CLI's and SDK's entry: the configured backend over a worker of its own, closed whatever happens. */
export function runInstructionGeneration(config: Config, options: InstructionsOptions = {}): Promise<InstructionsSummary> {
  return withStageContext(config, (ctx) => generateInstructions(ctx, options));
}

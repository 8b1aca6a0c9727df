/**
 * Stage 2 (§II-C, §III-A): reinforcement learning from automated feedback. Each step: sample instructions from the
 * stage-1 pool → render the instance-generation prompt (Self-Instruct's, Table VII) → the policy generates → parse
 * (input, output) → score with the reward function (Eq. 1 in a real run) → one policy step in the Python worker → log
 * the step. rlaf.algorithm picks the step: PPO (the paper's; one completion per instruction), or GRPO or RLOO
 * (num_generations completions of each instruction, whose rewards make each other's baseline).
 *
 * TRL's PPOTrainer does PPO's optimisation (py/refine_af/ppo.py), py/refine_af/critic_free.py GRPO's and RLOO's; this file is the loop, over the modules in rlaf/: where
 * the outputs go (paths.ts), what each step logs and the run's summary (records.ts), checkpoints and resume
 * (checkpoints.ts). Every random draw of a step is a function of (run seed, step), so a run resumed from the checkpoint
 * at step k draws for step k + 1 exactly what an uninterrupted run would have drawn: nothing is repeated or skipped.
 */
import { existsSync } from 'node:fs';
import { z } from 'zod';
import { type Completion, indicatorValuesSchema, type Triplet } from '../bridge/contract.js';
import { ContractError } from '../bridge/errors.js';
import type { PythonWorker } from '../bridge/worker.js';
import { ConfigError } from '../config/load.js';
import { modelLoading } from '../config/model-loading.js';
import type { Config } from '../config/schema.js';
import { UsageError } from '../errors.js';
import { FeedbackScorer } from '../feedback/scorer.js';
import { throwIfInterrupted } from '../interrupt.js';
import { appendJsonl, readJsonl, writeFileAtomic, writeJsonAtomic } from '../io/files.js';
import { logger } from '../log.js';
import { startProgress } from '../progress.js';
import { Random } from '../random.js';
import { rewardTrendText } from '../stats/correlation.js';
import { rewardCurveSvg } from '../stats/line-chart.js';
import { type StageContext, withStageContext } from './context.js';
import { parseInstances } from './instances/parser.js';
import { instancePrompt } from './instances/prompt.js';
import { RunConflictError, RunIncompleteError } from './ledger.js';
import { latestCheckpoint, reconcileLogs } from './rlaf/checkpoints.js';
import { checkpointDir, rlafPaths } from './rlaf/paths.js';
import { feedbackScalars, metricsCsv, type RlafSummary, type Rollout, stepRecord, summarise } from './rlaf/records.js';

/** The composite reward (Eq. 1) and the indicators it was composed from (Rew, Nat, Coh, Und, …), per triplet. */
export interface Reward {
  reward: number;
  indicators: Record<string, number>;
}

/** Any scorer of (instruction, input, output) triplets: the automated feedback of a real run, or a synthetic reward for tests and benchmarks. */
export type RewardFn = (triplets: Triplet[]) => Promise<Reward[]>;

const poolLineSchema = z.object({ instruction: z.string().min(1) });

export interface TrainRlafOptions {
  worker: PythonWorker;
  reward: RewardFn;
  /**
   * Called on resume with the indicators of every rollout logged up to the checkpoint, in order, so that a stateful
   * reward (Eq. 1 over running-standardised indicators) continues exactly where it was.
   */
  replayReward?: (indicators: Record<string, number>[]) => void;
  /** Continue from the last complete checkpoint in the output directory. */
  resume?: boolean;
  /** Aborting stops the loop after the step in flight and saves a checkpoint (the CLI wires Ctrl-C to this). */
  signal?: AbortSignal;
}

export async function trainRlaf(config: Config, options: TrainRlafOptions): Promise<RlafSummary> {
  const settings = config.rlaf;
  const paths = rlafPaths(config);
  const { worker, reward } = options;
  const shape = stepShape(settings);
  const pool = readPool(paths.pool, shape);

  const resumeFrom = options.resume ? latestCheckpoint(paths.checkpoints) : undefined;
  if (!options.resume && existsSync(paths.metrics)) {
    throw new RunConflictError(`${paths.metrics} exists: pass --resume to continue that run, or choose another rlaf.out_dir / run.dir`);
  }
  const startStep = resumeFrom?.step ?? 0;
  const { history, rollouts: loggedRollouts } = reconcileLogs(paths, startStep);
  options.replayReward?.(loggedRollouts.filter((r) => r.instance !== null).map((r) => r.indicators));

  const opened = await worker.call('policy_init', {
    ref: config.models.generator,
    ...modelLoading(config.models, 'rlaf'),
    lora: settings.lora,
    algorithm: settings.algorithm,
    settings: shape.settings,
    seed: config.run.seed,
    resume_from: resumeFrom?.dir ?? null,
    logging_dir: settings.report_to.includes('tensorboard') ? paths.tensorboard : null,
  });
  if (opened.step !== startStep)
    throw new RunConflictError(`checkpoint ${resumeFrom?.dir} holds step ${opened.step}, its marker says ${startStep}`);
  logger.info(
    `rlaf: ${settings.algorithm} on ${opened.model.resolved.ref} (${opened.model.quantization}, ${opened.model.device}), ` +
      `${opened.trainable_parameters} trainable of ${opened.parameters} parameters; ` +
      (resumeFrom ? `resuming after step ${startStep} from ${resumeFrom.dir}` : 'starting at step 1'),
  );

  let lastSaved = opened.adapter === null ? undefined : { dir: resumeFrom!.dir, adapter: opened.adapter };
  let lastSavedStep = startStep;
  const save = async (step: number) => {
    lastSaved = await worker.call('policy_save', { dir: checkpointDir(paths, step) });
    lastSavedStep = step;
  };
  const progress = startProgress('rlaf', settings.steps, startStep);
  let step = startStep;
  try {
    while (step < settings.steps && !options.signal?.aborted) {
      step += 1;
      const started = performance.now();
      const random = stepRandom(config.run.seed, step);

      // 1. Sample instructions and render the instance-generation prompt (rlaf.template: Self-Instruct's, Table VII).
      //    GRPO and RLOO take each instruction num_generations times in a row: one group each.
      const instructions = random
        .sample(pool, shape.instructions)
        .flatMap((instruction) => Array<string>(shape.generations).fill(instruction));
      const prompts = instructions.map((instruction) => instancePrompt(settings.template, instruction));

      // 2. The policy generates one response per prompt; its token ids stay in Python for the step.
      const { responses } = await worker.call('policy_generate', {
        prompts,
        decoding: settings.decoding,
        seed: random.nextUint32(),
      });

      // 3. Parse each response into an (input, output) instance and score it.
      const rollouts = await scoreResponses(instructions, responses, reward, settings.unparsed_reward);

      // 4. One policy step with exactly these rewards.
      const stats = await worker.call('policy_step', {
        scores: rollouts.map((r) => r.reward),
        seed: random.nextUint32(),
        scalars: feedbackScalars(rollouts),
      });
      if (stats.step !== step)
        throw new ContractError(
          'worker.policy_step',
          `the ${settings.algorithm} trainer reports step ${stats.step} where the loop is at step ${step}`,
        );

      // 5. Log the step: metrics (JSONL + CSV), rollouts; checkpoint every save_every steps.
      const record = stepRecord(history, rollouts, stats, (performance.now() - started) / 1000, settings.moving_average_span);
      appendJsonl(
        paths.rollouts,
        rollouts.map((r) => ({ ...r, step })),
      );
      appendJsonl(paths.metrics, [record]);
      history.push(record);
      writeFileAtomic(paths.metricsCsv, metricsCsv(history));
      if (step % settings.save_every === 0) await save(step);
      progress.update(step, { reward: record.reward_mean.toFixed(3), ema: record.reward_ema.toFixed(3), kl: record.kl.toFixed(3) });
    }
    if (lastSavedStep !== step || lastSaved === undefined) await save(step);
  } finally {
    progress.stop();
    // A failed close (say, the worker died) must not hide the error that ended the loop.
    await worker
      .call('policy_close', {})
      .catch((error: unknown) => logger.warn(`rlaf: closing the policy failed: ${(error as Error).message}`));
  }

  const summary = summarise(settings.algorithm, paths, history, lastSaved!, step < settings.steps, settings.moving_average_span);
  writeFileAtomic(
    paths.chart,
    rewardCurveSvg(
      history.map((r) => ({ step: r.step, reward: r.reward_mean })),
      settings.moving_average_span,
      settings.algorithm,
    ),
  );
  writeJsonAtomic(paths.summary, summary);
  logger.info(
    `rlaf: ${summary.interrupted ? 'interrupted after' : 'done,'} ${summary.steps} ${settings.algorithm} steps; reward ${summary.reward_first.toFixed(3)} → ` +
      `${summary.reward_last_ema.toFixed(3)} (EMA), Spearman ${rewardTrendText(summary.spearman_reward_step, settings.moving_average_span)}, ` +
      `${summary.seconds_per_step.toFixed(1)} s/step; adapter in ${summary.adapter}`,
  );
  return summary;
}

/** Stage 2 with the REFINE-AF reward: Eq. 1 over the automated feedback, scored by models held in the same worker as the policy. */
export async function trainRlafWithFeedback(
  { config, worker }: StageContext,
  options: { resume?: boolean; signal?: AbortSignal } = {},
): Promise<RlafSummary> {
  const scorer = new FeedbackScorer(worker, config);
  await scorer.load();
  const summary = await trainRlaf(config, {
    worker,
    reward: async (triplets) => (await scorer.score(triplets)).map(({ reward, indicators }) => ({ reward, indicators })),
    replayReward: (indicators) => scorer.replay(indicators.map((values) => indicatorValuesSchema.parse(values))),
    resume: options.resume ?? false,
    signal: options.signal,
  });
  // Stopped early by Ctrl-C (its checkpoint saved): an interruption, as every long command and `run` report it.
  throwIfInterrupted(options.signal);
  return summary;
}

/** The CLI's and SDK's entry: one worker for policy and feedback models; Ctrl-C finishes the step in flight, saves a checkpoint, stops. */
export async function runRlafTraining(config: Config, options: { resume?: boolean; signal?: AbortSignal } = {}): Promise<RlafSummary> {
  return withStageContext(config, (ctx) => trainRlafWithFeedback(ctx, options));
}

/** What one step draws: `instructions` from the pool, `generations` completions of each, under `settings`. */
interface StepShape {
  settings: Config['rlaf']['ppo'] | Config['rlaf']['grpo'] | Config['rlaf']['rloo'];
  instructions: number;
  generations: number;
  /** The config key that sets `instructions`, for errors. */
  key: string;
}

function stepShape(rlaf: Config['rlaf']): StepShape {
  if (rlaf.algorithm === 'ppo')
    return { settings: rlaf.ppo, instructions: rlaf.ppo.batch_size, generations: 1, key: 'rlaf.ppo.batch_size' };
  const group = rlaf[rlaf.algorithm];
  const completions = group.per_device_train_batch_size * group.gradient_accumulation_steps;
  return {
    settings: group,
    instructions: completions / group.num_generations,
    generations: group.num_generations,
    key: `rlaf.${rlaf.algorithm}.per_device_train_batch_size × gradient_accumulation_steps ÷ num_generations`,
  };
}

function readPool(file: string, shape: StepShape): string[] {
  if (!existsSync(file))
    throw new RunIncompleteError(`instruction pool ${file} not found: run stage 1 (refine-af generate-instructions) or set rlaf.pool`);
  const instructions = [...new Set(readJsonl(file, poolLineSchema).map((line) => line.instruction))];
  if (instructions.length < shape.instructions) {
    throw ConfigError.at(
      shape.key.split(' ')[0]!,
      `instruction pool ${file} has ${instructions.length} distinct instructions; a step samples ${shape.key} = ${shape.instructions}`,
    );
  }
  return instructions;
}

/** The random stream of one step, a function of (run seed, step) alone. */
function stepRandom(seed: number, step: number): Random {
  const random = new Random([0x9e3779b9, seed >>> 0, step >>> 0, 0x243f6a88]);
  for (let i = 0; i < 15; i++) random.nextUint32();
  return random;
}

export async function scoreResponses(
  instructions: readonly string[],
  responses: readonly Completion[],
  reward: RewardFn,
  unparsedReward: number,
): Promise<Rollout[]> {
  // Our fixed rule: the first parsed instance is the one rewarded (README, stage 2). Eq. 1 scores one triplet, and the
  // prompt asks for the pair of one instruction (§II-D: "a (input, output) pair corresponding to each input instruction");
  // one triplet per rollout also keeps the logged instance, indicators and reward exactly what PPO was given.
  const instances = responses.map((response) => parseInstances(response.text)[0] ?? null);
  const triplets = instances.flatMap((instance, i) => (instance ? [{ instruction: instructions[i]!, ...instance }] : []));
  const scored = triplets.length > 0 ? await reward(triplets) : [];
  if (scored.length !== triplets.length)
    throw new UsageError(`the reward function returned ${scored.length} rewards for ${triplets.length} triplets`);
  let next = 0;
  return responses.map((response, i) => {
    const instance = instances[i] ?? null;
    const score = instance ? scored[next++]! : { reward: unparsedReward, indicators: {} };
    if (!Number.isFinite(score.reward))
      throw new UsageError(`the reward function returned ${score.reward} for instruction ${JSON.stringify(instructions[i])}`);
    return {
      instruction: instructions[i]!,
      response: response.text,
      finish_reason: response.finish_reason,
      instance,
      reward: score.reward,
      indicators: score.indicators,
    };
  });
}

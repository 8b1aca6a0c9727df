/** What stage 2 logs: one metrics record per step (JSONL, CSV), every rollout, and the summary of the run. */
import { z } from 'zod';
import type { PolicyStepStats, RlAlgorithm } from '../../bridge/contract.js';
import { toCsv } from '../../io/csv.js';
import { readJsonl } from '../../io/files.js';
import { type RewardTrend, rewardTrend } from '../../stats/correlation.js';
import { exponentialMovingAverage } from '../../stats/smoothing.js';
import { mean } from '../../stats/summary.js';
import type { RlafPaths } from './paths.js';

export const rlafStepRecordSchema = z.strictObject({
  step: z.number().int().positive(),
  reward_mean: z.number(),
  /** Exponential moving average of reward_mean up to this step (span = rlaf.moving_average_span). */
  reward_ema: z.number(),
  /** Means over the parsed rollouts of the step (none when nothing parsed). */
  indicators: z.record(z.string(), z.number()),
  parsed_fraction: z.number(),
  kl: z.number(),
  kl_coef: z.number(),
  entropy: z.number(),
  policy_loss: z.number(),
  /** null: GRPO and RLOO have no value function. */
  value_loss: z.number().nullable(),
  response_tokens_mean: z.number(),
  seconds: z.number(),
  seconds_ppo: z.number(),
});
export type RlafStepRecord = z.infer<typeof rlafStepRecordSchema>;

export const rolloutRecordSchema = z.strictObject({
  step: z.number().int().positive(),
  instruction: z.string(),
  response: z.string(),
  finish_reason: z.enum(['stop', 'eos', 'length']),
  instance: z.strictObject({ input: z.string(), output: z.string() }).nullable(),
  reward: z.number(),
  indicators: z.record(z.string(), z.number()),
});
export type RolloutRecord = z.infer<typeof rolloutRecordSchema>;
/** A rollout as scored, before the step number is added to its log line. */
export type Rollout = Omit<RolloutRecord, 'step'>;

export interface RlafSummary {
  /** rlaf.algorithm of the run. */
  algorithm: RlAlgorithm;
  steps: number;
  /** The last complete checkpoint. */
  checkpoint: string;
  /** The trained LoRA adapter in that checkpoint, as the worker saved it. */
  adapter: string;
  interrupted: boolean;
  reward_first: number;
  reward_last_ema: number;
  /** ρ(step, reward) of reward_mean and of reward_ema (Figure 2's smoothed curve). */
  spearman_reward_step: RewardTrend;
  seconds_per_step: number;
  metrics: string;
  chart: string;
}

/** Mean of each indicator over the rollouts that parsed (the others were not scored). */
export function indicatorMeans(rollouts: readonly Rollout[]): Record<string, number> {
  const parsed = rollouts.filter((r) => r.instance !== null);
  const names = [...new Set(parsed.flatMap((r) => Object.keys(r.indicators)))].sort();
  return Object.fromEntries(names.map((name) => [name, mean(parsed.flatMap((r) => r.indicators[name] ?? []))]));
}

/** The step's feedback for TensorBoard, beside TRL's own tags: each indicator's mean and the share of parsed responses. */
export function feedbackScalars(rollouts: readonly Rollout[]): Record<string, number> {
  const scalars = Object.fromEntries(Object.entries(indicatorMeans(rollouts)).map(([name, value]) => [`feedback/${name}`, value]));
  return { ...scalars, 'feedback/parsed_fraction': rollouts.filter((r) => r.instance !== null).length / rollouts.length };
}

export function stepRecord(
  history: readonly RlafStepRecord[],
  rollouts: readonly Rollout[],
  stats: PolicyStepStats,
  seconds: number,
  span: number,
): RlafStepRecord {
  const rewardMean = mean(rollouts.map((r) => r.reward));
  const parsed = rollouts.filter((r) => r.instance !== null);
  const ema = exponentialMovingAverage([...history.map((h) => h.reward_mean), rewardMean], span).at(-1)!;
  return {
    step: stats.step,
    reward_mean: rewardMean,
    reward_ema: ema,
    indicators: indicatorMeans(rollouts),
    parsed_fraction: parsed.length / rollouts.length,
    kl: stats.kl,
    kl_coef: stats.kl_coef,
    entropy: stats.entropy,
    policy_loss: stats.policy_loss,
    value_loss: stats.value_loss,
    response_tokens_mean: stats.response_tokens_mean,
    seconds,
    seconds_ppo: stats.seconds,
  };
}

const CSV_STATS = [
  'reward_mean',
  'reward_ema',
  'parsed_fraction',
  'kl',
  'kl_coef',
  'entropy',
  'policy_loss',
  'value_loss',
  'response_tokens_mean',
  'seconds',
  'seconds_ppo',
] as const;

export function metricsCsv(history: readonly RlafStepRecord[]): string {
  const indicatorNames = [...new Set(history.flatMap((r) => Object.keys(r.indicators)))].sort();
  return toCsv(
    ['step', ...CSV_STATS, ...indicatorNames.map((name) => `indicator_${name}`)],
    history.map((r) => [r.step, ...CSV_STATS.map((key) => r[key]), ...indicatorNames.map((name) => r.indicators[name])]),
  );
}

export function summarise(
  algorithm: RlAlgorithm,
  paths: RlafPaths,
  history: readonly RlafStepRecord[],
  saved: { dir: string; adapter: string },
  interrupted: boolean,
  span: number,
): RlafSummary {
  return {
    algorithm,
    steps: history.length,
    checkpoint: saved.dir,
    adapter: saved.adapter,
    interrupted,
    reward_first: history[0]?.reward_mean ?? Number.NaN,
    reward_last_ema: history.at(-1)?.reward_ema ?? Number.NaN,
    spearman_reward_step: rewardTrend(
      history.map((r) => ({ step: r.step, reward: r.reward_mean })),
      span,
    ),
    seconds_per_step: history.length ? mean(history.map((r) => r.seconds)) : Number.NaN,
    metrics: paths.metrics,
    chart: paths.chart,
  };
}

/** Read a finished or interrupted run's metrics back (analysis, benchmarks). */
export function readRlafMetrics(file: string): RlafStepRecord[] {
  return readJsonl(file, rlafStepRecordSchema);
}

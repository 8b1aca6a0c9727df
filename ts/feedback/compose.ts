/**
 * Eq. 1 of REFINE-AF (§II-C): the reward is a weighted sum of the four indicators, rising with the reward-model score,
 * naturalness and coherence and falling with understandability. The weights are signed coefficients and the defaults
 * (config `feedback.weights`, `feedback.bias`) are reconstructed from Instruction Mining; see docs/feedback.md.
 * This is the one implementation: stage 2 (PPO) and `refine-af score` both call composeReward.
 */
import { z } from 'zod';
import { FEEDBACK_INDICATORS, type IndicatorValues } from '../bridge/contract.js';
import type { Config } from '../config/schema.js';

export interface RewardFormula {
  /** Signed coefficient per indicator. */
  weights: IndicatorValues;
  bias: number;
}

export function rewardFormula(feedback: Config['feedback']): RewardFormula {
  return { weights: feedback.weights, bias: feedback.bias };
}

const welfordSchema = z.object({ count: z.number().int().nonnegative(), mean: z.number(), m2: z.number().nonnegative() });
export const runningZScoreStateSchema = z.object({
  reward: welfordSchema,
  naturalness: welfordSchema,
  coherence: welfordSchema,
  understandability: welfordSchema,
});
export type RunningZScoreState = z.infer<typeof runningZScoreStateSchema>;

/**
 * Per-indicator standardisation by the running mean and (population) standard deviation of every value seen so far,
 * the current one included; a constant history standardises to 0. Values are folded in one triplet at a time, in order,
 * so the result depends on the order of the data but not on how it was batched — and a resumed run that replays the
 * values it already wrote gets back exactly the same state. `state()` / `fromState()` let a training run checkpoint it.
 */
export class RunningZScore {
  private constructor(private readonly stats: RunningZScoreState) {}

  static empty(): RunningZScore {
    const zero = () => ({ count: 0, mean: 0, m2: 0 });
    return new RunningZScore({ reward: zero(), naturalness: zero(), coherence: zero(), understandability: zero() });
  }

  static fromState(state: RunningZScoreState): RunningZScore {
    return new RunningZScore(structuredClone(runningZScoreStateSchema.parse(state)));
  }

  state(): RunningZScoreState {
    return structuredClone(this.stats);
  }

  /** Fold one triplet's raw values in, then return them standardised. */
  standardise(values: IndicatorValues): IndicatorValues {
    const out = { ...values };
    for (const indicator of FEEDBACK_INDICATORS) {
      const s = this.stats[indicator];
      const x = values[indicator];
      s.count += 1;
      const delta = x - s.mean;
      s.mean += delta / s.count;
      s.m2 += delta * (x - s.mean);
      const std = Math.sqrt(s.m2 / s.count);
      out[indicator] = std > 0 ? (x - s.mean) / std : 0;
    }
    return out;
  }
}

export function normaliserFor(feedback: Config['feedback']): RunningZScore | undefined {
  return feedback.normalisation === 'running_zscore' ? RunningZScore.empty() : undefined;
}

/** r = bias + Σ weight_i · indicator_i, over the standardised indicators when a normaliser is given (which it updates). */
export function composeReward(indicators: IndicatorValues, formula: RewardFormula, normaliser?: RunningZScore): number {
  const values = normaliser ? normaliser.standardise(indicators) : indicators;
  return FEEDBACK_INDICATORS.reduce((sum, indicator) => sum + formula.weights[indicator] * values[indicator], formula.bias);
}

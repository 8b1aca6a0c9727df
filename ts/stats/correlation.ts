/** Rank correlation, as the paper measures whether the reward rises with the training step (§III, "RL Training"). */
import { exponentialMovingAverage } from './smoothing.js';
import { mean } from './summary.js';

/** 1-based ranks; tied values share the mean of the ranks they span (the convention of scipy.stats.rankdata). */
export function ranks(values: readonly number[]): number[] {
  const order = values.map((value, index) => ({ value, index })).sort((a, b) => a.value - b.value);
  const result = new Array<number>(values.length);
  for (let start = 0; start < order.length; ) {
    let end = start + 1;
    while (end < order.length && order[end]!.value === order[start]!.value) end++;
    const shared = (start + 1 + end) / 2;
    for (let k = start; k < end; k++) result[order[k]!.index] = shared;
    start = end;
  }
  return result;
}

/** Pearson correlation; NaN when either side is constant or there are fewer than two points. */
export function pearson(xs: readonly number[], ys: readonly number[]): number {
  if (xs.length !== ys.length) throw new RangeError(`pearson: ${xs.length} x values but ${ys.length} y values`);
  const n = xs.length;
  if (n < 2) return Number.NaN;
  const meanX = mean(xs);
  const meanY = mean(ys);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = xs[i]! - meanX;
    const dy = ys[i]! - meanY;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxx === 0 || syy === 0 ? Number.NaN : sxy / Math.sqrt(sxx * syy);
}

/** Spearman's rank correlation: Pearson on tie-averaged ranks (scipy.stats.spearmanr's definition). */
export function spearman(xs: readonly number[], ys: readonly number[]): number {
  return pearson(ranks(xs), ranks(ys));
}

/**
 * Figure 2's ρ(step, reward), twice: of the raw mean reward per step, and of its moving average with span `span` — the
 * curve the paper plots. The paper reports one ρ without saying which curve it is of, so both are kept, each labelled.
 * Smoothing alone changes ρ: a moving average of a noisy rising curve rises more steadily than the curve.
 */
export interface RewardTrend {
  /** ρ of the per-step mean reward. */
  raw: number;
  /** ρ of its exponential moving average (span `span`). */
  smoothed: number;
}

export function rewardTrend(points: readonly { step: number; reward: number }[], span: number): RewardTrend {
  const steps = points.map((p) => p.step);
  const rewards = points.map((p) => p.reward);
  return { raw: spearman(steps, rewards), smoothed: spearman(steps, exponentialMovingAverage(rewards, span)) };
}

/** How a RewardTrend reads wherever it is shown; ρ is undefined (NaN, or null once through JSON) for a constant curve. */
export function rewardTrendText(trend: { raw: number | null; smoothed: number | null }, span: number): string {
  const rho = (value: number | null) => (value === null || Number.isNaN(value) ? 'undefined (constant curve)' : value.toFixed(3));
  return `ρ(step, reward) ${rho(trend.raw)} per-step mean, ${rho(trend.smoothed)} moving average (span ${span})`;
}

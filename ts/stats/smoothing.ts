/**
 * Smoothing of a noisy per-step series. The paper plots the reward "with a moving average with a span of 30 steps";
 * "span" is the parameter of an exponentially weighted mean (pandas `ewm(span=30).mean()`), which is what
 * `exponentialMovingAverage` computes.
 */

/** pandas' `Series.ewm(span).mean()` with adjust=True: weights (1 − α)^k over all earlier points, α = 2 / (span + 1). */
export function exponentialMovingAverage(values: readonly number[], span: number): number[] {
  if (!(span >= 1)) throw new RangeError(`exponentialMovingAverage: span must be ≥ 1, got ${span}`);
  const decay = 1 - 2 / (span + 1);
  let weightedSum = 0;
  let weightTotal = 0;
  return values.map((value) => {
    weightedSum = weightedSum * decay + value;
    weightTotal = weightTotal * decay + 1;
    return weightedSum / weightTotal;
  });
}

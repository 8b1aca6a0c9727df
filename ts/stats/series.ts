/** The reward curve's two summaries (§III, Figure 2): an exponential moving average by span, and Spearman's ρ. */

/** pandas `Series.ewm(span=span, adjust=True).mean()`: weights (1 − α)^i with α = 2 / (span + 1), normalised. */
export function exponentialMovingAverage(values: readonly number[], span: number): number[] {
  const decay = 1 - 2 / (span + 1);
  let weighted = 0;
  let weights = 0;
  return values.map((v) => {
    weighted = weighted * decay + v;
    weights = weights * decay + 1;
    return weighted / weights;
  });
}

/** Ranks from 1, ties sharing the mean of their ranks (as scipy.stats.rankdata). */
function ranks(values: readonly number[]): number[] {
  const order = values.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]);
  const result = new Array<number>(values.length);
  for (let start = 0; start < order.length; ) {
    let end = start;
    while (end + 1 < order.length && order[end + 1]![0] === order[start]![0]) end++;
    for (let k = start; k <= end; k++) result[order[k]![1]] = (start + end) / 2 + 1;
    start = end + 1;
  }
  return result;
}

/** Spearman's rank correlation: Pearson's r of the ranks; NaN when either side is constant. */
export function spearman(xs: readonly number[], ys: readonly number[]): number {
  if (xs.length !== ys.length) throw new Error(`spearman: ${xs.length} x values but ${ys.length} y values`);
  const rx = ranks(xs);
  const ry = ranks(ys);
  const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
  const mx = mean(rx);
  const my = mean(ry);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < rx.length; i++) {
    sxy += (rx[i]! - mx) * (ry[i]! - my);
    sxx += (rx[i]! - mx) ** 2;
    syy += (ry[i]! - my) ** 2;
  }
  return sxy / Math.sqrt(sxx * syy);
}

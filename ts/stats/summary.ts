/** The one mean and the one quantile of the toolkit (the feedback summary, Table V, the dataset report, stage 2's logs). */

/** Arithmetic mean; NaN for no values (nothing to average), unless `empty` says what stands for it. */
export function mean(values: readonly number[], empty = Number.NaN): number {
  return values.length === 0 ? empty : values.reduce((a, b) => a + b, 0) / values.length;
}

/** The q-quantile of ascending values by linear interpolation between order statistics (numpy's default): the median
 * of an even count is the mean of the two middle values. NaN for no values. */
export function quantile(ascending: readonly number[], q: number): number {
  if (ascending.length === 0) return Number.NaN;
  const position = (ascending.length - 1) * q;
  const lower = Math.floor(position);
  const upper = Math.min(lower + 1, ascending.length - 1);
  return ascending[lower]! + (ascending[upper]! - ascending[lower]!) * (position - lower);
}

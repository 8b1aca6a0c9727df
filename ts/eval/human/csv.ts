/** The CSV exports: the rating distribution per system (Figure 6) and every rating. */
import { toCsv } from '../../io/csv.js';
import { RATINGS } from './scale.js';
import type { RatingRecord, SystemDistribution } from './store.js';

/** One row per system: the count and the share of each rating level. */
export function distributionCsv(distribution: readonly SystemDistribution[]): string {
  const share = (n: number, total: number) => (total === 0 ? '' : (n / total).toFixed(4));
  return toCsv(
    ['system', ...RATINGS.map((level) => `count_${level}`), 'ratings', ...RATINGS.map((level) => `share_${level}`)],
    distribution.map((d) => [
      d.system,
      ...RATINGS.map((level) => d.counts[level]),
      d.total,
      ...RATINGS.map((level) => share(d.counts[level], d.total)),
    ]),
  );
}

export function ratingsCsv(records: readonly RatingRecord[]): string {
  return toCsv(
    ['rater', 'instruction_id', 'system', 'rating', 'rated_at'],
    records.map((r) => [r.rater, r.instructionId, r.system, r.rating, r.ratedAt]),
  );
}

/** The CSV exports: the rating distribution per system (Figure 6) and every rating. */
import { RATINGS } from './scale.js';
import type { RatingRecord, SystemDistribution } from './store.js';

function cell(value: string | number): string {
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function csv(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  return [header, ...rows].map((row) => row.map(cell).join(',')).join('\r\n') + '\r\n';
}

/** One row per system: the count and the share of each rating level. */
export function distributionCsv(distribution: readonly SystemDistribution[]): string {
  const share = (n: number, total: number) => (total === 0 ? '' : (n / total).toFixed(4));
  return csv(
    ['system', ...RATINGS.map((level) => `count_${level}`), 'ratings', ...RATINGS.map((level) => `share_${level}`)],
    distribution.map((d) => [d.system, ...RATINGS.map((level) => d.counts[level]), d.total, ...RATINGS.map((level) => share(d.counts[level], d.total))]),
  );
}

export function ratingsCsv(records: readonly RatingRecord[]): string {
  return csv(
    ['rater', 'instruction_id', 'system', 'rating', 'rated_at'],
    records.map((r) => [r.rater, r.instructionId, r.system, r.rating, r.ratedAt]),
  );
}

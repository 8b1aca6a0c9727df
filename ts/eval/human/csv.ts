/**
 * The CSV exports: the rating distribution per system (Figure 6), every rating (the latest of each rater × item) and every
 * rating given or changed; Table IV, every review answer (the latest) and every review answer saved.
 */
import { toCsv } from '../../io/csv.js';
import { REVIEW_QUESTIONS } from './review.js';
import { RATINGS } from './scale.js';
import type { QualityReviewRow, RatingEvent, RatingRecord, RatingStore, ReviewAnswerRecord, SystemDistribution } from './store.js';

const share = (n: number, total: number) => (total === 0 ? '' : (n / total).toFixed(4));

/** One row per system: the count and the share of each rating level. */
export function distributionCsv(distribution: readonly SystemDistribution[]): string {
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

/** The history: one row per rating given (old_rating empty) or changed, in the order it happened. */
export function ratingHistoryCsv(events: readonly RatingEvent[]): string {
  return toCsv(
    ['rater', 'instruction_id', 'system', 'old_rating', 'new_rating', 'at'],
    events.map((e) => [e.rater, e.instructionId, e.system, e.from ?? '', e.to, e.at]),
  );
}

/** Table IV: one row per system, the yes count and share of each question over the answers given. */
export function qualityReviewCsv(rows: readonly QualityReviewRow[]): string {
  return toCsv(
    ['system', 'items', 'answers', ...REVIEW_QUESTIONS.map((q) => `yes_${q}`), ...REVIEW_QUESTIONS.map((q) => `share_yes_${q}`)],
    rows.map((r) => [
      r.system,
      r.items,
      r.answers,
      ...REVIEW_QUESTIONS.map((q) => r.yes[q]),
      ...REVIEW_QUESTIONS.map((q) => share(r.yes[q], r.answers)),
    ]),
  );
}

export function reviewAnswersCsv(records: readonly ReviewAnswerRecord[]): string {
  return toCsv(
    ['rater', 'system', 'instruction', ...REVIEW_QUESTIONS, 'answered_at'],
    records.map((r) => [r.rater, r.system, r.instruction, ...REVIEW_QUESTIONS.map((q) => (r[q] ? 'yes' : 'no')), r.answeredAt]),
  );
}

/**
 * What an export writes: Figure 6's distribution, every rating, the ratings' history, Table IV, every quality-review answer,
 * or their history.
 */
export type ExportTable = 'distribution' | 'ratings' | 'rating-history' | 'table-iv' | 'review-answers' | 'review-answer-history';

/** Each export's CSV, as `export --table` writes it and the results page offers it. */
export const EXPORT_TABLES: Record<ExportTable, (store: RatingStore) => string> = {
  distribution: (store) => distributionCsv(store.distribution()),
  ratings: (store) => ratingsCsv(store.ratings()),
  'rating-history': (store) => ratingHistoryCsv(store.ratingHistory()),
  'table-iv': (store) => qualityReviewCsv(store.qualityReview()),
  'review-answers': (store) => reviewAnswersCsv(store.reviewAnswers()),
  'review-answer-history': (store) => reviewAnswersCsv(store.reviewAnswers('history')),
};

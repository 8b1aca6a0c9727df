/**
 * The novelty filter as Self-Instruct and Alpaca apply it: each candidate, in order, is compared with the pool (the
 * seeds plus every candidate kept so far) and dropped when its best ROUGE-L F-measure is above the threshold.
 */
import { NoveltyIndex } from './index.js';

export interface DedupOptions {
  /** A candidate whose max F with the pool is above this (`>`, as in the reference code) is dropped. */
  threshold: number;
  /** How many of the most similar pool entries to report. */
  topK: number;
}

export interface DedupRecord {
  instruction: string;
  kept: boolean;
  max_rouge_l: number;
  /** Most similar pool entries at the time of the decision, best first (entries sharing no token are not listed). */
  most_similar: { instruction: string; score: number }[];
}

/** The reference rule: dropped when the best score is above the threshold (equal is kept). */
export function isNovel(maxScore: number, threshold: number): boolean {
  return !(maxScore > threshold);
}

/** Decide one candidate against the index, adding it to the pool when kept. */
export function offerCandidate(index: NoveltyIndex, instruction: string, options: DedupOptions): DedupRecord {
  const { maxScore, mostSimilar } = index.nearest(instruction, options.topK);
  const kept = isNovel(maxScore, options.threshold);
  if (kept) index.add(instruction);
  return {
    instruction,
    kept,
    max_rouge_l: maxScore,
    most_similar: mostSimilar.map(({ instruction: similar, score }) => ({ instruction: similar, score })),
  };
}

/** One record per candidate, in candidate order, each decided against the pool grown by the candidates kept before it. */
export function* dedupInstructions(pool: Iterable<string>, candidates: Iterable<string>, options: DedupOptions): Generator<DedupRecord> {
  const index = new NoveltyIndex(pool);
  for (const candidate of candidates) yield offerCandidate(index, candidate, options);
}

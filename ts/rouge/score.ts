/** ROUGE-L F-measure with the same floating-point operations, in the same order, as `rouge_score`'s `_score_lcs`. */
import { lcsLength } from './lcs.js';
import { rougeTokens } from './tokenize.js';

/**
 * F from an LCS length: precision = lcs / |prediction|, recall = lcs / |target|, F = 2·p·r / (p + r), 0 when
 * either side has no tokens or p + r = 0. F is symmetric bit for bit (2·p is exact), so argument order is free.
 */
export function rougeLFromLcs(lcs: number, targetLength: number, predictionLength: number): number {
  if (targetLength === 0 || predictionLength === 0) return 0;
  const precision = lcs / predictionLength;
  const recall = lcs / targetLength;
  return precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
}

/** Token ids for a one-off comparison (the index interns ids across a whole pool instead). */
function idsOf(tokens: string[], vocabulary: Map<string, number>): number[] {
  return tokens.map((t) => {
    let id = vocabulary.get(t);
    if (id === undefined) vocabulary.set(t, (id = vocabulary.size));
    return id;
  });
}

/** `RougeScorer(['rougeL'], use_stemmer=False).score(target, prediction)['rougeL'].fmeasure`. */
export function rougeL(target: string, prediction: string): number {
  const vocabulary = new Map<string, number>();
  const a = idsOf(rougeTokens(target), vocabulary);
  const b = idsOf(rougeTokens(prediction), vocabulary);
  return rougeLFromLcs(lcsLength(a, b), a.length, b.length);
}

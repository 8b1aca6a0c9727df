/**
 * Super-NaturalInstructions' two metrics, as its evaluator (allenai/natural-instructions eval/automatic/evaluation.py)
 * computes them for the English track: Exact Match after SQuAD-style normalisation, and ROUGE-L F-measure from
 * `rouge_score.RougeScorer(['rougeL'], use_stemmer=True)`. Both take the maximum over the references; every level of
 * aggregation is a micro-average over instances, ×100, rounded to 4 decimals like Python's `round(x, 4)`.
 * Golden values: tests/ts/eval-metrics.test.ts against bench/superni_golden.py (the Python packages themselves).
 */
import { porterStem } from './porter.js';

/** Python's `string.punctuation`: the only characters EM deletes (non-ASCII punctuation is kept, as upstream). */
const ASCII_PUNCTUATION = /[!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]/g;
/** The characters Python's `str.split()` splits on (`str.isspace`), which differ from JavaScript's `\s`. */
const PYTHON_WHITESPACE = /[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/;

/** Lower-case, delete ASCII punctuation, collapse whitespace (articles are not removed). */
export function normalizeAnswer(text: string): string {
  return text
    .toLowerCase()
    .replace(ASCII_PUNCTUATION, '')
    .split(PYTHON_WHITESPACE)
    .filter((t) => t !== '')
    .join(' ');
}

export function exactMatch(prediction: string, reference: string): number {
  return normalizeAnswer(prediction) === normalizeAnswer(reference) ? 1 : 0;
}

/** Tokens shorter than this are not stemmed (rouge_score/tokenize.py: "Only stem words more than 3 characters long"). */
const MIN_STEMMED_LENGTH = 4;

/**
 * rouge_score's default tokenizer (after google-research rouge/tokenize.py): lower-case, every run outside [a-z0-9]
 * becomes a space, split, optionally Porter-stem tokens longer than 3 characters, drop empty tokens.
 */
export function rougeTokenize(text: string, stem: boolean): string[] {
  const tokens = text.toLowerCase().replace(/[^a-z0-9]+/g, ' ').split(' ');
  return tokens
    .map((t) => (stem && t.length >= MIN_STEMMED_LENGTH ? porterStem(t) : t))
    .filter((t) => /^[a-z0-9]+$/.test(t));
}

/** Length of the longest common subsequence of two token lists. */
export function lcsLength(a: readonly string[], b: readonly string[]): number {
  if (a.length === 0 || b.length === 0) return 0;
  let previous = new Array<number>(b.length + 1).fill(0);
  let current = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      current[j] = a[i - 1] === b[j - 1] ? previous[j - 1]! + 1 : Math.max(previous[j]!, current[j - 1]!);
    }
    [previous, current] = [current, previous];
  }
  return previous[b.length]!;
}

/** ROUGE-L F-measure of token lists, computed in rouge_score's order of floating-point operations. */
export function rougeLFromTokens(reference: readonly string[], prediction: readonly string[]): number {
  if (reference.length === 0 || prediction.length === 0) return 0;
  const lcs = lcsLength(reference, prediction);
  const precision = lcs / prediction.length;
  const recall = lcs / reference.length;
  return precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
}

/** ROUGE-L F-measure with the benchmark's stemming tokenizer. */
export function rougeL(prediction: string, reference: string): number {
  return rougeLFromTokens(rougeTokenize(reference, true), rougeTokenize(prediction, true));
}

export interface InstanceScore {
  exact_match: number;
  rougeL: number;
}

/** Both metrics of one prediction, each the maximum over the references. */
export function scoreInstance(prediction: string, references: readonly string[]): InstanceScore {
  if (references.length === 0) throw new Error('an instance needs at least one reference output');
  const predictionTokens = rougeTokenize(prediction, true);
  let em = 0;
  let rouge = 0;
  for (const reference of references) {
    em = Math.max(em, exactMatch(prediction, reference));
    rouge = Math.max(rouge, rougeLFromTokens(rougeTokenize(reference, true), predictionTokens));
  }
  return { exact_match: em, rougeL: rouge };
}

/**
 * Python's `round(x, 4)` for a non-negative score: the nearest 4-decimal number to the double's exact value,
 * ties to even. An exact tie at 4 decimals needs x = odd/32 (10⁴ = 2⁴·625), which `toFixed` would round up.
 */
export function roundLikePython4(x: number): number {
  const scaled32 = x * 32;
  if (Number.isInteger(scaled32) && scaled32 % 2 === 1) {
    const floor = Math.floor(x * 1e4);
    return (floor % 2 === 0 ? floor : floor + 1) / 1e4;
  }
  return Number(x.toFixed(4));
}

/** Micro-average over instances, ×100, rounded as the evaluator does; summed in the given order like upstream. */
export function aggregate(scores: readonly InstanceScore[]): InstanceScore & { instances: number } {
  let em = 0;
  let rouge = 0;
  for (const s of scores) {
    em += s.exact_match;
    rouge += s.rougeL;
  }
  const n = scores.length;
  return {
    exact_match: n === 0 ? 0 : roundLikePython4((100 * em) / n),
    rougeL: n === 0 ? 0 : roundLikePython4((100 * rouge) / n),
    instances: n,
  };
}

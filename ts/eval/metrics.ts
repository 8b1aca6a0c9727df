/**
 * Super-NaturalInstructions' two metrics, as its evaluator (allenai/natural-instructions eval/automatic/evaluation.py)
 * computes them for the English track: Exact Match after SQuAD-style normalisation, and ROUGE-L F-measure from
 * `rouge_score.RougeScorer(['rougeL'], use_stemmer=True)` (ts/rouge's tokenizer, LCS and F plus the Porter stemmer).
 * Both take the maximum over the references; every level of aggregation is a micro-average over instances, ×100,
 * rounded to 4 decimals like Python's `round(x, 4)`. Golden values: tests/golden/make_superni_golden.py.
 */

import { UsageError } from '../errors.js';
import { lcsLength } from '../rouge/lcs.js';
import { rougeLFromLcs } from '../rouge/score.js';
import { rougeTokens } from '../rouge/tokenize.js';
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

/** rouge_score's default tokenizer with `use_stemmer=True`: ts/rouge's tokens, Porter-stemmed when longer than 3 characters. */
export function stemmedRougeTokens(text: string): string[] {
  return rougeTokens(text).map((t) => (t.length >= MIN_STEMMED_LENGTH ? porterStem(t) : t));
}

/** Token lists as ids over one shared vocabulary (ts/rouge's LCS works on ids). */
function internAll(lists: readonly string[][]): number[][] {
  const vocabulary = new Map<string, number>();
  return lists.map((tokens) =>
    tokens.map((t) => {
      let id = vocabulary.get(t);
      if (id === undefined) vocabulary.set(t, (id = vocabulary.size));
      return id;
    }),
  );
}

/** ROUGE-L F-measure with the benchmark's stemming tokenizer (`RougeScorer(['rougeL'], use_stemmer=True)`). */
export function superniRougeL(prediction: string, reference: string): number {
  const [p, r] = internAll([stemmedRougeTokens(prediction), stemmedRougeTokens(reference)]) as [number[], number[]];
  return rougeLFromLcs(lcsLength(r, p), r.length, p.length);
}

export interface InstanceScore {
  exact_match: number;
  rougeL: number;
}

/** Both metrics of one prediction, each the maximum over the references. */
export function scoreInstance(prediction: string, references: readonly string[]): InstanceScore {
  if (references.length === 0) throw new UsageError('an instance needs at least one reference output');
  const [predictionIds, ...referenceIds] = internAll([prediction, ...references].map(stemmedRougeTokens)) as [number[], ...number[][]];
  let em = 0;
  let rouge = 0;
  references.forEach((reference, i) => {
    const ids = referenceIds[i]!;
    em = Math.max(em, exactMatch(prediction, reference));
    rouge = Math.max(rouge, rougeLFromLcs(lcsLength(ids, predictionIds), ids.length, predictionIds.length));
  });
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

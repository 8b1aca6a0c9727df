/** Exact Match, ROUGE-L and the Porter stemmer against golden values from nltk and rouge_score (tests/golden/make_superni_golden.py). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  aggregate,
  exactMatch,
  normalizeAnswer,
  roundLikePython4,
  scoreInstance,
  stemmedRougeTokens,
  superniRougeL,
} from '../../ts/eval/metrics.js';
import { porterStem } from '../../ts/eval/porter.js';

const golden = join(import.meta.dirname, '..', 'golden');

describe('Porter stemmer (NLTK_EXTENSIONS mode, as rouge_score uses it)', () => {
  it('matches nltk PorterStemmer on every word of the golden list', () => {
    const lines = readFileSync(join(golden, 'porter-words.tsv'), 'utf8').split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(30_000);
    const mismatches = lines
      .map((line) => line.split('\t') as [string, string])
      .filter(([word, stem]) => porterStem(word) !== stem)
      .map(([word, stem]) => `${word}: nltk ${stem}, ours ${porterStem(word)}`);
    expect(mismatches.slice(0, 20)).toEqual([]);
  });
});

interface PairCase {
  prediction: string;
  references: string[];
  exact_match: number;
  rougeL: number;
  per_reference_rougeL: number[];
}

describe('Exact Match and ROUGE-L', () => {
  const cases = JSON.parse(readFileSync(join(golden, 'superni-metrics.json'), 'utf8')) as PairCase[];

  it('give rouge_score and the evaluator’s values on every golden pair, bit for bit', () => {
    expect(cases.length).toBeGreaterThan(100);
    for (const c of cases) {
      const label = JSON.stringify(c.prediction.slice(0, 60));
      for (const [i, reference] of c.references.entries())
        expect(superniRougeL(c.prediction, reference), label).toBe(c.per_reference_rougeL[i]);
      expect(scoreInstance(c.prediction, c.references), label).toEqual({ exact_match: c.exact_match, rougeL: c.rougeL });
    }
  });

  it('normalise for EM without removing articles or non-ASCII punctuation', () => {
    expect(normalizeAnswer('  The  Cat, sat!\u00a0')).toBe('the cat sat');
    expect(exactMatch('«Yes»', 'yes')).toBe(0);
    expect(exactMatch('The answer', 'answer')).toBe(0);
  });

  it('stem only tokens longer than three characters', () => {
    expect(stemmedRougeTokens('Flies runs running, 2nd-best')).toEqual(['fli', 'run', 'run', '2nd', 'best']);
    expect(stemmedRougeTokens('ies yes')).toEqual(['ies', 'yes']);
  });
});

describe('aggregation', () => {
  it('rounds like Python round(x, 4), ties to even on exact binary ties', () => {
    expect(roundLikePython4(0.03125)).toBe(0.0312);
    expect(roundLikePython4(0.09375)).toBe(0.0938);
    expect(roundLikePython4(59.86071234)).toBe(59.8607);
    expect(roundLikePython4(100)).toBe(100);
  });

  it('micro-averages ×100', () => {
    expect(
      aggregate([
        { exact_match: 1, rougeL: 1 },
        { exact_match: 0, rougeL: 0.5 },
        { exact_match: 0, rougeL: 0 },
      ]),
    ).toEqual({
      exact_match: 33.3333,
      rougeL: 50,
      instances: 3,
    });
  });
});

import { readFileSync } from 'node:fs';
import { execa } from 'execa';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defaultPython } from '../../ts/paths.js';
import { Random } from '../../ts/random.js';
import { NoveltyIndex } from '../../ts/rouge/index.js';
import { lcsLength } from '../../ts/rouge/lcs.js';
import { rougeL } from '../../ts/rouge/score.js';
import { rougeTokens } from '../../ts/rouge/tokenize.js';

/** Tokens and F-measures computed by the rouge_score package itself (asynchronously: a blocked test worker misses vitest's heartbeat). */
async function reference(texts: string[], pairs: [string, string][]): Promise<{ tokens: string[][]; scores: number[] }> {
  const { stdout } = await execa(defaultPython, [new URL('./fixtures/rouge_reference.py', import.meta.url).pathname], {
    input: JSON.stringify({ texts, pairs }),
  });
  return JSON.parse(stdout);
}

const seeds = readFileSync(new URL('../../seeds/seed_tasks.jsonl', import.meta.url), 'utf8')
  .trim()
  .split('\n')
  .map((line) => (JSON.parse(line) as { instruction: string }).instruction);

const tricky = [
  '',
  '   ',
  '!!! ... ???',
  'Hello, World!',
  'hello world',
  'HELLO    WORLD hello',
  'the the the the cat',
  'the cat the the the',
  'Café naïve résumé — façade',
  'İstanbul İzmir KELVIN \u212A degrees',
  '数字 123 and ４５６ full-width',
  'emoji 🎉 party 🎉 time',
  "don't won't can't it's",
  'e-mail re-use co-operate',
  'x1y2z3 123abc abc123 007',
  '3.14159 is pi; 2,718 is e',
  'ǅungla ß straße ÆØÅ æøå',
  'tab\tseparated\nnew\r\nlines',
  'a b c d e f g h i j k l m n o p q r s t u v w x y z a b c d e f g h i j k l m n o p',
  'a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a a',
  'Write a program to sort a list of numbers.',
  'Write a function that sorts a list of numbers in ascending order.',
];

describe('ROUGE-L equals rouge_score (RougeScorer(["rougeL"], use_stemmer=False))', () => {
  it('tokenises tricky inputs exactly like the package', async () => {
    const ref = await reference(tricky, []);
    for (const [i, text] of tricky.entries()) expect(rougeTokens(text), JSON.stringify(text)).toEqual(ref.tokens[i]);
  });

  it('scores every pair of tricky inputs and a sample of seed pairs bit for bit', async () => {
    const pairs: [string, string][] = [];
    for (const a of tricky) for (const b of tricky) pairs.push([a, b]);
    for (let i = 0; i < 60; i++) for (let j = 0; j < 60; j += 7) pairs.push([seeds[i]!, seeds[(i * 13 + j) % seeds.length]!]);
    // Long sequences exercise the multi-word bit-vector (more than 32 and 64 tokens).
    const long = seeds.slice(0, 6).join(' ');
    pairs.push([long, seeds.slice(3, 9).join(' ')], [long, long], [seeds[0]!, long]);
    const ref = await reference([], pairs);
    const ours = pairs.map(([t, p]) => rougeL(t, p));
    const mismatches = pairs.filter((_, i) => !Object.is(ours[i], ref.scores[i]));
    expect(mismatches).toEqual([]);
    expect(ref.scores.some((s) => s > 0 && s < 1)).toBe(true);
  });

  it('matches the package on random strings from a mixed alphabet (property, checked in one batch)', async () => {
    const alphabet = fc.constantFrom(...'abcAB 01,.-é\u0130\u212A\n'.split(''), 'the ', 'cat ', 'İ');
    const texts = fc.sample(
      fc.array(alphabet, { maxLength: 60 }).map((cs) => cs.join('')),
      { numRuns: 300, seed: 7 },
    );
    const pairs: [string, string][] = texts.slice(0, 150).map((t, i) => [t, texts[150 + i]!]);
    const ref = await reference(texts, pairs);
    for (const [i, t] of texts.entries()) expect(rougeTokens(t)).toEqual(ref.tokens[i]);
    for (const [i, [t, p]] of pairs.entries()) expect(rougeL(t, p)).toBe(ref.scores[i]);
  });
});

describe('bit-parallel LCS', () => {
  const dpLcs = (a: number[], b: number[]) => {
    const row = new Array<number>(b.length + 1).fill(0);
    for (const x of a) {
      let diag = 0;
      for (let j = 1; j <= b.length; j++) {
        const up = row[j]!;
        row[j] = x === b[j - 1] ? diag + 1 : Math.max(row[j]!, row[j - 1]!);
        diag = up;
      }
    }
    return row[b.length]!;
  };

  it('equals the dynamic-programming LCS for any sequences, short and multi-word long', () => {
    const seq = (max: number) => fc.array(fc.integer({ min: 0, max: 6 }), { maxLength: max });
    fc.assert(
      fc.property(seq(40), seq(40), (a, b) => lcsLength(a, b) === dpLcs(a, b)),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(seq(140), seq(100), (a, b) => lcsLength(a, b) === dpLcs(a, b)),
      { numRuns: 300 },
    );
  });

  it('never throws on any string (tokeniser)', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => rougeTokens(s).every((t) => /^[a-z0-9]+$/.test(t))));
  });
});

describe('NoveltyIndex: pruned answers equal brute force', () => {
  const bruteForce = (pool: string[], query: string, k: number) => {
    const scored = pool.map((instruction, index) => ({ index, instruction, score: rougeL(query, instruction) }));
    const ranked = scored.filter((s) => s.score > 0).sort((a, b) => b.score - a.score || a.index - b.index);
    return { maxScore: ranked[0]?.score ?? 0, mostSimilar: ranked.slice(0, k) };
  };

  it('gives the exact max score, top-10 and average on the seed pool, and skips most pairs', () => {
    const index = new NoveltyIndex(seeds.slice(0, 120));
    for (const query of [...seeds.slice(120), ...tricky]) {
      expect(index.nearest(query, 10)).toEqual(bruteForce(seeds.slice(0, 120), query, 10));
      const mean = seeds.slice(0, 120).reduce((sum, s) => sum + rougeL(query, s), 0) / 120;
      expect(index.averageSimilarity(query)).toBe(mean);
    }
    expect(index.counters.pairsScored).toBeLessThan(index.counters.pairsSharingTokens / 2);
  });

  it('stays exact past the growth of its arrays (a pool of 1,300 recombined seed instructions)', () => {
    const random = new Random(11);
    const words = seeds.flatMap((s) => s.split(' '));
    const text = () => Array.from({ length: 3 + random.int(30) }, () => words[random.int(words.length)]!).join(' ');
    const pool = [...seeds, ...Array.from({ length: 1125 }, text)];
    const index = new NoveltyIndex(pool);
    for (let q = 0; q < 25; q++) {
      const query = q % 2 ? text() : `${seeds[q]!} ${text()}`;
      expect(index.nearest(query, 10)).toEqual(bruteForce(pool, query, 10));
    }
  });

  it('agrees with brute force on random pools over a tiny vocabulary (many ties and repeats)', () => {
    const word = fc.constantFrom('the', 'a', 'cat', 'dog', 'sat', 'on', 'mat', 'Mat!', '42', 'é');
    const text = fc.array(word, { maxLength: 12 }).map((w) => w.join(' '));
    fc.assert(
      fc.property(
        fc.array(text, { maxLength: 40 }),
        fc.array(text, { minLength: 1, maxLength: 10 }),
        fc.integer({ min: 1, max: 12 }),
        (pool, queries, k) => {
          const index = new NoveltyIndex(pool);
          for (const q of queries) expect(index.nearest(q, k)).toEqual(bruteForce(pool, q, k));
        },
      ),
      { numRuns: 300 },
    );
  });
});

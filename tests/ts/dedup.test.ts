import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { dedupFiles } from '../../ts/commands/dedup.js';
import { packageRoot } from '../../ts/paths.js';
import { dedupInstructions } from '../../ts/rouge/dedup.js';
import { rougeL } from '../../ts/rouge/score.js';

const jsonl = (dir: string, name: string, rows: unknown[]) => {
  const file = join(dir, name);
  writeFileSync(file, `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`);
  return file;
};

describe('dedup: the novelty filter alone', () => {
  it('decides candidates in order against the pool grown by earlier kept ones', () => {
    const pool = ['Give three tips for staying healthy.'];
    const candidates = [
      'Give three tips for staying healthy and happy.', // near-duplicate of the pool
      'Translate the sentence into French.',
      'Translate the sentence into German.', // near-duplicate of the candidate kept just before
    ];
    const records = [...dedupInstructions(pool, candidates, { threshold: 0.7, topK: 10 })];
    expect(records.map((r) => r.kept)).toEqual([false, true, false]);
    expect(records[0]!.max_rouge_l).toBe(rougeL(candidates[0]!, pool[0]!));
    expect(records[2]!.most_similar[0]).toEqual({ instruction: candidates[1], score: rougeL(candidates[2]!, candidates[1]!) });
  });

  it('drops only a score above the threshold: a score equal to it is kept', () => {
    const score = rougeL('a b c d e', 'a b c d x y'); // 2·(4/5)(4/6)/(4/5 + 4/6) ≈ 0.727
    const decide = (threshold: number) => [...dedupInstructions(['a b c d x y'], ['a b c d e'], { threshold, topK: 10 })][0]!.kept;
    expect(decide(score)).toBe(true);
    expect(decide(score - 1e-12)).toBe(false);
    expect(decide(0.7)).toBe(false);
  });

  it('runs from the CLI on files, one line per candidate in order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dedup-'));
    const candidates = jsonl(dir, 'c.jsonl', [
      { instruction: 'Give three tips for staying healthy.', id: 1 },
      { instruction: 'Give three tips for staying healthy.' },
      { instruction: 'Name the capital of France.' },
    ]);
    const out = join(dir, 'out.jsonl');
    const pool = resolve(packageRoot, 'seeds/seed_tasks.jsonl');
    const result = await execa(resolve(packageRoot, 'bin/refine-af.js'), [
      'dedup',
      '--pool',
      pool,
      '--candidates',
      candidates,
      '--out',
      out,
      '--threshold',
      '0.7',
      '--json',
    ]);
    expect(JSON.parse(result.stdout)).toEqual({ pool: 175, candidates: 3, kept: 2 });
    const lines = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.instruction, l.kept, l.max_rouge_l])).toEqual([
      ['Give three tips for staying healthy.', true, lines[0].max_rouge_l],
      ['Give three tips for staying healthy.', false, 1],
      ['Name the capital of France.', true, lines[2].max_rouge_l],
    ]);
    expect(Object.keys(lines[0])).toEqual(['instruction', 'kept', 'max_rouge_l', 'most_similar']);
    expect(lines[0].most_similar).toHaveLength(10);
  });

  it('fails on a malformed line naming the file and line number, writing nothing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dedup-'));
    const pool = jsonl(dir, 'p.jsonl', [{ instruction: 'One two three four.' }]);
    const candidates = join(dir, 'c.jsonl');
    writeFileSync(candidates, '{"instruction": "ok one two"}\n{"instr": "typo"}\n');
    const out = join(dir, 'out.jsonl');
    expect(() => dedupFiles({ pool, candidates, out, threshold: 0.7, topK: 10 })).toThrow(`${candidates}:2: instruction`);
    writeFileSync(candidates, '{"instruction": "ok one two"}\nnot json\n');
    expect(() => dedupFiles({ pool, candidates, out, threshold: 0.7, topK: 10 })).toThrow(`${candidates}:2: not valid JSON`);
    expect(() => readFileSync(out)).toThrow();
  });
});

import { appendFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { PythonError } from '../../ts/bridge/errors.js';
import { PythonWorker } from '../../ts/bridge/worker.js';
import { parseConfig } from '../../ts/config/load.js';
import { composeReward, RunningZScore, rewardFormula } from '../../ts/feedback/compose.js';
import { scoreDataset, scoredRecordSchema } from '../../ts/feedback/score.js';
import { readJsonl } from '../../ts/io/files.js';
import { packageRoot } from '../../ts/paths.js';

const dir = mkdtempSync(join(tmpdir(), 'refine-af-score-'));
const input = join(dir, 'in.jsonl');
writeFileSync(
  input,
  `${[
    { instruction: 'What is the capital of France?', input: '', output: 'The capital of France is Paris.' },
    { instruction: 'Translate to Spanish.', input: 'I like apples.', output: 'Me gustan las manzanas.' },
    { instruction: 'Name a primary color.', output: 'Blue.' },
    { instruction: 'Summarise.', input: 'The cat sat on the mat.', output: '' },
    { instruction: 'Add the numbers.', input: '2 and 3', output: '5' },
    { instruction: 'List two fruits.', input: '', output: 'Apple and banana.' },
  ]
    .map((r) => JSON.stringify(r))
    .join('\n')}\n`,
);
const JUDGE = 'judge:embedded:smollm2-135m-instruct';
// A few seconds on an idle machine; minutes when the CPU is shared, as on the development machine.
const SHARED_CPU_TIMEOUT_MS = 600_000;

describe('refine-af score with the embedded judge', () => {
  const worker = new PythonWorker();
  const config = parseConfig({ feedback: { batch_size: 2, normalisation: 'running_zscore' } });
  afterAll(() => worker.close());

  it('fails before scoring when a configured model cannot be found, naming it', async () => {
    const missing = parseConfig({ feedback: { backends: { naturalness: 'unieval' }, unieval: join(dir, 'no-unieval-here') } });
    const out = join(dir, 'missing.jsonl');
    const error = await scoreDataset(worker, missing, { inFile: input, outFile: out }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PythonError);
    expect((error as PythonError).pythonType).toBe('ModelNotFoundError');
    expect((error as PythonError).pythonMessage).toContain('no-unieval-here');
    expect(existsSync(out) || existsSync(`${out}.rejected.jsonl`)).toBe(false);
  });

  it(
    'scores every usable record, rejects the rest, composes Eq. 1, and resumes a torn run exactly',
    async () => {
      const full = join(dir, 'full.jsonl');
      const summary = await scoreDataset(worker, config, { inFile: input, outFile: full });
      const records = readJsonl(full, scoredRecordSchema);
      expect(records.map((r) => r.index)).toEqual([0, 1, 2, 4, 5]);
      expect(summary).toMatchObject({ scored: 5, scoredNow: 5, rejected: 1, truncated: 0 });
      expect(readFileSync(`${full}.rejected.jsonl`, 'utf8')).toContain('"reason":"field \\"output\\" is empty"');
      const normaliser = RunningZScore.empty();
      for (const r of records) {
        expect(Object.values(r.backends)).toEqual([JUDGE, JUDGE, JUDGE, JUDGE]);
        for (const v of Object.values(r.indicators)) {
          expect(v).toBeGreaterThanOrEqual(0);
          expect(v).toBeLessThanOrEqual(1);
        }
        expect(r.reward).toBe(composeReward(r.indicators, rewardFormula(config.feedback), normaliser));
      }
      expect(summary.stats.naturalness.mean).toBeCloseTo(records.reduce((s, r) => s + r.indicators.naturalness, 0) / 5, 12);

      await expect(scoreDataset(worker, config, { inFile: input, outFile: full })).rejects.toThrow(/already exists: pass --resume/);

      // A crash after the first batch: two records written, a third torn mid-line, the rejects not yet written.
      const torn = join(dir, 'torn.jsonl');
      writeFileSync(torn, `${readFileSync(full, 'utf8').split('\n').slice(0, 2).join('\n')}\n`);
      appendFileSync(torn, '{"index":2,"instruction":"Name a pri');
      const resumed = await scoreDataset(worker, config, { inFile: input, outFile: torn, resume: true });
      expect(resumed).toMatchObject({ scored: 5, scoredNow: 3, rejected: 1 });
      const again = readJsonl(torn, scoredRecordSchema);
      expect(again.map((r) => r.index)).toEqual([0, 1, 2, 4, 5]);
      again.forEach((r, i) => {
        for (const [name, v] of Object.entries(r.indicators)) expect(v).toBeCloseTo(records[i]!.indicators[name as 'reward'], 5);
        expect(r.reward).toBeCloseTo(records[i]!.reward, 4); // the normaliser was rebuilt from the records already written
      });
      expect(readFileSync(`${torn}.rejected.jsonl`, 'utf8').trim().split('\n')).toHaveLength(1);
    },
    SHARED_CPU_TIMEOUT_MS,
  );

  it(
    'runs from the command line and prints the summary table',
    async () => {
      const yaml = join(dir, 'cli.yaml');
      writeFileSync(
        yaml,
        'feedback:\n  batch_size: 4\n  backends: { reward: judge, naturalness: judge, coherence: judge, understandability: judge }\n',
      );
      const out = join(dir, 'cli.jsonl');
      const run = await execa('node', [join(packageRoot, 'bin/refine-af.js'), 'score', '--in', input, '--out', out, '--config', yaml]);
      expect(run.stdout).toMatch(/^5 scored, 1 rejected/);
      expect(run.stdout).toMatch(new RegExp(`\\| naturalness \\| ${JUDGE} \\| 0\\.\\d{4} \\|`));
      expect(run.stdout).toMatch(/\| composite \| Eq\. 1 \| -?\d\.\d{4} \|/);
      expect(readJsonl(out, scoredRecordSchema)).toHaveLength(5);
    },
    SHARED_CPU_TIMEOUT_MS,
  );
});

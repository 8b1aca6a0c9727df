/** The reproduction report's Table V on its own (the whole `refine-af repro` is repro.test.ts): its instruction counts beside the paper's. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../ts/config/load.js';
import { type ReproResults, writeReproReport } from '../../ts/pipeline/repro-report.js';
import type { IftRecord } from '../../ts/stats/dataset.js';
import { analyseDataset } from '../../ts/stats/report.js';

const dir = mkdtempSync(join(tmpdir(), 'refine-af-repro-report-'));
const config = parseConfig({});

function jsonl(name: string, lines: unknown[]): string {
  const path = join(dir, name);
  writeFileSync(path, lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
  return path;
}

/** One arm's analysis where `repro` puts it: `poolSize` instructions in stage 1, `records` kept by stage 3. */
function analyseArm(arm: 'refine-af' | 'self-instruct', records: IftRecord[], poolSize: number, metrics?: string) {
  const pool = jsonl(
    `${arm}-pool.jsonl`,
    Array.from({ length: poolSize }, (_, i) => ({ instruction: `Instruction ${i}.` })),
  );
  const dataset = jsonl(`${arm}-ift.jsonl`, records);
  return analyseDataset(config, { pool, dataset, outDir: join(dir, 'stats', arm), ...(metrics === undefined ? {} : { metrics }) });
}

describe('the reproduction report', () => {
  it('gives Table V\'s "# of instructions" as the paper does, the stage-1 pool, and the instructions that kept an instance apart', () => {
    const metrics = jsonl(
      'metrics.jsonl',
      [0, 1, 2].map((step) => ({ step, reward_mean: step })),
    );
    const results: ReproResults = {
      config,
      baseline: parseConfig({ pipeline: { method: 'self-instruct' } }),
      base: { rougeL: 10, exact_match: 1, instances: 2 },
      tableII: [],
      tableIII: [],
      stats: {
        'refine-af': analyseArm(
          'refine-af',
          [
            { instruction: 'Instruction 0.', input: '', output: 'a' },
            { instruction: 'Instruction 1.', input: '', output: 'b' },
          ],
          5,
          metrics,
        ),
        'self-instruct': analyseArm(
          'self-instruct',
          [
            { instruction: 'Instruction 0.', input: '', output: 'a' },
            { instruction: 'Instruction 2.', input: 'x', output: 'c' },
            { instruction: 'Instruction 3.', input: '', output: 'd' },
          ],
          6,
        ),
      },
      userOrientedRuns: { 'refine-af': 'refine-af.jsonl', 'self-instruct': 'self-instruct.jsonl' },
      humanEval: { db: 'ratings.sqlite', distribution: null },
      qualityReview: { db: 'ratings.sqlite', table: null },
    };
    const files = writeReproReport(dir, results);
    const tableV = readFileSync(files.markdown, 'utf8').split('## Table V')[1]!.split('## ')[0]!;
    expect(tableV).toContain('| # of instructions (stage-1 pool) | 5 | 6 | 15,000 |');
    expect(tableV).toContain('| # of instructions with ≥ 1 instance | 2 | 3 | — |');
    expect(tableV).toContain('| # of instances | 2 | 3 | 14,998 |');
    expect(readFileSync(files.html, 'utf8')).toContain(
      '<tr><td># of instructions (stage-1 pool)</td><td>5</td><td>6</td><td>15,000</td></tr>',
    );
  });
});

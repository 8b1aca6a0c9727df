/**
 * The reproduction report's Figures 5 and 7 and its notes on the paper, from constructed results: Table II rows written
 * here, both arms' dataset analyses made by the real `analyseDataset` (with and without a reference set).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../ts/config/load.js';
import { figure7Series, loadPaperResults, type ReproResults, type TableIIRow, writeReproReport } from '../../ts/pipeline/repro-report.js';
import { analyseDataset } from '../../ts/stats/report.js';

const root = mkdtempSync(join(tmpdir(), 'refine-af-repro-report-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function jsonl(name: string, lines: unknown[]): string {
  const path = join(root, name);
  writeFileSync(path, `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`);
  return path;
}

/** A Table II row: `subset` null is the full-size model. */
function row(
  subset: number | null,
  instructions: [refineAf: number, selfInstruct: number],
  rouge: [refineAf: number, selfInstruct: number],
): TableIIRow {
  return {
    subset,
    instructions: { refineAf: instructions[0], selfInstruct: instructions[1] },
    refineAf: rouge[0],
    selfInstruct: rouge[1],
    percentTasksBetter: 50,
    percentBetterExcludingTies: 50,
    better: 6,
    worse: 6,
    tied: 0,
    tasks: 12,
  };
}

// Listed full-size first, as repro's Table II is not: the figure must sort by instruction count.
const rows = [row(null, [15_000, 14_950], [6.2, 6.0]), row(5_000, [5_000, 5_000], [5.9, 5.8]), row(10_000, [10_000, 9_990], [6.1, 5.95])];

const dataset = jsonl('dataset.jsonl', [
  { instruction: 'Write a haiku about autumn leaves.', input: '', output: 'Red leaves.' },
  { instruction: 'Classify the sentiment of the review.', input: 'Great.', output: 'positive' },
]);
const metrics = jsonl(
  'metrics.jsonl',
  Array.from({ length: 5 }, (_, step) => ({ step, reward_mean: step / 5 })),
);
const reference = jsonl('reference.jsonl', [{ instruction: 'Write a haiku about the sea.' }, { instruction: 'Classify the sentiment.' }]);

/** A report directory with both arms analysed as `repro` does it, and its results. */
function results(name: string, settings: { num_instructions: number; reference: string | null }): { dir: string; r: ReproResults } {
  const dir = join(root, name);
  const config = parseConfig({
    instructions: { num_instructions: settings.num_instructions },
    stats: { reference_instructions: settings.reference },
  });
  const analyse = (arm: string, withMetrics: boolean) =>
    analyseDataset(config, { dataset, outDir: join(dir, 'stats', arm), ...(withMetrics ? { metrics } : {}) });
  const r: ReproResults = {
    config,
    baseline: parseConfig({ pipeline: { method: 'self-instruct' } }),
    base: { rougeL: 3.1, exact_match: 0.5, instances: 24 },
    tableII: rows,
    tableIII: [],
    stats: { 'refine-af': analyse('refine-af', true), 'self-instruct': analyse('self-instruct', false) },
    userOrientedRuns: { 'refine-af': 'refine-af.jsonl', 'self-instruct': 'self-instruct.jsonl' },
    humanEval: { db: 'ratings.sqlite', distribution: null },
    qualityReview: { db: 'ratings.sqlite', table: null },
  };
  return { dir, r };
}

const section = (text: string, heading: string) => text.split(`## ${heading}`)[1]!.split('\n## ')[0]!;

describe('Figure 7: Super-NI ROUGE-L against the number of instructions', () => {
  it("draws each arm through its own models' instruction counts, in increasing order", () => {
    const [selfInstruct, refineAf] = figure7Series(rows);
    expect(selfInstruct!.points).toEqual([
      [5_000, 5.8],
      [9_990, 5.95],
      [14_950, 6.0],
    ]);
    expect(refineAf!.points).toEqual([
      [5_000, 5.9],
      [10_000, 6.1],
      [15_000, 6.2],
    ]);
  });

  it("puts the paper's Table II points on the run's chart when the run has the paper's instruction count", () => {
    const { dir, r } = results('comparable', { num_instructions: 15_000, reference: null });
    writeReproReport(dir, r);
    const text = section(readFileSync(join(dir, 'report.md'), 'utf8'), 'Figure 7');
    expect(text).toContain('](figure7.svg)');
    expect(text).not.toContain('figure7-paper.svg');
    const svg = readFileSync(join(dir, 'figure7.svg'), 'utf8');
    expect(svg.match(/<path /g)).toHaveLength(4);
    expect(svg).toContain('paper LLaMA 2-7B: REFINE-AF');
    // Paper points are markers at the paper's counts: three per arm, as in Table II.
    expect(svg.match(/<circle /g)).toHaveLength(12);
  });

  it("gives the paper's points a chart of their own when the run is of another size", () => {
    const { dir, r } = results('small', { num_instructions: 40, reference: null });
    writeReproReport(dir, r);
    const text = section(readFileSync(join(dir, 'report.md'), 'utf8'), 'Figure 7');
    expect(text).toContain('](figure7.svg)');
    expect(text).toContain('](figure7-paper.svg)');
    expect(readFileSync(join(dir, 'figure7.svg'), 'utf8')).not.toContain('paper');
    const paper = readFileSync(join(dir, 'figure7-paper.svg'), 'utf8');
    expect(paper.match(/<path /g)).toHaveLength(2);
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    expect(html).toContain(paper.trim().split('\n')[0]);
  });
});

describe('the report title', () => {
  it('names the reproduction, and the model in the text below it', () => {
    const { dir, r } = results('title', { num_instructions: 40, reference: null });
    const model = '/models/some-checkpoint';
    writeReproReport(dir, { ...r, config: { ...r.config, models: { ...r.config.models, generator: model } } });
    const markdown = readFileSync(join(dir, 'report.md'), 'utf8');
    expect(markdown.split('\n')[0]).toBe('# Reproduction of REFINE-AF');
    expect(markdown).toContain(`Model: ${model}.`);
  });
});

describe("Figure 5 and the paper's inconsistencies in the report", () => {
  it('says how to get Figure 5 when no reference set is named', () => {
    const { dir, r } = results('no-reference', { num_instructions: 40, reference: null });
    writeReproReport(dir, r);
    const text = section(readFileSync(join(dir, 'report.md'), 'utf8'), 'Figure 5');
    expect(text).toContain('Not computed: stats.reference_instructions names no file.');
    expect(text).toContain('mean ≈ 0.62');
  });

  it('shows both means, both histograms and the paper’s 0.62 when one is', () => {
    const { dir, r } = results('reference', { num_instructions: 40, reference });
    writeReproReport(dir, r);
    const text = section(readFileSync(join(dir, 'report.md'), 'utf8'), 'Figure 5');
    const mean = r.stats['refine-af'].referenceOverlap!.mean;
    expect(mean).toBeGreaterThan(0);
    expect(text).toContain(
      `against the 2 instructions of ${reference}: mean REFINE-AF ${mean.toFixed(2)}, Self-Instruct ${mean.toFixed(2)}.`,
    );
    expect(text).toContain('](stats/refine-af/fig5-reference-rouge.svg)');
    expect(text).toContain('](stats/self-instruct/fig5-reference-rouge.svg)');
  });

  it('lists every inconsistency docs/paper-results.json records, the 10-of-12 claim among them', () => {
    const { dir, r } = results('notes', { num_instructions: 40, reference: null });
    writeReproReport(dir, r);
    const text = section(readFileSync(join(dir, 'report.md'), 'utf8'), "Where the paper's numbers disagree with themselves");
    for (const note of Object.values(loadPaperResults().inconsistencies)) expect(text).toContain(note);
    expect(text).toContain('for LLaMA 2-7B only');
  });
});

describe('docs/paper-results.json', () => {
  it("holds Figure 5's mean, and the 10-of-12 note agrees with its own Table III", () => {
    const paper = loadPaperResults();
    expect(paper.figure_5_mean).toBe(0.62);
    expect(paper.sources.figure_5_mean).toContain('mean score of approximately 0.62');
    const wins = Object.fromEntries(
      Object.entries(paper.backbones).map(([name, b]) => [
        name,
        Object.values(b.table_iii).filter((c) => c.refine_af > c.self_instruct).length,
      ]),
    );
    expect(wins).toEqual({ 'llama2-7b': 10, 'llama2-13b': 8, 'mistral-7b': 8 });
  });
});

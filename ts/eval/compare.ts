/**
 * Comparing two Super-NI evaluations (`refine-af eval compare`; Tables II and III of `refine-af repro`): their scores
 * files read back, then ROUGE-L per task and per category side by side.
 */
import { join } from 'node:path';
import { z } from 'zod';
import { UsageError } from '../errors.js';
import { DataFileError, readJsonIfExists } from '../io/files.js';
import { SCORES_JSON, type SuperNiReport } from './superni.js';

const reportSchema = z.object({
  prompt: z.string().optional(),
  overall: z.object({ exact_match: z.number(), rougeL: z.number(), instances: z.number() }),
  categories: z.record(z.string(), z.object({ exact_match: z.number(), rougeL: z.number(), instances: z.number() })),
  tasks: z.record(z.string(), z.object({ category: z.string(), exact_match: z.number(), rougeL: z.number(), instances: z.number() })),
  missing_predictions: z.number(),
  ignored_predictions: z.number(),
});

export function readReport(runDir: string): SuperNiReport {
  const file = join(runDir, SCORES_JSON);
  const report = readJsonIfExists(file, reportSchema);
  if (report === undefined) throw new DataFileError(file, undefined, 'no scores here: run `refine-af eval superni` with this --out first');
  return report;
}

export interface Comparison {
  /** Tasks on which A's ROUGE-L is higher / lower / equal. */
  better: number;
  worse: number;
  tied: number;
  tasks: number;
  /** Table II's "% tasks better" as we read it: better ÷ tasks × 100, ties counted as not better. */
  percentTasksBetter: number;
  /**
   * better ÷ (better + worse) × 100: the share among the tasks the two runs score differently (null when every task ties).
   * The paper does not say how it counts ties; its percentages fit neither reading over 119 tasks (docs/evaluation.md).
   */
  percentBetterExcludingTies: number | null;
  categories: { category: string; a: number; b: number }[];
  overall: { a: number; b: number };
}

/** part ÷ whole as a percentage with two decimals, as Table II prints it. */
const percent = (part: number, whole: number) => Math.round((10_000 * part) / whole) / 100;

/** Compare run A with run B on ROUGE-L over the tasks both scored. */
export function compareReports(a: SuperNiReport, b: SuperNiReport): Comparison {
  const shared = Object.keys(a.tasks).filter((t) => t in b.tasks);
  if (shared.length === 0) throw new UsageError('the two runs share no task');
  let better = 0;
  let worse = 0;
  for (const task of shared) {
    const difference = a.tasks[task]!.rougeL - b.tasks[task]!.rougeL;
    if (difference > 0) better++;
    else if (difference < 0) worse++;
  }
  const categories = Object.keys(a.categories)
    .filter((c) => c in b.categories)
    .map((category) => ({ category, a: a.categories[category]!.rougeL, b: b.categories[category]!.rougeL }));
  return {
    better,
    worse,
    tied: shared.length - better - worse,
    tasks: shared.length,
    percentTasksBetter: percent(better, shared.length),
    percentBetterExcludingTies: better + worse === 0 ? null : percent(better, better + worse),
    categories,
    overall: { a: a.overall.rougeL, b: b.overall.rougeL },
  };
}

/** The two readings of "% tasks better", each named: "58.82% of 17 tasks, 66.67% of the 15 not tied". */
export function tasksBetterText(
  c: Pick<Comparison, 'better' | 'worse' | 'tasks' | 'percentTasksBetter' | 'percentBetterExcludingTies'>,
): string {
  const ofAll = `${c.percentTasksBetter.toFixed(2)}% of ${c.tasks} tasks`;
  return c.percentBetterExcludingTies === null
    ? `${ofAll} (every task tied)`
    : `${ofAll}, ${c.percentBetterExcludingTies.toFixed(2)}% of the ${c.better + c.worse} not tied`;
}

export function formatComparison(c: Comparison, nameA: string, nameB: string): string {
  const width = Math.max(30, ...c.categories.map((r) => r.category.length)) + 2;
  const lines = [
    `A = ${nameA}`,
    `B = ${nameB}`,
    '',
    `% tasks better (A over B, ROUGE-L): ${tasksBetterText(c)}  (${c.better} better, ${c.worse} worse, ${c.tied} tied)`,
    '',
    `${'category (ROUGE-L)'.padEnd(width)}${'A'.padStart(8)}${'B'.padStart(8)}${'A−B'.padStart(8)}`,
  ];
  for (const r of [...c.categories, { category: 'overall', ...c.overall }]) {
    lines.push(
      `${r.category.padEnd(width)}${r.a.toFixed(2).padStart(8)}${r.b.toFixed(2).padStart(8)}${(r.a - r.b).toFixed(2).padStart(8)}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

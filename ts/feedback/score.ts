/**
 * `refine-af score`: automated feedback for any instruction dataset (Instruction-Mining style data selection).
 * read records → reject the unusable ones (reported, never fatal) → score in batches → append → summarise.
 *
 * Input: JSONL of {instruction, input, output} or an Alpaca-style JSON array of the same. Output: one JSON line per
 * scored record (`index` = its position among the input's records), appended batch by batch through ts/io/files.ts;
 * `<out>.rejected.jsonl` (only when there are some) holds the records that could not be scored, why, and their text; `<out>.summary.json` the summary table.
 * `resume` skips every index already written (scored or rejected), so a crashed run finishes with no duplicates.
 */
import { existsSync, statSync } from 'node:fs';
import { z } from 'zod';
import { withWorker } from '../backends/from-config.js';
import { FEEDBACK_INDICATORS, indicatorBackendsSchema, indicatorValuesSchema, type Triplet } from '../bridge/contract.js';
import type { PythonWorker } from '../bridge/worker.js';
import type { Config } from '../config/schema.js';
import { throwIfInterrupted } from '../interrupt.js';
import { appendJsonl, DataFileError, type DatasetRead, readDatasetFile, readJsonl, writeJsonAtomic } from '../io/files.js';
import { logger } from '../log.js';
import { startProgress } from '../progress.js';
import { mean, quantile } from '../stats/summary.js';
import { FeedbackScorer } from './scorer.js';

export const scoredRecordSchema = z.object({
  index: z.number().int().nonnegative(),
  instruction: z.string(),
  input: z.string(),
  output: z.string(),
  indicators: indicatorValuesSchema,
  backends: indicatorBackendsSchema,
  reward: z.number(),
  truncated: z.boolean(),
});
export type ScoredRecord = z.infer<typeof scoredRecordSchema>;

const rejectedRecordSchema = z.object({
  index: z.number().int().nonnegative(),
  where: z.string(),
  reason: z.string(),
  /** The record as the input holds it (absent in files written before it was kept). */
  text: z.string().optional(),
});

/** A parsed value's triplet, or why it cannot be scored. `input` may be absent or null (Alpaca leaves it empty). */
function toTriplet(value: unknown): { record: Triplet } | { reason: string } {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return { reason: 'not an object with instruction, input, output' };
  const record = value as Record<string, unknown>;
  for (const key of ['instruction', 'output'] as const) {
    if (!(key in record)) return { reason: `missing field "${key}"` };
    if (typeof record[key] !== 'string') return { reason: `field "${key}" is not a string` };
    if ((record[key] as string).trim() === '') return { reason: `field "${key}" is empty` };
  }
  const input = record.input ?? '';
  if (typeof input !== 'string') return { reason: 'field "input" is not a string' };
  return { record: { instruction: record.instruction as string, input, output: record.output as string } };
}

/** Every record of the file, accepted or rejected with its reason (never fatal: the rejected ones are reported). */
export function readTriplets(file: string): DatasetRead<Triplet> {
  return readDatasetFile(file, toTriplet, 'reject');
}

export interface IndicatorSummary {
  mean: number;
  min: number;
  q1: number;
  median: number;
  q3: number;
  max: number;
}

export interface ScoreSummary {
  out: string;
  rejectedFile: string;
  /** Records in the output file (this run and any it resumed). */
  scored: number;
  /** Records scored by this run. */
  scoredNow: number;
  rejected: number;
  truncated: number;
  backends: ScoredRecord['backends'] | undefined;
  stats: Record<(typeof FEEDBACK_INDICATORS)[number] | 'composite', IndicatorSummary>;
}

export function summarise(values: readonly number[]): IndicatorSummary {
  if (values.length === 0) return { mean: NaN, min: NaN, q1: NaN, median: NaN, q3: NaN, max: NaN };
  const sorted = [...values].sort((a, b) => a - b);
  return {
    mean: mean(values),
    min: sorted[0]!,
    q1: quantile(sorted, 0.25),
    median: quantile(sorted, 0.5),
    q3: quantile(sorted, 0.75),
    max: sorted[sorted.length - 1]!,
  };
}

export function summaryTable(summary: ScoreSummary): string {
  const fmt = (x: number) => (Number.isNaN(x) ? '—' : x.toFixed(4));
  const lines = [
    `${summary.scored} scored, ${summary.rejected} rejected${summary.rejected > 0 ? ` (${summary.rejectedFile})` : ''}, ${summary.truncated} truncated → ${summary.out}`,
    '| indicator | backend | mean | min | q1 | median | q3 | max |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const [name, s] of Object.entries(summary.stats)) {
    const backend = name === 'composite' ? 'Eq. 1' : (summary.backends?.[name as keyof ScoredRecord['backends']] ?? '—');
    lines.push(`| ${name} | ${backend} | ${[s.mean, s.min, s.q1, s.median, s.q3, s.max].map(fmt).join(' | ')} |`);
  }
  return lines.join('\n');
}

export interface ScoreDatasetOptions {
  inFile: string;
  outFile: string;
  /** Continue an earlier run into the same output; without it an existing non-empty output is an error. */
  resume?: boolean;
  /** Aborting stops after the batch in flight is written (Ctrl-C); `resume` continues. */
  signal?: AbortSignal;
}

function hasContent(file: string): boolean {
  return existsSync(file) && statSync(file).size > 0;
}

export async function scoreDataset(worker: PythonWorker, config: Config, options: ScoreDatasetOptions): Promise<ScoreSummary> {
  const { inFile, outFile } = options;
  const rejectedFile = `${outFile}.rejected.jsonl`;
  if (!options.resume && (hasContent(outFile) || hasContent(rejectedFile))) {
    throw new DataFileError(outFile, undefined, 'already exists: pass --resume to continue it, or choose another output');
  }
  const { accepted, rejected } = readTriplets(inFile);
  const written = readJsonl(outFile, scoredRecordSchema, { repairTornTail: true });
  const rejectedBefore = readJsonl(rejectedFile, rejectedRecordSchema, { repairTornTail: true });
  const byIndex = new Map(accepted.map((r) => [r.index, r]));
  for (const record of written) {
    const source = byIndex.get(record.index);
    if (!source || source.record.instruction !== record.instruction || source.record.output !== record.output) {
      throw new DataFileError(outFile, undefined, `record ${record.index} does not match ${inFile}: was it written from another input?`);
    }
  }

  // Every model is found and loaded before anything is written: a missing one leaves no output behind.
  const scorer = new FeedbackScorer(worker, config);
  const backends = await scorer.load();
  if (written.length > 0 && JSON.stringify(written[0]!.backends) !== JSON.stringify(backends)) {
    throw new DataFileError(
      outFile,
      1,
      `was scored with other backends (${JSON.stringify(written[0]!.backends)}); the config gives ${JSON.stringify(backends)}`,
    );
  }
  scorer.replay(written.map((r) => r.indicators));

  const rejectedIndices = new Set(rejectedBefore.map((r) => r.index));
  const newlyRejected = rejected.filter((r) => !rejectedIndices.has(r.index));
  for (const r of newlyRejected) logger.warn(`${r.where}: not scored: ${r.reason}`);
  appendJsonl(rejectedFile, newlyRejected);

  const done = new Set(written.map((r) => r.index));
  const todo = accepted.filter((r) => !done.has(r.index));
  const progress = startProgress('score', accepted.length, done.size);
  const batch = config.feedback.batch_size;
  const all: ScoredRecord[] = [...written];
  for (let start = 0; start < todo.length; start += batch) {
    throwIfInterrupted(options.signal);
    const chunk = todo.slice(start, start + batch);
    const scored = await scorer.score(chunk.map((r) => r.record));
    const records = scored.map((s, i) => ({ index: chunk[i]!.index, ...s }));
    appendJsonl(outFile, records);
    all.push(...records);
    progress.update(done.size + start + chunk.length);
  }
  progress.stop();

  const stats = Object.fromEntries([
    ...FEEDBACK_INDICATORS.map((name) => [name, summarise(all.map((r) => r.indicators[name]))]),
    ['composite', summarise(all.map((r) => r.reward))],
  ]) as ScoreSummary['stats'];
  const summary: ScoreSummary = {
    out: outFile,
    rejectedFile,
    scored: all.length,
    scoredNow: todo.length,
    rejected: rejectedBefore.length + newlyRejected.length,
    truncated: all.filter((r) => r.truncated).length,
    backends,
    stats,
  };
  writeJsonAtomic(`${outFile}.summary.json`, summary);
  return summary;
}

/** The CLI's entry: one worker for the whole run, closed at the end. */
export function scoreFile(config: Config, options: ScoreDatasetOptions): Promise<ScoreSummary> {
  return withWorker(config, (worker) => scoreDataset(worker, config, options));
}

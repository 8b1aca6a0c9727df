/**
 * `refine-af stats`: the paper's analysis of an instruction-tuning dataset, top to bottom —
 * load → Table V → verb–noun diversity (Figure 8) → max ROUGE-L against the seed instructions (Figure 4) → optionally
 * max ROUGE-L against Self-Instruct's GPT-3 generations (Figure 5) → length distributions (Figure 3) → optionally the
 * stage-2 reward curve (Figure 2) → stats.json, one SVG per figure and one self-contained HTML report.
 */
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { z } from 'zod';
import type { Config } from '../config/schema.js';
import { DataFileError, readJsonl, writeFileAtomic, writeJsonAtomic } from '../io/files.js';
import { defaultSeedTasksFile, loadSeedTasks } from '../io/seeds.js';
import { escapeMarkup } from '../markup.js';
import { NoveltyIndex } from '../rouge/index.js';
import { type RewardTrend, rewardTrend, rewardTrendText } from './correlation.js';
import {
  countWords,
  type DatasetStatistics,
  datasetStatistics,
  loadDataset,
  loadInstructions,
  readInstructionPool,
  TABLE_V_ROWS,
  tableVCell,
} from './dataset.js';
import { type DiversitySummary, diversity } from './diversity.js';
import { rewardCurveSvg } from './line-chart.js';
import { exponentialMovingAverage } from './smoothing.js';
import { mean, quantile } from './summary.js';
import { type Bin, histogramBins, histogramSvg, sunburstSvg } from './svg.js';

export interface StatsOptions {
  dataset: string;
  outDir: string;
  /** The stage-1 pool the dataset was generated from, for Table V's "# of instructions" (the paper's row); else "—". */
  pool?: string;
  /** Seed tasks JSONL for Figure 4 (default: the 175 Self-Instruct seeds). */
  seeds?: string;
  /** Self-Instruct's generations for Figure 5 (default: stats.reference_instructions; neither: no Figure 5). */
  reference?: string;
  /** A stage-2 metrics JSONL ({step, <reward_key>} per line) for Figure 2. */
  metrics?: string;
  /** The model fine-tuned on the dataset, for a run's report. */
  fineTuning?: FineTuningSummary;
}

export interface FineTuningSummary {
  model: string;
  instructions: number;
  steps: number;
  trainLoss: number | null;
}

interface Distribution {
  mean: number;
  median: number;
  bins: Bin[];
}

export interface RewardCurve {
  steps: number;
  /** Spearman's ρ between step and mean reward, of the raw curve and of the smoothed one (the paper reports 0.553 / 0.649 / 0.558). */
  spearman: RewardTrend;
  movingAverageSpan: number;
  first: number;
  last: number;
  lastMovingAverage: number;
}

export interface DatasetStats {
  dataset: string;
  tableV: DatasetStatistics;
  diversity: DiversitySummary;
  seedOverlap: Distribution & { seeds: number };
  /** Figure 5: max ROUGE-L against the reference instructions (the paper: mean ≈ 0.62 against Self-Instruct's). */
  referenceOverlap?: Distribution & { reference: string; instructions: number };
  lengths: { instruction: Distribution; input: Distribution; output: Distribution };
  reward?: RewardCurve;
  figures: FigureFile[];
}

const sorted = (values: readonly number[]) => [...values].sort((a, b) => a - b);
const LENGTH_RANGE_QUANTILE = 0.99;

function distribution(values: readonly number[], bins: number, min: number, max: number): Distribution {
  const ascending = sorted(values);
  return {
    mean: mean(values, 0),
    median: values.length === 0 ? 0 : quantile(ascending, 0.5),
    bins: histogramBins(values, bins, min, max),
  };
}

function lengthDistribution(values: readonly number[], bins: number): Distribution {
  // A whole number of words per bin, so the bin edges read as word counts.
  const wordsPerBin = Math.max(1, Math.ceil((values.length === 0 ? 0 : quantile(sorted(values), LENGTH_RANGE_QUANTILE)) / bins));
  return distribution(values, bins, 0, wordsPerBin * bins);
}

/** Max ROUGE-L of each instruction against a pool (Figures 4 and 5): exact scores, the index skipping pairs that cannot matter. */
function maxOverlaps(pool: readonly string[], instructions: readonly string[]): number[] {
  const index = new NoveltyIndex(pool);
  return instructions.map((instruction) => index.nearest(instruction, 1).maxScore);
}

function readRewardCurve(file: string, rewardKey: string): { step: number; reward: number }[] {
  if (!existsSync(file)) throw new DataFileError(file, undefined, 'metrics file not found');
  const schema = z.looseObject({ step: z.number(), [rewardKey]: z.number() });
  const points = readJsonl(file, schema).map((line) => ({ step: Number(line.step), reward: Number(line[rewardKey]) }));
  if (points.length < 2) throw new DataFileError(file, undefined, `needs at least two steps with "${rewardKey}" to draw a curve`);
  return points;
}

export function analyseDataset(config: Config, options: StatsOptions): DatasetStats {
  const settings = config.stats;
  const instances = loadDataset(options.dataset);
  const instructions = [...new Set(instances.map((i) => i.instruction.trim()))];
  const figures: Partial<Record<FigureFile, string>> = {};

  const table = datasetStatistics(instances, options.pool === undefined ? null : readInstructionPool(options.pool).length);

  const verbs = diversity(instructions, settings.top_verbs, settings.nouns_per_verb);
  figures['fig8-verb-noun.svg'] = sunburstSvg(
    `Top ${settings.top_verbs} root verbs and their top ${settings.nouns_per_verb} direct-object nouns`,
    verbs.topVerbs.map((v) => ({ label: v.verb, count: v.count, children: v.nouns.map((n) => ({ label: n.noun, count: n.count })) })),
  );

  const seeds = loadSeedTasks(options.seeds ?? defaultSeedTasksFile).map((s) => s.instruction);
  const seedOverlap = { seeds: seeds.length, ...distribution(maxOverlaps(seeds, instructions), settings.rouge_bins, 0, 1) };
  figures['fig4-seed-rouge.svg'] = histogramSvg(
    `Max ROUGE-L of each instruction against the ${seeds.length} seed instructions`,
    seedOverlap.bins,
    'ROUGE-L F (no stemming)',
    'instructions',
  );

  let referenceOverlap: DatasetStats['referenceOverlap'];
  const referenceFile = options.reference ?? settings.reference_instructions;
  if (referenceFile !== null) {
    const reference = loadInstructions(referenceFile);
    referenceOverlap = {
      reference: referenceFile,
      instructions: reference.length,
      ...distribution(maxOverlaps(reference, instructions), settings.rouge_bins, 0, 1),
    };
    figures['fig5-reference-rouge.svg'] = histogramSvg(
      `Max ROUGE-L of each instruction against ${reference.length.toLocaleString('en-US')} reference instructions (mean ${referenceOverlap.mean.toFixed(2)})`,
      referenceOverlap.bins,
      'ROUGE-L F (no stemming)',
      'instructions',
    );
  }

  const lengths = {
    instruction: lengthDistribution(instructions.map(countWords), settings.length_bins),
    input: lengthDistribution(
      instances.filter((i) => i.input.trim() !== '').map((i) => countWords(i.input)),
      settings.length_bins,
    ),
    output: lengthDistribution(
      instances.map((i) => countWords(i.output)),
      settings.length_bins,
    ),
  };
  for (const name of ['instruction', 'input', 'output'] as const) {
    const d = lengths[name];
    figures[`fig3-length-${name}.svg`] = histogramSvg(
      `Length of ${name === 'input' ? 'non-empty inputs' : `${name}s`} (words)`,
      d.bins,
      'words',
      name === 'instruction' ? 'instructions' : 'instances',
    );
  }

  let reward: RewardCurve | undefined;
  if (options.metrics !== undefined) {
    const points = readRewardCurve(options.metrics, settings.reward_key);
    const smooth = exponentialMovingAverage(
      points.map((p) => p.reward),
      settings.moving_average_span,
    );
    reward = {
      steps: points.length,
      spearman: rewardTrend(points, settings.moving_average_span),
      movingAverageSpan: settings.moving_average_span,
      first: points[0]!.reward,
      last: points.at(-1)!.reward,
      lastMovingAverage: smooth.at(-1)!,
    };
    figures['fig2-reward.svg'] = rewardCurveSvg(points, settings.moving_average_span, config.rlaf.algorithm);
  }

  const stats: DatasetStats = {
    dataset: options.dataset,
    tableV: table,
    diversity: verbs,
    seedOverlap,
    ...(referenceOverlap === undefined ? {} : { referenceOverlap }),
    lengths,
    ...(reward === undefined ? {} : { reward }),
    figures: Object.keys(figures) as FigureFile[],
  };
  for (const [name, svg] of Object.entries(figures)) writeFileAtomic(join(options.outDir, name), svg);
  writeJsonAtomic(join(options.outDir, 'stats.json'), stats);
  writeFileAtomic(join(options.outDir, 'report.html'), htmlReport(stats, figures, options.fineTuning));
  return stats;
}

/** Each figure file's caption in the report: which of the paper's figures it is, and what it shows. */
export const FIGURE_CAPTIONS = {
  'fig8-verb-noun.svg': 'Figure 8: the most common root verbs of the instructions (inner ring) and their direct-object nouns (outer ring)',
  'fig4-seed-rouge.svg': "Figure 4: each instruction's highest ROUGE-L against the seed instructions",
  'fig5-reference-rouge.svg': "Figure 5: each instruction's highest ROUGE-L against Self-Instruct's generations",
  'fig3-length-instruction.svg': 'Figure 3: instruction length in words',
  'fig3-length-input.svg': 'Figure 3: input length in words (non-empty inputs)',
  'fig3-length-output.svg': 'Figure 3: output length in words',
  'fig2-reward.svg': 'Figure 2: mean reward per stage-2 step (PPO, GRPO or RLOO) and its moving average',
} as const;
/** A figure the report draws, by its file name. */
export type FigureFile = keyof typeof FIGURE_CAPTIONS;

const fmt = (x: number) => (Number.isInteger(x) ? x.toLocaleString('en-US') : x.toFixed(2));

/** One HTML file with every table and every figure inline: opens anywhere, no network, no other file. */
function htmlReport(stats: DatasetStats, figures: Partial<Record<FigureFile, string>>, fineTuning: FineTuningSummary | undefined): string {
  const d = stats.diversity;
  const verbRows = d.topVerbs
    .map(
      (v) =>
        `<tr><td>${escapeMarkup(v.verb)}</td><td>${v.count}</td><td>${v.nouns.map((n) => `${escapeMarkup(n.noun)} (${n.count})`).join(', ')}</td></tr>`,
    )
    .join('\n');
  const figure = (name: keyof typeof FIGURE_CAPTIONS) =>
    figures[name] === undefined ? '' : `<figure>${figures[name]}<figcaption>${escapeMarkup(FIGURE_CAPTIONS[name])}</figcaption></figure>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Dataset statistics: ${escapeMarkup(basename(stats.dataset))}</title>
<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto;padding:0 1em}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}figure{margin:1em 0}svg{max-width:100%;height:auto}</style></head>
<body>
<h1>Dataset statistics</h1>
<p>${escapeMarkup(stats.dataset)}</p>
<h2>Table V</h2>
<p>Lengths in words.</p>
<table>${TABLE_V_ROWS.map(([key, label]) => `<tr><th>${escapeMarkup(label)}</th><td>${tableVCell(key, stats.tableV)}</td></tr>`).join('')}</table>
<h2>Diversity (Figure 8)</h2>
<p>${fmt(d.uniqueVerbNounPairs)} unique verb–noun pairs over ${fmt(d.withVerbAndNoun)} of ${fmt(d.instructions)} instructions
(${fmt(d.withVerb)} have a root verb; ${fmt(d.uniqueVerbs)} distinct verbs). Root verbs and objects come from part-of-speech
tags (compromise), not from the Berkeley parser the paper used.</p>
${figure('fig8-verb-noun.svg')}
<table><tr><th>verb</th><th>instructions</th><th>top nouns</th></tr>
${verbRows}</table>
<h2>Overlap with the seed instructions (Figure 4)</h2>
<p>Max ROUGE-L against ${stats.seedOverlap.seeds} seeds: mean ${fmt(stats.seedOverlap.mean)}, median ${fmt(stats.seedOverlap.median)}.</p>
${figure('fig4-seed-rouge.svg')}
${
  stats.referenceOverlap === undefined
    ? ''
    : `<h2>Similarity to Self-Instruct's generations (Figure 5)</h2>
<p>Max ROUGE-L against ${fmt(stats.referenceOverlap.instructions)} instructions of ${escapeMarkup(stats.referenceOverlap.reference)}: mean ${fmt(stats.referenceOverlap.mean)}, median ${fmt(stats.referenceOverlap.median)} (the paper: mean ≈ 0.62).</p>
${figure('fig5-reference-rouge.svg')}`
}
<h2>Lengths (Figure 3)</h2>
${(['instruction', 'input', 'output'] as const).map((n) => figure(`fig3-length-${n}.svg`)).join('\n')}
${stats.reward === undefined ? '' : `<h2>Reward curve (Figure 2)</h2><p>${stats.reward.steps} steps; Spearman ${rewardTrendText(stats.reward.spearman, stats.reward.movingAverageSpan)}.</p>\n${figure('fig2-reward.svg')}`}
${
  fineTuning === undefined
    ? ''
    : `<h2>Fine-tuning (SFT)</h2>
<p>${fmt(fineTuning.steps)} steps on ${fmt(fineTuning.instructions)} instructions${fineTuning.trainLoss === null ? '' : `, training loss ${fineTuning.trainLoss.toFixed(4)}`}; the model: ${escapeMarkup(fineTuning.model)}.</p>`
}
</body></html>
`;
}

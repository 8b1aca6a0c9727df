/**
 * The reproduction report: every table and figure of `refine-af repro` beside the paper's numbers, as one Markdown file
 * (figures linked) and one self-contained HTML file (figures inline). The paper's numbers come from
 * docs/paper-results.json, transcribed from the paper's text with the table or section each comes from.
 */
import { readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { z } from 'zod';
import type { Config } from '../config/schema.js';
import { tasksBetterText } from '../eval/compare.js';
import { REVIEW_QUESTION_TEXTS, REVIEW_QUESTIONS } from '../eval/human/review.js';
import { RATINGS } from '../eval/human/scale.js';
import type { QualityReviewRow, SystemDistribution } from '../eval/human/store.js';
import type { Scores } from '../eval/superni.js';
import { readJsonIfExists, writeFileAtomic } from '../io/files.js';
import { escapeMarkup } from '../markup.js';
import { packageRoot } from '../paths.js';
import { rewardTrendText } from '../stats/correlation.js';
import { type DatasetStatistics, TABLE_V_ROWS } from '../stats/dataset.js';
import { type LineSeries, lineChartSvg } from '../stats/line-chart.js';
import type { DatasetStats } from '../stats/report.js';

export const PAPER_RESULTS_FILE = resolve(packageRoot, 'docs', 'paper-results.json');

/** The paper's Table V: its "# of instructions" is the stage-1 pool; it does not say how many kept an instance. */
const tableVSchema = z.strictObject({
  pool_instructions: z.number(),
  instances: z.number(),
  instances_with_empty_input: z.number(),
  avg_instruction_words: z.number(),
  avg_nonempty_input_words: z.number(),
  avg_output_words: z.number(),
});
const paperResultsSchema = z.strictObject({
  paper: z.string(),
  sources: z.record(z.string(), z.string()),
  figure_6_finding: z.string(),
  figure_5_mean: z.number(),
  inconsistencies: z.record(z.string(), z.string()),
  backbones: z.record(
    z.string(),
    z.strictObject({
      label: z.string(),
      table_ii: z.array(
        z.strictObject({ instructions: z.number(), self_instruct: z.number(), refine_af: z.number(), percent_tasks_better: z.number() }),
      ),
      table_iii: z.record(z.string(), z.strictObject({ self_instruct: z.number(), refine_af: z.number() })),
      table_v_refine_af: tableVSchema,
      figure_2_spearman: z.number(),
      unique_verb_noun_pairs: z.number(),
      table_iv_refine_af: z.strictObject({ valid_task: z.number(), input_appropriate: z.number(), output_correct: z.number() }),
    }),
  ),
});
export type PaperResults = z.infer<typeof paperResultsSchema>;
type PaperBackbone = PaperResults['backbones'][string];

export function loadPaperResults(file = PAPER_RESULTS_FILE): PaperResults {
  return readJsonIfExists(file, paperResultsSchema)!;
}

export interface TableIIRow {
  subset: number | null;
  instructions: { refineAf: number; selfInstruct: number };
  selfInstruct: number;
  refineAf: number;
  percentTasksBetter: number;
  percentBetterExcludingTies: number | null;
  better: number;
  worse: number;
  tied: number;
  tasks: number;
}

export interface TableIIIRow {
  category: string;
  selfInstruct: number;
  refineAf: number;
}

export interface ReproResults {
  config: Config;
  baseline: Config;
  base: Scores;
  tableII: TableIIRow[];
  tableIII: TableIIIRow[];
  stats: Record<'refine-af' | 'self-instruct', DatasetStats>;
  userOrientedRuns: Record<'refine-af' | 'self-instruct', string>;
  /** distribution null: nothing rated yet. */
  humanEval: { db: string; distribution: null } | { db: string; distribution: SystemDistribution[]; figure: string };
  /** table null: no quality-review answer yet. */
  qualityReview: { db: string; table: QualityReviewRow[] | null };
}

/** A report is a list of blocks, each rendered both as Markdown and as HTML, so the two never disagree. */
type Block =
  | { kind: 'title'; text: string }
  | { kind: 'heading'; text: string }
  | { kind: 'paragraph'; text: string }
  | { kind: 'table'; header: string[]; rows: string[][] }
  | { kind: 'figure'; file: string; caption: string };

const number = (x: number | null | undefined, digits = 2): string =>
  x === undefined || x === null ? '—' : Number.isInteger(x) ? x.toLocaleString('en-US') : x.toFixed(digits);

const paperBackbone = (r: ReproResults, paper: PaperResults): PaperBackbone => paper.backbones[r.config.eval.paper_backbone]!;
/** The run generated as many instructions as the paper did with its backbone: its numbers can be set beside the paper's. */
const comparableToPaper = (r: ReproResults, p: PaperBackbone) =>
  r.config.instructions.num_instructions === p.table_v_refine_af.pool_instructions;

const armFigure = (name: string, caption: string): Block[] =>
  (['refine-af', 'self-instruct'] as const).map((arm) => ({
    kind: 'figure',
    file: join('stats', arm, name),
    caption: `${caption} (${arm})`,
  }));

function reportBlocks(dir: string, r: ReproResults, paper: PaperResults): Block[] {
  const p = paperBackbone(r, paper);
  const paperTableV: Partial<Record<keyof DatasetStatistics, number>> = p.table_v_refine_af;
  const comparable = comparableToPaper(r, p);
  const blocks: Block[] = [
    { kind: 'title', text: 'Reproduction of REFINE-AF' },
    {
      kind: 'paragraph',
      text:
        `Model: ${r.config.models.generator}. REFINE-AF run: ${r.config.run.dir}; Self-Instruct baseline: ${r.baseline.run.dir}; Super-NI: ${r.config.eval.data_dir}. ` +
        `Reference: the paper's ${p.label} numbers (docs/paper-results.json, ${paper.paper}).`,
    },
  ];
  if (!comparable) {
    blocks.push({
      kind: 'paragraph',
      text:
        `This run generated ${number(r.config.instructions.num_instructions)} instructions where the paper generated ` +
        `${number(paperTableV.pool_instructions)} with ${p.label}: its numbers are not comparable to the paper's. ` +
        'A rehearsal on tiny random models checks that every step runs and every artifact appears; its numbers are meaningless.',
    });
  }

  blocks.push(
    { kind: 'heading', text: 'Table II: Super-NI zero-shot, % of tasks better (§V-A, §V-C)' },
    {
      kind: 'paragraph',
      text: `ROUGE-L ×100 over the benchmark's tasks; % tasks better = tasks on which REFINE-AF's ROUGE-L is higher, of all tasks and of the tasks not tied (the paper does not say how it counts ties, and its percentages fit neither reading over 119 tasks: docs/evaluation.md). Base model without fine-tuning: ROUGE-L ${number(r.base.rougeL)}, EM ${number(r.base.exact_match)}. Paper: ${paper.sources.table_ii}.`,
    },
    {
      kind: 'table',
      header: [
        'instructions',
        'Self-Instruct',
        'REFINE-AF',
        '% tasks better (better/worse/tied)',
        'paper: instructions',
        'paper: Self-Instruct',
        'paper: REFINE-AF',
        'paper: % tasks better',
      ],
      rows: r.tableII.map((row, i) => {
        const ref = p.table_ii[i];
        const size =
          row.subset === null
            ? `all (${number(row.instructions.refineAf)} / ${number(row.instructions.selfInstruct)})`
            : number(row.subset);
        return [
          size,
          number(row.selfInstruct, 4),
          number(row.refineAf, 4),
          `${tasksBetterText(row)} (${row.better}/${row.worse}/${row.tied})`,
          number(ref?.instructions),
          number(ref?.self_instruct, 4),
          number(ref?.refine_af, 4),
          ref === undefined ? '—' : `${number(ref.percent_tasks_better)}%`,
        ];
      }),
    },
    { kind: 'heading', text: 'Table III: ROUGE-L per task category (§V-A)' },
    { kind: 'paragraph', text: `The full-size models of both arms. Paper: ${paper.sources.table_iii}.` },
    {
      kind: 'table',
      header: ['category', 'Self-Instruct', 'REFINE-AF', 'paper: Self-Instruct', 'paper: REFINE-AF'],
      rows: r.tableIII.map((row) => [
        row.category,
        number(row.selfInstruct, 4),
        number(row.refineAf, 4),
        number(p.table_iii[row.category]?.self_instruct, 4),
        number(p.table_iii[row.category]?.refine_af, 4),
      ]),
    },
    { kind: 'heading', text: 'Table V: statistics of the IFT datasets (Appendix IX-A)' },
    {
      kind: 'paragraph',
      text:
        `Lengths in words. The paper's "# of instructions" is the stage-1 pool; the instructions that kept at least one instance ` +
        `after the filters follow it (the paper does not give that count). Paper: ${paper.sources.table_v_refine_af}.`,
    },
    {
      kind: 'table',
      header: ['statistic', 'REFINE-AF', 'Self-Instruct', `paper: REFINE-AF ${p.label}`],
      rows: TABLE_V_ROWS.map(([key, label]) => [
        label,
        number(r.stats['refine-af'].tableV[key]),
        number(r.stats['self-instruct'].tableV[key]),
        number(paperTableV[key]),
      ]),
    },
  );

  const reward = r.stats['refine-af'].reward;
  blocks.push(
    { kind: 'heading', text: 'Figure 2: mean reward per PPO step (§III-A)' },
    {
      kind: 'paragraph',
      text:
        `Spearman ${reward === undefined ? 'ρ(step, reward): — (no stage-2 metrics)' : `${rewardTrendText(reward.spearman, reward.movingAverageSpan)}, over ${reward.steps} steps`}; ` +
        `paper (${p.label}): ${number(p.figure_2_spearman, 3)}, of the curve it plots with a span-30 moving average — it does not say whether its ρ is of that curve or of the raw means.`,
    },
    {
      kind: 'figure',
      file: join('stats', 'refine-af', 'fig2-reward.svg'),
      caption: 'Figure 2: mean reward per PPO step and its moving average (REFINE-AF)',
    },
    { kind: 'heading', text: 'Figure 8: diversity, root verbs and their direct objects (§IV-A)' },
    {
      kind: 'paragraph',
      text:
        `Unique verb–noun pairs: REFINE-AF ${number(r.stats['refine-af'].diversity.uniqueVerbNounPairs)}, Self-Instruct ${number(r.stats['self-instruct'].diversity.uniqueVerbNounPairs)}; ` +
        `paper (${p.label}, REFINE-AF): ${number(p.unique_verb_noun_pairs)}. Found with part-of-speech tags, not the paper's parser (docs/evaluation.md): compare the two arms with each other.`,
    },
  );
  blocks.push(
    ...armFigure('fig8-verb-noun.svg', 'Figure 8: top root verbs and their top direct-object nouns'),
    { kind: 'heading', text: 'Figure 4: overlap with the seed instructions (§IV-A)' },
    ...armFigure('fig4-seed-rouge.svg', 'Figure 4: max ROUGE-L of each instruction against the seeds'),
    { kind: 'heading', text: 'Figure 3: lengths of instructions, inputs and outputs (§IV-A)' },
    ...(['instruction', 'input', 'output'] as const).flatMap((part) => armFigure(`fig3-length-${part}.svg`, `Figure 3: ${part} length`)),
  );
  blocks.push(...figure5Blocks(r, paper), ...figure7Blocks(comparable, p));

  blocks.push({ kind: 'heading', text: 'Figure 6: human evaluation of the user-oriented instructions (§V-B)' });
  const runs = `responses: ${r.userOrientedRuns['refine-af']} (REFINE-AF), ${r.userOrientedRuns['self-instruct']} (Self-Instruct); rating database: ${r.humanEval.db}`;
  if (r.humanEval.distribution === null) {
    blocks.push({
      kind: 'paragraph',
      text:
        `Not yet rated. ${runs}. Add raters (refine-af human-eval add-rater --db ${r.humanEval.db} --name <name>), serve the app ` +
        `(refine-af human-eval serve --db ${r.humanEval.db}), then run repro again: this section then shows the distribution and the chart.`,
    });
  } else {
    blocks.push(
      { kind: 'paragraph', text: runs },
      {
        kind: 'table',
        header: ['system', ...RATINGS, 'ratings'],
        rows: r.humanEval.distribution.map((d) => [d.system, ...RATINGS.map((level) => String(d.counts[level])), String(d.total)]),
      },
      { kind: 'figure', file: relative(dir, r.humanEval.figure), caption: 'Figure 6: ratings per system' },
    );
  }
  blocks.push({ kind: 'paragraph', text: `Paper: ${paper.figure_6_finding} (${paper.sources.figure_6}).` });
  blocks.push(...tableIvBlocks(r.qualityReview, paper, p));
  blocks.push(
    { kind: 'heading', text: "Where the paper's numbers disagree with themselves" },
    ...Object.values(paper.inconsistencies).map((text): Block => ({ kind: 'paragraph', text })),
  );
  return blocks;
}

/** Table IV: % yes to each quality-review question per arm (with the counts), beside the paper's REFINE-AF column. */
function tableIvBlocks(review: ReproResults['qualityReview'], paper: PaperResults, p: PaperResults['backbones'][string]): Block[] {
  const heading: Block = { kind: 'heading', text: 'Table IV: quality of the generated data (§IV "Quality", Appendix IX)' };
  if (review.table === null) {
    return [
      heading,
      {
        kind: 'paragraph',
        text:
          `Not yet rated. The sample of both IFT datasets is in the rating database ${review.db}; raters answer it in the same ` +
          `app (refine-af human-eval serve --db ${review.db}, page /review), then run repro again: this section then shows Table IV.`,
      },
    ];
  }
  const table = review.table;
  const cell = (yes: number, answers: number) => (answers === 0 ? '—' : `${number((100 * yes) / answers, 1)}% (${yes}/${answers})`);
  return [
    heading,
    {
      kind: 'paragraph',
      text: `% of answers that say yes (yes/answers, over all raters), per arm. Paper: ${paper.sources.table_iv_refine_af}.`,
    },
    {
      kind: 'table',
      header: ['question', ...table.map((row) => `${row.system} (${row.items} items)`), `paper: REFINE-AF ${p.label}`],
      rows: REVIEW_QUESTIONS.map((q) => [
        REVIEW_QUESTION_TEXTS[q],
        ...table.map((row) => cell(row.yes[q], row.answers)),
        `${number(p.table_iv_refine_af[q])}%`,
      ]),
    },
  ];
}

// ---------------------------------------------------------------- Figure 5 (§IV-A): similarity to Self-Instruct's generations

function figure5Blocks(r: ReproResults, paper: PaperResults): Block[] {
  const heading: Block = { kind: 'heading', text: "Figure 5: similarity to Self-Instruct's GPT-3 generations (§IV-A)" };
  const paperText = `Paper (REFINE-AF, all three backbones): mean ≈ ${number(paper.figure_5_mean)} (${paper.sources.figure_5_mean}).`;
  const refineAf = r.stats['refine-af'].referenceOverlap;
  const selfInstruct = r.stats['self-instruct'].referenceOverlap;
  if (refineAf === undefined || selfInstruct === undefined) {
    return [
      heading,
      {
        kind: 'paragraph',
        text:
          "Not computed: stats.reference_instructions names no file. Self-Instruct's generations are not vendored (seeds/README.md says why); " +
          'name a copy of all_instances_82K.jsonl (github.com/yizhongw/self-instruct, data/gpt3_generations/batch_221203/) and run repro again. ' +
          paperText,
      },
    ];
  }
  return [
    heading,
    {
      kind: 'paragraph',
      text:
        `Max ROUGE-L of each instruction against the ${number(refineAf.instructions)} instructions of ${refineAf.reference}: ` +
        `mean REFINE-AF ${number(refineAf.mean)}, Self-Instruct ${number(selfInstruct.mean)}. ${paperText}`,
    },
    ...armFigure('fig5-reference-rouge.svg', "Figure 5: max ROUGE-L of each instruction against Self-Instruct's generations"),
  ];
}

// ---------------------------------------------------------------- Figure 7 (§V-C): performance against the number of instructions

const FIGURE_7 = { run: 'figure7.svg', paper: 'figure7-paper.svg' };

/** The run's Table II as Figure 7's lines: per arm, Super-NI ROUGE-L against the instructions each model was tuned on. */
export function figure7Series(rows: readonly TableIIRow[]): LineSeries[] {
  const arm = (name: string, pick: (row: TableIIRow) => [number, number]): LineSeries => ({
    name,
    points: rows.map(pick).sort((a, b) => a[0] - b[0]),
    markers: true,
  });
  return [
    arm('Self-Instruct', (row) => [row.instructions.selfInstruct, row.selfInstruct]),
    arm('REFINE-AF', (row) => [row.instructions.refineAf, row.refineAf]),
  ];
}

/** The paper's Table II as Figure 7's lines. */
export function paperFigure7Series(p: PaperBackbone): LineSeries[] {
  const arm = (name: string, key: 'self_instruct' | 'refine_af'): LineSeries => ({
    name: `paper ${p.label}: ${name}`,
    points: p.table_ii.map((row) => [row.instructions, row[key]] as const),
    markers: true,
  });
  return [arm('Self-Instruct', 'self_instruct'), arm('REFINE-AF', 'refine_af')];
}

const figure7Svg = (of: string, series: LineSeries[]) =>
  lineChartSvg({
    title: `Super-NI ROUGE-L against the number of instructions (${of})`,
    xLabel: 'instructions fine-tuned on',
    yLabel: 'ROUGE-L ×100',
    series,
  });

/**
 * Figure 7's SVGs in `dir`: one chart with the paper's points beside the run's when the run has the paper's instruction
 * counts; otherwise the paper's on a chart of their own, so a small run's points are not squeezed against the y axis.
 */
function writeFigure7(dir: string, r: ReproResults, paper: PaperResults): void {
  const p = paperBackbone(r, paper);
  const run = figure7Series(r.tableII);
  const reference = paperFigure7Series(p);
  if (comparableToPaper(r, p)) {
    writeFileAtomic(join(dir, FIGURE_7.run), figure7Svg(`this run and the paper's ${p.label}`, [...run, ...reference]));
  } else {
    writeFileAtomic(join(dir, FIGURE_7.run), figure7Svg('this run', run));
    writeFileAtomic(join(dir, FIGURE_7.paper), figure7Svg(`the paper's ${p.label}, Table II`, reference));
  }
}

function figure7Blocks(comparable: boolean, p: PaperBackbone): Block[] {
  return [
    { kind: 'heading', text: 'Figure 7: Super-NI ROUGE-L against the number of instructions (§V-C)' },
    {
      kind: 'paragraph',
      text: "Table II as lines: each arm's models, by the distinct instructions each was fine-tuned on (table-ii.csv).",
    },
    { kind: 'figure', file: FIGURE_7.run, caption: comparable ? `Figure 7: this run beside the paper's ${p.label}` : 'Figure 7: this run' },
    ...(comparable ? [] : [{ kind: 'figure', file: FIGURE_7.paper, caption: `Figure 7: the paper's ${p.label} (Table II)` } as const]),
  ];
}

function markdown(blocks: Block[]): string {
  const cell = (text: string) => text.replaceAll('|', '\\|');
  return `${blocks
    .map((b) => {
      switch (b.kind) {
        case 'title':
          return `# ${b.text}`;
        case 'heading':
          return `## ${b.text}`;
        case 'paragraph':
          return b.text;
        case 'table':
          return [
            `| ${b.header.map(cell).join(' | ')} |`,
            `|${b.header.map(() => ' --- |').join('')}`,
            ...b.rows.map((row) => `| ${row.map(cell).join(' | ')} |`),
          ].join('\n');
        default: // 'figure', the last kind
          return `![${b.caption}](${b.file})`;
      }
    })
    .join('\n\n')}\n`;
}

function html(dir: string, blocks: Block[]): string {
  const body = blocks
    .map((b) => {
      switch (b.kind) {
        case 'title':
          return `<h1>${escapeMarkup(b.text)}</h1>`;
        case 'heading':
          return `<h2>${escapeMarkup(b.text)}</h2>`;
        case 'paragraph':
          return `<p>${escapeMarkup(b.text)}</p>`;
        case 'table':
          return `<table><tr>${b.header.map((h) => `<th>${escapeMarkup(h)}</th>`).join('')}</tr>\n${b.rows.map((row) => `<tr>${row.map((c) => `<td>${escapeMarkup(c)}</td>`).join('')}</tr>`).join('\n')}</table>`;
        default: // 'figure', the last kind
          return `<figure>${readFileSync(join(dir, b.file), 'utf8')}<figcaption>${escapeMarkup(b.caption)}</figcaption></figure>`;
      }
    })
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>REFINE-AF reproduction report</title>
<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}figure{margin:1em 0}svg{max-width:100%;height:auto}</style></head>
<body>
${body}
</body></html>
`;
}

/** Write report.md and report.html into `dir` (which holds the figures they show). */
export function writeReproReport(dir: string, results: ReproResults, paper = loadPaperResults()): { html: string; markdown: string } {
  writeFigure7(dir, results, paper);
  const blocks = reportBlocks(dir, results, paper);
  const files = { html: join(dir, 'report.html'), markdown: join(dir, 'report.md') };
  writeFileAtomic(files.markdown, markdown(blocks));
  writeFileAtomic(files.html, html(dir, blocks));
  return files;
}

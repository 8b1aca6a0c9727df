/**
 * `refine-af repro`: from two finished pipelines — REFINE-AF and its Self-Instruct baseline, each with its Table II
 * subsets — to the paper's tables, top to bottom:
 *   1. Super-NI zero-shot of the base model and of every SFT model of both arms (§V-A)
 *   2. Tables II and III from those scores (`eval compare`'s functions)
 *   3. the analysis of both IFT datasets: Table V, Figures 2, 3, 4, 5, 8 (`stats`)
 *   4. the full-size SFT models' responses to the 252 user-oriented instructions, imported into a rating database (§V-B),
 *      and the quality-review sample of both IFT datasets into the same database (§IV "Quality", Table IV)
 *   5. one report, HTML and Markdown, beside the paper's numbers (Figure 6 and Table IV once answers exist)
 *
 * `repro.json` records per step a hash of its inputs (config sections, model, adapter, and the hash of the pipeline
 * stage it builds on). A completed step with the same hash is skipped; an interrupted one continues with --resume (the
 * evaluation and the responses append per batch); a step whose inputs changed is refused unless --force. The tables and
 * the report are rewritten on every run: they are cheap, and Figure 6 reads the ratings as they are now.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { resolveBackends } from '../backends/engine.js';
import { stageBackendSpec, stageEngineInputs, withStageBackend, withWorker } from '../backends/from-config.js';
import type { PythonWorker } from '../bridge/worker.js';
import { ConfigError } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { compareReports, readReport } from '../eval/compare.js';
import {
  exportHumanEval,
  importHumanEvalRuns,
  importQualityReview,
  qualityReviewTable,
  ratingDistribution,
} from '../eval/human/commands.js';
import { generateResponses } from '../eval/human/respond.js';
import { DEFAULT_INSTRUCTIONS_FILE } from '../eval/human/responses.js';
import { QUALITY_REVIEW_SIZE } from '../eval/human/review.js';
import { evalSuperNi, type SuperNiReport } from '../eval/superni.js';
import { toCsv } from '../io/csv.js';
import { readJsonIfExists, writeFileAtomic } from '../io/files.js';
import { logger } from '../log.js';
import { runLedgerFile } from '../paths.js';
import { completedSteps, Ledger, type LedgerOptions, RunIncompleteError, type StepOutcome } from '../stages/ledger.js';
import { sftArtifactKey, sftOutDir, sftSubsets } from '../stages/sft.js';
import { analyseDataset, type DatasetStats } from '../stats/report.js';
import { type ReproResults, type TableIIIRow, type TableIIRow, writeReproReport } from './repro-report.js';

export type ArmName = 'refine-af' | 'self-instruct';

/** --resume continues an interrupted step; --force redoes a step whose inputs changed (a pipeline rerun with --force, other eval settings). */
export type ReproOptions = LedgerOptions;

export interface ReproSummary {
  dir: string;
  steps: { step: string; outcome: StepOutcome['outcome'] }[];
  report: { html: string; markdown: string };
}

interface SftModel {
  /** Configured subset (sft.max_instructions or one of sft.extra_subsets); null = all instructions. */
  subset: number | null;
  /** Distinct instructions it was fine-tuned on. */
  instructions: number;
  adapter: string;
  /** The sft stage's input hash: changes whenever the model would. */
  upstream: string;
}

interface Arm {
  name: ArmName;
  config: Config;
  /** The stage-1 instruction pool the dataset was generated from (Table V's "# of instructions"). */
  pool: string;
  dataset: string;
  datasetUpstream: string;
  /** Stage 2's metrics (Figure 2); REFINE-AF only. */
  metrics?: string;
  models: SftModel[];
}

export const reproDir = (config: Config): string => join(config.run.dir, 'repro');

// ---------------------------------------------------------------- the two arms

/** What a finished pipeline offers the reproduction: its dataset, reward log and SFT models, with their stage hashes. */
function armOf(name: ArmName, config: Config): Arm {
  if (config.pipeline.method !== name) {
    throw ConfigError.at(
      'pipeline.method',
      `the ${name} config (run.dir ${config.run.dir}) has pipeline.method ${config.pipeline.method}; expected ${name}`,
    );
  }
  const stages = completedSteps(
    runLedgerFile(config.run.dir),
    'stages',
    ['instructions', 'instances', 'sft', ...(name === 'refine-af' ? ['rlaf'] : [])],
    'finish the run first (refine-af run --config <its yaml> --resume)',
  );
  const instances = stages.instances!;
  const sft = stages.sft!;
  const models = sftSubsets(config).map((subset) => {
    const adapter = sft.artifacts[sftArtifactKey(subset)];
    const record = readJsonIfExists(join(sftOutDir(config.run.dir, subset), 'result.json'), z.looseObject({ instructions: z.number() }));
    if (adapter === undefined || record === undefined) {
      throw new RunIncompleteError(`${config.run.dir}: the sft stage recorded no model for subset ${subset ?? 'all'}`);
    }
    return { subset, instructions: record.instructions, adapter, upstream: sft.hash };
  });
  return {
    name,
    config,
    pool: stages.instructions!.artifacts.instructions!,
    dataset: instances.artifacts.dataset!,
    datasetUpstream: instances.hash,
    ...(stages.rlaf === undefined ? {} : { metrics: stages.rlaf.artifacts.metrics! }),
    models,
  };
}

function checkComparable(main: Config, baseline: Config): void {
  if (main.models.generator !== baseline.models.generator) {
    throw ConfigError.at(
      'models.generator',
      `the two configs fine-tune different base models (${main.models.generator} vs ${baseline.models.generator}); a comparison needs the same one`,
    );
  }
  const subsets = (c: Config) => JSON.stringify(sftSubsets(c).map(String).sort());
  if (subsets(main) !== subsets(baseline)) {
    throw ConfigError.at(
      ['sft.max_instructions', 'sft.extra_subsets'],
      `the two configs fine-tune different Table II subsets (sft.max_instructions and sft.extra_subsets must match)`,
    );
  }
  if (main.eval.data_dir === null) {
    throw ConfigError.at(
      'eval.data_dir',
      `eval.data_dir is not set in the REFINE-AF config: name the Super-NI benchmark (a checkout of allenai/natural-instructions, or data/superni-mini)`,
    );
  }
}

const modelLabel = (arm: ArmName, model: SftModel) => (model.subset === null ? arm : `${arm}-${model.subset}`);

// ---------------------------------------------------------------- the steps

/** Step 1: Super-NI zero-shot of the base model and of every SFT model of both arms, each in its own directory. */
async function evaluateOnSuperNi(
  ledger: Ledger,
  worker: PythonWorker,
  config: Config,
  arms: Arm[],
  dir: string,
): Promise<Map<string, SuperNiReport>> {
  const dataDir = config.eval.data_dir!;
  const { batch_size: _hardwareChoice, ...settings } = config.eval;
  const reports = new Map<string, SuperNiReport>();
  const evaluate = async (label: string, adapter: string | undefined, upstream: string | null) => {
    const outDir = join(dir, 'superni', label);
    const inputs = {
      settings,
      engine: stageEngineInputs(config, 'eval'),
      data_dir: resolve(dataDir),
      model: config.models.generator,
      adapter: adapter ?? null,
      upstream,
      seed: config.run.seed,
    };
    await ledger.run({ name: `superni/${label}`, inputs, outputs: [outDir] }, async () => {
      // Closing the backend frees the model (or stops the server): one model in memory at a time.
      await withStageBackend(
        config,
        stageBackendSpec(config, 'eval', { worker, handle: `superni:${label}`, adapter: adapter ?? null, signal: ledger.signal }),
        (backend) =>
          evalSuperNi(config, {
            dataDir,
            outDir,
            backend,
            model: config.models.generator,
            ...(adapter === undefined ? {} : { adapter }),
            signal: ledger.signal,
          }),
      );
      return { artifacts: { scores: join(outDir, 'scores.json') } };
    });
    reports.set(label, readReport(outDir));
  };
  await evaluate('base', undefined, null);
  for (const arm of arms) {
    for (const model of arm.models) await evaluate(modelLabel(arm.name, model), model.adapter, model.upstream);
  }
  return reports;
}

/** Step 2: Table II (% of tasks better per subset size) and Table III (ROUGE-L per category of the full-size models). */
function compareArms(arms: Arm[], reports: Map<string, SuperNiReport>, dir: string): { tableII: TableIIRow[]; tableIII: TableIIIRow[] } {
  const [refineAf, selfInstruct] = arms as [Arm, Arm];
  const bySize = (a: SftModel, b: SftModel) => a.instructions - b.instructions;
  const tableII = [...refineAf.models].sort(bySize).map((model) => {
    const baseline = selfInstruct.models.find((m) => m.subset === model.subset)!;
    const c = compareReports(reports.get(modelLabel('refine-af', model))!, reports.get(modelLabel('self-instruct', baseline))!);
    return {
      subset: model.subset,
      instructions: { refineAf: model.instructions, selfInstruct: baseline.instructions },
      selfInstruct: c.overall.b,
      refineAf: c.overall.a,
      percentTasksBetter: c.percentTasksBetter,
      percentBetterExcludingTies: c.percentBetterExcludingTies,
      better: c.better,
      worse: c.worse,
      tied: c.tied,
      tasks: c.tasks,
    };
  });
  const full = (arm: Arm) => modelLabel(arm.name, arm.models[0]!);
  const tableIII = compareReports(reports.get(full(refineAf))!, reports.get(full(selfInstruct))!).categories.map((c) => ({
    category: c.category,
    selfInstruct: c.b,
    refineAf: c.a,
  }));
  writeFileAtomic(
    join(dir, 'table-ii.csv'),
    toCsv(
      [
        'subset',
        'instructions_refine_af',
        'instructions_self_instruct',
        'self_instruct_rougeL',
        'refine_af_rougeL',
        'percent_tasks_better',
        'percent_better_excluding_ties',
        'better',
        'worse',
        'tied',
        'tasks',
      ],
      tableII.map((r) => [
        r.subset ?? 'all',
        r.instructions.refineAf,
        r.instructions.selfInstruct,
        r.selfInstruct,
        r.refineAf,
        r.percentTasksBetter,
        r.percentBetterExcludingTies,
        r.better,
        r.worse,
        r.tied,
        r.tasks,
      ]),
    ),
  );
  writeFileAtomic(
    join(dir, 'table-iii.csv'),
    toCsv(
      ['category', 'self_instruct_rougeL', 'refine_af_rougeL'],
      tableIII.map((r) => [r.category, r.selfInstruct, r.refineAf]),
    ),
  );
  return { tableII, tableIII };
}

/** Step 3: Table V and Figures 2 (REFINE-AF's reward curve), 3, 4, 5 (with stats.reference_instructions) and 8 for each IFT dataset. */
async function analyseBothDatasets(ledger: Ledger, config: Config, arms: Arm[], dir: string): Promise<Record<ArmName, DatasetStats>> {
  const result = {} as Record<ArmName, DatasetStats>;
  // Figure 5 is redone when the reference file's content changes, not only its path.
  const reference = config.stats.reference_instructions;
  const referenceSha256 = reference === null ? null : createHash('sha256').update(readFileSync(reference)).digest('hex');
  for (const arm of arms) {
    const outDir = join(dir, 'stats', arm.name);
    await ledger.run(
      {
        name: `stats/${arm.name}`,
        inputs: {
          stats: config.stats,
          pool: arm.pool,
          reference_sha256: referenceSha256,
          dataset: arm.dataset,
          metrics: arm.metrics ?? null,
          upstream: arm.datasetUpstream,
        },
        outputs: [outDir],
      },
      async () => {
        analyseDataset(config, {
          pool: arm.pool,
          dataset: arm.dataset,
          outDir,
          ...(arm.metrics === undefined ? {} : { metrics: arm.metrics }),
        });
        return { artifacts: { stats: join(outDir, 'stats.json'), report: join(outDir, 'report.html') } };
      },
    );
    result[arm.name] = readJsonIfExists(
      join(outDir, 'stats.json'),
      z.custom<DatasetStats>((v) => typeof v === 'object' && v !== null),
    )!;
  }
  return result;
}

/** Step 4: each full-size SFT model answers the user-oriented instructions; both run files go into the rating database. */
async function prepareHumanEvaluation(
  ledger: Ledger,
  worker: PythonWorker,
  arms: Arm[],
  dir: string,
): Promise<{ db: string; runs: Record<ArmName, string> }> {
  const runs = {} as Record<ArmName, string>;
  for (const arm of arms) {
    const full = arm.models[0]!;
    const out = join(dir, 'user-oriented', `${arm.name}.jsonl`);
    const { config } = arm;
    const inputs = {
      max_new_tokens: config.human_eval.decoding.max_new_tokens,
      sft_prompts: [config.sft.prompt_template, config.sft.prompt_template_no_input],
      engine: stageEngineInputs(config, 'responses'),
      model: config.models.generator,
      adapter: full.adapter,
      upstream: full.upstream,
      seed: config.run.seed,
    };
    await ledger.run({ name: `responses/${arm.name}`, inputs, outputs: [out] }, async () => {
      await withStageBackend(
        config,
        stageBackendSpec(config, 'responses', { worker, handle: `responses:${arm.name}`, adapter: full.adapter, signal: ledger.signal }),
        (backend) =>
          generateResponses(config, { backend, model: config.models.generator, adapter: full.adapter, out, signal: ledger.signal }),
      );
      return { artifacts: { run: out } };
    });
    runs[arm.name] = out;
  }
  const db = join(dir, 'ratings.sqlite');
  // Never discarded: it holds the ratings. Importing is idempotent, and a changed response is refused by the store.
  await ledger.run(
    {
      name: 'ratings-db',
      inputs: { runs: arms.map((a) => [a.name, a.models[0]!.upstream]), instructions: DEFAULT_INSTRUCTIONS_FILE },
      outputs: [],
    },
    async () => {
      importHumanEvalRuns(
        db,
        arms.map((arm) => `${arm.name}=${runs[arm.name]}`),
      );
      return { artifacts: { db } };
    },
  );
  return { db, runs };
}

/**
 * Step 4, the quality review (Table IV): the paper's 100 instructions of each IFT dataset, one instance each, sampled
 * with run.seed into the same rating database, so the same raters answer them, blind to the arm, both arms interleaved.
 */
async function prepareQualityReview(ledger: Ledger, config: Config, arms: Arm[], db: string): Promise<void> {
  await ledger.run(
    {
      name: 'review-db',
      inputs: { datasets: arms.map((a) => [a.name, a.datasetUpstream]), size: QUALITY_REVIEW_SIZE, seed: config.run.seed },
      outputs: [],
    },
    async () => {
      importQualityReview(
        db,
        arms.map((arm) => `${arm.name}=${arm.dataset}`),
        { size: QUALITY_REVIEW_SIZE, seed: config.run.seed },
      );
      return { artifacts: { db } };
    },
  );
}

/** Step 5's input for Table IV: the yes counts once any answer exists (also as table-iv.csv), else "not yet rated". */
function qualityReviewResults(db: string, dir: string): ReproResults['qualityReview'] {
  const table = qualityReviewTable(db);
  if (table.every((row) => row.answers === 0)) return { db, table: null };
  exportHumanEval(db, join(dir, 'table-iv.csv'), { table: 'table-iv' });
  return { db, table };
}

/** Step 5's input on the human side: Figure 6 once ratings exist, else "not yet rated". */
function humanEvaluationResults(db: string, dir: string): ReproResults['humanEval'] {
  const distribution = ratingDistribution(db);
  if (distribution.every((d) => d.total === 0)) return { db, distribution: null };
  const csv = join(dir, 'figure6.csv');
  const svg = join(dir, 'figure6.svg');
  exportHumanEval(db, csv, { svg });
  return { db, distribution, figure: svg };
}

// ---------------------------------------------------------------- the whole reproduction

export function runRepro(config: Config, baseline: Config, options: ReproOptions = {}): Promise<ReproSummary> {
  const dir = reproDir(config);
  checkComparable(config, baseline);
  const ledger = new Ledger(join(dir, 'repro.json'), 'steps', options, 'repro ');
  const completedArms = [armOf('refine-af', config), armOf('self-instruct', baseline)];
  // One worker for every model of every step, each model unloaded after its step.
  return withWorker(config, async (worker) => {
    // Each arm's evaluations run on the engine its `backend: auto` resolves to here; the steps hash it (eval.backend).
    const arms: Arm[] = [];
    for (const arm of completedArms) arms.push({ ...arm, config: await resolveBackends(arm.config, worker) });
    const reports = await evaluateOnSuperNi(ledger, worker, arms[0]!.config, arms, dir);
    const { tableII, tableIII } = compareArms(arms, reports, dir);
    const stats = await analyseBothDatasets(ledger, config, arms, dir);
    const { db, runs } = await prepareHumanEvaluation(ledger, worker, arms, dir);
    await prepareQualityReview(ledger, config, arms, db);
    const report = writeReproReport(dir, {
      config,
      baseline,
      base: reports.get('base')!.overall,
      tableII,
      tableIII,
      stats,
      userOrientedRuns: runs,
      humanEval: humanEvaluationResults(db, dir),
      qualityReview: qualityReviewResults(db, dir),
    });
    logger.info(`repro: report in ${report.html} and ${report.markdown}`);
    return { dir, steps: ledger.outcomes, report };
  });
}

/** Readable lines: every step, what happened, and where the report is. */
export function formatReproSummary(summary: ReproSummary): string {
  return [
    `reproduction directory: ${summary.dir}`,
    ...summary.steps.map((s) => `  ${s.step}: ${s.outcome}`),
    `report: ${summary.report.html}`,
    `        ${summary.report.markdown}`,
  ].join('\n');
}

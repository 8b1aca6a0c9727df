/** The `refine-af` command: a thin face over the same functions the SDK exports. */
// Start-up: each command imports its modules (and the config schemas) inside its action, so `--help` and a short
// command load only what they run instead of every module of the package.
import { once } from 'node:events';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { Config } from './config/schema.js';
import type { ExportTable } from './eval/human/commands.js';

/** Ctrl-C/SIGTERM stop a long command after its current unit of work; the message then says how to continue. */
async function interruptible<T>(resumeCommand: string, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const { handleInterrupts, InterruptedError } = await import('./interrupt.js');
  const interrupts = handleInterrupts();
  try {
    return await work(interrupts.signal);
  } catch (error) {
    if (error instanceof InterruptedError) throw new InterruptedError(`${error.message}; state saved, continue with: ${resumeCommand}`);
    throw error;
  } finally {
    interrupts.dispose();
  }
}

/**
 * A command's config, and the logging it asks for: the terminal at logging.level and, for a command that works in
 * run.dir ('run log'), every record in that run's log file. Logging is the CLI's to set: the SDK's functions never
 * change their caller's.
 */
async function commandConfig(file: string, logTo: 'terminal' | 'run log' = 'terminal'): Promise<Config> {
  const [{ loadConfig }, { configureLogging }] = await Promise.all([import('./config/load.js'), import('./log.js')]);
  const config = loadConfig(file);
  if (logTo === 'run log') mkdirSync(config.run.dir, { recursive: true });
  configureLogging({ level: config.logging.level, ...(logTo === 'run log' ? { file: join(config.run.dir, config.logging.file) } : {}) });
  return config;
}

let commandStarted = Date.now();

const program = new Command('refine-af')
  .description(
    'REFINE-AF: build an instruction-tuning dataset with a small open LLM, improved with PPO from automated feedback.\n' +
      'Every command reads a YAML config (see `refine-af config reference`); configs/default.yaml runs on a CPU with the embedded model.',
  )
  .option('-v, --verbose', 'show every log record on the terminal, library output included (the run log file always has them)')
  .hook('preAction', async () => {
    commandStarted = Date.now();
    if (program.opts<{ verbose?: boolean }>().verbose) (await import('./log.js')).overrideLogLevel('debug');
  })
  .showHelpAfterError();

/** A commander parser for a file or directory the command reads: a missing one is refused before any work, by its option. */
const existingPath = (path: string): string => {
  if (!existsSync(path)) throw new InvalidArgumentError(`${path} does not exist`);
  return path;
};

const configOption = () => new Option('-c, --config <yaml>', 'configuration file').default('configs/default.yaml');
const jsonOption = () => new Option('--json', 'print the result as JSON for scripts instead of a summary');

/** How a command ends: with --json the machine-readable result, for scripts; else a short summary and the time taken, for a person. */
async function finish<T>(
  options: { json?: boolean },
  result: T,
  summary: (result: T) => string,
  json: (result: T) => string = (r) => JSON.stringify(r),
): Promise<void> {
  const { formatDuration } = await import('./progress.js');
  console.log(options.json ? json(result) : `${summary(result)}\n(${formatDuration((Date.now() - commandStarted) / 1000)})`);
}

const countsText = (counts: Record<string, number>) =>
  Object.entries(counts)
    .filter(([, n]) => n > 0)
    .map(([name, n]) => `${name} ${n}`)
    .join(', ') || 'none';

program
  .command('doctor')
  .description(
    "check everything a config needs here (the Python worker, torch/CUDA, every model, the benchmark, each stage's engine) and say which engine each generating stage runs on and why; exits 1 listing every problem with its config key",
  )
  .addOption(configOption())
  .addOption(jsonOption())
  .action(async (options: { config: string; json?: boolean }) => {
    const { doctor, formatDoctorReport } = await import('./commands/doctor.js');
    const report = await doctor(await commandConfig(options.config));
    await finish(options, report, formatDoctorReport);
    if (report.problems.length > 0) process.exitCode = 1;
  });

program
  .command('generate')
  .description('generate from the configured generator model, or with --adapter a model fine-tuned from it (a quick check of a model)')
  .addOption(configOption())
  .requiredOption('-p, --prompt <text...>', 'one or more prompts')
  .option('--max-new-tokens <n>', 'tokens to generate per prompt', (v) => Number.parseInt(v, 10), 64)
  .option(
    '-a, --adapter <dir>',
    'a LoRA adapter on the generator, e.g. the fine-tuned runs/default/sft/adapter (asked in the template it was trained with)',
    existingPath,
  )
  .option('--raw', 'send the prompt as is instead of through the chat template (or the fine-tuning template)')
  .addOption(jsonOption())
  .action(async (options: { config: string; prompt: string[]; maxNewTokens: number; adapter?: string; raw?: boolean; json?: boolean }) => {
    const { generateText } = await import('./commands/generate-text.js');
    const completions = await generateText(await commandConfig(options.config), options.prompt, {
      maxNewTokens: options.maxNewTokens,
      promptFormat: options.raw ? 'raw' : 'chat',
      ...(options.adapter === undefined ? {} : { adapter: options.adapter }),
    });
    await finish(
      options,
      completions,
      (all) =>
        all
          .map((c, i) => `── completion ${i + 1} of ${all.length} (${c.new_tokens} tokens, ended by ${c.finish_reason})\n${c.text}`)
          .join('\n'),
      (all) => all.map((c) => JSON.stringify(c)).join('\n'),
    );
  });

program
  .command('generate-instructions')
  .description('stage 1: bootstrap instructions from the seed tasks with the ROUGE-L novelty filter (§II-B)')
  .addOption(configOption())
  .option('--resume', 'continue the run in run.dir exactly where its last completed batch ended')
  .addOption(jsonOption())
  .action(async (options: { config: string; resume?: boolean; json?: boolean }) => {
    const { runInstructionGeneration } = await import('./stages/instructions.js');
    const config = await commandConfig(options.config, 'run log');
    const summary = await interruptible(`refine-af generate-instructions --config ${options.config} --resume`, (signal) =>
      runInstructionGeneration(config, { resume: options.resume ?? false, signal }),
    );
    await finish(options, summary, (s) =>
      [
        `${s.kept} instructions kept of ${s.generated} generated in ${s.requests} requests → ${s.output}`,
        `rejected: ${countsText(s.rejected)}`,
      ].join('\n'),
    );
  });

program
  .command('dedup')
  .description('the ROUGE-L novelty filter alone: candidates in file order into a growing pool, one decision line per candidate')
  .requiredOption('--pool <jsonl>', 'initial pool: JSON lines with an "instruction" field (e.g. seeds/seed_tasks.jsonl)', existingPath)
  .requiredOption('--candidates <jsonl>', 'candidates: JSON lines with an "instruction" field', existingPath)
  .requiredOption('--out <jsonl>', 'output: {"instruction","kept","max_rouge_l","most_similar"} per candidate, in order')
  .option(
    '--threshold <f>',
    'drop when the max ROUGE-L F is above this (default: instructions.rouge_threshold of the config defaults)',
    Number.parseFloat,
  )
  .addOption(jsonOption())
  .action(async (options: { pool: string; candidates: string; out: string; threshold?: number; json?: boolean }) => {
    const [{ parseConfig }, { dedupFiles }] = await Promise.all([import('./config/load.js'), import('./commands/dedup.js')]);
    const defaults = parseConfig({}).instructions;
    const threshold = options.threshold ?? defaults.rouge_threshold;
    if (!(threshold >= 0 && threshold <= 1)) throw new InvalidArgumentError(`--threshold must be in [0, 1]; got ${threshold}`);
    const summary = dedupFiles({ ...options, threshold, topK: defaults.most_similar_k });
    await finish(options, summary, (s) => `${s.kept} of ${s.candidates} candidates kept against a pool of ${s.pool} → ${options.out}`);
  });

program
  .command('score')
  .description('score a dataset with the automated feedback (reward model, UniEval or the judge) and Eq. 1; a summary table at the end')
  .addOption(configOption())
  .requiredOption('--in <file>', 'JSONL of {instruction, input, output}, or an Alpaca-style JSON array', existingPath)
  .requiredOption('--out <jsonl>', 'output: one line per scored record (rejected ones go to <out>.rejected.jsonl)')
  .option('--resume', 'continue an interrupted run into the same --out, skipping what it already holds')
  .addOption(jsonOption())
  .action(async (options: { config: string; in: string; out: string; resume?: boolean; json?: boolean }) => {
    const { scoreFile, summaryTable } = await import('./feedback/score.js');
    const config = await commandConfig(options.config);
    const summary = await interruptible(
      `refine-af score --config ${options.config} --in ${options.in} --out ${options.out} --resume`,
      (signal) => scoreFile(config, { inFile: options.in, outFile: options.out, resume: options.resume, signal }),
    );
    await finish(options, summary, summaryTable);
  });

program
  .command('generate-instances')
  .description('stage 3: input/output instances for every instruction of a pool, then the IFT dataset and its Table V statistics')
  .addOption(configOption())
  .requiredOption('-i, --instructions <jsonl>', 'the stage-1 instruction pool (JSONL with an "instruction" field)', existingPath)
  .option('-a, --adapter <dir>', 'the stage-2 LoRA adapter (pipeline.method refine-af); omit for self-instruct', existingPath)
  .option('-o, --out <dir>', 'output directory (default <run.dir>/instances)')
  .addOption(jsonOption())
  .action(async (options: { config: string; instructions: string; adapter?: string; out?: string; json?: boolean }) => {
    const { runInstanceGeneration } = await import('./stages/instances.js');
    const config = await commandConfig(options.config, 'run log');
    const again = `refine-af generate-instances --config ${options.config} --instructions ${options.instructions}${options.adapter ? ` --adapter ${options.adapter}` : ''}${options.out ? ` --out ${options.out}` : ''}`;
    const result = await interruptible(again, (signal) =>
      runInstanceGeneration(config, {
        instructionsFile: options.instructions,
        adapter: options.adapter ?? null,
        outDir: options.out,
        signal,
      }),
    );
    await finish(
      options,
      result,
      (r) =>
        [
          `${r.instancesParsed} instances from ${r.poolSize} instructions (${r.instructionsWithoutInstance} gave none) → ${r.files.dataset}`,
          `dropped: ${countsText(r.dropped)}`,
          `also: ${r.files.alpaca}, ${r.files.summary}`,
        ].join('\n'),
      (r) => JSON.stringify(r.files),
    );
  });

program
  .command('export')
  .description(
    "a finished run's IFT dataset as a Hugging Face dataset folder: JSONL and Parquet of the whole dataset and each Table II subset, the statistics and figures, the run's config and a dataset card (README.md); datasets.load_dataset(<folder>) loads it",
  )
  .option('--run <dir>', 'the run directory (run.json, config.yaml)')
  .option('--config <yaml>', "instead of --run: the run this config's run.dir names")
  .option('--out <folder>', 'the dataset folder (default <run>/dataset)')
  .option('--force', 'replace a folder that holds another dataset')
  .addOption(jsonOption())
  .action(async (options: { run?: string; config?: string; out?: string; force?: boolean; json?: boolean }) => {
    const { exportDataset } = await import('./pipeline/export.js');
    if ((options.run === undefined) === (options.config === undefined)) {
      throw new InvalidArgumentError('give the run: either --run <dir> or --config <yaml>');
    }
    const runDir = options.run ?? (await commandConfig(options.config!)).run.dir;
    const exported = await exportDataset({ runDir, outDir: options.out, force: options.force });
    await finish(
      options,
      exported,
      (e) =>
        `${e.subsets.map((s) => `${s.name}: ${s.rows} instances of ${s.instructions} instructions`).join('; ')} → ${e.outDir} ` +
        `(card: ${e.card}; load it with datasets.load_dataset("${e.outDir}"))`,
    );
  });

program
  .command('sft')
  .description('supervised fine-tuning of the base model on an IFT dataset (HF Trainer job; resumes a killed run)')
  .addOption(configOption())
  .requiredOption('-d, --dataset <jsonl>', 'the IFT dataset (JSONL of {instruction, input, output})', existingPath)
  .option('-n, --max-instructions <n>', 'train on the first N instructions only (Table II subsets)', (v) => Number.parseInt(v, 10))
  .option('-o, --out <dir>', 'output directory (default <run.dir>/sft or sft-<N>)')
  .option('--force', 'discard a fine-tuning of another dataset or other settings in the output directory instead of refusing')
  .addOption(jsonOption())
  .action(async (options: { config: string; dataset: string; maxInstructions?: number; out?: string; force?: boolean; json?: boolean }) => {
    const { runSftTraining } = await import('./stages/sft.js');
    const config = await commandConfig(options.config, 'run log');
    const again = `refine-af sft --config ${options.config} --dataset ${options.dataset}${options.maxInstructions === undefined ? '' : ` --max-instructions ${options.maxInstructions}`}${options.out ? ` --out ${options.out}` : ''}`;
    const run = await interruptible(again, (signal) =>
      runSftTraining(config, {
        datasetFile: options.dataset,
        maxInstructions: options.maxInstructions,
        outDir: options.out,
        force: options.force,
        signal,
      }),
    );
    await finish(
      options,
      run,
      (r) =>
        `fine-tuned on ${r.instructions} instructions${r.result.train_loss === null ? '' : `, training loss ${r.result.train_loss.toFixed(4)}`} → ${r.result.model_dir}`,
      (r) => JSON.stringify({ outDir: r.outDir, model_dir: r.result.model_dir, train_loss: r.result.train_loss }),
    );
  });

program
  .command('train-rlaf')
  .description(
    'stage 2: PPO (or GRPO, RLOO: rlaf.algorithm) from automated feedback on the stage-1 instruction pool (§II-C, §III-A); Ctrl-C stops after the step in flight',
  )
  .addOption(configOption())
  .option('--resume', 'continue from the last complete checkpoint in <run.dir>/<rlaf.out_dir>')
  .addOption(jsonOption())
  .action(async (options: { config: string; resume?: boolean; json?: boolean }) => {
    const { runRlafTraining } = await import('./stages/rlaf.js');
    const config = await commandConfig(options.config, 'run log');
    const summary = await interruptible(`refine-af train-rlaf --config ${options.config} --resume`, (signal) =>
      runRlafTraining(config, { resume: options.resume ?? false, signal }),
    );
    await finish(options, summary, (s) =>
      [
        `${s.steps} ${s.algorithm.toUpperCase()} steps, reward ${s.reward_first.toFixed(3)} at the first step, moving average ${s.reward_last_ema.toFixed(3)} at the last; ${s.seconds_per_step.toFixed(1)} s/step`,
        `checkpoint: ${s.checkpoint}, adapter: ${s.adapter}`,
        `metrics: ${s.metrics}, reward curve: ${s.chart}`,
      ].join('\n'),
    );
  });

program
  .command('run')
  .description(
    'the whole pipeline into run.dir: instructions → PPO/GRPO/RLOO (refine-af only) → instances → SFT; completed stages are skipped',
  )
  .addOption(configOption())
  .option('--resume', 'continue a stage that was interrupted (crash or Ctrl-C)')
  .option('--force', 'discard artifacts a different config made in run.dir (that stage and every later one)')
  .addOption(jsonOption())
  .action(async (options: { config: string; resume?: boolean; force?: boolean; json?: boolean }) => {
    const { formatRunSummary, runPipeline } = await import('./pipeline/run.js');
    const config = await commandConfig(options.config, 'run log');
    const summary = await interruptible(`refine-af run --config ${options.config} --resume`, (signal) =>
      runPipeline(config, { resume: options.resume, force: options.force, signal }),
    );
    await finish(options, summary, formatRunSummary);
  });

program
  .command('plan')
  .description(
    "what a run will cost before it starts: every stage's work counted from the config; with --calibrate, a few real units " +
      'of each stage timed on this machine (in a scratch directory, never run.dir) and extrapolated; writes plan.json',
  )
  .addOption(configOption())
  .option('--calibrate', 'run a few batches/steps of each stage here and extrapolate time and peak memory per stage')
  .option(
    '--throughput <profile>',
    'without --calibrate: estimate the generation stages from a profile of published throughputs (a100-vllm, h100-vllm, a100-transformers, h100-transformers)',
  )
  .option('--throughput-table <json>', 'the table of throughput profiles, each with its source (default docs/throughput.json)')
  .option('-o, --out <file>', 'where to write the plan (JSON, schema planSchema)', 'plan.json')
  .addOption(jsonOption())
  .action(
    async (options: {
      config: string;
      calibrate?: boolean;
      throughput?: string;
      throughputTable?: string;
      out: string;
      json?: boolean;
    }) => {
      const [{ calibratePlan, formatPlan, planRun }, { writeJsonAtomic }] = await Promise.all([
        import('./pipeline/plan.js'),
        import('./io/files.js'),
      ]);
      const config = await commandConfig(options.config);
      const plan = options.calibrate
        ? await interruptible(`refine-af plan --calibrate --config ${options.config} (it starts over)`, (signal) =>
            calibratePlan(config, { signal }),
          )
        : planRun(config, { throughput: options.throughput, throughputTable: options.throughputTable });
      writeJsonAtomic(options.out, plan);
      await finish(options, plan, (p) => `${formatPlan(p)}\nwritten to ${options.out}`);
    },
  );

program
  .command('repro')
  .description(
    'after `run` of both pipelines: Super-NI of every model, Tables II/III, the dataset analysis (Table V, Figures 2/3/4/8), ' +
      "user-oriented responses in a rating database, and one report beside the paper's numbers; completed steps are skipped",
  )
  .requiredOption('-c, --config <yaml>', 'the REFINE-AF config (its eval section and run.dir: the report goes to <run.dir>/repro)')
  .requiredOption('-b, --baseline <yaml>', 'its Self-Instruct baseline config')
  .option('--resume', 'continue a step that was interrupted (crash or Ctrl-C)')
  .option('--force', 'redo a step whose inputs changed (a pipeline rerun with --force, other eval settings)')
  .addOption(jsonOption())
  .action(async (options: { config: string; baseline: string; resume?: boolean; force?: boolean; json?: boolean }) => {
    const { formatReproSummary, runRepro } = await import('./pipeline/repro.js');
    const [main, baseline] = [await commandConfig(options.config, 'run log'), await commandConfig(options.baseline)];
    const summary = await interruptible(`refine-af repro --config ${options.config} --baseline ${options.baseline} --resume`, (signal) =>
      runRepro(main, baseline, { resume: options.resume, force: options.force, signal }),
    );
    await finish(options, summary, formatReproSummary);
  });

const config = program.command('config').description('inspect configuration');
config
  .command('check')
  .description('validate a config file; errors name the file, line, key path and what was expected')
  .argument('<yaml>')
  .action(async (file: string) => {
    const { loadConfig } = await import('./config/load.js');
    loadConfig(file);
    console.log(`${file}: valid`);
  });
config
  .command('show')
  .description('print a config with every default filled in')
  .argument('<yaml>')
  .action(async (file: string) => {
    const [{ stringify }, { loadConfig }] = await Promise.all([import('yaml'), import('./config/load.js')]);
    console.log(stringify(loadConfig(file)));
  });
config
  .command('reference')
  .description('print every config key with its type, default and meaning (Markdown)')
  .action(async () => console.log((await import('./config/reference.js')).configReference()));

const evaluation = program.command('eval').description('evaluate models (§V of the paper)');
evaluation
  .command('superni')
  .description('Super-NaturalInstructions zero-shot (§V-A): generate with a model (or take --predictions) and score EM and ROUGE-L')
  .addOption(configOption())
  .option(
    '--data-dir <dir>',
    'the benchmark in its native layout (tasks/*.json, splits/default/test_tasks.txt); default eval.data_dir',
    existingPath,
  )
  .option('--model <ref>', 'model to generate with (default: models.generator of the config)')
  .option('--adapter <dir>', 'PEFT (LoRA) adapter directory applied on top of --model', existingPath)
  .addOption(
    new Option('--predictions <jsonl>', 'score this file ({"id","task","prediction"} lines) instead of generating')
      .argParser(existingPath)
      .conflicts(['model', 'adapter']),
  )
  .requiredOption('--out <dir>', 'run directory: predictions.jsonl (resumable), scores.json, scores.txt')
  .addOption(jsonOption())
  .action(
    async (options: {
      config: string;
      dataDir?: string;
      model?: string;
      adapter?: string;
      predictions?: string;
      out: string;
      json?: boolean;
    }) => {
      const [{ ConfigError }, { evalSuperNiModel, formatReport, scorePredictionsFile }] = await Promise.all([
        import('./config/load.js'),
        import('./eval/superni.js'),
      ]);
      const config = await commandConfig(options.config);
      const dataDir = options.dataDir ?? config.eval.data_dir;
      if (dataDir === null)
        throw ConfigError.at('eval.data_dir', `no benchmark: pass --data-dir or set eval.data_dir in ${options.config}`);
      const report =
        options.predictions === undefined
          ? await interruptible(
              `refine-af eval superni --config ${options.config} --data-dir ${dataDir} --out ${options.out}${options.model ? ` --model ${options.model}` : ''}${options.adapter ? ` --adapter ${options.adapter}` : ''}`,
              (signal) =>
                evalSuperNiModel(config, {
                  dataDir,
                  outDir: options.out,
                  model: options.model ?? config.models.generator,
                  ...(options.adapter === undefined ? {} : { adapter: options.adapter }),
                  signal,
                }),
            )
          : scorePredictionsFile({ dataDir, predictionsFile: options.predictions, outDir: options.out });
      await finish(options, report, (r) => formatReport(r).trimEnd());
    },
  );
evaluation
  .command('compare')
  .description('compare two `eval superni` runs: % tasks better (Table II) and ROUGE-L per category (Table III)')
  .argument('<runA>', 'run directory of the system under test')
  .argument('<runB>', 'run directory of the baseline')
  .action(async (runA: string, runB: string) => {
    const { compareReports, formatComparison, readReport } = await import('./eval/compare.js');
    process.stdout.write(formatComparison(compareReports(readReport(runA), readReport(runB)), runA, runB));
  });

interface StatsCommandOptions {
  config: string;
  dataset: string;
  out: string;
  pool?: string;
  seeds?: string;
  reference?: string;
  metrics?: string;
  json?: boolean;
}

program
  .command('stats')
  .description(
    "analyse an instruction-tuning dataset (§IV, Appendix IX-A/B): Table V, verb–noun diversity, overlap with the seeds (and with Self-Instruct's generations), lengths, reward curve",
  )
  .addOption(configOption())
  .requiredOption(
    '--dataset <file>',
    'JSONL or JSON: {instruction, input, output} or {instruction, instances: [{input, output}]} records',
    existingPath,
  )
  .requiredOption('--out <dir>', 'where stats.json, the SVG figures and report.html go')
  .option(
    '--pool <jsonl>',
    'the stage-1 instruction pool the dataset came from, for Table V\'s "# of instructions" (the paper\'s row)',
    existingPath,
  )
  .option('--seeds <jsonl>', 'seed tasks for the overlap histogram (default: the 175 Self-Instruct seeds)', existingPath)
  .option(
    '--reference <file>',
    "Self-Instruct's GPT-3 generations ({instruction} records, e.g. all_instances_82K.jsonl) for Figure 5 (default: stats.reference_instructions)",
    existingPath,
  )
  .option('--metrics <jsonl>', 'stage-2 metrics ({step, <stats.reward_key>} lines) for the reward curve', existingPath)
  .addOption(jsonOption())
  .action(async (options: StatsCommandOptions) => {
    const { analyseDataset } = await import('./stats/report.js');
    const config = await commandConfig(options.config);
    const stats = analyseDataset(config, {
      dataset: options.dataset,
      outDir: options.out,
      ...(options.pool === undefined ? {} : { pool: options.pool }),
      ...(options.seeds === undefined ? {} : { seeds: options.seeds }),
      ...(options.reference === undefined ? {} : { reference: options.reference }),
      ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
    });
    const report = `${options.out}/report.html`;
    await finish(
      options,
      stats,
      (s) =>
        `${s.tableV.instructions} instructions with ≥ 1 instance${s.tableV.pool_instructions === null ? '' : ` (pool: ${s.tableV.pool_instructions})`}, ${s.tableV.instances} instances, ${s.diversity.uniqueVerbNounPairs} distinct verb–noun pairs` +
        `${s.referenceOverlap === undefined ? '' : `, mean max ROUGE-L against the reference ${s.referenceOverlap.mean.toFixed(2)}`} → ${report}`,
      (s) =>
        JSON.stringify({
          tableV: s.tableV,
          uniqueVerbNounPairs: s.diversity.uniqueVerbNounPairs,
          ...(s.referenceOverlap === undefined ? {} : { referenceOverlapMean: s.referenceOverlap.mean }),
          report,
        }),
    );
  });

const humanEval = program
  .command('human-eval')
  .description(
    'blind human rating of responses to the 252 user-oriented instructions on the four-level scale (§V-B, Figure 6), ' +
      'and the quality review of the generated data (§IV, Table IV)',
  );
/** A commander parser for an integer from `min` to `max`. */
const integerFrom =
  (min: number, max: number) =>
  (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}, got ${value}`);
    return n;
  };
const parsePort = integerFrom(0, 65535);
humanEval
  .command('serve')
  .description(
    'import each system\'s responses and serve the rating app until Ctrl-C. A run is a JSONL file of {"id", "response"} lines, ' +
      'one per instruction, keyed by the instruction id; the system name given beside it is never shown to raters',
  )
  .addOption(configOption())
  .requiredOption('--db <file>', 'SQLite database of responses, raters and ratings (created when absent)')
  .option('--runs <name=path...>', 'one per system, e.g. refine-af=out/refine.jsonl self-instruct=out/si.jsonl (optional once imported)')
  .option('--instructions <jsonl>', 'instructions the runs answer (default: seeds/user_oriented_instructions.jsonl)', existingPath)
  .option('--host <address>', 'address to bind (config human_eval.host, default 127.0.0.1: this machine only)')
  .option('--port <n>', 'port to listen on, 0 for any free one (config human_eval.port)', parsePort)
  .option('--secure-cookies', 'mark the session cookie Secure, for a TLS proxy in front of the app (config human_eval.secure_cookies)')
  .action(
    async (options: {
      config: string;
      db: string;
      runs?: string[];
      instructions?: string;
      host?: string;
      port?: number;
      secureCookies?: boolean;
    }) => {
      const [{ serveHumanEval, servingSettings }, { handleInterrupts }] = await Promise.all([
        import('./eval/human/commands.js'),
        import('./interrupt.js'),
      ]);
      const settings = servingSettings((await commandConfig(options.config)).human_eval);
      const server = await serveHumanEval({
        ...settings,
        db: options.db,
        runs: options.runs,
        instructions: options.instructions,
        host: options.host ?? settings.host,
        port: options.port ?? settings.port,
        secureCookies: options.secureCookies ?? settings.secureCookies,
      });
      const interrupts = handleInterrupts();
      console.log(`Rating app at ${server.url}/ — Ctrl-C to stop`);
      await once(interrupts.signal, 'abort');
      // Every rating is committed when its response is sent: stopping loses nothing.
      await server.close();
      interrupts.dispose();
    },
  );
humanEval
  .command('respond')
  .description("write a run file: a model's (base + adapter) responses to the user-oriented instructions, greedy; rerun to resume")
  .addOption(configOption())
  .option('--model <ref>', 'model to generate with (default: models.generator of the config)')
  .option(
    '--adapter <dir>',
    "PEFT (LoRA) adapter directory applied on top of --model (an SFT model is prompted with the config's sft template)",
    existingPath,
  )
  .option('--instructions <jsonl>', 'instructions to answer (default: seeds/user_oriented_instructions.jsonl)', existingPath)
  .requiredOption('--out <jsonl>', 'the run file ({"id", "response"} per line), appended per batch')
  .addOption(jsonOption())
  .action(async (options: { config: string; model?: string; adapter?: string; instructions?: string; out: string; json?: boolean }) => {
    const { generateResponsesWithModel } = await import('./eval/human/respond.js');
    const config = await commandConfig(options.config);
    const again = `refine-af human-eval respond --config ${options.config} --out ${options.out}${options.model ? ` --model ${options.model}` : ''}${options.adapter ? ` --adapter ${options.adapter}` : ''}${options.instructions ? ` --instructions ${options.instructions}` : ''}`;
    const result = await interruptible(again, (signal) =>
      generateResponsesWithModel(config, {
        model: options.model ?? config.models.generator,
        out: options.out,
        ...(options.adapter === undefined ? {} : { adapter: options.adapter }),
        ...(options.instructions === undefined ? {} : { instructions: options.instructions }),
        signal,
      }),
    );
    await finish(options, result, (r) => `${r.responses} responses in ${r.out}`);
  });
humanEval
  .command('import')
  .description('import run files into the rating database (created when absent) without serving; already imported responses are kept')
  .requiredOption('--db <file>', 'the rating database')
  .requiredOption('--runs <name=path...>', 'one per system, e.g. refine-af=out/refine.jsonl self-instruct=out/si.jsonl')
  .option('--instructions <jsonl>', 'instructions the runs answer (default: seeds/user_oriented_instructions.jsonl)', existingPath)
  .action(async (options: { db: string; runs: string[]; instructions?: string }) => {
    const { importHumanEvalRuns } = await import('./eval/human/commands.js');
    const { added, kept } = importHumanEvalRuns(options.db, options.runs, options.instructions);
    console.log(`${added} responses imported, ${kept} already in ${options.db}`);
  });
humanEval
  .command('import-review')
  .description(
    'sample instructions of each IFT dataset, one instance each, into the rating database as quality-review items (Table IV); ' +
      'idempotent; the dataset names are never shown to raters',
  )
  .requiredOption('--db <file>', 'the rating database (created when absent)')
  .requiredOption(
    '--datasets <name=path...>',
    'one per system, e.g. refine-af=runs/x/instances/ift.jsonl self-instruct=runs/y/instances/ift.jsonl',
  )
  .option('--size <n>', 'instructions sampled per dataset (default 100, as in the paper)', integerFrom(1, 1_000_000))
  .option('--seed <n>', 'seed of the sample (default 42)', integerFrom(0, 2 ** 32 - 1))
  .action(async (options: { db: string; datasets: string[]; size?: number; seed?: number }) => {
    const { importQualityReview } = await import('./eval/human/commands.js');
    const { added, kept, sampled } = importQualityReview(options.db, options.datasets, {
      ...(options.size === undefined ? {} : { size: options.size }),
      ...(options.seed === undefined ? {} : { seed: options.seed }),
    });
    const counts = Object.entries(sampled).map(([system, n]) => `${system}: ${n}`);
    console.log(`sampled ${counts.join(', ')}; ${added} quality-review items imported, ${kept} already in ${options.db}`);
  });
humanEval
  .command('add-rater')
  .description('register a rater and print their login token (shown once; only its hash is stored)')
  .requiredOption('--db <file>', 'the rating database')
  .requiredOption('--name <name>', 'rater name (letters, digits, ".", "_", "-")')
  .option('--admin', 'sees the results page and downloads the CSVs instead of rating (an account either rates or sees results)')
  .action(async (options: { db: string; name: string; admin?: boolean }) => {
    const { addRater } = await import('./eval/human/commands.js');
    const rater = addRater(options.db, options.name, { admin: options.admin });
    console.log(`rater ${rater.name}${rater.admin ? ' (admin)' : ''}: token ${rater.token}`);
  });
humanEval
  .command('results')
  .description('print the rating distribution per system (Figure 6) and, once quality-review items exist, Table IV')
  .requiredOption('--db <file>', 'the rating database')
  .action(async (options: { db: string }) => {
    const [{ qualityReviewTable, ratingDistribution }, { RATINGS }, { REVIEW_QUESTIONS }] = await Promise.all([
      import('./eval/human/commands.js'),
      import('./eval/human/scale.js'),
      import('./eval/human/review.js'),
    ]);
    const rows = ratingDistribution(options.db);
    console.log(['system', ...RATINGS, 'ratings'].join('\t'));
    for (const row of rows) console.log([row.system, ...RATINGS.map((level) => row.counts[level]), row.total].join('\t'));
    const review = qualityReviewTable(options.db);
    if (review.length === 0) return;
    const percent = (yes: number, answers: number) => (answers === 0 ? '–' : `${((100 * yes) / answers).toFixed(1)}%`);
    console.log(`\nTable IV: % yes (yes/answers)\n${['system', 'items', ...REVIEW_QUESTIONS].join('\t')}`);
    for (const row of review) {
      const cells = REVIEW_QUESTIONS.map((q) => `${percent(row.yes[q], row.answers)} (${row.yes[q]}/${row.answers})`);
      console.log([row.system, row.items, ...cells].join('\t'));
    }
  });
humanEval
  .command('export')
  .description(
    'write the rating distribution per system (or every rating, every rating given or changed, Table IV, every quality-review answer, every one saved) as CSV, and optionally Figure 6 as SVG',
  )
  .requiredOption('--db <file>', 'the rating database')
  .requiredOption('--out <csv>', 'CSV file to write')
  .addOption(
    new Option('--table <table>', 'what to write')
      .choices(['distribution', 'ratings', 'rating-history', 'table-iv', 'review-answers', 'review-answer-history'])
      .default('distribution'),
  )
  .option('--svg <file>', 'also write the distribution chart (Figure 6) as SVG')
  .action(async (options: { db: string; out: string; table: ExportTable; svg?: string }) => {
    const { exportHumanEval } = await import('./eval/human/commands.js');
    exportHumanEval(options.db, options.out, { table: options.table, svg: options.svg });
    console.log(`wrote ${options.out}${options.svg ? ` and ${options.svg}` : ''}`);
  });

try {
  await program.parseAsync();
} catch (error) {
  const { flushLogs, logger } = await import('./log.js');
  logger.error((error as Error).message);
  // The command failed and has nothing left to do. A Python worker that died under it leaves pythonia's handles open,
  // which would keep Node waiting forever instead of exiting: flush the log, then exit.
  await flushLogs();
  process.exit(1);
}

/** The `refine-af` command: a thin face over the same functions the SDK exports. */
import { Command, Option } from 'commander';
import { stringify } from 'yaml';
import { doctor, generateText } from './commands.js';
import { loadConfig, parseConfig } from './config/load.js';
import { configReference } from './config/reference.js';
import { compareReports, evalSuperNiModel, formatComparison, formatReport, readReport, scorePredictionsFile } from './eval/superni.js';
import { configureLogging, logger } from './log.js';
import { dedupFiles } from './stages/dedup.js';
import { analyseDataset } from './stats/report.js';
import { runInstructionGeneration } from './stages/instructions.js';

const program = new Command('refine-af')
  .description(
    'REFINE-AF: build an instruction-tuning dataset with a small open LLM, improved with PPO from automated feedback.\n' +
      'Every command reads a YAML config (see `refine-af config reference`); configs/default.yaml runs on a CPU with the embedded model.',
  )
  .showHelpAfterError();

const configOption = () => new Option('-c, --config <yaml>', 'configuration file').default('configs/default.yaml');

program
  .command('doctor')
  .description('check the Python worker, torch/CUDA and that the configured models resolve')
  .addOption(configOption())
  .action(async (options: { config: string }) => {
    const report = await doctor(loadConfig(options.config));
    console.log(JSON.stringify(report, null, 2));
  });

program
  .command('generate')
  .description('generate from the configured generator model (a quick check of a model and its decoding settings)')
  .addOption(configOption())
  .requiredOption('-p, --prompt <text...>', 'one or more prompts')
  .option('--max-new-tokens <n>', 'tokens to generate per prompt', (v) => Number.parseInt(v, 10), 64)
  .option('--raw', 'send the prompt as is instead of through the chat template')
  .action(async (options: { config: string; prompt: string[]; maxNewTokens: number; raw?: boolean }) => {
    const completions = await generateText(loadConfig(options.config), options.prompt, {
      maxNewTokens: options.maxNewTokens,
      promptFormat: options.raw ? 'raw' : 'chat',
    });
    for (const c of completions) console.log(JSON.stringify(c));
  });

program
  .command('generate-instructions')
  .description('stage 1: bootstrap instructions from the seed tasks with the ROUGE-L novelty filter (§II-B)')
  .addOption(configOption())
  .option('--resume', 'continue the run in run.dir exactly where its last completed batch ended')
  .action(async (options: { config: string; resume?: boolean }) => {
    const config = loadConfig(options.config);
    configureLogging({ level: config.logging.level });
    const summary = await runInstructionGeneration(config, { resume: options.resume ?? false });
    console.log(JSON.stringify(summary));
  });

program
  .command('dedup')
  .description('the ROUGE-L novelty filter alone: candidates in file order into a growing pool, one decision line per candidate')
  .requiredOption('--pool <jsonl>', 'initial pool: JSON lines with an "instruction" field (e.g. seeds/seed_tasks.jsonl)')
  .requiredOption('--candidates <jsonl>', 'candidates: JSON lines with an "instruction" field')
  .requiredOption('--out <jsonl>', 'output: {"instruction","kept","max_rouge_l","most_similar"} per candidate, in order')
  .option('--threshold <f>', 'drop when the max ROUGE-L F is above this', Number.parseFloat, parseConfig({}).instructions.rouge_threshold)
  .action((options: { pool: string; candidates: string; out: string; threshold: number }) => {
    if (!(options.threshold >= 0 && options.threshold <= 1)) throw new Error(`--threshold must be in [0, 1]; got ${options.threshold}`);
    const summary = dedupFiles({ ...options, topK: parseConfig({}).instructions.most_similar_k });
    console.log(JSON.stringify(summary));
  });

const config = program.command('config').description('inspect configuration');
config
  .command('check')
  .description('validate a config file; errors name the file, line, key path and what was expected')
  .argument('<yaml>')
  .action((file: string) => {
    loadConfig(file);
    console.log(`${file}: valid`);
  });
config
  .command('show')
  .description('print a config with every default filled in')
  .argument('<yaml>')
  .action((file: string) => console.log(stringify(loadConfig(file))));
config
  .command('reference')
  .description('print every config key with its type, default and meaning (Markdown)')
  .action(() => console.log(configReference()));

const evaluation = program.command('eval').description('evaluate models (§V of the paper)');
evaluation
  .command('superni')
  .description('Super-NaturalInstructions zero-shot (§V-A): generate with a model (or take --predictions) and score EM and ROUGE-L')
  .addOption(configOption())
  .requiredOption('--data-dir <dir>', 'the benchmark in its native layout (tasks/*.json, splits/default/test_tasks.txt)')
  .option('--model <ref>', 'model to generate with (default: models.generator of the config)')
  .option('--adapter <dir>', 'PEFT (LoRA) adapter directory applied on top of --model')
  .addOption(new Option('--predictions <jsonl>', 'score this file ({"id","task","prediction"} lines) instead of generating').conflicts(['model', 'adapter']))
  .requiredOption('--out <dir>', 'run directory: predictions.jsonl (resumable), scores.json, scores.txt')
  .action(async (options: { config: string; dataDir: string; model?: string; adapter?: string; predictions?: string; out: string }) => {
    const config = loadConfig(options.config);
    configureLogging({ level: config.logging.level });
    const report =
      options.predictions === undefined
        ? await evalSuperNiModel(config, {
            dataDir: options.dataDir,
            outDir: options.out,
            model: options.model ?? config.models.generator,
            ...(options.adapter === undefined ? {} : { adapter: options.adapter }),
          })
        : scorePredictionsFile(config, options.dataDir, options.predictions, options.out);
    process.stdout.write(formatReport(report));
  });
evaluation
  .command('compare')
  .description('compare two `eval superni` runs: % tasks better (Table II) and ROUGE-L per category (Table III)')
  .argument('<runA>', 'run directory of the system under test')
  .argument('<runB>', 'run directory of the baseline')
  .action((runA: string, runB: string) => {
    process.stdout.write(formatComparison(compareReports(readReport(runA), readReport(runB)), runA, runB));
  });

program
  .command('stats')
  .description('analyse an instruction-tuning dataset (§IV, Appendix IX-A/B): Table V, verb–noun diversity, overlap with the seeds, lengths, reward curve')
  .addOption(configOption())
  .requiredOption('--dataset <file>', 'JSONL or JSON: {instruction, input, output} or {instruction, instances: [{input, output}]} records')
  .requiredOption('--out <dir>', 'where stats.json, the SVG figures and report.html go')
  .option('--seeds <jsonl>', 'seed tasks for the overlap histogram (default: the 175 Self-Instruct seeds)')
  .option('--metrics <jsonl>', 'stage-2 metrics ({step, <stats.reward_key>} lines) for the reward curve')
  .action((options: { config: string; dataset: string; out: string; seeds?: string; metrics?: string }) => {
    const config = loadConfig(options.config);
    configureLogging({ level: config.logging.level });
    const stats = analyseDataset(config, {
      dataset: options.dataset,
      outDir: options.out,
      ...(options.seeds === undefined ? {} : { seeds: options.seeds }),
      ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
    });
    console.log(JSON.stringify({ tableV: stats.tableV, uniqueVerbNounPairs: stats.diversity.uniqueVerbNounPairs, report: `${options.out}/report.html` }, null, 2));
  });

try {
  await program.parseAsync();
} catch (error) {
  logger.error((error as Error).message);
  process.exitCode = 1;
}

/** The `refine-af` command: a thin face over the same functions the SDK exports. */
import { Command, Option } from 'commander';
import { stringify } from 'yaml';
import { doctor, generateText } from './commands.js';
import { loadConfig, parseConfig } from './config/load.js';
import { configReference } from './config/reference.js';
import { scoreFile, summaryTable } from './feedback/score.js';
import { configureLogging, logger } from './log.js';
import { dedupFiles } from './stages/dedup.js';
import { runInstructionGeneration } from './stages/instructions.js';
import { runRlafTraining } from './stages/rlaf.js';

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

program
  .command('score')
  .description('score a dataset with the automated feedback (reward model, UniEval or the judge) and Eq. 1; a summary table at the end')
  .addOption(configOption())
  .requiredOption('--in <file>', 'JSONL of {instruction, input, output}, or an Alpaca-style JSON array')
  .requiredOption('--out <jsonl>', 'output: one line per scored record (rejected ones go to <out>.rejected.jsonl)')
  .option('--resume', 'continue an interrupted run into the same --out, skipping what it already holds')
  .action(async (options: { config: string; in: string; out: string; resume?: boolean }) => {
    const summary = await scoreFile(loadConfig(options.config), { inFile: options.in, outFile: options.out, resume: options.resume });
    console.log(summaryTable(summary));
  });

program
  .command('train-rlaf')
  .description('stage 2: PPO from automated feedback on the stage-1 instruction pool (§II-C, §III-A); Ctrl-C stops after the step in flight')
  .addOption(configOption())
  .option('--resume', 'continue from the last complete checkpoint in <run.dir>/<rlaf.out_dir>')
  .action(async (options: { config: string; resume?: boolean }) => {
    const summary = await runRlafTraining(loadConfig(options.config), { resume: options.resume ?? false });
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

try {
  await program.parseAsync();
} catch (error) {
  logger.error((error as Error).message);
  process.exitCode = 1;
}

/** The `refine-af` command: a thin face over the same functions the SDK exports. */
import { Command, Option } from 'commander';
import { stringify } from 'yaml';
import { doctor, generateText } from './commands.js';
import { loadConfig } from './config/load.js';
import { configReference } from './config/reference.js';
import { logger } from './log.js';
import { withStageContext } from './stages/context.js';
import { generateInstances } from './stages/instances.js';
import { runSft } from './stages/sft.js';

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
  .command('generate-instances')
  .description('stage 3: input/output instances for every instruction of a pool, then the IFT dataset and its Table V statistics')
  .addOption(configOption())
  .requiredOption('-i, --instructions <jsonl>', 'the stage-1 instruction pool (JSONL with an "instruction" field)')
  .option('-a, --adapter <dir>', 'the stage-2 LoRA adapter (pipeline.method refine-af); omit for self-instruct')
  .option('-o, --out <dir>', 'output directory (default <run.dir>/instances)')
  .action(async (options: { config: string; instructions: string; adapter?: string; out?: string }) => {
    const result = await withStageContext(loadConfig(options.config), (ctx) =>
      generateInstances(ctx, { instructionsFile: options.instructions, adapter: options.adapter ?? null, outDir: options.out }),
    );
    console.log(JSON.stringify(result.files, null, 2));
  });

program
  .command('sft')
  .description('supervised fine-tuning of the base model on an IFT dataset (HF Trainer job; resumes a killed run)')
  .addOption(configOption())
  .requiredOption('-d, --dataset <jsonl>', 'the IFT dataset (JSONL of {instruction, input, output})')
  .option('-n, --max-instructions <n>', 'train on the first N instructions only (Table II subsets)', (v) => Number.parseInt(v, 10))
  .option('-o, --out <dir>', 'output directory (default <run.dir>/sft or sft-<N>)')
  .action(async (options: { config: string; dataset: string; maxInstructions?: number; out?: string }) => {
    const run = await withStageContext(loadConfig(options.config), (ctx) =>
      runSft(ctx, { datasetFile: options.dataset, maxInstructions: options.maxInstructions, outDir: options.out }),
    );
    console.log(JSON.stringify({ outDir: run.outDir, model_dir: run.result.model_dir, train_loss: run.result.train_loss }, null, 2));
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

/** `refine-af generate`: prompts in, completions out, on the generator (greedy). */
import { LocalWorkerBackend } from '../backends/local.js';
import { type Completion, GREEDY } from '../bridge/contract.js';
import { workerFromConfig } from '../bridge/worker.js';
import type { Config } from '../config/schema.js';
import { configureLogging } from '../log.js';

export async function generateText(
  config: Config,
  prompts: string[],
  options: { maxNewTokens: number; promptFormat: 'raw' | 'chat' },
): Promise<Completion[]> {
  configureLogging({ level: config.logging.level });
  const worker = workerFromConfig(config);
  try {
    const backend = new LocalWorkerBackend(worker, config.models, 'eval', prompts.length);
    return await backend.generate({
      prompts,
      seed: config.run.seed,
      decoding: { ...GREEDY, max_new_tokens: options.maxNewTokens, stop: [], prompt_format: options.promptFormat },
    });
  } finally {
    await worker.close();
  }
}

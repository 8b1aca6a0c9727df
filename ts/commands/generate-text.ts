/** `refine-af generate`: prompts in, completions out, on the generator (greedy). */
import { withWorker } from '../backends/from-config.js';
import { LocalWorkerBackend } from '../backends/local.js';
import { type Completion, GREEDY } from '../bridge/contract.js';
import type { Config } from '../config/schema.js';

export function generateText(
  config: Config,
  prompts: string[],
  options: { maxNewTokens: number; promptFormat: 'raw' | 'chat' },
): Promise<Completion[]> {
  return withWorker(config, (worker) =>
    new LocalWorkerBackend(worker, config.models, { stage: 'eval', batchSize: prompts.length }).generate({
      prompts,
      seed: config.run.seed,
      decoding: { ...GREEDY, max_new_tokens: options.maxNewTokens, stop: [], prompt_format: options.promptFormat },
    }),
  );
}

/**
 * `refine-af generate`: prompts in, completions out, on the generator (greedy), optionally with a LoRA adapter on it. A
 * model our SFT made is asked in the prompt template it was trained with, as evaluation asks it, unless the prompt is raw.
 */
import { withWorker } from '../backends/from-config.js';
import { LocalWorkerBackend } from '../backends/local.js';
import { type Completion, GREEDY } from '../bridge/contract.js';
import type { Config } from '../config/schema.js';
import { sftModelTemplates, sftPrompt } from '../stages/sft.js';

export function generateText(
  config: Config,
  prompts: string[],
  options: { maxNewTokens: number; promptFormat: 'raw' | 'chat'; adapter?: string },
): Promise<Completion[]> {
  const sft = options.promptFormat === 'raw' ? undefined : sftModelTemplates(config.models.generator, options.adapter);
  return withWorker(config, (worker) =>
    new LocalWorkerBackend(worker, config.models, { stage: 'eval', batchSize: prompts.length, adapter: options.adapter ?? null }).generate({
      prompts: sft ? prompts.map((instruction) => sftPrompt(sft.templates, { instruction, input: '' }, sft.record)) : prompts,
      seed: config.run.seed,
      decoding: { ...GREEDY, max_new_tokens: options.maxNewTokens, stop: [], prompt_format: sft ? 'raw' : options.promptFormat },
    }),
  );
}

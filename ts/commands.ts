/** The functions behind the CLI's small commands; the SDK exports the same ones. */

import { LocalWorkerBackend } from './backends/local.js';
import { type Completion, GREEDY, type ResolvedModel } from './bridge/contract.js';
import { workerFromConfig } from './bridge/worker.js';
import type { Config } from './config/schema.js';
import { configureLogging } from './log.js';

/** Is this machine ready for a config: worker, torch/CUDA, and every model the config uses (generator, feedback) resolvable? */
export async function doctor(config: Config) {
  configureLogging({ level: config.logging.level });
  const worker = workerFromConfig(config);
  try {
    const python = await worker.call('ping', {});
    const refs: Record<string, string> = { generator: config.models.generator };
    const backends = Object.values(config.feedback.backends);
    if (backends.includes('reward_model')) refs.reward_model = config.feedback.reward_model;
    if (backends.includes('unieval')) refs.unieval = config.feedback.unieval;
    if (backends.includes('judge')) refs.judge = config.feedback.judge;
    const models: Record<string, ResolvedModel> = {};
    for (const [role, ref] of Object.entries(refs)) models[role] = await worker.call('resolve_model', { ref });
    return { python, models };
  } finally {
    await worker.close();
  }
}

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

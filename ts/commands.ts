/** The functions behind the CLI's small commands; the SDK exports the same ones. */
import type { Completion } from './bridge/contract.js';
import { workerFromConfig } from './bridge/worker.js';
import type { Config } from './config/schema.js';
import { LocalWorkerBackend } from './backends/local.js';
import { configureLogging } from './log.js';

/** Is this machine ready for a config: worker, torch/CUDA, and every configured model resolvable? */
export async function doctor(config: Config) {
  configureLogging({ level: config.logging.level });
  const worker = workerFromConfig(config);
  try {
    const python = await worker.call('ping', {});
    const generator = await worker.call('resolve_model', { ref: config.models.generator });
    return { python, models: { generator } };
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
    const backend = new LocalWorkerBackend(worker, config.models, prompts.length);
    return await backend.generate({
      prompts,
      seed: config.run.seed,
      decoding: { max_new_tokens: options.maxNewTokens, do_sample: false, temperature: 1, top_p: 1, stop: [], prompt_format: options.promptFormat },
    });
  } finally {
    await worker.close();
  }
}

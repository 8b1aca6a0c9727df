/** The generation backend a config asks for; `close` frees what it started (the Python worker). */
import { workerFromConfig } from '../bridge/worker.js';
import type { Config } from '../config/schema.js';
import { LocalWorkerBackend } from './local.js';
import { OpenAICompletionsBackend } from './openai.js';
import type { GenerationBackend } from './types.js';

export function backendFromConfig(config: Config, kind: 'local' | 'openai', batchSize: number): { backend: GenerationBackend; close: () => Promise<void> } {
  if (kind === 'openai') return { backend: new OpenAICompletionsBackend(config.openai), close: async () => {} };
  const worker = workerFromConfig(config);
  return { backend: new LocalWorkerBackend(worker, config.models, batchSize), close: () => worker.close() };
}

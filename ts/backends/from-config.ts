/** The generation backend a config asks for: the local worker given, or an OpenAI-compatible endpoint. */
import type { PythonWorker } from '../bridge/worker.js';
import type { Config } from '../config/schema.js';
import { LocalWorkerBackend } from './local.js';
import { OpenAICompletionsBackend } from './openai.js';
import type { GenerationBackend } from './types.js';

export function backendFromConfig(config: Config, kind: 'local' | 'openai', batchSize: number, worker: PythonWorker): GenerationBackend {
  return kind === 'openai' ? new OpenAICompletionsBackend(config.openai) : new LocalWorkerBackend(worker, config.models, 'instructions', batchSize);
}

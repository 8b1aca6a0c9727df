/**
 * The generation backend a stage's config asks for (README "Serving"): the local worker, running OpenAI-compatible
 * servers, or a server the stage starts for itself (vLLM on GPUs, llama.cpp on CPUs) and stops when it ends.
 */
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { freePort } from '../bridge/jobs.js';
import type { PythonWorker } from '../bridge/worker.js';
import type { QuantizedStage } from '../config/model-loading.js';
import type { Config, GENERATION_BACKENDS } from '../config/schema.js';
import { defaultPython } from '../paths.js';
import { LocalWorkerBackend } from './local.js';
import { OpenAICompletionsBackend } from './openai.js';
import { type ManagedServer, startServer } from './servers.js';
import type { GenerationBackend } from './types.js';

export type BackendKind = (typeof GENERATION_BACKENDS)[number];
export type GeneratingStage = 'instructions' | 'instances' | 'eval' | 'responses';

/** The config key that chose a stage's backend, for error messages. */
const BACKEND_KEY: Record<GeneratingStage, string> = {
  instructions: 'instructions.backend',
  instances: 'instances.backend',
  eval: 'eval.backend',
  responses: 'human_eval.backend',
};
/** Whose models.load_in_4bit entry applies. */
const QUANTIZED: Record<GeneratingStage, QuantizedStage> = {
  instructions: 'instructions',
  instances: 'instances',
  eval: 'eval',
  responses: 'eval',
};

/** The backend a stage cannot use, said before any work starts. */
export class BackendConfigError extends Error {
  override name = 'BackendConfigError';
}

export interface StageBackendSpec {
  stage: GeneratingStage;
  kind: BackendKind;
  worker: PythonWorker;
  /** Prompts per generate call of the local worker. */
  batchSize: number;
  /** The local worker's handle for the model (stages share a loaded model through one handle). */
  handle: string;
  model: string;
  /** A peft adapter directory applied on top of `model` (stage 3's policy, an SFT model under evaluation). */
  adapter: string | null;
  /** Aborting stops a started server. */
  signal?: AbortSignal;
}

export interface OpenStageBackend {
  backend: GenerationBackend;
  /** Free what the backend holds: the worker's model, or the started server. */
  close(): Promise<void>;
}

/** The served name of the LoRA adapter a managed server serves. */
const SERVED_ADAPTER = 'adapter';

export async function openStageBackend(config: Config, spec: StageBackendSpec): Promise<OpenStageBackend> {
  const label = `${spec.model}${spec.adapter === null ? '' : `+${spec.adapter}`}`;
  switch (spec.kind) {
    case 'local': {
      const backend = new LocalWorkerBackend(
        spec.worker,
        config.models,
        QUANTIZED[spec.stage],
        spec.batchSize,
        spec.handle,
        spec.model,
        spec.adapter,
      );
      return { backend, close: () => backend.unload() };
    }
    case 'openai': {
      const adapterName = spec.adapter === null ? undefined : servedAdapterName(config, spec);
      const backend = new OpenAICompletionsBackend(config.openai, {
        ...(adapterName === undefined ? {} : { model: adapterName }),
        missingModelHint:
          adapterName === undefined
            ? 'set openai.model to one of them'
            : `start the server with --enable-lora --lora-modules ${adapterName}=${resolve(spec.adapter!)}`,
      });
      await backend.check();
      return { backend, close: async () => {} };
    }
    case 'llama_cpp':
    case 'vllm': {
      if (spec.kind === 'llama_cpp' && spec.adapter !== null) {
        throw new BackendConfigError(
          `${BACKEND_KEY[spec.stage]} is llama_cpp, but this stage generates with the peft adapter ${spec.adapter}, which llama.cpp's server cannot apply; ` +
            'use local, vllm, or openai with a server that serves the adapter (vLLM: --enable-lora --lora-modules NAME=DIR)',
        );
      }
      const server = await startStageServer(config, spec);
      try {
        const backend = new OpenAICompletionsBackend(
          { ...config.openai, base_url: [server.baseUrl] },
          { model: spec.adapter === null ? spec.model : SERVED_ADAPTER, name: `${spec.kind}:${label}` },
        );
        await backend.check();
        return { backend, close: () => server.stop() };
      } catch (error) {
        await server.stop();
        throw error;
      }
    }
  }
}

/** Open the stage's backend, run `fn` with it, and close it however `fn` ends. */
export async function withStageBackend<T>(
  config: Config,
  spec: StageBackendSpec,
  fn: (backend: GenerationBackend) => Promise<T>,
): Promise<T> {
  const { backend, close } = await openStageBackend(config, spec);
  try {
    return await fn(backend);
  } finally {
    await close();
  }
}

/** The served name openai.adapters gives the adapter directory, or a refusal saying how to serve it. */
function servedAdapterName(config: Config, spec: StageBackendSpec): string {
  const wanted = resolve(spec.adapter!);
  const entry = Object.entries(config.openai.adapters).find(([, dir]) => resolve(dir) === wanted);
  if (entry === undefined) {
    throw new BackendConfigError(
      `${BACKEND_KEY[spec.stage]} is openai, and this stage generates with the adapter ${wanted}, which openai.adapters does not name; ` +
        `add it (openai.adapters: {NAME: ${wanted}}) and serve it (vLLM: --enable-lora --lora-modules NAME=${wanted})`,
    );
  }
  return entry[0];
}

async function startStageServer(config: Config, spec: StageBackendSpec): Promise<ManagedServer> {
  const resolved = await spec.worker.call('resolve_model', { ref: spec.model });
  const weights = resolved.gguf_file === null ? resolved.path : `${resolved.path}/${resolved.gguf_file}`;
  const port = config.server.port ?? (await freePort());
  const python = config.bridge.python ?? defaultPython;
  const options = { python, startupTimeoutMs: config.server.startup_timeout_ms, ...(spec.signal ? { signal: spec.signal } : {}) };
  if (spec.kind === 'llama_cpp') {
    if (resolved.gguf_file === null) {
      throw new BackendConfigError(
        `${BACKEND_KEY[spec.stage]} is llama_cpp, which serves .gguf files, but ${spec.model} resolved to ${resolved.path}, which has none`,
      );
    }
    const settings = config.server.llama_cpp;
    return startServer(
      'llama_cpp',
      {
        model: weights,
        served_name: spec.model,
        port,
        adapters: {},
        extra_args: settings.extra_args,
        n_ctx: settings.n_ctx,
        n_threads: settings.n_threads ?? availableParallelism(),
        seed: config.run.seed,
      },
      { command: [python, '-m', 'llama_cpp.server'], ...options },
    );
  }
  const settings = config.server.vllm;
  return startServer(
    'vllm',
    {
      // A hub id is given as is: vLLM downloads it itself.
      model: resolved.kind === 'hub' ? spec.model : weights,
      served_name: spec.model,
      port,
      adapters: spec.adapter === null ? {} : { [SERVED_ADAPTER]: resolve(spec.adapter) },
      extra_args: settings.extra_args,
      dtype: config.models.dtype,
      load_in_4bit: config.models.load_in_4bit[QUANTIZED[spec.stage]],
      tensor_parallel_size: settings.tensor_parallel_size,
      max_lora_rank: settings.max_lora_rank,
    },
    { command: settings.command, ...options },
  );
}

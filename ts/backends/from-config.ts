/**
 * What a config opens for a stage: the Python worker (`withWorker`), and the generation backend a stage's config asks
 * for (README "Serving"): the local worker, running OpenAI-compatible servers, or a server the stage starts for itself
 * (vLLM on GPUs, llama.cpp on CPUs) and stops when it ends. `stageBackendSpec` is the one way a stage describes it.
 */
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { freePort } from '../bridge/jobs.js';
import { PythonWorker } from '../bridge/worker.js';
import { ConfigError } from '../config/load.js';
import { modelLoading, type QuantizedStage } from '../config/model-loading.js';
import type { Config, GENERATION_BACKENDS } from '../config/schema.js';
import { defaultPython, findExecutable } from '../paths.js';
import { LocalWorkerBackend } from './local.js';
import { OpenAICompletionsBackend } from './openai.js';
import { type ManagedServer, startServer } from './servers.js';
import type { GenerationBackend } from './types.js';

export type BackendKind = (typeof GENERATION_BACKENDS)[number];
/** What a stage generates on once `auto` is resolved (ts/backends/engine.ts). */
export type EngineKind = Exclude<BackendKind, 'auto'>;
export const GENERATING_STAGE_NAMES = ['instructions', 'instances', 'eval', 'responses'] as const;
export type GeneratingStage = (typeof GENERATING_STAGE_NAMES)[number];

interface GeneratingStageSettings {
  /** The config section whose `backend` chooses the stage's backend. */
  section: 'instructions' | 'instances' | 'eval' | 'human_eval';
  /** Prompts per generate call of the local worker. */
  batchSize: (config: Config) => number;
  /** Whose models.load_in_4bit entry applies. */
  quantized: QuantizedStage;
}

/** Where each generating stage's backend settings live in the config. */
const GENERATING_STAGES: Record<GeneratingStage, GeneratingStageSettings> = {
  instructions: { section: 'instructions', batchSize: (c) => c.instructions.request_batch_size, quantized: 'instructions' },
  instances: { section: 'instances', batchSize: (c) => c.instances.batch_size, quantized: 'instances' },
  eval: { section: 'eval', batchSize: (c) => c.eval.batch_size, quantized: 'eval' },
  responses: { section: 'human_eval', batchSize: (c) => c.eval.batch_size, quantized: 'eval' },
};

/** The config key that chooses `stage`'s backend, for messages. */
export const stageBackendKey = (stage: GeneratingStage) => `${GENERATING_STAGES[stage].section}.backend`;

/** The backend `stage`'s section names, `auto` included. */
export const namedBackend = (config: Config, stage: GeneratingStage): BackendKind => config[GENERATING_STAGES[stage].section].backend;

/** `config` with `stage`'s backend set to `kind`. */
export function withStageBackendKind(config: Config, stage: GeneratingStage, kind: EngineKind): Config {
  const section = GENERATING_STAGES[stage].section;
  return { ...config, [section]: { ...config[section], backend: kind } };
}

/** The engine `stage` generates on; a config whose backend is still `auto` is refused (resolveBackends resolves it). */
export function stageKind(config: Config, stage: GeneratingStage): EngineKind {
  const kind = namedBackend(config, stage);
  if (kind === 'auto') {
    throw ConfigError.at(
      stageBackendKey(stage),
      `${stageBackendKey(stage)} is auto: resolve it with resolveBackends(config, worker) first`,
    );
  }
  return kind;
}

/**
 * What of a generating stage's engine changes what it generates: the engine itself (with `auto`, the one it resolved
 * to on this machine), how the model is loaded and, on a server, how it is served. Hardware choices that do not (port,
 * thread count, tensor parallelism, batch size) are left out, so a stage resumes on another machine with the same engine.
 */
export function stageEngineInputs(config: Config, stage: GeneratingStage) {
  const kind = stageKind(config, stage);
  const serving = {
    local: null,
    openai: { model: config.openai.model },
    llama_cpp: { n_ctx: config.server.llama_cpp.n_ctx, extra_args: config.server.llama_cpp.extra_args },
    vllm: { extra_args: config.server.vllm.extra_args },
  }[kind];
  return { kind, loading: modelLoading(config.models, GENERATING_STAGES[stage].quantized), serving };
}

/** The worker a config asks for: its interpreter and per-method timeouts (its log level follows the terminal's). */
export function workerFromConfig(config: Config): PythonWorker {
  return new PythonWorker({ python: config.bridge.python, timeoutsMs: config.bridge.timeouts_ms });
}

/** Run `fn` with a worker of its own for `config`, closed however `fn` ends. */
export async function withWorker<T>(config: Config, fn: (worker: PythonWorker) => Promise<T>): Promise<T> {
  const worker = workerFromConfig(config);
  try {
    return await fn(worker);
  } finally {
    await worker.close();
  }
}

/** What a stage generates with: the rest of its backend comes from the config (`stageBackendSpec`). */
export interface StageModel {
  worker: PythonWorker;
  /** The local worker's handle for the model (stages share a loaded model through one handle). */
  handle: string;
  /** Default models.generator. */
  model?: string;
  /** A peft adapter directory applied on top of `model` (stage 3's policy, an SFT model under evaluation). */
  adapter?: string | null;
  /** Aborting stops a server that is starting or started (Ctrl-C). */
  signal?: AbortSignal | undefined;
}

export interface StageBackendSpec extends Required<Omit<StageModel, 'signal'>> {
  stage: GeneratingStage;
  kind: EngineKind;
  /** Prompts per generate call of the local worker. */
  batchSize: number;
  signal?: AbortSignal;
}

/** The backend `stage`'s section of `config` asks for, generating with `model`. */
export function stageBackendSpec(config: Config, stage: GeneratingStage, model: StageModel): StageBackendSpec {
  return {
    stage,
    kind: stageKind(config, stage),
    batchSize: GENERATING_STAGES[stage].batchSize(config),
    worker: model.worker,
    handle: model.handle,
    model: model.model ?? config.models.generator,
    adapter: model.adapter ?? null,
    ...(model.signal ? { signal: model.signal } : {}),
  };
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
      const backend = new LocalWorkerBackend(spec.worker, config.models, {
        stage: GENERATING_STAGES[spec.stage].quantized,
        batchSize: spec.batchSize,
        handle: spec.handle,
        model: spec.model,
        adapter: spec.adapter,
      });
      // Loaded now, as a server starts now: a model or adapter that cannot be loaded fails before the stage writes anything.
      await backend.load();
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
        throw ConfigError.at(
          stageBackendKey(spec.stage),
          `${stageBackendKey(spec.stage)} is llama_cpp, but this stage generates with the peft adapter ${spec.adapter}, which llama.cpp's server cannot apply; ` +
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
    throw ConfigError.at(
      [stageBackendKey(spec.stage), 'openai.adapters'],
      `${stageBackendKey(spec.stage)} is openai, and this stage generates with the adapter ${wanted}, which openai.adapters does not name; ` +
        `add it (openai.adapters: {NAME: ${wanted}}) and serve it (vLLM: --enable-lora --lora-modules NAME=${wanted})`,
    );
  }
  return entry[0];
}

/** Why server.vllm.command cannot start vLLM on this machine (its program is nowhere), or null when it can. */
export function vllmCommandProblem(config: Config): string | null {
  const program = config.server.vllm.command[0]!;
  if (findExecutable(program) !== null) return null;
  return (
    `server.vllm.command's program ${program} is not found (${program.includes('/') ? 'no executable there' : 'not on PATH'}): ` +
    'vLLM is not installed here; on a GPU machine `make vllm` installs it, then set server.vllm.command: [.venv-vllm/bin/vllm, serve]'
  );
}

/** Why llama.cpp's server cannot start here: llama-cpp-python, which `make setup` leaves to `make serving`, is missing. */
export const LLAMA_CPP_MISSING =
  "llama-cpp-python (llama.cpp's server) is not installed in the worker's environment: `make serving` compiles and installs it " +
  '(once per machine), or backend auto generates on the local worker without it';

async function startStageServer(config: Config, spec: StageBackendSpec): Promise<ManagedServer> {
  const vllmMissing = spec.kind === 'vllm' ? vllmCommandProblem(config) : null;
  if (vllmMissing !== null) {
    throw ConfigError.at(
      [stageBackendKey(spec.stage), 'server.vllm.command'],
      `${stageBackendKey(spec.stage)} is vllm, but ${vllmMissing}`,
    );
  }
  const resolved = await spec.worker.call('resolve_model', { ref: spec.model });
  const weights = resolved.gguf_file === null ? resolved.path : `${resolved.path}/${resolved.gguf_file}`;
  const port = config.server.port ?? (await freePort());
  const python = config.bridge.python ?? defaultPython;
  const options = { python, startupTimeoutMs: config.server.startup_timeout_ms, ...(spec.signal ? { signal: spec.signal } : {}) };
  if (spec.kind === 'llama_cpp') {
    if (!(await spec.worker.call('ping', {})).llama_cpp_server) {
      throw ConfigError.at(stageBackendKey(spec.stage), `${stageBackendKey(spec.stage)} is llama_cpp, but ${LLAMA_CPP_MISSING}`);
    }
    if (resolved.gguf_file === null) {
      throw ConfigError.at(
        [stageBackendKey(spec.stage), 'models.generator'],
        `${stageBackendKey(spec.stage)} is llama_cpp, which serves .gguf files, but ${spec.model} resolved to ${resolved.path}, which has none`,
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
      load_in_4bit: config.models.load_in_4bit[GENERATING_STAGES[spec.stage].quantized],
      tensor_parallel_size: settings.tensor_parallel_size,
      max_lora_rank: settings.max_lora_rank,
    },
    { command: settings.command, ...options },
  );
}

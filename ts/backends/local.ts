/** The local Python worker as a generation backend: transformers, batched, 4-bit on CUDA when the stage's setting says so. */
import type { Completion, ModelInfo } from '../bridge/contract.js';
import type { PythonWorker } from '../bridge/worker.js';
import { modelLoading, type QuantizedStage } from '../config/model-loading.js';
import type { Config } from '../config/schema.js';
import type { GenerationBackend, GenerationRequest } from './types.js';

export interface LocalWorkerOptions {
  /** Whose models.load_in_4bit entry applies. */
  stage: QuantizedStage;
  /** Prompts per generate call. */
  batchSize: number;
  /** Several stages can share one loaded model by using the same handle; default `generator`. */
  handle?: string;
  /** The base weights; default models.generator. */
  model?: string;
  /** A peft adapter directory applied on top of the base weights (the stage-2 policy, an SFT model). */
  adapter?: string | null;
}

export class LocalWorkerBackend implements GenerationBackend {
  readonly name: string;
  private readonly stage: QuantizedStage;
  private readonly batchSize: number;
  private readonly handle: string;
  private readonly ref: string;
  private readonly adapter: string | null;
  private info: ModelInfo | undefined;

  constructor(
    private readonly worker: PythonWorker,
    private readonly models: Config['models'],
    options: LocalWorkerOptions,
  ) {
    this.stage = options.stage;
    this.batchSize = options.batchSize;
    this.handle = options.handle ?? 'generator';
    this.ref = options.model ?? models.generator;
    this.adapter = options.adapter ?? null;
    this.name = `local:${this.ref}${this.adapter === null ? '' : `+${this.adapter}`}`;
  }

  /** Load (once) and describe the model. */
  async load(): Promise<ModelInfo> {
    this.info ??= await this.worker.call('load_model', {
      handle: this.handle,
      ref: this.ref,
      ...modelLoading(this.models, this.stage),
      adapter: this.adapter,
    });
    return this.info;
  }

  /** Free the model in the worker (before a job that needs the memory); the next call loads it again. */
  async unload(): Promise<void> {
    await this.worker.call('unload_model', { handle: this.handle });
    this.info = undefined;
  }

  async generate(request: GenerationRequest): Promise<Completion[]> {
    await this.load();
    const { completions } = await this.worker.call('generate', {
      handle: this.handle,
      prompts: request.prompts,
      seed: request.seed,
      batch_size: this.batchSize,
      decoding: request.decoding,
    });
    return completions;
  }
}

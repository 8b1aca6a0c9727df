/** The local Python worker as a generation backend: transformers, batched, 4-bit on CUDA when configured. */
import type { ModelInfo } from '../bridge/contract.js';
import type { PythonWorker } from '../bridge/worker.js';
import type { Config } from '../config/schema.js';
import type { GenerationBackend, GenerationRequest } from './types.js';
import type { Completion } from '../bridge/contract.js';

export class LocalWorkerBackend implements GenerationBackend {
  readonly name: string;
  private info: ModelInfo | undefined;

  constructor(
    private readonly worker: PythonWorker,
    private readonly models: Config['models'],
    private readonly batchSize: number,
    /** Several stages can share one loaded model by using the same handle. */
    private readonly handle = 'generator',
    private readonly ref = models.generator,
    /** A PEFT (LoRA) adapter directory applied on top of `ref`. */
    private readonly adapter?: string,
  ) {
    this.name = adapter === undefined ? `local:${ref}` : `local:${ref}+${adapter}`;
  }

  /** Load (once) and describe the model. */
  async load(): Promise<ModelInfo> {
    this.info ??= await this.worker.call('load_model', {
      handle: this.handle,
      ref: this.ref,
      dtype: this.models.dtype,
      load_in_4bit: this.models.load_in_4bit,
      device: this.models.device,
      ...(this.adapter === undefined ? {} : { adapter: this.adapter }),
    });
    return this.info;
  }

  async generate(request: GenerationRequest): Promise<Completion[]> {
    await this.load();
    const { completions } = await this.worker.call('generate', {
      handle: this.handle,
      prompts: request.prompts,
      seed: request.seed,
      batch_size: this.batchSize,
      ...request.decoding,
    });
    return completions;
  }
}

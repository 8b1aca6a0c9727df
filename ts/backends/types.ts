/** A generation backend: prompts in, completions out. Stages depend on this interface, never on a concrete backend. */
import type { Completion, Decoding } from '../bridge/contract.js';

export interface GenerationRequest {
  prompts: string[];
  decoding: Decoding;
  /** Seed of this request; a backend that cannot seed documents it. */
  seed: number;
}

export interface GenerationBackend {
  /** Names the backend and model in artifacts, e.g. "local:embedded:smollm2-135m-instruct". */
  readonly name: string;
  generate(request: GenerationRequest): Promise<Completion[]>;
}

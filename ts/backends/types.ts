/** A generation backend: prompts in, completions out. Stages depend on this interface, never on a concrete backend. */
import type { Completion, Decoding } from '../bridge/contract.js';

/** Decoding as a stage asks for it: the worker's parameters, plus what only some backends can apply. */
export type BackendDecoding = Decoding & {
  /** OpenAI's presence penalty (Self-Instruct decodes instances with 1.5); a backend without one warns once and ignores it. */
  presence_penalty?: number;
};

export interface GenerationRequest {
  prompts: string[];
  decoding: BackendDecoding;
  /** Seed of this request; a backend that cannot seed documents it. */
  seed: number;
}

export interface GenerationBackend {
  /** Names the backend and model in artifacts, e.g. "local:embedded:smollm2-135m-instruct". */
  readonly name: string;
  generate(request: GenerationRequest): Promise<Completion[]>;
}

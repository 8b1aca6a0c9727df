/** The `models` section of the config; ts/config/schema.ts assembles the sections into the one schema. */
import { z } from 'zod';
import { EMBEDDED_DEFAULT_MODEL, modelRef } from '../fields.js';
import { ours, paper } from '../provenance.js';

export const modelsSection = z
  .strictObject({
    generator: modelRef
      .default(EMBEDDED_DEFAULT_MODEL)
      .describe('The LLM that generates instructions and instances and is trained with PPO (paper: LLaMA 2-7B/13B, Mistral-7B).')
      .meta(
        ours("the embedded SmolLM2-135M runs on any machine; the paper's LLaMA 2-7B/13B and Mistral-7B are in the reproduction configs"),
      ),
    dtype: z
      .enum(['auto', 'float32', 'bfloat16', 'float16'])
      .default('auto')
      .describe('Weights dtype; auto = bfloat16 on CUDA, float32 on CPU.')
      .meta(ours('bfloat16 where CUDA has it, float32 on a CPU')),
    load_in_4bit: z
      .strictObject(
        {
          instructions: z
            .boolean()
            .default(false)
            .describe('Stage 1 generation. Ours: the paper quantises only the PPO model; full precision fits one A100 for inference.')
            .meta(ours('the paper quantises only the PPO model; full precision fits one A100 for inference')),
          rlaf: z
            .boolean()
            .default(true)
            .describe('The stage-2 PPO policy (§III-A: "The model is loaded in 4-bit mode and trained with LoRA").')
            .meta(paper('§III-A')),
          instances: z
            .boolean()
            .default(true)
            .describe(
              'Stage 3 generation, both arms. Ours: the stage-2 adapter runs on the 4-bit base it was trained on, and the baseline is generated the same way.',
            )
            .meta(ours('the stage-2 adapter runs on the 4-bit base it was trained on')),
          sft: z
            .boolean()
            .default(true)
            .describe(
              'Fine-tuning: QLoRA when sft.lora. Ours (the paper does not say): it keeps the 13B model on one A100 (§III-A) with room to spare.',
            )
            .meta(ours('QLoRA keeps the 13B model on one A100')),
          eval: z
            .boolean()
            .default(true)
            .describe(
              '`eval superni` and `generate`. Ours: a model fine-tuned with QLoRA is evaluated on the 4-bit base its adapter was trained on.',
            )
            .meta(ours('a QLoRA model is evaluated on the 4-bit base it was trained on')),
        },
        {
          error: (issue) =>
            typeof issue.input === 'boolean'
              ? 'one setting per stage, not one for all: write e.g. {instructions: false, rlaf: true, instances: true, sft: true, eval: true} (§III-A: 4-bit for the PPO model)'
              : undefined,
        },
      )
      .prefault({})
      .describe('Load in 4-bit NF4 through bitsandbytes when on CUDA, per stage; ignored on CPU. Feedback models are never quantised.'),
    device: z
      .string()
      .default('auto')
      .describe('"auto" (CUDA when present), "cpu", "cuda" or "cuda:N".')
      .meta(ours('CUDA when present, else the CPU')),
  })
  .describe('The generator model and how it is loaded.');

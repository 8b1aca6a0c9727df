/** The `instances` section of the config; ts/config/schema.ts assembles the sections into the one schema. */
import { z } from 'zod';
import { decoding, generationBackend, SELF_INSTRUCT_INSTANCES } from '../fields.js';
import { library, ours, paper } from '../provenance.js';

export const instancesSection = z
  .strictObject({
    template: z
      .string()
      .default('instance_generation_input_first.txt')
      .describe(
        "Instance-generation prompt, under seeds/templates/ or absolute; {{instruction}} is filled with the trimmed instruction. Default: Self-Instruct's complete input-first prompt, the same as in stage 2 (§II-D, Table VII).",
      )
      .meta(paper("§II-D, Table VII: Self-Instruct's prompt")),
    batch_size: z
      .number()
      .int()
      .positive()
      .default(8)
      .describe('Instructions per generation batch (and per append to the output file).')
      .meta(ours("a batch per append keeps a crash's loss small")),
    decoding: z
      .strictObject({
        max_new_tokens: decoding.max_new_tokens
          .default(350)
          .describe('Token limit of one completion (Self-Instruct generate_instances.py: max_tokens 350 for the input-first prompt).')
          .meta(SELF_INSTRUCT_INSTANCES),
        do_sample: decoding.do_sample
          .default(false)
          .describe('Sample instead of greedy decoding (Self-Instruct generates instances at temperature 0).')
          .meta(SELF_INSTRUCT_INSTANCES),
        temperature: decoding.temperature
          .default(1)
          .describe('Sampling temperature, when do_sample.')
          .meta(ours('neutral; used only with do_sample')),
        top_p: decoding.top_p.default(1).describe('Nucleus sampling mass, when do_sample.').meta(ours('neutral; used only with do_sample')),
        presence_penalty: decoding.presence_penalty
          .default(1.5)
          .describe(
            "Presence penalty (Self-Instruct: 1.5): OpenAI's rule, each token already in the completion loses this much logit once; llama.cpp's server applies it over its 64-token window instead.",
          )
          .meta(SELF_INSTRUCT_INSTANCES),
        stop: decoding.stop
          .default(['Example 6', 'Task:'])
          .describe(
            'Stop sequences (Self-Instruct\'s): a sixth example (at most five per instruction) or the model starting a new "Task:" ends the completion.',
          )
          .meta(SELF_INSTRUCT_INSTANCES),
        prompt_format: decoding.prompt_format
          .default('raw')
          .describe("raw: the prompt as a plain continuation (base models, as in the paper); chat: through the tokenizer's chat template.")
          .meta(ours('a few-shot completion prompt, as base models take it')),
      })
      .prefault({})
      .describe('Decoding of instance generation.'),
    max_per_instruction: z
      .number()
      .int()
      .positive()
      .nullable()
      .default(null)
      .describe(
        'Keep at most this many instances per instruction; null keeps every one the prompt elicits (Table V: 1.0–1.17 per instruction).',
      )
      .meta(ours('keep what the prompt elicits (Table V: 1.0–1.17 per instruction)')),
    max_input_words: z
      .number()
      .int()
      .positive()
      .default(300)
      .describe(
        "Drop an instance whose input is longer than this many words (too_long). Ours: Self-Instruct's filters have no length limit.",
      )
      .meta(ours("drops runaway generations only; not one of Self-Instruct's filters")),
    max_output_words: z
      .number()
      .int()
      .positive()
      .default(300)
      .describe(
        "Drop an instance whose output is longer than this many words (too_long). Ours: Self-Instruct's filters have no length limit.",
      )
      .meta(ours("drops runaway generations only; not one of Self-Instruct's filters")),
    backend: generationBackend(
      'stage 3 (an adapter policy needs local, openai or vllm)',
      'local',
      ours('the policy is a peft adapter, which the local worker applies'),
    ),
    drop_truncated: z
      .boolean()
      .default(true)
      .describe(
        "Drop the last instance of a completion cut by max_new_tokens: its output is unfinished (Self-Instruct's filter; false keeps it).",
      )
      .meta(library('Self-Instruct prepare_for_finetuning.py: drops the last instance when finish_reason is length')),
  })
  .describe('Stage 3: input/output instances for every instruction of the pool, from the trained policy (§II-D, Appendix IX-D).');

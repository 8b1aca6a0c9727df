/** The `instructions` section of the config; ts/config/schema.ts assembles the sections into the one schema. */
import { z } from 'zod';
import { decoding, generationBackend } from '../fields.js';
import { library, ours, paper } from '../provenance.js';

export const instructionsSection = z
  .strictObject({
    num_instructions: z
      .number()
      .int()
      .positive()
      .default(15_000)
      .describe('Machine instructions to keep (§III-A, Table V: 15,000 per model).')
      .meta(paper('§III-A, Table V')),
    num_prompt_instructions: z
      .number()
      .int()
      .positive()
      .default(8)
      .describe('In-context instructions per prompt (§II-B: 8).')
      .meta(paper('§II-B')),
    num_machine_instructions: z
      .number()
      .int()
      .nonnegative()
      .default(2)
      .describe(
        'Of those, machine-generated ones from the pool (§II-B: 2); the rest (6) are seeds, and seeds fill in while the pool has fewer.',
      )
      .meta(paper('§II-B')),
    rouge_threshold: z
      .number()
      .min(0)
      .max(1)
      .default(0.7)
      .describe('A new instruction whose ROUGE-L F with any pool instruction is above this is dropped (§II-B; Self-Instruct: > 0.7).')
      .meta(paper('§II-B')),
    most_similar_k: z
      .number()
      .int()
      .positive()
      .default(10)
      .describe('Most similar pool instructions recorded with each kept one (Self-Instruct records 10).')
      .meta(library('Self-Instruct bootstrap_instructions.py')),
    min_words: z
      .number()
      .int()
      .positive()
      .default(4)
      .describe('Instructions with fewer words are dropped (Self-Instruct/Alpaca drop ≤ 3 words).')
      .meta(library('Alpaca generate_instruction.py filters')),
    max_words: z
      .number()
      .int()
      .positive()
      .default(150)
      .describe('Instructions with more words are dropped (Self-Instruct/Alpaca: > 150).')
      .meta(library('Alpaca generate_instruction.py filters')),
    blacklist: z
      .array(z.string().min(1))
      .default([
        'image',
        'images',
        'graph',
        'graphs',
        'picture',
        'pictures',
        'file',
        'files',
        'map',
        'maps',
        'draw',
        'plot',
        'go to',
        'video',
        'audio',
        'music',
        'flowchart',
        'diagram',
      ])
      .describe('Instructions containing one of these as a whole word, case-insensitive, are dropped (§II-B; the Alpaca list).')
      .meta(library('Alpaca generate_instruction.py blacklist')),
    request_batch_size: z
      .number()
      .int()
      .positive()
      .default(5)
      .describe('Prompts generated per batch; one batch is the unit of crash safety (Self-Instruct: 5).')
      .meta(library('Self-Instruct bootstrap_instructions.py')),
    seed_tasks: z
      .string()
      .optional()
      .describe(
        'Seed task JSONL (id, name, instruction, instances, is_classification); default: the 175 Self-Instruct seeds in seeds/ (§III-A).',
      )
      .meta(paper('§III-A')),
    template: z
      .string()
      .default('instruction_generation.txt')
      .describe('Prompt template under seeds/templates/ (Table VI).')
      .meta(paper('Table VI')),
    output_file: z
      .string()
      .default('machine_instructions.jsonl')
      .describe('Append-only output of kept instructions, relative to run.dir; its resume snapshot sits beside it (.state.json).')
      .meta(ours('named for what it holds')),
    backend: generationBackend('stage 1', 'local', ours('the local worker needs no server')),
    decoding: z
      .strictObject({
        max_new_tokens: decoding.max_new_tokens
          .default(320)
          .describe('Tokens per completion: room for two instructions of 150 words (Self-Instruct uses 1024 for up to seven).')
          .meta(ours('room for the two new instructions the prompt asks for, at 150 words each')),
        do_sample: decoding.do_sample
          .default(true)
          .describe('Sample (true) or decode greedily.')
          .meta(library('Self-Instruct bootstrap_instructions.py')),
        temperature: decoding.temperature
          .default(0.7)
          .describe('Sampling temperature (Self-Instruct: 0.7).')
          .meta(library('Self-Instruct bootstrap_instructions.py')),
        top_p: decoding.top_p
          .default(0.5)
          .describe('Nucleus sampling mass (Self-Instruct: 0.5).')
          .meta(library('Self-Instruct bootstrap_instructions.py')),
        presence_penalty: decoding.presence_penalty
          .default(2)
          .describe(
            "Presence penalty (Self-Instruct: 2, in the same call as its temperature and top-p): OpenAI's rule, each token already in the completion loses this much logit once, against a model restating itself; llama.cpp's server applies it over its 64-token window instead.",
          )
          .meta(library('Self-Instruct bootstrap_instructions.py')),
        stop: decoding.stop
          .default(['\n\n', 'Task 11:'])
          .describe('Generation stops at any of these: a blank line, or after "Task 10".')
          .meta(ours('our prompt asks for tasks 9 and 10')),
        prompt_format: decoding.prompt_format
          .default('raw')
          .describe('Send the prompt as a plain completion prompt (raw) or through the chat template.')
          .meta(ours('a few-shot completion prompt, as base models take it')),
      })
      .prefault({})
      .describe('Decoding of instruction generation.'),
  })
  .describe('Stage 1: bootstrapped instruction generation with the ROUGE-L novelty filter (§II-B).');

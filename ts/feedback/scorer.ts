/**
 * The automated-feedback scorer for TypeScript callers (stage 2's PPO loop, `refine-af score`): loads the configured
 * backends in the Python worker once, scores triplets on every indicator and composes the reward with Eq. 1.
 */
import type { IndicatorValues, MethodResult, Triplet } from '../bridge/contract.js';
import type { PythonWorker } from '../bridge/worker.js';
import type { Config } from '../config/schema.js';
import { composeReward, normaliserFor, type RewardFormula, type RunningZScore, rewardFormula } from './compose.js';

export type IndicatorBackends = MethodResult<'load_scorers'>['backends'];

export interface ScoredTriplet extends Triplet {
  /** Raw indicator values (the reward-model logit, and probabilities in [0, 1] for UniEval and the judge). */
  indicators: IndicatorValues;
  /** Which backend and model produced each indicator, e.g. "judge:embedded:smollm2-135m-instruct". */
  backends: IndicatorBackends;
  /** Eq. 1 over the indicators. */
  reward: number;
  /** Some text was cut to fit a model (the rules: README, "Automated feedback"). */
  truncated: boolean;
}

export class FeedbackScorer {
  readonly formula: RewardFormula;
  /** The running z-score when `feedback.normalisation` asks for one; checkpoint it with `state()`. */
  readonly normaliser: RunningZScore | undefined;
  private backends: IndicatorBackends | undefined;

  constructor(
    private readonly worker: PythonWorker,
    private readonly config: Pick<Config, 'feedback' | 'models'>,
    private readonly handle = 'feedback',
  ) {
    this.formula = rewardFormula(config.feedback);
    this.normaliser = normaliserFor(config.feedback);
  }

  /** Resolve every configured model (a missing one fails here, naming it), then load them once. */
  async load(): Promise<IndicatorBackends> {
    const { feedback, models } = this.config;
    this.backends ??= (
      await this.worker.call('load_scorers', {
        handle: this.handle,
        spec: {
          backends: feedback.backends,
          reward_model: feedback.reward_model,
          unieval: feedback.unieval,
          judge: feedback.judge,
          device: models.device,
          dtype: models.dtype,
          reward_model_max_tokens: feedback.reward_model_max_tokens,
          unieval_max_tokens: feedback.unieval_max_tokens,
          judge_max_field_tokens: feedback.judge_max_field_tokens,
        },
      })
    ).backends;
    return this.backends;
  }

  /** Score triplets in order (batched by `feedback.batch_size` in Python) and compose each reward. */
  async score(triplets: readonly Triplet[]): Promise<ScoredTriplet[]> {
    await this.load();
    if (triplets.length === 0) return [];
    const result = await this.worker.call('score_triplets', {
      handle: this.handle,
      triplets: triplets.map(({ instruction, input, output }) => ({ instruction, input, output })),
      batch_size: this.config.feedback.batch_size,
    });
    return triplets.map((triplet, i) => {
      const indicators = result.scores[i]!;
      return {
        instruction: triplet.instruction,
        input: triplet.input,
        output: triplet.output,
        indicators,
        backends: result.backends,
        reward: composeReward(indicators, this.formula, this.normaliser),
        truncated: result.truncated[i]!,
      };
    });
  }

  /** Fold already-scored values into the normaliser (a resumed run replays what it wrote), keeping later rewards exact. */
  replay(indicators: readonly IndicatorValues[]): void {
    for (const values of indicators) this.normaliser?.standardise(values);
  }

  async unload(): Promise<void> {
    if (this.backends) await this.worker.call('unload_model', { handle: this.handle });
    this.backends = undefined;
  }
}

/** The `pipeline` section of the config; ts/config/schema.ts assembles the sections into the one schema. */
import { z } from 'zod';
import { ours, paper } from '../provenance.js';

export const pipelineSection = z
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

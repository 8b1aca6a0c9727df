/** The `stats` section of the config; ts/config/schema.ts assembles the sections into the one schema. */
import { z } from 'zod';
import { ours, paper } from '../provenance.js';

export const statsSection = z
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
    reference_instructions: z
      .string()
      .nullable()
      .default(null)
      .describe(
        "Self-Instruct's GPT-3 generations (all_instances_82K.jsonl of github.com/yizhongw/self-instruct, or any file of {instruction} records) for Figure 5: each instruction's max ROUGE-L against them, binned like Figure 4 (§IV-A); null: no Figure 5.",
      )
      .meta(ours('the generations are not vendored (seeds/README.md says why): whoever has the file names it')),
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
  .describe(
    "Dataset analysis (§IV, Appendix IX-A/B): Table V, verb–noun diversity, overlap with the seeds and with Self-Instruct's generations, lengths, reward curve.",
  );

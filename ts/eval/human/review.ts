/**
 * The quality review of the generated data (§IV "Quality", Table IV), as Self-Instruct §4.2 runs it: instructions sampled at
 * random from an IFT dataset, one instance each, and three yes/no questions an expert answers per item.
 */
import { Random } from '../../random.js';
import { loadDataset } from '../../stats/dataset.js';

/** The three questions, in the paper's order; each key is also the column of the answers in the rating database. */
export const REVIEW_QUESTIONS = ['valid_task', 'input_appropriate', 'output_correct'] as const;
export type ReviewQuestion = (typeof REVIEW_QUESTIONS)[number];

export const REVIEW_QUESTION_TEXTS: Record<ReviewQuestion, string> = {
  valid_task: 'Does the instruction describe a valid task?',
  input_appropriate: 'Is the input appropriate for the instruction?',
  output_correct: 'Is the output a correct and acceptable response to the instruction and input?',
};

/** One rater's answers to one item: true = yes. */
export type ReviewAnswers = Record<ReviewQuestion, boolean>;

/** What a rater judges: one instance of one sampled instruction; `system` (the arm it came from) is never shown. */
export interface ReviewItem {
  system: string;
  instruction: string;
  input: string;
  output: string;
}

/** The paper's sample: 100 instructions per set of generated instructions. */
export const QUALITY_REVIEW_SIZE = 100;
/** The default seed of the sample, run.seed's default, so the CLI and `refine-af repro` draw the same sample. */
export const QUALITY_REVIEW_SEED = 42;

/**
 * `size` distinct instructions of an IFT dataset drawn with `seed`, and one of each one's instances drawn with the same
 * stream: the same file, size and seed always give the same items. A dataset with fewer instructions gives all of them.
 */
export function sampleForReview(system: string, dataset: string, options: { size: number; seed: number }): ReviewItem[] {
  const instancesOf = new Map<string, { input: string; output: string }[]>();
  for (const { instruction, input, output } of loadDataset(dataset)) {
    const instances = instancesOf.get(instruction) ?? [];
    instances.push({ input, output });
    instancesOf.set(instruction, instances);
  }
  const instructions = [...instancesOf.keys()];
  const random = new Random(options.seed);
  return random.sample(instructions, Math.min(options.size, instructions.length)).map((instruction) => {
    const instances = instancesOf.get(instruction)!;
    return { system, instruction, ...instances[random.int(instances.length)]! };
  });
}

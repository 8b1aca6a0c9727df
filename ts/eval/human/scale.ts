/** The four-level rating scale of Self-Instruct that the paper adopts for the user-oriented instructions (§V-B). */
export const RATINGS = ['A', 'B', 'C', 'D'] as const;
export type Rating = (typeof RATINGS)[number];

export const RATING_MEANINGS: Record<Rating, string> = {
  A: 'The response is valid and satisfactory.',
  B: 'The response is acceptable but contains minor errors or imperfections.',
  C: 'The response is relevant and addresses the instruction, but significant errors are present.',
  D: 'The response is irrelevant or completely invalid.',
};

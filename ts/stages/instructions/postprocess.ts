/**
 * Post-processing of instruction completions as Self-Instruct and Alpaca do it: split a completion into the
 * instructions it numbers, then drop those a language model cannot or should not do, counting every drop by reason.
 */
import type { Completion } from '../../bridge/contract.js';
import type { Config } from '../../config/schema.js';

/** A line that starts a new numbered task: "Task 10:", "Task 10.", "TASK #10 -", "10.", "10)". */
const NEXT_TASK = /\n[ \t]*(?:task[ \t]*#?[ \t]*)?\d+[ \t]*[:.)-][ \t]*/i;
const BLANK_LINE = /\n[ \t]*\n/;
/** Python's string.punctuation, which Alpaca tests the first character against. */
const ASCII_PUNCTUATION = new Set('!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~');

export const REJECTION_REASONS = [
  'truncated',
  'empty',
  'too_short',
  'too_long',
  'blacklisted',
  'write_a_program',
  'starts_with_punctuation',
  'starts_with_non_ascii',
  'too_similar',
] as const;
export type RejectionReason = (typeof REJECTION_REASONS)[number];

export interface ParsedInstruction {
  instruction: string;
  /** Set when the instruction must be dropped before the novelty filter. */
  rejected?: RejectionReason;
}

/**
 * The completion continues "Task 9:"; it may go on with "Task 10: …" and so on. Each item ends at the next numbered
 * line or at a blank line (what follows a blank line is the model rambling, not the task). When generation hit the
 * token limit, the last item is cut short and is dropped as truncated, as Alpaca does.
 */
export function parseCompletion(completion: Pick<Completion, 'text' | 'finish_reason'>): ParsedInstruction[] {
  const items = completion.text.split(NEXT_TASK);
  return items.map((item, i) => {
    const instruction = (item.split(BLANK_LINE)[0] ?? '').replace(/\s+/g, ' ').trim();
    const truncated = i === items.length - 1 && completion.finish_reason === 'length';
    return truncated ? { instruction, rejected: 'truncated' } : { instruction };
  });
}

export type InstructionFilters = Pick<Config['instructions'], 'min_words' | 'max_words' | 'blacklist'>;

/** Alpaca's filters, in Alpaca's order; undefined when the instruction passes them all. */
export function rejectionReason(instruction: string, filters: InstructionFilters): RejectionReason | undefined {
  if (instruction === '') return 'empty';
  const words = instruction.split(/\s+/).length;
  if (words < filters.min_words) return 'too_short';
  if (words > filters.max_words) return 'too_long';
  if (filters.blacklist.some((word) => wholeWord(word).test(instruction))) return 'blacklisted';
  if (instruction.startsWith('Write a program')) return 'write_a_program';
  const first = instruction.codePointAt(0)!;
  if (ASCII_PUNCTUATION.has(String.fromCodePoint(first))) return 'starts_with_punctuation';
  if (first > 0x7f) return 'starts_with_non_ascii';
  return undefined;
}

const wholeWordCache = new Map<string, RegExp>();
/**
 * Python's re `\bword\b` with IGNORECASE (Alpaca's find_word_in_string) for a word of letters: Python's `\w` is
 * Unicode-aware, JavaScript's `\b` is not, hence explicit look-arounds on letters, digits and underscore.
 */
function wholeWord(word: string): RegExp {
  let re = wholeWordCache.get(word);
  if (re === undefined) {
    re = new RegExp(`(?<![\\p{L}\\p{N}_])${word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\p{L}\\p{N}_])`, 'iu');
    wholeWordCache.set(word, re);
  }
  return re;
}

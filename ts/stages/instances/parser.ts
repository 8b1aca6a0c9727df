/**
 * Parse a completion of the instance-generation prompt (Self-Instruct's, Table VII;
 * seeds/templates/instance_generation_input_first.txt) into input/output instances. The prompt ends with
 * "Task: <instruction>", so the completion carries one of the shapes its demonstrations show:
 *
 *   Output: 85°F = 29.44°C                       → one instance with an empty input
 *   Example 1 / Paragraph: … / Output: …          → one instance per example
 *   Sentence: a / Output: b / Sentence: c / Output: d   (no "Example" headers) → two instances
 *
 * Decisions, the same everywhere (and the same as Self-Instruct's `parse_input_output`):
 * - A named input field keeps its label: "Paragraph: Dr. No is …" stays the input, because the instruction refers to
 *   "the paragraph" and, with several fields ("Sentence 1: … Sentence 2: …"), the labels are what tells them apart.
 *   The generic labels carry no meaning and are stripped: "Input: x" → "x", "Input 2 - List: [9]" → "List: [9]".
 * - Everything from the model's next "Task:" line on is a new task it invented, and is cut; so is everything from an
 *   end-of-text marker ("</s>", "<|endoftext|>", "<|im_end|>" …) on.
 * - A block with no "Output:" (an unfinished last example, a preamble) yields nothing; an "Output:" with nothing after
 *   it yields an instance with an empty output, so the stage can count it under that reason.
 * - Inputs and outputs are trimmed; inner lines (multi-line outputs, lists) are kept as written.
 */

export interface ParsedInstance {
  input: string;
  output: string;
}

/** A new task the model invents after the instances: a line starting "Task:" (or "Task 9:"). */
const NEXT_TASK = /^[ \t]*Task[ \t]*\d*[ \t]*:/im;
/** Special tokens a model may print when it means to stop (Llama, GPT-2, ChatML, Mistral-instruct). */
const END_OF_TEXT = /<\/s>|<\|endoftext\|>|<\|im_end\|>|<\|end_of_text\|>|<\|eot_id\|>/;
/** "Example 1", "Example 2:", "Example:", "Example 3 -" at the start of a line; the rest of that line is content. */
const EXAMPLE_HEADER = /^[ \t]*Example(?:[ \t]*\d+[ \t]*[:.)-]?|[ \t]*[:.]?[ \t]*$)[ \t]*/gim;
/** "Output:" or "Output 2:" at the start of a line (or after whitespace, for "Sentence: a Output: b" on one line). */
const OUTPUT_MARKER = /(?:^|(?<=\s))Output[ \t]*\d*[ \t]*:/gim;
/** The generic input label: "Input:", "Input 2:", "Input 2 -" (before a named field). */
const GENERIC_INPUT_LABEL = /^Input[ \t]*\d*[ \t]*(?::|-(?=[ \t]*[^\s:][^:\n]{0,40}:))[ \t]*/i;
/** A named field at the start of an input: "Paragraph:", "Sentence 1:", "Word list:" (a short label, capitalised). */
const FIELD_LABEL = /^([A-Z][A-Za-z'()/ -]{0,30}?)[ \t]*\d*[ \t]*:/;

export function parseInstances(text: string): ParsedInstance[] {
  const completion = cutAtEnd(text);
  return splitExamples(completion).flatMap(parsePairs);
}

function cutAtEnd(text: string): string {
  let end = text.length;
  for (const pattern of [NEXT_TASK, END_OF_TEXT]) {
    const match = pattern.exec(text);
    if (match && match.index < end) end = match.index;
  }
  return text.slice(0, end);
}

function splitExamples(text: string): string[] {
  return text.split(EXAMPLE_HEADER).filter((block) => block.trim() !== '');
}

/**
 * One block holds one or more "<input> Output: <output>" pairs. With several "Output:" markers, the text between two of
 * them is "<output k> <input k+1>", divided at the last line that starts with the first input's field label (or a
 * generic "Input:" label); with no such line it is all output and the next input is empty.
 */
function parsePairs(block: string): ParsedInstance[] {
  const markers = [...block.matchAll(OUTPUT_MARKER)];
  if (markers.length === 0) return [];
  const segments: string[] = [];
  let start = 0;
  for (const marker of markers) {
    segments.push(block.slice(start, marker.index));
    start = marker.index + marker[0].length;
  }
  segments.push(block.slice(start));

  let input = cleanInput(segments[0] ?? '');
  const nextInputStart = inputStartPattern(input);
  const instances: ParsedInstance[] = [];
  for (let k = 1; k < segments.length; k++) {
    const segment = segments[k] ?? '';
    const isLast = k === segments.length - 1;
    const split = isLast ? -1 : lastLineStart(segment, nextInputStart);
    const output = split === -1 ? segment : segment.slice(0, split);
    instances.push({ input, output: output.trim() });
    input = split === -1 ? '' : cleanInput(segment.slice(split));
  }
  return instances;
}

/** An input without its named field label ("Sentence: x" → "x"), to compare it with an output. */
export function withoutFieldLabel(input: string): string {
  return input.replace(FIELD_LABEL, '').trim();
}

function cleanInput(text: string): string {
  return text.trim().replace(GENERIC_INPUT_LABEL, '').trim();
}

/** Lines that begin the next input: the generic "Input" label, and the first input's own field label if it has one. */
function inputStartPattern(firstInput: string): RegExp {
  const label = FIELD_LABEL.exec(firstInput)?.[1];
  const alternatives = ['Input[ \\t]*\\d*[ \\t]*[:-]'];
  if (label !== undefined) alternatives.push(`${escapeRegExp(label)}[ \\t]*\\d*[ \\t]*:`);
  return new RegExp(`^[ \\t]*(?:${alternatives.join('|')})`, 'gim');
}

function lastLineStart(text: string, pattern: RegExp): number {
  let last = -1;
  // A match at 0 would leave the output empty: a line that starts the output is output, not the next input.
  for (const match of text.matchAll(pattern)) if (match.index > 0) last = match.index;
  return last;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

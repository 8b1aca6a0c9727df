/** Statistics of an instruction-tuning dataset, as in the paper's Table V (Appendix IX-A); lengths are in words. */
import { z } from 'zod';

/** One line of an IFT dataset (Alpaca's record): an empty input means the instruction needs none. */
export const iftRecordSchema = z.strictObject({ instruction: z.string(), input: z.string(), output: z.string() });
export type IftRecord = z.infer<typeof iftRecordSchema>;

export interface DatasetStatistics {
  instructions: number;
  instances: number;
  instances_with_empty_input: number;
  avg_instruction_words: number;
  avg_nonempty_input_words: number;
  avg_output_words: number;
}

/** Words = runs of non-whitespace, the way the Self-Instruct statistics count them. */
export function countWords(text: string): number {
  const trimmed = text.trim();
  return trimmed === '' ? 0 : trimmed.split(/\s+/).length;
}

function mean(values: number[]): number {
  return values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length;
}

/** Instruction length is averaged over distinct instructions; input length over the instances that have one. */
export function datasetStatistics(records: readonly IftRecord[]): DatasetStatistics {
  const instructions = [...new Set(records.map((r) => r.instruction))];
  const inputs = records.filter((r) => r.input.trim() !== '');
  return {
    instructions: instructions.length,
    instances: records.length,
    instances_with_empty_input: records.length - inputs.length,
    avg_instruction_words: mean(instructions.map(countWords)),
    avg_nonempty_input_words: mean(inputs.map((r) => countWords(r.input))),
    avg_output_words: mean(records.map((r) => countWords(r.output))),
  };
}

const TABLE_V_ROWS: [keyof DatasetStatistics, string][] = [
  ['instructions', '# of instructions'],
  ['instances', '# of instances'],
  ['instances_with_empty_input', '# of instances with empty input'],
  ['avg_instruction_words', 'average instruction length'],
  ['avg_nonempty_input_words', 'average non-empty input length'],
  ['avg_output_words', 'average output length'],
];

/** Table V as Markdown, one column per named dataset (counts with thousands separators, averages to two decimals). */
export function formatTableV(columns: Record<string, DatasetStatistics>): string {
  const names = Object.keys(columns);
  const cell = (key: keyof DatasetStatistics, stats: DatasetStatistics) =>
    key.startsWith('avg_') ? stats[key].toFixed(2) : stats[key].toLocaleString('en-US');
  return [
    `| Statistics | ${names.join(' | ')} |`,
    `| --- |${names.map(() => ' ---: |').join('')}`,
    ...TABLE_V_ROWS.map(([key, label]) => `| ${label} | ${names.map((n) => cell(key, columns[n]!)).join(' | ')} |`),
  ].join('\n');
}

/** Statistics of an instruction-tuning dataset, as in the paper's Table V (Appendix IX-A); lengths are in words. */
import { z } from 'zod';
import { DataFileError, formatIssues, readDatasetFile, readJsonl } from '../io/files.js';
import { mean } from './summary.js';

/** One line of an IFT dataset (Alpaca's record): an empty input means the instruction needs none. */
export const iftRecordSchema = z.strictObject({ instruction: z.string(), input: z.string(), output: z.string() });
export type IftRecord = z.infer<typeof iftRecordSchema>;

export interface DatasetStatistics {
  /** The stage-1 pool the instances were generated for: the paper's "# of instructions" (15,000); null when not known. */
  pool_instructions: number | null;
  /** Distinct instructions with at least one instance in the dataset. */
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

/**
 * Instruction length is averaged over distinct instructions; input length over the instances that have one. The pool
 * size comes from outside the records: an instruction that kept no instance leaves no trace in them.
 */
export function datasetStatistics(records: readonly IftRecord[], poolInstructions: number | null = null): DatasetStatistics {
  const instructions = [...new Set(records.map((r) => r.instruction))];
  const inputs = records.filter((r) => r.input.trim() !== '');
  return {
    pool_instructions: poolInstructions,
    instructions: instructions.length,
    instances: records.length,
    instances_with_empty_input: records.length - inputs.length,
    avg_instruction_words: mean(instructions.map(countWords), 0),
    avg_nonempty_input_words: mean(
      inputs.map((r) => countWords(r.input)),
      0,
    ),
    avg_output_words: mean(
      records.map((r) => countWords(r.output)),
      0,
    ),
  };
}

/**
 * Table V's rows in the paper's order, with its labels. The paper's "# of instructions" is the stage-1 pool (15,000); the
 * instructions that kept an instance follow it, labelled as what they are.
 */
export const TABLE_V_ROWS: [keyof DatasetStatistics, string][] = [
  ['pool_instructions', '# of instructions (stage-1 pool)'],
  ['instructions', '# of instructions with ≥ 1 instance'],
  ['instances', '# of instances'],
  ['instances_with_empty_input', '# of instances with empty input'],
  ['avg_instruction_words', 'average instruction length'],
  ['avg_nonempty_input_words', 'average non-empty input length'],
  ['avg_output_words', 'average output length'],
];

/** One Table V value: counts with thousands separators, averages to two decimals, an unknown pool as "—". */
export function tableVCell(key: keyof DatasetStatistics, stats: DatasetStatistics): string {
  const value = stats[key];
  if (value === null) return '—';
  return key.startsWith('avg_') ? value.toFixed(2) : value.toLocaleString('en-US');
}

/** Table V as Markdown, one column per named dataset. */
export function formatTableV(columns: Record<string, DatasetStatistics>): string {
  const names = Object.keys(columns);
  return [
    `| Statistics | ${names.join(' | ')} |`,
    `| --- |${names.map(() => ' ---: |').join('')}`,
    ...TABLE_V_ROWS.map(([key, label]) => `| ${label} | ${names.map((n) => tableVCell(key, columns[n]!)).join(' | ')} |`),
  ].join('\n');
}

/** A stage-1 pool line: at least an instruction; other fields (scores, provenance) are carried by stage 1 and ignored here. */
const poolRecordSchema = z.looseObject({ instruction: z.string().min(1) });

/** The instructions of a stage-1 pool (machine_instructions.jsonl), in order. */
export function readInstructionPool(file: string): string[] {
  return readJsonl(file, poolRecordSchema).map((r) => r.instruction);
}

const groupedRecordSchema = z.object({
  instruction: z.string(),
  instances: z.array(z.object({ input: z.string().default(''), output: z.string() })).min(1),
});
const flatRecordSchema = z.object({ instruction: z.string(), input: z.string().default(''), output: z.string() });
/** A dataset line: flat (Alpaca: input may be left out) or grouped (seed style: one instruction, several instances). */
const anyRecordSchema = z.union([groupedRecordSchema, flatRecordSchema]);

const toRecords = (record: z.infer<typeof anyRecordSchema>): IftRecord[] =>
  'instances' in record ? record.instances.map((i) => ({ instruction: record.instruction, input: i.input, output: i.output })) : [record];

/**
 * Any IFT dataset as records: JSONL or a JSON array of {instruction, input?, output} or
 * {instruction, instances: [{input, output}]} objects. A bad record fails naming the file and line (or array index).
 */
export function loadDataset(file: string): IftRecord[] {
  const { accepted } = readDatasetFile<IftRecord[]>(
    file,
    (value) => {
      const parsed = anyRecordSchema.safeParse(value);
      return parsed.success ? { record: toRecords(parsed.data) } : { reason: formatIssues(parsed.error) };
    },
    'fail',
  );
  const flat = accepted.flatMap((r) => r.record);
  if (flat.length === 0) throw new DataFileError(file, undefined, 'no instances');
  return flat;
}

const instructionRecordSchema = z.looseObject({ instruction: z.string() });

/**
 * The distinct instructions of any file of records with an `instruction` field (JSONL or a JSON array), trimmed, in
 * first-seen order: an IFT dataset, or Self-Instruct's generations (all_instances_82K.jsonl, one line per instance).
 */
export function loadInstructions(file: string): string[] {
  const { accepted } = readDatasetFile<string>(
    file,
    (value) => {
      const parsed = instructionRecordSchema.safeParse(value);
      return parsed.success ? { record: parsed.data.instruction.trim() } : { reason: formatIssues(parsed.error) };
    },
    'fail',
  );
  const instructions = [...new Set(accepted.map((r) => r.record))].filter((i) => i !== '');
  if (instructions.length === 0) throw new DataFileError(file, undefined, 'no instructions');
  return instructions;
}

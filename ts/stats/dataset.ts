/**
 * An instruction-tuning dataset as (instruction, input, output) instances, and its Table V statistics (Appendix IX-A,
 * after Self-Instruct's Table 1). Reads JSONL or a JSON array whose records are either flat
 * {instruction, input?, output} (Alpaca style) or grouped {instruction, instances: [{input, output}]} (seed style).
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { DataFileError, readJsonl } from '../io/files.js';

export interface Instance {
  instruction: string;
  input: string;
  output: string;
}

const flatSchema = z.object({ instruction: z.string(), input: z.string().default(''), output: z.string() });
const groupedSchema = z.object({
  instruction: z.string(),
  instances: z.array(z.object({ input: z.string().default(''), output: z.string() })).min(1),
});
const recordSchema = z.union([groupedSchema, flatSchema]);
type DatasetRecord = z.infer<typeof recordSchema>;

const toInstances = (record: DatasetRecord): Instance[] =>
  'instances' in record
    ? record.instances.map((i) => ({ instruction: record.instruction, input: i.input, output: i.output }))
    : [{ instruction: record.instruction, input: record.input, output: record.output }];

export function loadDataset(file: string): Instance[] {
  let records: DatasetRecord[];
  if (file.endsWith('.json')) {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(file, 'utf8'));
    } catch (error) {
      throw new DataFileError(file, undefined, `not valid JSON: ${(error as Error).message}`);
    }
    if (!Array.isArray(raw)) throw new DataFileError(file, undefined, 'expected a JSON array of records');
    records = raw.map((item, index) => {
      const parsed = recordSchema.safeParse(item);
      if (!parsed.success) {
        throw new DataFileError(file, undefined, `record ${index}: expected {instruction, input?, output} or {instruction, instances: [{input, output}]}`);
      }
      return parsed.data;
    });
  } else {
    records = readJsonl(file, recordSchema);
  }
  const instances = records.flatMap(toInstances);
  if (instances.length === 0) throw new DataFileError(file, undefined, 'no instances');
  return instances;
}

/** Words as the paper counts length: whitespace-separated tokens. */
export const wordCount = (text: string): number => text.split(/\s+/).filter(Boolean).length;

const mean = (values: readonly number[]) => (values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length);

export interface TableV {
  instructions: number;
  instances: number;
  instancesWithEmptyInput: number;
  /** Mean words per distinct instruction. */
  averageInstructionLength: number;
  averageNonEmptyInputLength: number;
  averageOutputLength: number;
}

export function tableV(instances: readonly Instance[]): TableV {
  const instructions = [...new Set(instances.map((i) => i.instruction.trim()))];
  const nonEmptyInputs = instances.filter((i) => i.input.trim() !== '');
  return {
    instructions: instructions.length,
    instances: instances.length,
    instancesWithEmptyInput: instances.length - nonEmptyInputs.length,
    averageInstructionLength: mean(instructions.map(wordCount)),
    averageNonEmptyInputLength: mean(nonEmptyInputs.map((i) => wordCount(i.input))),
    averageOutputLength: mean(instances.map((i) => wordCount(i.output))),
  };
}

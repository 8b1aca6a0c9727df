import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../ts/config/load.js';
import { defaultPython } from '../../ts/paths.js';
import { buildDataset, type Generation, instanceFiles, writeIftDataset } from '../../ts/stages/instances.js';
import { datasetStatistics, formatTableV } from '../../ts/stats/dataset.js';

const settings = parseConfig({ instances: { max_output_words: 12 } }).instances;
const generation = (index: number, instruction: string, completion: string, finish: Generation['finish_reason'] = 'eos'): Generation => ({
  index,
  instruction,
  completion,
  finish_reason: finish,
});

const generations = [
  generation(0, 'Convert 85 F to Celsius.', 'Output: 29.44°C'),
  generation(
    1,
    'Sort the given list ascendingly.',
    'Example 1\nList: [3, 1]\nOutput: [1, 3]\nExample 2\nList: [3, 1]\nOutput: [1, 3]\nExample 3\nList: [9, 8]\nOutput: [8,',
    'length',
  ),
  generation(2, 'Repeat the sentence.', 'Example 1\nSentence: hello there\nOutput: hello there'),
  generation(3, 'Write a story.', `Output:\n${'word '.repeat(13)}`),
  generation(4, 'Name a colour.', 'Output:\nTask: Name a fruit.', 'stop'),
  generation(5, 'Say nothing useful.', 'I do not know.'),
  generation(6, 'Fix the grammar.', 'Sentence: she go home\nOutput: She goes home.\nSentence: i has a apple\nOutput: I have an apple.'),
];

describe('the IFT dataset', () => {
  it('keeps what passes the filters, in pool order, and counts every drop by its reason', () => {
    const built = buildDataset(generations, settings);
    expect(built.records).toEqual([
      { instruction: 'Convert 85 F to Celsius.', input: '', output: '29.44°C' },
      { instruction: 'Sort the given list ascendingly.', input: 'List: [3, 1]', output: '[1, 3]' },
      { instruction: 'Fix the grammar.', input: 'Sentence: she go home', output: 'She goes home.' },
      { instruction: 'Fix the grammar.', input: 'Sentence: i has a apple', output: 'I have an apple.' },
    ]);
    expect(built.dropped).toEqual({
      truncated: 1, // "[8," was cut by the token limit
      empty_output: 1, // "Output:" then a new task
      output_equals_input: 1, // "hello there" → "hello there" (label aside)
      ends_with_colon: 0,
      too_long: 1, // 13 words > max_output_words 12
      same_input_different_output: 0,
      duplicate: 1, // example 2 repeats example 1
      over_per_instruction: 0,
    });
    expect(built.parsed).toBe(9);
    expect(built.instructionsWithoutInstance).toBe(1);
  });

  it('drops as Self-Instruct does an input or output ending with a colon, and every instance of an instruction that answers one input twice differently', () => {
    const selfInstructCases = [
      generation(0, 'List the steps.', 'Output: Here are the steps:'),
      generation(1, 'Summarise the paragraph.', 'Example 1\nParagraph:\nOutput: A summary.'),
      generation(
        2,
        'Translate the word into French.',
        'Example 1\nWord: cat\nOutput: chat\nExample 2\nWord: cat\nOutput: chatte\nExample 3\nWord: dog\nOutput: chien',
      ),
      generation(3, 'Name an animal.', 'Example 1\nOutput: cat\nExample 2\nOutput: dog'),
      generation(
        4,
        'Double the number.',
        'Example 1\nNumber: 2\nOutput: 4\nExample 2\nNumber: 2\nOutput: 4\nExample 3\nNumber: 2\nOutput: 4:',
      ),
    ];
    const built = buildDataset(selfInstructCases, settings);
    expect(built.records).toEqual([
      // Different outputs for the same empty input are answers to an open instruction, not a contradiction.
      { instruction: 'Name an animal.', input: '', output: 'cat' },
      { instruction: 'Name an animal.', input: '', output: 'dog' },
      { instruction: 'Double the number.', input: 'Number: 2', output: '4' },
    ]);
    expect(built.dropped).toEqual({
      truncated: 0,
      empty_output: 0,
      output_equals_input: 0,
      ends_with_colon: 3, // "Here are the steps:", the bare "Paragraph:" and "4:"
      too_long: 0,
      same_input_different_output: 3, // "cat" → "chat" and "chatte": all three of that instruction, "dog" too
      duplicate: 1, // "4:" went first, so the two equal "Number: 2" → "4" are duplicates, not a conflict
      over_per_instruction: 0,
    });
    expect(built.parsed).toBe(10);
  });

  it('keeps at most max_per_instruction instances per instruction', () => {
    const built = buildDataset(generations, { ...settings, max_per_instruction: 1 });
    expect(built.records.filter((r) => r.instruction === 'Fix the grammar.')).toHaveLength(1);
    expect(built.dropped.over_per_instruction).toBe(1);
  });

  it('gives the Table V statistics', () => {
    const stats = datasetStatistics(buildDataset(generations, settings).records);
    expect(stats).toEqual({
      pool_instructions: null, // not known from the records alone
      instructions: 3,
      instances: 4,
      instances_with_empty_input: 1,
      avg_instruction_words: (5 + 5 + 3) / 3,
      avg_nonempty_input_words: (3 + 4 + 5) / 3,
      avg_output_words: (1 + 2 + 3 + 4) / 4,
    });
    const table = formatTableV({ 'REFINE-AF': stats });
    expect(table).toContain('| # of instances with empty input | 1 |');
    expect(table).toContain('| average instruction length | 4.33 |');
    expect(table).toContain('| # of instructions (stage-1 pool) | — |');
  });

  it('gives the paper\'s "# of instructions", the stage-1 pool, beside the instructions that kept an instance', () => {
    const stats = datasetStatistics(buildDataset(generations, settings).records, generations.length);
    expect(stats).toMatchObject({ pool_instructions: 7, instructions: 3 });
    expect(
      formatTableV({ 'REFINE-AF': stats, 'Self-Instruct': { ...stats, pool_instructions: 15_000 } })
        .split('\n')
        .slice(2, 4),
    ).toEqual(['| # of instructions (stage-1 pool) | 7 | 15,000 |', '| # of instructions with ≥ 1 instance | 3 | 3 |']);
  });

  it('writes JSONL and an Alpaca JSON file that Hugging Face datasets loads', async () => {
    const files = instanceFiles(mkdtempSync(join(tmpdir(), 'refine-af-ift-')));
    const { records } = buildDataset(generations, settings);
    writeIftDataset(files, records);
    const script = [
      'import json, sys, datasets',
      'for path in sys.argv[1:]:',
      '    ds = datasets.load_dataset("json", data_files=path, split="train")',
      '    print(json.dumps({"rows": ds.num_rows, "columns": sorted(ds.column_names), "first": ds[0]}))',
    ].join('\n');
    const { stdout } = await execa(defaultPython, ['-c', script, files.alpaca, files.dataset], { env: { HF_DATASETS_OFFLINE: '1' } });
    const loaded = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as unknown);
    for (const table of loaded) {
      expect(table).toEqual({ rows: 4, columns: ['input', 'instruction', 'output'], first: records[0] });
    }
  });
});

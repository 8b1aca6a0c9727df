import { appendFileSync, copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { OpenAICompletionsBackend } from '../../ts/backends/openai.js';
import type { GenerationBackend } from '../../ts/backends/types.js';
import { parseConfig } from '../../ts/config/load.js';
import type { ConfigInput } from '../../ts/config/schema.js';
import { DataFileError } from '../../ts/io/files.js';
import { loadSeedTasks } from '../../ts/io/seeds.js';
import { packageRoot } from '../../ts/paths.js';
import { Random } from '../../ts/random.js';
import { rougeL } from '../../ts/rouge/score.js';
import { parseCompletion, rejectionReason } from '../../ts/stages/instructions/postprocess.js';
import { renderInstructionPrompt, sampleInContext } from '../../ts/stages/instructions/prompt.js';
import { generateInstructionsWith, instructionsOutputPaths } from '../../ts/stages/instructions.js';
import { type CompletionsServer, startCompletionsServer } from './fixtures/completions-server.js';

const defaults = parseConfig({}).instructions;

describe('parsing completions', () => {
  it('splits numbering variants, collapses whitespace and stops at trailing junk after a blank line', () => {
    const text =
      ' Summarize the   article\n in one sentence.\nTask 10: Name three rivers in Europe.\n11. Explain   gravity to a child.\nTASK #12 - Give two synonyms for "happy".\n13) Convert 5 km to miles.\n\nI hope these tasks help! Let me know.';
    expect(parseCompletion({ text, finish_reason: 'stop' }).map((p) => p.instruction)).toEqual([
      'Summarize the article in one sentence.',
      'Name three rivers in Europe.',
      'Explain gravity to a child.',
      'Give two synonyms for "happy".',
      'Convert 5 km to miles.',
    ]);
  });

  it('marks the last item truncated when generation hit the token limit, and only then', () => {
    const text = ' Write a haiku about autumn leaves.\nTask 10: Describe how a bicycle gear';
    expect(parseCompletion({ text, finish_reason: 'length' })).toEqual([
      { instruction: 'Write a haiku about autumn leaves.' },
      { instruction: 'Describe how a bicycle gear', rejected: 'truncated' },
    ]);
    expect(parseCompletion({ text, finish_reason: 'eos' }).every((p) => p.rejected === undefined)).toBe(true);
  });

  it('keeps numbers that do not start a line inside the instruction', () => {
    expect(parseCompletion({ text: ' Add 2. and 3. together, then explain task 4: the result.', finish_reason: 'eos' })).toEqual([
      { instruction: 'Add 2. and 3. together, then explain task 4: the result.' },
    ]);
  });
});

describe('filters (Alpaca order and rules)', () => {
  const cases: [string, string | undefined][] = [
    ['', 'empty'],
    ['Name three rivers.', 'too_short'],
    ['Name four big rivers.', undefined],
    [Array.from({ length: 151 }, () => 'word').join(' '), 'too_long'],
    [Array.from({ length: 150 }, () => 'word').join(' '), undefined],
    ['Describe the IMAGE below in detail.', 'blacklisted'],
    ['Please go to the store and list items.', 'blacklisted'],
    ['Explain what a mapping function does.', undefined], // "map" only as a whole word
    ['Explain what a hash-map is for.', 'blacklisted'],
    ['Write a program that adds two numbers.', 'write_a_program'],
    ['write a program that adds two numbers.', undefined], // case-sensitive, as in Alpaca
    ['"Hello" is a greeting; translate it to French.', 'starts_with_punctuation'],
    ['Écris une phrase en français, s’il te plaît.', 'starts_with_non_ascii'],
  ];
  it.each(cases)('%j → %s', (instruction, reason) => {
    expect(rejectionReason(instruction, defaults)).toBe(reason);
  });

  it('uses the configured blacklist and word limits', () => {
    const filters = { ...defaults, blacklist: ['poem'], min_words: 2, max_words: 5 };
    expect(rejectionReason('Draw a cat.', filters)).toBeUndefined();
    expect(rejectionReason('Write a Poem now.', filters)).toBe('blacklisted');
    expect(rejectionReason('one two three four five six', filters)).toBe('too_long');
  });
});

describe('seeds, sampling and the prompt', () => {
  it('loads the 175 seed tasks and names the file and line of a bad one', () => {
    expect(loadSeedTasks()).toHaveLength(175);
    const dir = mkdtempSync(join(tmpdir(), 'seeds-'));
    const file = join(dir, 'seeds.jsonl');
    const lines = readFileSync(resolve(packageRoot, 'seeds/seed_tasks.jsonl'), 'utf8').trim().split('\n').slice(0, 3);
    lines[1] = lines[1]!.replace('"is_classification": false', '"is_classification": "no"');
    writeFileSync(file, `${lines.join('\n')}\n`);
    expect(() => loadSeedTasks(file)).toThrow(DataFileError);
    expect(() => loadSeedTasks(file)).toThrow(`${file}:2: is_classification`);
  });

  it('samples 6 seeds + 2 machine instructions, seeds filling in while the pool is small, reproducibly', () => {
    const seeds = Array.from({ length: 20 }, (_, i) => `seed ${i}`);
    const pool = ['machine 0'];
    const sample = sampleInContext(new Random(1), seeds, pool, 8, 2);
    expect(sample).toHaveLength(8);
    expect(sample.filter((s) => s.startsWith('machine'))).toEqual(['machine 0']);
    const bigger = ['machine 0', 'machine 1', 'machine 2', 'machine 3'];
    const a = sampleInContext(new Random(7), seeds, bigger, 8, 2);
    expect(a.filter((s) => s.startsWith('machine'))).toHaveLength(2);
    expect(new Set(a).size).toBe(8);
    expect(sampleInContext(new Random(7), seeds, bigger, 8, 2)).toEqual(a);
    expect(sampleInContext(new Random(8), seeds, bigger, 8, 2)).not.toEqual(a);
  });

  it('renders Task 1..8 and ends with "Task 9:"', () => {
    const prompt = renderInstructionPrompt(
      'instruction_generation.txt',
      Array.from({ length: 8 }, (_, i) => `Do thing\n number ${i + 1}:`),
    );
    expect(prompt).toMatch(/^You are asked to come up with a set of diverse task instructions\./);
    for (let i = 1; i <= 8; i++) expect(prompt).toContain(`\nTask ${i}: Do thing number ${i}\n`);
    expect(prompt.endsWith('\nTask 9:')).toBe(true);
  });

  it('continues a saved random stream exactly', () => {
    const a = new Random(42);
    a.nextUint32();
    const b = new Random(a.state());
    expect(Array.from({ length: 5 }, () => b.nextUint32())).toEqual(Array.from({ length: 5 }, () => a.nextUint32()));
  });
});

describe('the stage against a deterministic OpenAI-compatible server', () => {
  let server: CompletionsServer;
  beforeAll(async () => {
    server = await startCompletionsServer();
  });
  afterAll(() => server.close());

  const configFor = (dir: string, extra: ConfigInput['instructions'] = {}): ConfigInput => ({
    run: { dir, seed: 3 },
    openai: { base_url: server.url, model: 'fixture', concurrency: 2 },
    instructions: { backend: 'openai', num_instructions: 25, request_batch_size: 3, ...extra },
  });
  const run = (input: ConfigInput, options: { resume?: boolean } = {}, backend?: GenerationBackend) => {
    const config = parseConfig(input);
    return generateInstructionsWith(config, backend ?? new OpenAICompletionsBackend(config.openai), options);
  };
  const outputOf = (dir: string) => readFileSync(join(dir, 'machine_instructions.jsonl'), 'utf8');
  const freshDir = () => mkdtempSync(join(tmpdir(), 'stage1-'));

  it('needs as many seed tasks as in-context instructions: the first prompts have no machine instructions to fill in with', async () => {
    const seedFile = (count: number) => {
      const file = join(freshDir(), `seeds-${count}.jsonl`);
      writeFileSync(
        file,
        `${readFileSync(resolve(packageRoot, 'seeds/seed_tasks.jsonl'), 'utf8').split('\n').slice(0, count).join('\n')}\n`,
      );
      return file;
    };
    const seven = seedFile(7);
    await expect(run(configFor(freshDir(), { seed_tasks: seven, num_instructions: 3 }))).rejects.toThrow(
      `instructions: 8 in-context instructions per prompt need at least that many seed tasks (the first prompts have no machine instructions yet); ${seven} has 7`,
    );
    const summary = await run(configFor(freshDir(), { seed_tasks: seedFile(8), num_instructions: 3 }));
    expect(summary.kept).toBe(3);
  });

  let reference: string;
  it('keeps exactly num_instructions novel instructions with their similarity records, counting rejections', async () => {
    const dir = freshDir();
    const summary = await run(configFor(dir));
    reference = outputOf(dir);
    const records = reference
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(records).toHaveLength(25);
    expect(summary.kept).toBe(25);
    expect(summary.generated).toBe(25 + Object.values(summary.rejected).reduce((a, b) => a + b, 0));
    expect(summary.rejected.blacklisted + summary.rejected.write_a_program + summary.rejected.too_short).toBeGreaterThan(0);
    expect(summary.rejected.too_similar).toBeGreaterThan(0);
    const seeds = loadSeedTasks().map((t) => t.instruction);
    records.forEach((record, i) => {
      const pool = [...seeds, ...records.slice(0, i).map((r) => r.instruction)];
      const scores = pool.map((p) => rougeL(record.instruction, p));
      expect(Math.max(...scores)).toBeLessThanOrEqual(0.7);
      expect(record.most_similar).toHaveLength(10);
      expect(record.most_similar[0].score).toBe(Math.max(...scores));
      expect(record.avg_similarity_score).toBe(scores.reduce((a, b) => a + b, 0) / pool.length);
      expect(record.model).toBe(`openai:${server.url}#fixture`);
      expect(record.generation.decoding).toEqual(defaults.decoding);
    });
    expect(new Set(records.map((r) => r.request_idx)).size).toBeGreaterThan(5);
  });

  it('reproduces the same output from the same seed, and a different one from another seed', async () => {
    const again = freshDir();
    await run(configFor(again));
    expect(outputOf(again)).toBe(reference);
    const other = freshDir();
    await run({ ...configFor(other), run: { dir: other, seed: 4 } });
    expect(outputOf(other)).not.toBe(reference);
  });

  it('refuses to overwrite a run without --resume', async () => {
    const dir = freshDir();
    await run(configFor(dir));
    await expect(run(configFor(dir))).rejects.toThrow(/exists: pass --resume/);
  });

  it('resumes a crash between a batch append and its snapshot, with a torn line, to the uninterrupted result', async () => {
    const dir = freshDir();
    const config = parseConfig(configFor(dir));
    const paths = instructionsOutputPaths(config);
    const saved = join(dir, 'saved');
    let calls = 0;
    const real = new OpenAICompletionsBackend(config.openai);
    // Snapshot the files as they stood after batch 2 (state) and after batch 3 (output): the state of a crash that hit
    // after batch 3 was appended and before its snapshot was written.
    const spying: GenerationBackend = {
      name: real.name,
      generate: (request) => {
        calls++;
        if (calls === 3) copyFileSync(paths.state, `${saved}.state`);
        if (calls === 4) copyFileSync(paths.output, `${saved}.out`);
        return real.generate(request);
      },
    };
    await generateInstructionsWith(config, spying);
    copyFileSync(`${saved}.state`, paths.state);
    copyFileSync(`${saved}.out`, paths.output);
    appendFileSync(paths.output, '{"instruction": "torn wri');
    expect(outputOf(dir).split('\n').length).toBeGreaterThan(JSON.parse(readFileSync(paths.state, 'utf8')).output_lines + 1);
    await run(configFor(dir), { resume: true });
    expect(outputOf(dir)).toBe(reference);
  });

  it('resumes after SIGKILL of the CLI mid-run: nothing lost, nothing duplicated, same result as uninterrupted', async () => {
    const slow = await startCompletionsServer({ delayMs: 40 });
    try {
      const write = (dir: string) => {
        const file = join(dir, 'config.yaml');
        writeFileSync(
          file,
          stringify({
            ...configFor(dir, { num_instructions: 40, request_batch_size: 2 }),
            openai: { base_url: slow.url, model: 'fixture', concurrency: 2 },
          }),
        );
        return file;
      };
      const cli = (file: string, resume: boolean) =>
        execa(resolve(packageRoot, 'bin/refine-af.js'), ['generate-instructions', '--config', file, ...(resume ? ['--resume'] : [])], {
          reject: false,
        });

      const whole = freshDir();
      expect((await cli(write(whole), false)).exitCode).toBe(0);

      const killed = freshDir();
      const file = write(killed);
      const child = cli(file, false);
      const output = join(killed, 'machine_instructions.jsonl');
      while (!(existsSync(output) && readFileSync(output, 'utf8').split('\n').length > 10)) await sleep(20);
      child.kill('SIGKILL');
      const result = await child;
      expect(result.signal).toBe('SIGKILL');
      const partial = readFileSync(output, 'utf8').trim().split('\n').length;
      expect(partial).toBeLessThan(40);

      const resumed = await cli(file, true);
      expect(resumed.exitCode, resumed.stderr).toBe(0);
      const records = outputOf(killed)
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).instruction);
      expect(records).toHaveLength(40);
      expect(new Set(records).size).toBe(40);
      expect(outputOf(killed)).toBe(outputOf(whole));
    } finally {
      await slow.close();
    }
  });
});

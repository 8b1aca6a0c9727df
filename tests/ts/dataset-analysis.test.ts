/** `refine-af stats`: dataset loading, verb–noun extraction, histograms and the sunburst, the report end to end. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../ts/config/load.js';
import { distributionChart } from '../../ts/eval/human/html.js';
import { readTriplets } from '../../ts/feedback/score.js';
import { DataFileError } from '../../ts/io/files.js';
import { loadSeedTasks } from '../../ts/io/seeds.js';
import { rougeL } from '../../ts/rouge/score.js';
import { datasetStatistics, loadDataset, loadInstructions } from '../../ts/stats/dataset.js';
import { diversity, verbNoun } from '../../ts/stats/diversity.js';
import { analyseDataset, type DatasetStats } from '../../ts/stats/report.js';
import { histogramBins, histogramSvg } from '../../ts/stats/svg.js';

const repoRoot = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'refine-af-stats-'));
function file(name: string, lines: unknown[]): string {
  const path = join(dir, name);
  writeFileSync(path, `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`);
  return path;
}

describe('loading a dataset', () => {
  it('flattens grouped records and mixes them with flat ones (Table V over the result)', () => {
    const dataset = file('mixed.jsonl', [
      { instruction: 'Write a poem about the sea.', input: '', output: 'Waves roll in.' },
      {
        instruction: 'Sort the numbers.',
        instances: [
          { input: '3 1 2', output: '1 2 3' },
          { input: '9  8', output: '8 9' },
        ],
      },
      { instruction: 'Write a poem about the sea.', input: 'Make it short', output: 'Blue.' },
    ]);
    const instances = loadDataset(dataset);
    expect(instances).toHaveLength(4);
    expect(datasetStatistics(instances)).toEqual({
      pool_instructions: null,
      instructions: 2,
      instances: 4,
      instances_with_empty_input: 1,
      avg_instruction_words: (6 + 3) / 2,
      avg_nonempty_input_words: (3 + 2 + 3) / 3,
      avg_output_words: (3 + 3 + 2 + 1) / 4,
    });
  });

  it('reads a JSON array and names the bad line of a JSONL file', () => {
    const json = join(dir, 'alpaca.json');
    writeFileSync(json, JSON.stringify([{ instruction: 'List colors.', output: 'red' }]));
    expect(loadDataset(json)).toEqual([{ instruction: 'List colors.', input: '', output: 'red' }]);
    const bad = file('bad.jsonl', [{ instruction: 'ok', output: 'x' }, { instruction: 'no output' }]);
    expect(() => loadDataset(bad)).toThrow(DataFileError);
    expect(() => loadDataset(bad)).toThrow(/bad\.jsonl:2/);
  });

  it('reads files as `score` does (one reader): a JSON array by its content, whatever the name; a bad record fails here, is rejected there', () => {
    const array = join(dir, 'alpaca-array.jsonl');
    writeFileSync(array, JSON.stringify([{ instruction: 'List colors.', output: 'red' }], null, 2));
    expect(loadDataset(array)).toEqual([{ instruction: 'List colors.', input: '', output: 'red' }]);
    expect(readTriplets(array).accepted.map((r) => r.record)).toEqual([{ instruction: 'List colors.', input: '', output: 'red' }]);
    const bad = file('bad-json.jsonl', [{ instruction: 'ok', output: 'x' }]);
    writeFileSync(bad, `${readFileSync(bad, 'utf8')}{"instruction": \n`);
    expect(() => loadDataset(bad)).toThrow(/bad-json\.jsonl:2: not valid JSON/);
    expect(readTriplets(bad).rejected).toEqual([
      { index: 1, where: `${bad}:2`, reason: expect.stringMatching(/^not valid JSON/), text: '{"instruction": ' },
    ]);
  });
});

describe('root verb and direct object from POS tags', () => {
  it.each([
    ['Write a short poem about the sea.', 'write', 'poem'],
    ['Given a sentence, generate a title for it.', 'generate', 'title'],
    ['Give me a list of 5 fruits.', 'give', 'list'],
    ['Suggest some names for a pet cat.', 'suggest', 'name'],
    ['Answer the following question.', 'answer', 'question'],
    ['Output the word counts.', 'output', 'count'],
    ['Using the facts given, write a question-answer pair.', 'write', 'pair'],
    ['Link all the entities in the sentence to Wikipedia.', 'link', 'entity'],
    ['Tell me about yourself.', 'tell', null],
    ['What is the capital of France?', null, null],
  ])('%s → %s %s', (instruction, verb, noun) => {
    expect(verbNoun(instruction)).toEqual({ verb, noun });
  });

  it('counts pairs once per instruction and ranks verbs by count', () => {
    const summary = diversity(['Write a poem.', 'Write a poem about cats.', 'Write a story.', 'Sort the numbers.', 'What is love?'], 20, 4);
    expect(summary).toMatchObject({ instructions: 5, withVerb: 4, withVerbAndNoun: 4, uniqueVerbNounPairs: 3, uniqueVerbs: 2 });
    expect(summary.topVerbs[0]).toEqual({
      verb: 'write',
      count: 3,
      nouns: [
        { noun: 'poem', count: 2 },
        { noun: 'story', count: 1 },
      ],
    });
    expect(diversity(['Write a poem.', 'Write a story.'], 1, 1).topVerbs).toEqual([
      { verb: 'write', count: 2, nouns: [{ noun: 'poem', count: 1 }] },
    ]);
  });
});

describe('charts', () => {
  it('bins every value once, clamping the ends', () => {
    const bins = histogramBins([0, 0.05, 0.5, 1, 1.2, -1], 4, 0, 1);
    expect(bins.map((b) => b.count)).toEqual([3, 0, 1, 2]);
  });

  it('says "no data" over an empty histogram instead of drawing blank axes', () => {
    expect(histogramSvg('Lengths', histogramBins([], 4, 0, 4), 'words')).toContain('>no data</text>');
    expect(histogramSvg('Lengths', histogramBins([1], 4, 0, 4), 'words')).not.toContain('no data');
  });

  it('escapes text', () => {
    const svg = histogramSvg('<script>alert(1)</script> & co', histogramBins([1], 2, 0, 2), 'x "label"');
    expect(svg).not.toContain('<script>');
    expect(svg).toContain('&lt;script&gt;');
    expect(svg).toContain('x &quot;label&quot;');
  });
});

describe('Figure 6 (human evaluation) with the shared chart code', () => {
  it('draws one bar per system and rating level on the same axes, title and legend as the other figures', () => {
    const counts = (a: number, b: number, c: number, d: number) => ({ A: a, B: b, C: c, D: d });
    const svg = distributionChart([
      { system: 'refine-af', counts: counts(30, 12, 5, 3), total: 50 },
      { system: '<b>self</b>', counts: counts(20, 15, 10, 5), total: 50 },
    ]).text;
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^]*<\/svg>$/);
    expect(svg).toContain('<title>Rating distribution per system (Figure 6)</title>');
    expect(svg.match(/<rect [^>]*><title>[^<]*, Rating-[ABCD]: \d+<\/title><\/rect>/g)).toHaveLength(8);
    expect(svg).toContain('<title>refine-af, Rating-A: 30</title>');
    // The y axis: round ticks from 0 up to at least the largest count, and its label.
    for (const tick of ['0', '10', '20', '30']) expect(svg).toContain(`text-anchor="end">${tick}</text>`);
    expect(svg).toContain('rotate(-90)" text-anchor="middle">responses</text>');
    expect(svg).toContain('&lt;b&gt;self&lt;/b&gt;');
    expect(svg).not.toContain('<b>');
    // A count axis has whole-number ticks, however few the counts.
    const few = distributionChart([{ system: 'refine-af', counts: counts(2, 1, 0, 0), total: 3 }]).text;
    const ticks = [...few.matchAll(/text-anchor="end">([^<]+)<\/text>/g)].map((m) => m[1]);
    expect(ticks).toEqual(['0', '1', '2']);
  });
});

describe('refine-af stats', () => {
  const seeds = loadSeedTasks().slice(0, 3);
  const dataset = file('dataset.jsonl', [
    // A seed instruction verbatim: its max ROUGE-L against the seeds is exactly 1.
    { instruction: seeds[0]!.instruction, input: '', output: 'Yes.' },
    { instruction: 'Write a haiku about autumn leaves.', input: '', output: 'Red leaves fall softly.' },
    { instruction: 'Classify the sentiment of the review.', input: 'I loved it.', output: 'positive' },
    { instruction: 'Zebra quantum marmalade.', input: '', output: 'ok' },
  ]);
  // The stage-1 pool: the four instructions above and two that kept no instance.
  const pool = file(
    'pool.jsonl',
    [
      ...[seeds[0]!.instruction, 'Write a haiku about autumn leaves.', 'Classify the sentiment of the review.', 'Zebra quantum marmalade.'],
      'Draw a map of the town.',
      'Translate the menu into Latin.',
    ].map((instruction) => ({ instruction, most_similar: {} })),
  );
  const metrics = file(
    'metrics.jsonl',
    Array.from({ length: 40 }, (_, step) => ({ step, reward_mean: step / 10 + (step % 3) * 0.5, kl: 0.1 })),
  );

  it('writes stats.json, one SVG per figure and a self-contained HTML report', () => {
    const out = join(dir, 'out');
    const stats = analyseDataset(parseConfig({}), { dataset, pool, outDir: out, metrics });
    expect(stats.tableV.instructions).toBe(4);
    expect(stats.tableV.pool_instructions).toBe(6);
    expect(stats.seedOverlap.seeds).toBe(175);
    expect(stats.seedOverlap.bins.reduce((n, b) => n + b.count, 0)).toBe(4);
    expect(stats.seedOverlap.bins.at(-1)!.count).toBeGreaterThanOrEqual(1);
    expect(stats.seedOverlap.bins[0]!.count).toBeGreaterThanOrEqual(1); // "Zebra quantum marmalade." shares no token
    expect(stats.reward!.steps).toBe(40);
    expect(stats.reward!.spearman.raw).toBeGreaterThan(0.8);
    expect(stats.reward!.spearman.smoothed).toBeGreaterThan(0.8);
    expect(stats.reward!.movingAverageSpan).toBe(30);
    expect(stats.figures.sort()).toEqual([
      'fig2-reward.svg',
      'fig3-length-input.svg',
      'fig3-length-instruction.svg',
      'fig3-length-output.svg',
      'fig4-seed-rouge.svg',
      'fig8-verb-noun.svg',
    ]);
    for (const figure of stats.figures) expect(readFileSync(join(out, figure), 'utf8')).toMatch(/^<svg [^]*<\/svg>\n?$/);
    const saved = JSON.parse(readFileSync(join(out, 'stats.json'), 'utf8')) as DatasetStats;
    expect(saved.tableV).toEqual(stats.tableV);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).toContain(
      '<tr><th># of instructions (stage-1 pool)</th><td>6</td></tr><tr><th># of instructions with ≥ 1 instance</th><td>4</td></tr>',
    );
    expect(html.match(/<svg /g)).toHaveLength(6);
    expect(html).not.toMatch(/(src|href)=/);
  });

  it('runs from the command line and fails clearly on a metrics file without the reward field', async () => {
    const out = join(dir, 'cli');
    const cli = (args: string[]) => execa('node', [join(repoRoot, 'bin', 'refine-af.js'), ...args], { cwd: repoRoot, reject: false });
    const ok = await cli(['stats', '--dataset', dataset, '--out', out, '--json']);
    expect(ok.exitCode).toBe(0);
    expect(JSON.parse(ok.stdout).tableV.instances).toBe(4);
    expect(JSON.parse(ok.stdout).tableV.pool_instructions).toBeNull();
    // Each figure of the report is captioned with what it shows, not with its file name.
    const report = readFileSync(join(out, 'report.html'), 'utf8');
    const captions = [...report.matchAll(/<figcaption>([^<]*)<\/figcaption>/g)].map((m) => m[1]);
    expect(captions).toHaveLength(5);
    for (const caption of captions) expect(caption).toMatch(/^Figure \d: /);
    const withPool = await cli(['stats', '--dataset', dataset, '--pool', pool, '--out', out]);
    expect(withPool.exitCode).toBe(0);
    expect(withPool.stdout).toContain('4 instructions with ≥ 1 instance (pool: 6), 4 instances,');
    const wrong = file('wrong-metrics.jsonl', [{ step: 0, loss: 1 }]);
    const failed = await cli(['stats', '--dataset', dataset, '--out', out, '--metrics', wrong]);
    expect(failed.exitCode).toBe(1);
    expect(failed.stderr).toMatch(/wrong-metrics\.jsonl:1: reward_mean/);
  });
});

describe("Figure 5: similarity to Self-Instruct's generations", () => {
  // A constructed stand-in for all_instances_82K.jsonl: one line per instance, so an instruction repeats.
  const reference = file('reference.jsonl', [
    { instruction: 'Write a haiku about the sea.', input: '', output: 'Waves.' },
    { instruction: 'Write a haiku about the sea.', input: 'calm', output: 'Still.' },
    { instruction: '  Classify the sentiment of the sentence.  ', input: 'Nice.', output: 'positive' },
    { instruction: 'Translate the sentence into French.', input: 'Hello.', output: 'Bonjour.' },
  ]);
  const generated = [
    'Write a haiku about autumn leaves.',
    'Classify the sentiment of the review.',
    'Translate the sentence into French.',
    'Zebra quantum marmalade.',
  ];
  const dataset = file(
    'generated.jsonl',
    generated.map((instruction) => ({ instruction, input: '', output: 'ok' })),
  );
  const referenceTexts = ['Write a haiku about the sea.', 'Classify the sentiment of the sentence.', 'Translate the sentence into French.'];
  // Every pair scored: what the index must equal.
  const expected = generated.map((g) => Math.max(...referenceTexts.map((r) => rougeL(r, g))));

  it('reads the distinct, trimmed instructions of any {instruction} records, and names a record without one', () => {
    expect(loadInstructions(reference)).toEqual(referenceTexts);
    const bad = file('bad-reference.jsonl', [{ instruction: 'Fine.' }, { prompt: 'no instruction' }]);
    expect(() => loadInstructions(bad)).toThrow(/bad-reference\.jsonl:2: instruction/);
  });

  it('gives each instruction its exact max ROUGE-L against the reference, their mean, a histogram and a report section', () => {
    const out = join(dir, 'fig5');
    const stats = analyseDataset(parseConfig({ stats: { reference_instructions: reference, rouge_bins: 10 } }), { dataset, outDir: out });
    expect(expected[2]).toBe(1);
    expect(expected[3]).toBe(0);
    const overlap = stats.referenceOverlap!;
    expect(overlap).toMatchObject({ reference, instructions: 3 });
    expect(overlap.mean).toBeCloseTo(expected.reduce((a, b) => a + b) / expected.length, 12);
    expect(overlap.bins.map((b) => b.count)).toEqual(
      Array.from({ length: 10 }, (_, i) => expected.filter((x) => Math.min(9, Math.floor(x * 10)) === i).length),
    );
    expect(stats.figures).toContain('fig5-reference-rouge.svg');
    expect(readFileSync(join(out, 'fig5-reference-rouge.svg'), 'utf8')).toContain(
      `against 3 reference instructions (mean ${overlap.mean.toFixed(2)})`,
    );
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toContain("Similarity to Self-Instruct's generations (Figure 5)");
  });

  it('is left out without a reference; --reference names one from the command line', async () => {
    expect(analyseDataset(parseConfig({}), { dataset, outDir: join(dir, 'no-fig5') }).referenceOverlap).toBeUndefined();
    const result = await execa(
      'node',
      [
        join(repoRoot, 'bin', 'refine-af.js'),
        'stats',
        '--dataset',
        dataset,
        '--reference',
        reference,
        '--out',
        join(dir, 'fig5-cli'),
        '--json',
      ],
      { cwd: repoRoot },
    );
    expect(JSON.parse(result.stdout).referenceOverlapMean).toBeCloseTo(expected.reduce((a, b) => a + b) / expected.length, 12);
  });
});

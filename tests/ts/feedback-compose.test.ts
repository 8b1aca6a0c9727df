import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../ts/config/load.js';
import { composeReward, RunningZScore, rewardFormula } from '../../ts/feedback/compose.js';
import { readTriplets, summarise } from '../../ts/feedback/score.js';

const dir = mkdtempSync(join(tmpdir(), 'refine-af-feedback-'));

describe('Eq. 1 (composeReward)', () => {
  it('uses the reconstructed Instruction-Mining coefficients by default', () => {
    const formula = rewardFormula(parseConfig({}).feedback);
    const indicators = { reward: -1.5, naturalness: 0.8, coherence: 0.6, understandability: 0.9 };
    // −0.0274 + 0.0078·(−1.5) + 0.3212·0.8 + 0.1520·0.6 − 0.4421·0.9 = −0.0274 − 0.0117 + 0.25696 + 0.0912 − 0.39789 = −0.08883
    expect(composeReward(indicators, formula)).toBeCloseTo(-0.08883, 10);
  });

  it('rises with reward, naturalness and coherence and falls with understandability', () => {
    const formula = rewardFormula(parseConfig({}).feedback);
    const base = { reward: 0, naturalness: 0.5, coherence: 0.5, understandability: 0.5 };
    const r = composeReward(base, formula);
    expect(composeReward({ ...base, reward: 1 }, formula)).toBeGreaterThan(r);
    expect(composeReward({ ...base, naturalness: 0.6 }, formula)).toBeGreaterThan(r);
    expect(composeReward({ ...base, coherence: 0.6 }, formula)).toBeGreaterThan(r);
    expect(composeReward({ ...base, understandability: 0.6 }, formula)).toBeLessThan(r);
  });

  it('takes weights and bias from config', () => {
    const config = parseConfig({ feedback: { weights: { reward: 2, naturalness: 0, coherence: -1 }, bias: 10 } });
    const indicators = { reward: 3, naturalness: 100, coherence: 0.25, understandability: 1 };
    // 10 + 2·3 + 0·100 − 1·0.25 − 0.4421·1 (understandability keeps its default)
    expect(composeReward(indicators, rewardFormula(config.feedback))).toBeCloseTo(15.3079, 10);
  });

  it('standardises each indicator by the running mean and standard deviation, itself included', () => {
    const formula = { weights: { reward: 1, naturalness: 0, coherence: 0, understandability: 0 }, bias: 0 };
    const normaliser = RunningZScore.empty();
    const at = (reward: number) => composeReward({ reward, naturalness: 0, coherence: 0, understandability: 0 }, formula, normaliser);
    expect(at(2)).toBe(0); // one value: no spread yet
    expect(at(4)).toBeCloseTo(1, 12); // mean 3, population sd 1 → (4 − 3) / 1
    // values 2, 4, 9: mean 5, population sd sqrt(26/3) → (9 − 5) / 2.94392
    expect(at(9)).toBeCloseTo(4 / Math.sqrt(26 / 3), 12);
  });

  it('restores a normaliser from its state exactly', () => {
    const a = RunningZScore.empty();
    for (const x of [0.1, 0.7, 0.3]) a.standardise({ reward: x, naturalness: x, coherence: x, understandability: x });
    const b = RunningZScore.fromState(a.state());
    const next = { reward: 0.5, naturalness: 0.2, coherence: 0.9, understandability: 0.4 };
    expect(b.standardise(next)).toEqual(a.standardise(next));
  });
});

describe('the feedback config section', () => {
  it("lets a lab config name the paper's checkpoints and rejects a backend an indicator cannot use", () => {
    const lab = parseConfig({
      feedback: {
        backends: { reward: 'reward_model', naturalness: 'unieval', coherence: 'unieval', understandability: 'unieval' },
        reward_model: '/models/oasst-rm-2.1-pythia-1.4b-epoch-2.5',
      },
    }).feedback;
    expect(lab.reward_model).toBe('/models/oasst-rm-2.1-pythia-1.4b-epoch-2.5');
    expect(lab.unieval).toBe('MingZhong/unieval-dialog');
    expect(() => parseConfig({ feedback: { backends: { naturalness: 'reward_model' } } })).toThrow(ConfigError);
    expect(() => parseConfig({ feedback: { weights: { fluency: 1 } } })).toThrow(/feedback\.weights\.fluency: unknown key/);
  });
});

describe('reading a dataset to score', () => {
  it('accepts JSONL and reports every unusable record with its line and reason', () => {
    const file = join(dir, 'in.jsonl');
    writeFileSync(
      file,
      [
        '{"instruction": "A", "input": "x", "output": "B"}',
        '',
        '{"instruction": "C", "output": "D"}',
        '{"instruction": "E", "input": "", "output": "   "}',
        '{"instruction": "F", "input": 3, "output": "G"}',
        '{"output": "H"}',
        '[1, 2]',
        '{"instruction": "I", "input": null, "output": "J"',
      ].join('\n'),
    );
    const { accepted, rejected } = readTriplets(file);
    expect(accepted.map((r) => [r.index, r.where, r.record])).toEqual([
      [0, `${file}:1`, { instruction: 'A', input: 'x', output: 'B' }],
      [1, `${file}:3`, { instruction: 'C', input: '', output: 'D' }],
    ]);
    expect(rejected.map((r) => [r.index, r.where, r.reason.split(':')[0]])).toEqual([
      [2, `${file}:4`, 'field "output" is empty'],
      [3, `${file}:5`, 'field "input" is not a string'],
      [4, `${file}:6`, 'missing field "instruction"'],
      [5, `${file}:7`, 'not an object with instruction, input, output'],
      [6, `${file}:8`, 'not valid JSON'],
    ]);
  });

  it('accepts an Alpaca-style JSON array', () => {
    const file = join(dir, 'alpaca.json');
    writeFileSync(file, JSON.stringify([{ instruction: 'A', input: '', output: 'B' }, { instruction: 'C' }]));
    const { accepted, rejected } = readTriplets(file);
    expect(accepted.map((r) => r.where)).toEqual([`${file}[0]`]);
    // A rejected record keeps its text, so the .rejected.jsonl a score writes can be fixed and scored again.
    expect(rejected).toEqual([{ index: 1, where: `${file}[1]`, reason: 'missing field "output"', text: '{"instruction":"C"}' }]);
  });
});

describe('summary statistics', () => {
  it('gives mean and linearly interpolated quartiles', () => {
    expect(summarise([4, 1, 3, 2, 10])).toEqual({ mean: 4, min: 1, q1: 2, median: 3, q3: 4, max: 10 });
    expect(summarise([1, 2, 3, 4])).toEqual({ mean: 2.5, min: 1, q1: 1.75, median: 2.5, q3: 3.25, max: 4 });
  });
});

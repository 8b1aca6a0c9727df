/**
 * Bad input to a command, as a newcomer meets it in a real `refine-af` process: the error names the file and the option
 * or key it came from, exits 1, and the command leaves nothing behind.
 */

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { SuperNiReport } from '../../ts/eval/superni.js';
import { buildGenerator } from '../reliability/harness.js';
import { saveTinyLora } from './helpers.js';

const packageRoot = resolve(import.meta.dirname, '..', '..');
const cli = join(packageRoot, 'bin', 'refine-af.js');
const root = mkdtempSync(join(tmpdir(), 'refine-af-cli-inputs-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function refineAf(...args: string[]) {
  const result = await execa('node', [cli, ...args], { cwd: packageRoot, reject: false, all: true });
  return { exitCode: result.exitCode, output: String(result.all).replace(/\x1b\[[0-9;]*m/g, '') };
}

describe('a config with no settings', () => {
  it.each([
    ['empty', ''],
    ['comment-only', '# run: { dir: runs/mine }\n\n# models: {}\n'],
  ])('%s: refused, naming the file', async (name, text) => {
    const file = join(root, `${name}.yaml`);
    writeFileSync(file, text);
    const { exitCode, output } = await refineAf('config', 'check', file);
    expect(exitCode, output).toBe(1);
    expect(output).toContain(`${file}: no settings (the file is empty or only comments)`);
    expect(output).not.toContain(`${file}: valid`);
  });
});

describe('a missing input file', () => {
  const missing = join(root, 'no-such-file.jsonl');
  it.each([
    ['sft', '--dataset', ['sft', '--dataset', missing]],
    ['stats', '--dataset', ['stats', '--dataset', missing, '--out', join(root, 'stats')]],
    ['score', '--in', ['score', '--in', missing, '--out', join(root, 'scored.jsonl')]],
    ['generate-instances', '--instructions', ['generate-instances', '--instructions', missing]],
    ['eval superni', '--predictions', ['eval', 'superni', '--predictions', missing, '--out', join(root, 'eval')]],
  ])('%s: names the file and %s', async (_command, option, args) => {
    const { exitCode, output } = await refineAf(...args);
    expect(exitCode, output).toBe(1);
    expect(output).toMatch(new RegExp(`option '[^']*${option} <[^>]+>' argument '${missing}' is invalid. ${missing} does not exist`));
  });
});

describe('score', () => {
  it('names a rejected-records file only when it wrote one, and a rejected record keeps its text', async () => {
    const judge = buildGenerator(root);
    const config = join(root, 'score.yaml');
    writeFileSync(
      config,
      stringify({
        run: { dir: join(root, 'run') },
        models: { generator: judge, dtype: 'float32', device: 'cpu' },
        feedback: {
          backends: { reward: 'judge', naturalness: 'judge', coherence: 'judge', understandability: 'judge' },
          judge,
          judge_max_field_tokens: 32,
        },
      }),
    );
    const good = JSON.stringify({ instruction: 'Name a colour.', input: '', output: 'Red.' });
    const bad = JSON.stringify({ instruction: 'Name a fruit.', input: '' });
    const clean = join(root, 'clean.jsonl');
    writeFileSync(clean, `${good}\n`);
    const scored = await refineAf('score', '--config', config, '--in', clean, '--out', join(root, 'clean.scored.jsonl'));
    expect(scored.exitCode, scored.output).toBe(0);
    expect(scored.output).toContain('1 scored, 0 rejected, 0 truncated');
    expect(scored.output).not.toContain('rejected.jsonl');
    expect(existsSync(join(root, 'clean.scored.jsonl.rejected.jsonl'))).toBe(false);

    const mixed = join(root, 'mixed.jsonl');
    writeFileSync(mixed, `${good}\n${bad}\n`);
    const out = join(root, 'mixed.scored.jsonl');
    const withRejected = await refineAf('score', '--config', config, '--in', mixed, '--out', out);
    expect(withRejected.exitCode, withRejected.output).toBe(0);
    expect(withRejected.output).toContain(`1 scored, 1 rejected (${out}.rejected.jsonl)`);
    expect(JSON.parse(readFileSync(`${out}.rejected.jsonl`, 'utf8'))).toEqual({
      index: 1,
      where: `${mixed}:2`,
      reason: 'missing field "output"',
      text: bad,
    });
  });
});

describe('human-eval import', () => {
  it('a failed import leaves no database behind', async () => {
    const db = join(root, 'ratings.sqlite');
    const run = join(root, 'responses.jsonl');
    writeFileSync(run, `${JSON.stringify({ id: 'no-such-instruction', response: 'Hello.' })}\n`);
    const { exitCode, output } = await refineAf('human-eval', 'import', '--db', db, '--runs', `a=${run}`, `b=${run}`);
    expect(exitCode, output).toBe(1);
    expect(existsSync(db)).toBe(false);
  });
});

describe('eval superni --predictions', () => {
  it('scores the instances the file predicts, not the whole benchmark', async () => {
    // Two predictions of one task, as a run with eval.instances_per_task 2 writes them; the command gets no such setting.
    const golden = readFileSync(join(packageRoot, 'tests', 'golden', 'superni-mini-predictions.jsonl'), 'utf8').split('\n');
    const predictions = join(root, 'predictions.jsonl');
    writeFileSync(predictions, `${golden.slice(0, 2).join('\n')}\n`);
    const out = join(root, 'scored-predictions');
    const args = ['eval', 'superni', '--data-dir', join(packageRoot, 'data', 'superni-mini'), '--predictions', predictions, '--out', out];
    const { exitCode, output } = await refineAf(...args);
    expect(exitCode, output).toBe(0);
    expect(output).not.toContain('had no prediction');
    const report = JSON.parse(readFileSync(join(out, 'scores.json'), 'utf8')) as SuperNiReport;
    expect(report.overall.instances).toBe(2);
    expect(Object.keys(report.tasks)).toEqual([JSON.parse(golden[0]!).task]);
    expect(report.missing_predictions).toBe(0);
  });
});

describe('generate --adapter', () => {
  it('generates with the adapter on the generator; a directory without one fails naming it', async () => {
    const generator = buildGenerator(root);
    const config = join(root, 'generate.yaml');
    writeFileSync(config, stringify({ run: { dir: join(root, 'run') }, models: { generator, dtype: 'float32', device: 'cpu' } }));
    const adapter = saveTinyLora(join(root, 'generate-adapter'), generator);
    const args = ['generate', '--config', config, '--prompt', 'Name a colour.', '--max-new-tokens', '4', '--json'];
    const adapted = await refineAf(...args, '--adapter', adapter);
    expect(adapted.exitCode, adapted.output).toBe(0);
    expect(JSON.parse(adapted.output.trim().split('\n').at(-1)!)).toMatchObject({ new_tokens: expect.any(Number) });

    const notAnAdapter = join(root, 'not-an-adapter');
    mkdirSync(notAnAdapter);
    const failed = await refineAf(...args, '--adapter', notAnAdapter);
    expect(failed.exitCode, failed.output).toBe(1);
    expect(failed.output).toContain(notAnAdapter);
  });
});

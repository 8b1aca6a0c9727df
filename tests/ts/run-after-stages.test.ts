/**
 * Stages run one by one with their own commands, then `refine-af run` on the same config: run takes over what they made
 * (each stage's own record says it is the same work) instead of refusing it, redoes nothing, and ends with the run's
 * report. A copy of that run directory then names its own files.
 */

import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { RunSummary } from '../../ts/pipeline/run.js';
import { completeLines } from '../reliability/harness.js';
import { smallHarnessRun } from './fixtures/harness-run.js';

const packageRoot = resolve(import.meta.dirname, '..', '..');
const cli = join(packageRoot, 'bin', 'refine-af.js');
const { root, runDir, configFile } = smallHarnessRun('run-after-stages');

async function refineAf(...args: string[]) {
  const result = await execa('node', [cli, ...args, '--config', configFile], { cwd: packageRoot, reject: false, all: true });
  expect(result.exitCode, String(result.all)).toBe(0);
  return result.stdout;
}

describe('run after the stages were run by hand', () => {
  it('takes over every stage they completed, without --resume, and redoes nothing', async () => {
    const instructions = JSON.parse(await refineAf('generate-instructions', '--json')) as { output: string };
    const rlaf = JSON.parse(await refineAf('train-rlaf', '--json')) as { adapter: string; metrics: string };
    const instances = JSON.parse(
      await refineAf('generate-instances', '--instructions', instructions.output, '--adapter', rlaf.adapter, '--json'),
    ) as { dataset: string; generations: string };
    await refineAf('sft', '--dataset', instances.dataset);
    const made = { instructions: readFileSync(instructions.output, 'utf8'), steps: completeLines(rlaf.metrics) };

    const run = await refineAf('run');
    for (const stage of ['instructions', 'rlaf', 'instances', 'sft']) expect(run).toContain(`${stage}: ran`);
    // The run ends with its report: the dataset's figures, the reward curve and the fine-tuning, and says where it is.
    const report = join(runDir, 'report', 'report.html');
    expect(run).toContain(`report: ${report} (open it in a browser`);
    const html = readFileSync(report, 'utf8');
    for (const part of ['Figure 8: ', 'Figure 2: ', '<h2>Fine-tuning (SFT)</h2>']) expect(html).toContain(part);
    expect(readFileSync(instructions.output, 'utf8')).toBe(made.instructions);
    expect(completeLines(rlaf.metrics)).toBe(made.steps);
    expect(completeLines(instances.generations)).toBe(8);
    const ledger = JSON.parse(readFileSync(join(runDir, 'run.json'), 'utf8')) as { stages: Record<string, { status: string }> };
    expect(Object.values(ledger.stages).map((s) => s.status)).toEqual(['complete', 'complete', 'complete', 'complete']);
    // Recorded now: the next run skips every stage.
    expect(await refineAf('run')).toContain('sft: skipped (already complete)');
  }, 600_000);

  it('a copy of the run directory is a run of its own: every stage skipped, every artifact in the copy', async () => {
    const copy = join(root, 'copy');
    cpSync(runDir, copy, { recursive: true });
    const copyConfig = join(root, 'copy.yaml');
    writeFileSync(copyConfig, stringify({ ...(parse(readFileSync(configFile, 'utf8')) as object), run: { dir: copy, seed: 11 } }));
    const result = await execa('node', [cli, 'run', '--config', copyConfig, '--json'], { cwd: packageRoot, reject: false, all: true });
    expect(result.exitCode, String(result.all)).toBe(0);
    const summary = JSON.parse(result.stdout) as RunSummary;
    expect(summary.stages.map((s) => s.outcome)).toEqual(Array(4).fill('skipped (already complete)'));
    const artifacts = summary.stages.flatMap((s) => Object.values(s.artifacts));
    expect(artifacts.length).toBeGreaterThan(4);
    expect(summary.report).not.toBeNull();
    for (const path of [...artifacts, summary.report!]) expect(path.startsWith(`${copy}/`), path).toBe(true);
  });
});

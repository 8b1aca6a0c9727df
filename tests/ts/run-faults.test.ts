/**
 * Faults met by a real `refine-af run` (a child process with its Python worker and jobs, tiny settings): Ctrl-C and
 * SIGTERM stop after the unit in flight with a one-line resume message and no Python process left; the worker killed
 * mid-call is reported in one clear message; and each time `--resume` continues to a complete run with nothing
 * duplicated. One run directory goes through all of it, in order.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { readJsonl } from '../../ts/io/files.js';
import { completeLines, descendants, JSONL_ARTIFACTS, progressOf, runningStage, startRun } from '../reliability/harness.js';
import { smallHarnessRun } from './fixtures/harness-run.js';
import { waitForExit } from './helpers.js';

const { runDir, configFile } = smallHarnessRun('faults', { delayMs: 50 });

/** Start the run; once `when` holds, call `act` with the Node pid and the Python pids under it; wait for the exit. */
async function runWithFault(resume: boolean, when: () => boolean, act: (node: number, pythons: number[]) => void) {
  const child = startRun(configFile, ...(resume ? (['--resume'] as const) : []));
  let pythons: number[] = [];
  let acted = false;
  const poll = setInterval(() => {
    if (acted || !when()) return;
    acted = true;
    pythons = descendants(child.pid!);
    act(child.pid!, pythons);
  }, 20);
  const result = await child.finally(() => clearInterval(poll));
  const left = [];
  for (const pid of pythons) if (!(await waitForExit(pid, 15_000))) left.push(pid);
  return { acted, exitCode: result.exitCode, output: String(result.all), pythonsLeft: left };
}

const errorLines = (output: string) =>
  output
    .replace(/\x1b\[[0-9;]*m/g, '')
    .split('\n')
    .filter((l) => /^error /.test(l));
const resumeHint = `continue with: refine-af run --config ${configFile} --resume`;

describe('refine-af run under interrupts and a dying worker', () => {
  it('SIGINT during PPO: stops after the step in flight, checkpoints it, exits 1 with the resume line, leaves no Python', async () => {
    const stopped = await runWithFault(
      false,
      () => runningStage(runDir) === 'rlaf' && progressOf(runDir, 'rlaf') >= 1,
      (node) => process.kill(node, 'SIGINT'),
    );
    expect(stopped.acted).toBe(true);
    expect(stopped.exitCode).toBe(1);
    expect(errorLines(stopped.output), stopped.output).toEqual([
      expect.stringContaining(`interrupted by SIGINT; state saved, ${resumeHint}`),
    ]);
    expect(stopped.pythonsLeft).toEqual([]);
    expect(runningStage(runDir)).toBe('rlaf');
    // The step in flight finished and was checkpointed: every logged step has its checkpoint.
    const steps = completeLines(join(runDir, 'rlaf', 'metrics.jsonl'));
    expect(readdirSync(join(runDir, 'rlaf', 'checkpoints'))).toContain(`step-${String(steps).padStart(6, '0')}`);
  });

  it('SIGTERM during stage 3: stops after the batch in flight, every line whole, same message', async () => {
    const stopped = await runWithFault(
      true,
      () => runningStage(runDir) === 'instances' && progressOf(runDir, 'instances') >= 2,
      (node) => process.kill(node, 'SIGTERM'),
    );
    expect(stopped.exitCode).toBe(1);
    expect(errorLines(stopped.output), stopped.output).toEqual([
      expect.stringContaining(`interrupted by SIGTERM; state saved, ${resumeHint}`),
    ]);
    expect(stopped.pythonsLeft).toEqual([]);
    expect(readFileSync(join(runDir, 'instances', 'generations.jsonl'), 'utf8')).toMatch(/\n$/);
    expect(completeLines(join(runDir, 'instances', 'generations.jsonl')) % 2).toBe(0); // whole batches of 2
  });

  it('the worker killed mid-call: one clear error naming the dead Python process, the run stays resumable', async () => {
    const generatedBefore = completeLines(join(runDir, 'instances', 'generations.jsonl'));
    const failed = await runWithFault(
      true,
      () => runningStage(runDir) === 'instances' && progressOf(runDir, 'instances') > generatedBefore,
      (_node, pythons) => {
        for (const pid of pythons) process.kill(pid, 'SIGKILL');
      },
    );
    expect(failed.acted, failed.output).toBe(true);
    expect(failed.exitCode).toBe(1);
    expect(errorLines(failed.output), failed.output).toHaveLength(1);
    expect(errorLines(failed.output)[0]).toMatch(/the Python process died \(signal SIGKILL\)/);
    expect(completeLines(join(runDir, 'instances', 'generations.jsonl'))).toBeGreaterThan(generatedBefore);
  });

  it('--resume then completes the run; no artifact has a torn line or a duplicate', async () => {
    const finished = await runWithFault(
      true,
      () => false,
      () => {},
    );
    expect(finished.exitCode, finished.output).toBe(0);
    expect(runningStage(runDir)).toBeUndefined();
    for (const [name, key] of Object.entries(JSONL_ARTIFACTS)) {
      const records = readJsonl(join(runDir, name), z.record(z.string(), z.unknown()));
      expect(records.length, name).toBeGreaterThan(0);
      expect(new Set(records.map(key)).size, name).toBe(records.length);
    }
    expect(readJsonl(join(runDir, 'rlaf', 'metrics.jsonl'), z.object({ step: z.number() })).map((m) => m.step)).toEqual([1, 2, 3]);
    expect(
      readJsonl(join(runDir, 'instances', 'generations.jsonl'), z.object({ index: z.number() }))
        .map((g) => g.index)
        .sort((a, b) => a - b),
    ).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });
});

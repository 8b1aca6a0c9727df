/**
 * Ctrl-C on every long CLI command, as a user meets it: a real `refine-af` process with its real Python worker or job
 * (the scripted tiny Llama) gets a real SIGINT in the middle of its work. It stops after the unit in flight, exits 1 with
 * one error line that says how to continue, leaves no Python process, and the command it names finishes the work with
 * nothing duplicated. `run` is covered by run-faults.test.ts; `eval superni` and `human-eval respond` stop the same way
 * between batches (the same wrapper), untested here.
 */

import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { z } from 'zod';
import { readJsonl } from '../../ts/io/files.js';
import { buildGenerator, completeLines, descendants, harnessConfig } from '../reliability/harness.js';
import { type CompletionsServer, startCompletionsServer } from './fixtures/completions-server.js';
import { waitForExit } from './helpers.js';

const packageRoot = resolve(import.meta.dirname, '..', '..');
const cli = join(packageRoot, 'bin', 'refine-af.js');
const root = mkdtempSync(join(tmpdir(), 'refine-af-cli-interrupt-'));
const runDir = join(root, 'run');
const configFile = join(root, 'run.yaml');
let server: CompletionsServer;

beforeAll(async () => {
  server = await startCompletionsServer();
  const config = harnessConfig(runDir, buildGenerator(root), server, 'small');
  const sft = config.sft as { training: Record<string, unknown> };
  writeFileSync(
    configFile,
    stringify({ ...config, pipeline: { method: 'self-instruct' }, sft: { ...sft, training: { ...sft.training, max_steps: 8 } } }),
  );
});
afterAll(async () => {
  await server.close();
  rmSync(root, { recursive: true, force: true });
});

/** Run the command; once `when` holds, SIGINT the Node process (only it, as a terminal's Ctrl-C reaches the foreground job). */
async function interrupted(args: string[], when: () => boolean) {
  const child = execa('node', [cli, ...args], { cwd: packageRoot, reject: false, all: true, env: { REFINE_AF_LOG_LEVEL: 'warn' } });
  let pythons: number[] = [];
  let sent = false;
  const poll = setInterval(() => {
    if (sent || !when()) return;
    sent = true;
    pythons = descendants(child.pid!);
    process.kill(child.pid!, 'SIGINT');
  }, 20);
  const result = await child.finally(() => clearInterval(poll));
  const left = [];
  for (const pid of pythons) if (!(await waitForExit(pid, 15_000))) left.push(pid);
  const errors = String(result.all)
    .replace(/\x1b\[[0-9;]*m/g, '')
    .split('\n')
    .filter((l) => l.startsWith('error '));
  return { sent, exitCode: result.exitCode, output: String(result.all), errors, pythonsLeft: left };
}

type Stopped = Awaited<ReturnType<typeof interrupted>>;

/** How every command stops on Ctrl-C: exit 1 with one error line naming the command that continues, no Python left. */
function expectStopped(stopped: Stopped, continuation: string[]): void {
  expect(stopped.sent, stopped.output).toBe(true);
  expect(stopped.exitCode, stopped.output).toBe(1);
  expect(stopped.errors, stopped.output).toEqual([
    `error interrupted by SIGINT; state saved, continue with: refine-af ${continuation.join(' ')}`,
  ]);
  expect(stopped.pythonsLeft).toEqual([]);
}

/** Run the command the error line says to continue with (and `extra` arguments); it must finish. */
async function continueStopped(stopped: Stopped, ...extra: string[]) {
  const command = /continue with: refine-af (.*)$/.exec(stopped.errors[0]!)![1]!.split(' ');
  const resumed = await execa('node', [cli, ...command, ...extra], { cwd: packageRoot, reject: false, all: true });
  expect(resumed.exitCode, String(resumed.all)).toBe(0);
  return resumed;
}

describe('Ctrl-C on a long CLI command', () => {
  it('score: stops after the batch in flight, says how to continue; that command scores the rest once', async () => {
    const dataset = join(root, 'to-score.jsonl');
    const out = join(root, 'scored.jsonl');
    // Enough batches of feedback.batch_size (4) that the interrupt lands in the middle, however fast the judge is.
    const records = 400;
    writeFileSync(
      dataset,
      `${Array.from({ length: records }, (_, i) =>
        JSON.stringify({ instruction: `Describe the number ${i}.`, input: '', output: `It is ${i}.` }),
      ).join('\n')}\n`,
    );
    const args = ['score', '--config', configFile, '--in', dataset, '--out', out];
    const stopped = await interrupted(args, () => completeLines(out) >= 4);
    expectStopped(stopped, [...args, '--resume']);
    expect(completeLines(out) % 4).toBe(0); // whole batches
    expect(completeLines(out)).toBeLessThan(records);

    await continueStopped(stopped);
    const indices = readJsonl(out, z.object({ index: z.number() })).map((r) => r.index);
    expect(indices.sort((a, b) => a - b)).toEqual(Array.from({ length: records }, (_, i) => i));
  }, 300_000);

  const pool = join(root, 'pool.jsonl');
  const generations = join(runDir, 'instances', 'generations.jsonl');

  it('generate-instances: stops after the batch in flight, says how to continue; that command completes the pool once', async () => {
    writeFileSync(
      pool,
      `${Array.from({ length: 8 }, (_, i) => JSON.stringify({ instruction: `Write a sentence about the number ${i}.` })).join('\n')}\n`,
    );
    const args = ['generate-instances', '--config', configFile, '--instructions', pool];
    const stopped = await interrupted(args, () => completeLines(generations) >= 2);
    expectStopped(stopped, args);
    expect(completeLines(generations) % 2).toBe(0); // whole batches of 2
    expect(completeLines(generations)).toBeLessThan(8);

    await continueStopped(stopped);
    const indices = readJsonl(generations, z.object({ index: z.number() })).map((g) => g.index);
    expect(indices.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  }, 300_000);

  it('train-rlaf: stops after the PPO step in flight, exits 1, says how to continue; that command trains the rest', async () => {
    const rlafPool = join(root, 'rlaf-pool.jsonl');
    writeFileSync(
      rlafPool,
      `${Array.from({ length: 4 }, (_, i) => JSON.stringify({ instruction: `Name the colour number ${i}.` })).join('\n')}\n`,
    );
    const rlafConfig = join(root, 'rlaf.yaml');
    const config = harnessConfig(join(root, 'rlaf-run'), buildGenerator(root), server, 'small');
    writeFileSync(rlafConfig, stringify({ ...config, rlaf: { ...(config.rlaf as object), steps: 6, pool: rlafPool } }));
    const metrics = join(root, 'rlaf-run', 'rlaf', 'metrics.jsonl');
    const args = ['train-rlaf', '--config', rlafConfig];
    const stopped = await interrupted(args, () => completeLines(metrics) >= 1);
    expectStopped(stopped, [...args, '--resume']);
    expect(completeLines(metrics)).toBeLessThan(6);

    await continueStopped(stopped);
    expect(readJsonl(metrics, z.object({ step: z.number() })).map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6]);
  }, 300_000);

  it('sft: stops the training job, says how to continue; that command resumes from the last checkpoint', async () => {
    const dataset = join(runDir, 'instances', 'ift.jsonl');
    const checkpoints = join(runDir, 'sft', 'checkpoints');
    const args = ['sft', '--config', configFile, '--dataset', dataset];
    // The Trainer writes trainer_state.json last: checkpoint 1 is complete.
    const stopped = await interrupted(args, () => existsSync(join(checkpoints, 'checkpoint-1', 'trainer_state.json')));
    expectStopped(stopped, args);

    const resumed = await continueStopped(stopped, '--json');
    const printed = JSON.parse(resumed.stdout) as { model_dir: string };
    expect(printed.model_dir).toContain(join(runDir, 'sft'));
    const result = JSON.parse(readFileSync(join(runDir, 'sft', 'result.json'), 'utf8')) as {
      result: { resumed_from: string | null; steps: number };
    };
    expect(result.result.resumed_from).toMatch(/checkpoint-\d+$/);
    expect(result.result.steps).toBe(8);
  }, 300_000);
});

/**
 * Out of memory in the Python worker during stage 2 (a rollout or a PPO update, whichever allocates next), injected from outside: once stage 2 runs, the worker's address
 * space is capped at what it already uses (prlimit RLIMIT_AS), so the next large allocation fails inside torch exactly
 * as a real CPU out-of-memory does. The run must stop with one clear message saying so, keep what was done, and resume.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { completeLines, descendants, progressOf, runningStage, startRun } from '../reliability/harness.js';
import { smallHarnessRun } from './fixtures/harness-run.js';

// A fixed mmap threshold: every large allocation maps fresh memory, so the cap fails the next one. glibc's default threshold
// grows as big blocks are freed (stages release their models), and later allocations then reuse freed heap under the cap.
process.env.MALLOC_MMAP_THRESHOLD_ = String(128 * 1024);
const { runDir, configFile } = smallHarnessRun('oom');

function addressSpaceBytes(pid: number): number {
  const kib = /VmSize:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kib) * 1024;
}

describe('out of memory in a PPO step', () => {
  it.runIf(process.platform === 'linux')('reports the out-of-memory in one line, keeps the completed steps, and resumes', async () => {
    const child = startRun(configFile);
    let capped = 0;
    const poll = setInterval(() => {
      if (capped || runningStage(runDir) !== 'rlaf' || progressOf(runDir, 'rlaf') < 1) return;
      for (const pid of descendants(child.pid!)) {
        execFileSync('prlimit', ['--pid', String(pid), `--as=${addressSpaceBytes(pid)}`]);
        capped = pid;
      }
    }, 20);
    const failed = await child.finally(() => clearInterval(poll));
    const errors = String(failed.all)
      .replace(/\x1b\[[0-9;]*m/g, '')
      .split('\n')
      .filter((l) => /^error /.test(l));
    expect(capped).toBeGreaterThan(0);
    expect(failed.exitCode).toBe(1);
    expect(errors, String(failed.all)).toHaveLength(1);
    expect(errors[0], String(failed.all)).toMatch(/out of memory/i);
    const steps = completeLines(join(runDir, 'rlaf', 'metrics.jsonl'));
    expect(steps).toBeGreaterThanOrEqual(1);

    const resumed = await startRun(configFile, '--resume');
    expect(resumed.exitCode, String(resumed.all)).toBe(0);
    expect(completeLines(join(runDir, 'rlaf', 'metrics.jsonl'))).toBe(3);
  });
});

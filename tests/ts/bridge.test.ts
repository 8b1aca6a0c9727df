import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIAGNOSTICS_MODULE, diagnostics } from '../../fixtures/diagnostics.js';
import { ParameterError, PythonError, WorkerDiedError, WorkerTimeoutError } from '../../ts/bridge/errors.js';
import { runJob } from '../../ts/bridge/jobs.js';
import { PythonWorker } from '../../ts/bridge/worker.js';
import { logger } from '../../ts/log.js';
import { defaultPython } from '../../ts/paths.js';
import { CaptureTransport, printedPid, processAlive, waitForExit } from './helpers.js';

// pythonia reads its default request limit once, at load: make it 1 s so that a 2.5 s call proves ours replaces it.
process.env.REQ_TIMEOUT = '1000';

describe('pythonia worker', () => {
  const worker = new PythonWorker({ extension: diagnostics });
  afterAll(() => worker.close());

  it('round-trips a call and reports the worker pid', async () => {
    const info = await worker.call('ping', {});
    expect(info.pid).toBe(worker.pid);
    expect(info.torch).toMatch(/^2\.13\.0/);
  });

  it('turns a Python exception into a typed error with type, message and traceback', async () => {
    const error = await worker.call('resolve_model', { ref: './no/such/model' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PythonError);
    const pyError = error as PythonError;
    expect(pyError.pythonType).toBe('ModelNotFoundError');
    expect(pyError.pythonMessage).toContain('no/such/model');
    expect(pyError.pythonMessage).toContain('does not exist');
    expect(pyError.pythonTraceback).toContain('Traceback (most recent call last)');
  });

  it('validates parameters before they reach Python', async () => {
    // time.sleep(-1) would raise in Python too: only a ParameterError, never a PythonError, shows TypeScript refused it.
    const refused = await worker.call('sleep', { seconds: -1 }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ParameterError);
    expect(refused).toMatchObject({ code: 'invalid-parameters', origin: 'worker.sleep' });
  });

  it('is not cut by pythonia’s default request timeout', async () => {
    await expect(worker.call('sleep', { seconds: 2.5 })).resolves.toEqual({ slept: 2.5 });
  });

  it('enforces a per-call timeout and starts a fresh worker afterwards', async () => {
    const before = (await worker.call('ping', {})).pid;
    const error = await worker.call('sleep', { seconds: 60 }, { timeoutMs: 500 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkerTimeoutError);
    expect(await waitForExit(before)).toBe(true);
    const after = (await worker.call('ping', {})).pid;
    expect(after).not.toBe(before);
  });

  it('rejects every pending call when the worker dies, then recovers', async () => {
    const pid = (await worker.call('ping', {})).pid;
    const pending = [worker.call('sleep', { seconds: 60 }), worker.call('echo', { texts: ['queued'] }), worker.call('ping', {})];
    const settled = Promise.allSettled(pending);
    await new Promise((r) => setTimeout(r, 500));
    process.kill(pid, 'SIGKILL');
    const results = await settled;
    for (const result of results) {
      expect(result.status).toBe('rejected');
      expect((result as PromiseRejectedResult).reason).toBeInstanceOf(WorkerDiedError);
    }
    expect(((results[0] as PromiseRejectedResult).reason as WorkerDiedError).signal).toBe('SIGKILL');
    const fresh = await worker.call('ping', {});
    expect(fresh.pid).not.toBe(pid);
  });

  it('routes Python stdout, stderr, logging, warnings and raw fd writes into the TS logger once each, without breaking the channel', async () => {
    const capture = new CaptureTransport();
    logger.add(capture);
    try {
      await worker.call('emit_output', { text: 'marker-7f3a' });
      expect(await worker.call('echo', { texts: ['still fine'] })).toEqual({ texts: ['still fine'] });
      await new Promise((r) => setTimeout(r, 600));
      const lines = capture.lines.filter((l) => l.message.includes('marker-7f3a'));
      expect(lines.every((l) => l.source === 'python')).toBe(true);
      // The toolkit's own warning at its level, as it was logged; the warnings.warn record and the three raw writes at debug.
      expect(lines.filter((l) => l.level === 'warn')).toEqual([expect.objectContaining({ message: 'marker-7f3a', logger: 'refine_af' })]);
      expect(lines.filter((l) => l.level === 'debug')).toHaveLength(4);
      expect(lines.filter((l) => l.logger === 'py.warnings')).toHaveLength(1);
      expect(lines).toHaveLength(5);
    } finally {
      logger.remove(capture);
    }
  });

  it('round-trips a 10 MB payload', async () => {
    const big = 'x'.repeat(5_000_000) + 'é'.repeat(2_500_000);
    const { texts } = await worker.call('echo', { texts: [big] });
    expect(texts[0]!.length).toBe(big.length);
    expect(texts[0] === big).toBe(true);
  });

  it('answers 100 concurrent small calls, each with its own result', async () => {
    const calls = Array.from({ length: 100 }, (_, i) => worker.call('echo', { texts: [`call-${i}`, String(i * i)] }));
    const results = await Promise.all(calls);
    for (const [i, r] of results.entries()) expect(r.texts).toEqual([`call-${i}`, String(i * i)]);
  });

  it('refuses calls after close and leaves no process behind', async () => {
    const other = new PythonWorker({ extension: diagnostics });
    await worker.close();
    const { pid } = await other.call('ping', {});
    await other.close();
    expect(await waitForExit(pid)).toBe(true);
    await expect(other.call('ping', {})).rejects.toThrow(/closed/);
  });
});

describe('the production contract', () => {
  it('has no diagnostics: a plain worker refuses them before they reach Python', async () => {
    const worker = new PythonWorker();
    // @ts-expect-error echo is not in the production contract
    await expect(worker.call('echo', { texts: ['x'] })).rejects.toThrow(/worker\.echo: not a method of this worker's contract/);
    expect(worker.pid).toBeUndefined();
  });

  it('runs no diagnostic job', async () => {
    // @ts-expect-error countdown is not in the production contract
    await expect(runJob('countdown', { steps: 1, seconds_per_step: 0 })).rejects.toThrow(/job\.countdown: not a job of this contract/);
  });
});

describe('no orphaned worker when the Node process goes', () => {
  for (const mode of ['throw', 'exit', 'busy'] as const) {
    it(`after ${mode === 'busy' ? 'SIGKILL during a long call' : mode}`, async () => {
      const child = execa('node', ['--import', 'tsx', 'tests/ts/fixtures/worker-exit.ts', mode], { reject: false });
      const { pid } = await printedPid(child.stdout);
      expect(pid).toBeGreaterThan(0);
      if (mode === 'busy') {
        await new Promise((r) => setTimeout(r, 1000));
        expect(processAlive(pid)).toBe(true);
        process.kill(child.pid!, 'SIGKILL');
      }
      await child;
      expect(await waitForExit(pid)).toBe(true);
    });
  }
});

describe('execa jobs', () => {
  it('streams validated progress events while stray prints go to the log', async () => {
    const events: number[] = [];
    const result = await runJob(
      'countdown',
      { steps: 4, seconds_per_step: 0.05 },
      { extension: diagnostics, onProgress: (e) => events.push(e.step) },
    );
    expect(result).toEqual({ steps: 4 });
    expect(events).toEqual([1, 2, 3, 4]);
  });

  it('reports a Python exception in a job as a PythonError', async () => {
    const error = await runJob('countdown', { steps: 5, seconds_per_step: 0, fail_at_step: 3 }, { extension: diagnostics }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PythonError);
    expect((error as PythonError).pythonMessage).toContain('fail at step 3');
  });

  it('reports a killed job as WorkerDiedError', async () => {
    // The job's pid is not exposed: a launcher writes it down, then becomes the job (exec keeps the pid), so the test
    // kills exactly that process and nothing else that happens to run the same command.
    const pidFile = join(mkdtempSync(join(tmpdir(), 'job-pid-')), 'pid');
    let killed = false;
    const error = await runJob(
      'countdown',
      { steps: 100, seconds_per_step: 0.2 },
      {
        extension: diagnostics,
        launcher: ['bash', '-c', `echo $$ > '${pidFile}'; exec "$0" "$@"`, defaultPython],
        onProgress: () => {
          if (killed) return;
          killed = true;
          process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
        },
      },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkerDiedError);
    expect((error as WorkerDiedError).signal).toBe('SIGKILL');
  });

  it('keeps the last stderr line of a job that dies without ending it with a newline', async () => {
    const error = await runJob(
      'countdown',
      { steps: 1, seconds_per_step: 0 },
      {
        extension: diagnostics,
        launcher: ['bash', '-c', 'printf "first line\\nlast words, no newline" >&2; exit 3'],
      },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkerDiedError);
    expect((error as WorkerDiedError).exitCode).toBe(3);
    expect((error as WorkerDiedError).message).toMatch(/first line\nlast words, no newline/);
  });

  it('stops the job process when the caller aborts', async () => {
    const controller = new AbortController();
    const run = runJob(
      'countdown',
      { steps: 100, seconds_per_step: 0.2 },
      { extension: diagnostics, signal: controller.signal, onProgress: () => controller.abort() },
    );
    await expect(run).rejects.toThrow();
    const { stdout } = await execa('pgrep', ['-f', `${DIAGNOSTICS_MODULE} job countdown`], { reject: false });
    expect(stdout.trim()).toBe('');
  });
});

beforeAll(() => {
  expect(process.env.REQ_TIMEOUT).toBe('1000');
});

/**
 * The step ledger that `run` (run.json), `repro` (repro.json) and each fine-tuning directory share: skip, refuse,
 * --force (with the steps built on it), --resume, interruption — each rule tested once here, on real files.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { InterruptedError } from '../../ts/interrupt.js';
import {
  completedSteps,
  Ledger,
  type LedgerOptions,
  type LedgerStep,
  RunConflictError,
  RunIncompleteError,
  readLedger,
} from '../../ts/stages/ledger.js';

let dir = '';
let file = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ledger-'));
  file = join(dir, 'ledger.json');
});

/** A step writing one file; `later` is built on it. */
function stepsAt(inputs: unknown): { first: LedgerStep; later: LedgerStep } {
  const laterStep = { name: 'later', inputs: { upstream: inputs }, outputs: [join(dir, 'later.txt')] };
  return {
    first: { name: 'first', inputs, outputs: [join(dir, 'first.txt')], dependents: [{ name: 'later', outputs: laterStep.outputs }] },
    later: laterStep,
  };
}

/** Run a step whose work writes its output file and records whether it was asked to resume. */
async function runStep(options: LedgerOptions, step: LedgerStep, resumes: boolean[] = []) {
  return new Ledger(file, 'steps', options).run(step, async (resume) => {
    resumes.push(resume);
    writeFileSync(step.outputs[0]!, `made by ${JSON.stringify(step.inputs)}`);
    return { artifacts: { out: step.outputs[0]! } };
  });
}

/** Leave `step` interrupted: its work starts, then the run is aborted (Ctrl-C). */
async function interrupt(step: LedgerStep): Promise<void> {
  const abort = new AbortController();
  const run = new Ledger(file, 'steps', { signal: abort.signal }).run(step, async () => {
    writeFileSync(step.outputs[0]!, 'half');
    abort.abort(new InterruptedError('interrupted by SIGINT')); // as the CLI's Ctrl-C handler aborts
    return { artifacts: {} };
  });
  await expect(run).rejects.toBeInstanceOf(InterruptedError);
}

describe('the step ledger', () => {
  it('runs a step once per input hash: the same inputs are skipped without calling the work', async () => {
    const { first } = stepsAt({ lr: 1 });
    const ran = await runStep({}, first);
    expect(ran.outcome).toBe('ran');
    const calls: boolean[] = [];
    const again = await runStep({}, first, calls);
    expect(again).toEqual({ ...ran, outcome: 'skipped (already complete)' });
    expect(calls).toEqual([]);
    expect(readLedger(file, 'steps').first).toMatchObject({
      hash: ran.hash,
      status: 'complete',
      artifacts: { out: join(dir, 'first.txt') },
    });
  });

  it("records when a step's work started, kept when it completes: with updated_at, how long the stage took (refine-af plan's yardstick)", async () => {
    const { first } = stepsAt({ lr: 1 });
    let whileRunning: ReturnType<typeof readLedger>[string] | undefined;
    await new Ledger(file, 'steps', {}).run(first, async () => {
      whileRunning = readLedger(file, 'steps').first;
      return { artifacts: {} };
    });
    const done = readLedger(file, 'steps').first!;
    expect(whileRunning).toMatchObject({ status: 'running', started_at: expect.any(String) });
    expect(done.started_at).toBe(whileRunning!.started_at);
    expect(Date.parse(done.updated_at)).toBeGreaterThanOrEqual(Date.parse(done.started_at!));
  });

  it('refuses a step whose inputs changed, touching nothing; --force discards it and every step built on it, then starts afresh', async () => {
    const old = stepsAt({ lr: 1 });
    await runStep({}, old.first);
    await runStep({}, old.later);
    const before = readFileSync(file, 'utf8');

    const changed = stepsAt({ lr: 2 });
    const refused = runStep({ resume: true }, changed.first);
    await expect(refused).rejects.toBeInstanceOf(RunConflictError);
    await expect(refused).rejects.toThrow(/step first was made from other inputs .*pass --force to redo it .*every step built on it/);
    expect(readFileSync(file, 'utf8')).toBe(before);
    expect(readFileSync(join(dir, 'later.txt'), 'utf8')).toContain('"lr":1');

    const resumes: boolean[] = [];
    await runStep({ force: true }, changed.first, resumes);
    expect(resumes).toEqual([false]);
    expect(existsSync(join(dir, 'later.txt'))).toBe(false);
    expect(Object.keys(readLedger(file, 'steps'))).toEqual(['first']);
    expect(readFileSync(join(dir, 'first.txt'), 'utf8')).toContain('"lr":2');
  });

  it('leaves an interrupted step "running"; refuses it without --resume; --resume continues it, --force starts it over', async () => {
    const { first } = stepsAt({ lr: 1 });
    await interrupt(first);
    expect(readLedger(file, 'steps').first?.status).toBe('running');

    await expect(runStep({}, first)).rejects.toThrow(
      /step first was interrupted; pass --resume to continue it, or --force to start it over/,
    );

    const resumed: boolean[] = [];
    await runStep({ resume: true }, first, resumed);
    expect(resumed).toEqual([true]);

    file = join(dir, 'another-ledger.json');
    await interrupt(first);
    const restarted: boolean[] = [];
    let leftover: boolean | undefined;
    await new Ledger(file, 'steps', { force: true }).run(first, async (resume) => {
      restarted.push(resume);
      leftover = existsSync(first.outputs[0]!);
      return { artifacts: {} };
    });
    expect(restarted).toEqual([false]);
    expect(leftover).toBe(false); // what the interrupted run left was discarded before the work started
  });

  it('keeps the manifest key it was opened with, so run.json ("stages") written before the ledger still reads', async () => {
    mkdirSync(join(dir, 'run'), { recursive: true });
    const runJson = join(dir, 'run', 'run.json');
    const entry = { hash: 'abc', status: 'complete', artifacts: { dataset: 'x' }, release: null, updated_at: 'then' };
    writeFileSync(runJson, JSON.stringify({ stages: { instructions: entry, instances: { ...entry, status: 'running' } } }));
    expect(readLedger(runJson, 'stages').instructions).toEqual(entry);
    expect(completedSteps(runJson, 'stages', ['instructions'], 'finish it')).toHaveProperty('instructions');
    expect(() => completedSteps(runJson, 'stages', ['instructions', 'instances'], 'finish the run first')).toThrow(RunIncompleteError);
    expect(() => completedSteps(runJson, 'stages', ['sft'], 'finish the run first')).toThrow(
      /run\.json: sft is not complete; finish the run first/,
    );
  });
});

import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { configureLogging } from '../../ts/log.js';
import { formatDuration, formatRate, observeProgress, type ProgressEvent, startProgress } from '../../ts/progress.js';

const dir = mkdtempSync(join(tmpdir(), 'refine-af-progress-'));
afterAll(() => {
  vi.useRealTimers();
  configureLogging({ level: 'info' });
  rmSync(dir, { recursive: true, force: true });
});

/** The run log's records once `count` of them are written (winston's file transport writes asynchronously). */
async function records(file: string, count: number): Promise<Record<string, unknown>[]> {
  for (let waited = 0; waited < 10_000; waited += 20) {
    const lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
    if (lines.length >= count) return lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`${file}: fewer than ${count} records after 10 s`);
}

describe('progress lines in the run log (tail -f <run.dir>/refine-af.log)', () => {
  it('writes done/total, rate and ETA at most every 30 s and per 1 % of the work, at least every 10 min, and at the end', async () => {
    const file = join(dir, 'refine-af.log');
    configureLogging({ level: 'info', file });
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(0);
    const second = (s: number) => vi.setSystemTime(s * 1000);

    const progress = startProgress('rlaf', 1000, 100); // resumed: 100 were done before this process
    second(1);
    progress.update(101); // too soon
    second(31);
    progress.update(105); // 30 s passed, but only 0.5 % more done
    second(41);
    progress.update(120, { reward: '0.125' }); // 2 % more after 41 s: a line
    second(46);
    progress.update(200); // 8 % more, but 5 s after the last line
    second(46 + 11 * 60);
    progress.update(201); // 11 minutes without a line
    progress.update(1000); // the end, always
    progress.stop();
    vi.useRealTimers();

    const logged = await records(file, 3);
    expect(logged.map((r) => r.message)).toEqual([
      'rlaf: 120/1000 (12.0 %) | 29.3/min | ETA 30 min 04 s | reward 0.125',
      'rlaf: 201/1000 (20.1 %) | 8.6/min | ETA 1 h 33 min', // 101 in 706 s
      'rlaf: 1000/1000 (100.0 %) | 1.3/s | ETA 0 s',
    ]);
    expect(logged[0]!.progress).toEqual({ label: 'rlaf', done: 120, total: 1000, rate_per_s: 20 / 41, eta_s: 880 / (20 / 41) });
    expect(logged.every((r) => typeof r.timestamp === 'string' && r.level === 'info')).toBe(true);
  });

  it('hands every update of every loop to an observer until it stops observing (what plan --calibrate times units by)', () => {
    const seen: ProgressEvent[] = [];
    const stop = observeProgress((event) => seen.push(event));
    const loop = startProgress('batches', 3);
    loop.update(1);
    loop.update(2);
    stop();
    loop.update(3);
    loop.stop();
    expect(seen.map(({ label, done, total }) => ({ label, done, total }))).toEqual([
      { label: 'batches', done: 1, total: 3 },
      { label: 'batches', done: 2, total: 3 },
    ]);
    expect(seen[1]!.at).toBeGreaterThanOrEqual(seen[0]!.at);
  });

  it('says durations and rates the way a person reads them', () => {
    expect([4.2, 42, 185, 7620, 3 * 86_400 + 4 * 3600, Infinity].map(formatDuration)).toEqual([
      '4.2 s',
      '42 s',
      '3 min 05 s',
      '2 h 07 min',
      '3 d 04 h',
      'unknown',
    ]);
    expect([2.5, 0.5, 0.001].map(formatRate)).toEqual(['2.5/s', '30.0/min', '3.60/h']);
  });
});

/**
 * The crash harness's CI subset (tests/reliability/harness.ts; `make reliability` runs the full one and writes
 * RELIABILITY.md): a real `refine-af run` on the small settings, SIGKILLed once per stage at seeded points, resumed
 * each time, then compared with an uninterrupted run of the same config; and stage 2's other algorithms, GRPO and RLOO,
 * killed twice inside stage 2.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { crashAndResume, type HarnessReport } from '../reliability/harness.js';

const root = mkdtempSync(join(tmpdir(), 'refine-af-crash-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Every artifact the two runs made is the same (wall-clock fields aside), the ones of every stage among them. */
function expectSameEnd(report: HarnessReport): void {
  const differing = Object.entries(report.comparison)
    .filter(([, same]) => !same)
    .map(([name]) => name);
  expect(differing).toEqual([]);
  expect(Object.keys(report.comparison)).toEqual(
    expect.arrayContaining([
      'machine_instructions.jsonl',
      'rlaf/metrics.jsonl',
      'rlaf/rollouts.jsonl',
      'instances/generations.jsonl',
      'sft/adapter/adapter_model.safetensors',
    ]),
  );
}

describe('crash and resume (SIGKILL at 4 seeded points, one per stage)', () => {
  it('leaves no torn line, no orphan Python, no duplicate, and ends equal to the uninterrupted run', { timeout: 600_000 }, async () => {
    const report = await crashAndResume(root, { seed: 3, perStage: 1, size: 'small' });
    expect(report.kills).toHaveLength(4);
    expect(report.kills.filter((k) => k.landed !== 'none').length).toBeGreaterThanOrEqual(3);
    for (const kill of report.kills) {
      expect(kill.orphans, JSON.stringify(kill)).toBe(0);
      expect(kill.tornLines, JSON.stringify(kill)).toBe(0);
    }
    for (const [name, parsed] of Object.entries(report.strictParse)) {
      expect(parsed, name).toMatchObject({ ok: true, duplicates: 0 });
      expect(parsed.records, name).toBeGreaterThan(0);
    }
    expectSameEnd(report);
  });
});

describe.each(['grpo', 'rloo'] as const)('crash and resume with %s in stage 2 (SIGKILL twice inside it)', (algorithm) => {
  it('resumes from its checkpoints to the same adapter, metrics and rollouts as the uninterrupted run, and the later stages follow', {
    timeout: 600_000,
  }, async () => {
    const report = await crashAndResume(root, { seed: 5, perStage: 2, size: 'small', algorithm, stages: ['rlaf'] });
    expect(report.kills.map((k) => k.landed)).toEqual(['rlaf', 'rlaf']);
    for (const kill of report.kills) expect([kill.orphans, kill.tornLines], JSON.stringify(kill)).toEqual([0, 0]);
    expectSameEnd(report);
    const summary = JSON.parse(readFileSync(join(root, `crashed-small-${algorithm}-5-2`, 'rlaf', 'summary.json'), 'utf8'));
    expect(summary).toMatchObject({ algorithm, steps: 3, interrupted: false });
  });
});

/**
 * The crash harness's CI subset (tests/reliability/harness.ts; `make reliability` runs the full one and writes
 * RELIABILITY.md): a real `refine-af run` on the small settings, SIGKILLed once per stage at seeded points, resumed
 * each time, then compared with an uninterrupted run of the same config.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { crashAndResume } from '../reliability/harness.js';

const root = mkdtempSync(join(tmpdir(), 'refine-af-crash-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

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
    const differing = Object.entries(report.comparison)
      .filter(([, same]) => !same)
      .map(([name]) => name);
    expect(differing).toEqual([]);
    expect(Object.keys(report.comparison)).toEqual(
      expect.arrayContaining([
        'machine_instructions.jsonl',
        'rlaf/metrics.jsonl',
        'instances/generations.jsonl',
        'sft/adapter/adapter_model.safetensors',
      ]),
    );
  });
});

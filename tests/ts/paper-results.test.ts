/**
 * What the paper's Table II percentages can be (docs/evaluation.md, "% of tasks better"): which k/n, rounded to two
 * decimals as the table prints them, give each one. Read from docs/paper-results.json, so the doc's claims stay true.
 */
import { describe, expect, it } from 'vitest';
import { loadPaperResults } from '../../ts/pipeline/repro-report.js';

const tableII = Object.values(loadPaperResults().backbones).flatMap((b) => b.table_ii.map((row) => row.percent_tasks_better));

/** Every n ≤ nMax with some k such that 100·k/n rounds to `percent` at two decimals. */
function denominators(percent: number, nMax: number): number[] {
  const fits = (n: number) => {
    for (let k = 0; k <= n; k++) if ((Math.round((10_000 * k) / n) / 100).toFixed(2) === percent.toFixed(2)) return true;
    return false;
  };
  return Array.from({ length: nMax }, (_, i) => i + 1).filter(fits);
}

describe("the paper's Table II percentages", () => {
  it("are nine, and only LLaMA 2-13B's three are k/119 (119 = Super-NI test tasks)", () => {
    expect(tableII).toEqual([66.66, 53.79, 64.39, 44.54, 52.94, 66.39, 64.29, 60.34, 63.51]);
    expect(tableII.filter((p) => denominators(p, 140).includes(119))).toEqual([44.54, 52.94, 66.39]);
  });

  it('fit these denominators up to 140', () => {
    expect(denominators(53.79, 140)).toEqual([132]);
    expect(denominators(64.39, 140)).toEqual([132]);
    expect(denominators(63.51, 140)).toEqual([74]);
    expect(denominators(64.29, 140)).toEqual([14, 28, 42, 56, 70, 84, 98, 112, 126, 140]);
    expect(denominators(60.34, 140)).toEqual([58, 116]);
    // 66.66 is 2/3 truncated, not rounded (66.67): the first rounded fit is n = 2,858.
    expect(denominators(66.66, 2857)).toEqual([]);
    expect(denominators(66.66, 2858)).toEqual([2858]);
  });

  it('fit no common denominator: no n ≤ 1,000 gives more than five of the nine', () => {
    const fitting = new Map<number, number>();
    for (const percent of tableII) for (const n of denominators(percent, 1000)) fitting.set(n, (fitting.get(n) ?? 0) + 1);
    expect(Math.max(...fitting.values())).toBe(5);
  });
});

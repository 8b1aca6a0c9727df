import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../ts/config/load.js';
import { toCsv } from '../../ts/io/csv.js';
import { pearson, ranks, rewardTrend, rewardTrendText, spearman } from '../../ts/stats/correlation.js';
import { lineChartSvg, rewardCurveSvg } from '../../ts/stats/line-chart.js';
import { analyseDataset } from '../../ts/stats/report.js';
import { exponentialMovingAverage } from '../../ts/stats/smoothing.js';
import { mean, quantile } from '../../ts/stats/summary.js';
import { niceTicks } from '../../ts/stats/svg.js';

const distinct = fc.uniqueArray(fc.integer({ min: -1000, max: 1000 }), { minLength: 3, maxLength: 40 });

describe('ranks and Spearman', () => {
  it('gives tied values the mean of the ranks they span', () => {
    expect(ranks([10, 20, 20, 5, 20])).toEqual([2, 4, 4, 1, 4]);
  });

  it('is ±1 for any strictly monotone relation and NaN for a constant side', () => {
    const xs = [1, 2, 3, 4, 5];
    expect(
      spearman(
        xs,
        xs.map((x) => x ** 3),
      ),
    ).toBeCloseTo(1, 12);
    expect(
      spearman(
        xs,
        xs.map((x) => -Math.exp(x)),
      ),
    ).toBeCloseTo(-1, 12);
    expect(spearman(xs, [2, 2, 2, 2, 2])).toBeNaN();
  });

  it('equals 1 − 6Σd² / (n(n² − 1)) when there are no ties', () => {
    fc.assert(
      fc.property(distinct, fc.integer(), (ys, seed) => {
        const xs = ys.map((_, i) => (i * 7919 + seed) % 1009).map((v, i) => v * 1000 + i); // distinct
        const rx = ranks(xs);
        const ry = ranks(ys);
        const n = xs.length;
        const d2 = rx.reduce((sum, r, i) => sum + (r - ry[i]!) ** 2, 0);
        expect(spearman(xs, ys)).toBeCloseTo(1 - (6 * d2) / (n * (n * n - 1)), 9);
      }),
    );
  });

  it('is Pearson on ranks, symmetric, and rejects unequal lengths', () => {
    expect(spearman([1, 5, 2, 8], [3, 3, 9, 1])).toBeCloseTo(pearson(ranks([1, 5, 2, 8]), ranks([3, 3, 9, 1])), 12);
    expect(spearman([1, 5, 2, 8], [3, 3, 9, 1])).toBeCloseTo(spearman([3, 3, 9, 1], [1, 5, 2, 8]), 12);
    expect(() => spearman([1, 2], [1])).toThrow(RangeError);
  });
});

describe('exponentialMovingAverage (pandas ewm(span).mean(), adjust=True)', () => {
  it('matches the weighted-mean definition at every point', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -100, max: 100, noNaN: true }), { minLength: 1, maxLength: 50 }),
        fc.integer({ min: 1, max: 40 }),
        (values, span) => {
          const decay = 1 - 2 / (span + 1);
          const got = exponentialMovingAverage(values, span);
          values.forEach((_, t) => {
            let num = 0;
            let den = 0;
            for (let k = 0; k <= t; k++) {
              num += decay ** k * values[t - k]!;
              den += decay ** k;
            }
            expect(got[t]).toBeCloseTo(num / den, 8);
          });
        },
      ),
    );
  });

  it('keeps a constant series constant, returns the series itself for span 1, and rejects span < 1', () => {
    for (const value of exponentialMovingAverage([3, 3, 3], 30)) expect(value).toBeCloseTo(3, 12);
    expect(exponentialMovingAverage([4, -1, 7], 1)).toEqual([4, -1, 7]);
    expect(() => exponentialMovingAverage([1], 0.5)).toThrow(RangeError);
  });
});

describe('lineChartSvg', () => {
  it('draws one path per series through every finite point, with a legend and escaped text', () => {
    const svg = lineChartSvg({
      title: 'reward <&> step',
      xLabel: 'step',
      yLabel: 'reward',
      series: [
        {
          name: 'raw',
          points: [
            [1, 0.5],
            [2, Number.NaN],
            [3, 0.9],
            [4, 0.2],
          ],
        },
        {
          name: 'smoothed "ema"',
          points: [
            [1, 0.5],
            [4, 0.6],
          ],
        },
      ],
    });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    const paths = [...svg.matchAll(/<path d="([^"]+)"/g)].map((m) => m[1]!);
    expect(paths.map((d) => d.split(' ').length)).toEqual([3, 2]);
    expect(svg).toContain('reward &lt;&amp;&gt; step');
    expect(svg).toContain('smoothed &quot;ema&quot;');
  });

  it('still renders a single point or an empty series', () => {
    expect(lineChartSvg({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 'one', points: [[1, 1]] }] })).toMatch(
      /<path d="M[\d.]+,[\d.]+"/,
    );
    expect(lineChartSvg({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 'none', points: [] }] })).toContain('</svg>');
  });

  it('places ticks 1, 2 or 5 × 10^k apart inside the range', () => {
    expect(niceTicks(0, 200)).toEqual([0, 50, 100, 150, 200]);
    expect(niceTicks(-0.43, 0.12)).toEqual([-0.4, -0.2, 0]);
    expect(niceTicks(3, 3)).toEqual([3]);
    // A range below the values' precision ends (it once looped until the array outgrew memory).
    expect(niceTicks(-0.00795, -0.00795 + 1e-18).length).toBeLessThanOrEqual(6);
  });

  it('draws a series constant up to rounding as a flat line', () => {
    const svg = rewardCurveSvg(
      Array.from({ length: 6 }, (_, i) => ({ step: i + 1, reward: i % 2 === 0 ? -0.007949999999999985 : -0.00794999999999999 })),
      3,
      'ppo',
    );
    const ys = [...svg.matchAll(/<path d="([^"]+)"/g)].flatMap((m) => m[1]!.split(' ').map((point) => point.split(',')[1]));
    expect(ys).toHaveLength(12);
    expect(new Set(ys).size).toBe(1);
  });
});

describe('toCsv', () => {
  it('quotes cells with commas, quotes or line breaks, and leaves missing cells empty', () => {
    expect(
      toCsv(
        ['a', 'b', 'c'],
        [
          [1, 'x,y', undefined],
          ['say "hi"', 'two\nlines', 0.5],
        ],
      ),
    ).toBe('a,b,c\r\n1,"x,y",\r\n"say ""hi""","two\nlines",0.5\r\n');
  });
});

describe('mean and quantile', () => {
  it('interpolate between order statistics as numpy does: the median of an even count is the mean of the middle two', () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantile([1, 2, 3, 4, 10], 0.5)).toBe(3);
    expect(quantile([1, 2, 3, 4], 0.25)).toBe(1.75);
    expect(quantile([], 0.5)).toBeNaN();
    expect(mean([1, 2, 6])).toBe(3);
    expect(mean([])).toBeNaN();
    expect(mean([], 0)).toBe(0);
  });

  it("give the dataset report's median of an even count as the mean of the middle two", () => {
    const dir = mkdtempSync(join(tmpdir(), 'refine-af-median-'));
    const dataset = join(dir, 'd.jsonl');
    // Output lengths 1, 2, 3 and 4 words: the median is 2.5 (the upper middle element would be 3).
    const outputs = ['a', 'a b', 'a b c', 'a b c d'];
    writeFileSync(
      dataset,
      `${outputs.map((output, i) => JSON.stringify({ instruction: `Write item number ${i} now.`, input: '', output })).join('\n')}\n`,
    );
    const stats = analyseDataset(parseConfig({}), { dataset, outDir: join(dir, 'out') });
    expect(stats.lengths.output.median).toBe(2.5);
  });
});

describe('rewardTrend (Figure 2: ρ of the raw and of the smoothed reward curve)', () => {
  // A jump, then small dips: the raw means fall back twice, their span-30 moving average rises at every step.
  const points = [0, 10, 9, 10, 9.5].map((reward, i) => ({ step: i + 1, reward }));

  it('gives two different ρ on a curve whose moving average smooths away the dips', () => {
    const smooth = exponentialMovingAverage(
      points.map((p) => p.reward),
      30,
    );
    expect(smooth.every((value, i) => i === 0 || value > smooth[i - 1]!)).toBe(true);
    // Raw: reward ranks (1, 4.5, 2, 4.5, 3) against steps 1..5: Σ dx·dy = 4, Σ dx² = 10, Σ dy² = 9.5.
    const trend = rewardTrend(points, 30);
    expect(trend.raw).toBeCloseTo(4 / Math.sqrt(95), 12);
    expect(trend.smoothed).toBeCloseTo(1, 12);
  });

  it('labels each ρ wherever it is written', () => {
    expect(rewardTrendText(rewardTrend(points, 30), 30)).toBe('ρ(step, reward) 0.410 per-step mean, 1.000 moving average (span 30)');
    expect(rewardTrendText({ raw: Number.NaN, smoothed: null }, 30)).toBe(
      'ρ(step, reward) undefined (constant curve) per-step mean, undefined (constant curve) moving average (span 30)',
    );
  });
});

describe('rewardCurveSvg (Figure 2, drawn by stage 2 and by the report alike)', () => {
  it('plots the rewards and their moving average, with the algorithm and Spearman ρ in the title', () => {
    const svg = rewardCurveSvg(
      [
        { step: 1, reward: 0 },
        { step: 2, reward: 1 },
        { step: 3, reward: 2 },
      ],
      2,
      'grpo',
    );
    expect(svg).toContain('Mean reward per GRPO step (Spearman');
    expect(svg).toContain('Spearman ρ(step, reward) 1.000 per-step mean, 1.000 moving average (span 2)');
    expect(svg).toContain('moving average (span 2)');
    expect(svg.match(/<path /g)).toHaveLength(2);
  });
});

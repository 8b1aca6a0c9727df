/**
 * A dependency-free SVG line chart: one or more series over a shared numeric x axis, with ticks, axis labels and a
 * legend. Enough for training curves and evaluation plots; the result is a standalone .svg file any browser opens.
 */

import type { RlAlgorithm } from '../bridge/contract.js';
import { escapeMarkup } from '../markup.js';
import { rewardTrend, rewardTrendText } from './correlation.js';
import { exponentialMovingAverage } from './smoothing.js';
import { niceTicks, PALETTE } from './svg.js';

export interface LineSeries {
  name: string;
  points: readonly (readonly [x: number, y: number])[];
  /** CSS colour; a palette colour when omitted. */
  color?: string;
  /** Stroke width in px (default 1.5). */
  width?: number;
  /** Draw a marker at each point as well as the line. */
  markers?: boolean;
}

export interface LineChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly LineSeries[];
  width?: number;
  height?: number;
}

const MARGIN = { top: 40, right: 20, bottom: 50, left: 70 };

function extent(values: number[]): [number, number] {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return [0, 1];
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  // Equal up to rounding (a constant reward and its moving average) is equal: a flat line in a unit range.
  if (hi - lo <= 1e-9 * Math.max(Math.abs(lo), Math.abs(hi))) return [lo - 0.5, hi + 0.5];
  return [lo, hi];
}

function formatTick(value: number): string {
  return Math.abs(value) >= 1e4 || (value !== 0 && Math.abs(value) < 1e-3) ? value.toExponential(1) : String(Number(value.toPrecision(4)));
}

export function lineChartSvg(spec: LineChartSpec): string {
  const width = spec.width ?? 720;
  const height = spec.height ?? 400;
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const points = spec.series.flatMap((s) => s.points);
  const [x0, x1] = extent(points.map((p) => p[0]));
  const [yMinData, yMaxData] = extent(points.map((p) => p[1]));
  const pad = (yMaxData - yMinData) * 0.05;
  const [y0, y1] = [yMinData - pad, yMaxData + pad];
  const sx = (x: number) => MARGIN.left + ((x - x0) / (x1 - x0)) * plotW;
  const sy = (y: number) => MARGIN.top + plotH - ((y - y0) / (y1 - y0)) * plotH;
  const f = (v: number) => v.toFixed(1);

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>${escapeMarkup(spec.title)}</title>`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="${MARGIN.top / 2 + 4}" text-anchor="middle" font-size="15">${escapeMarkup(spec.title)}</text>`,
  ];
  for (const t of niceTicks(x0, x1)) {
    parts.push(`<line x1="${f(sx(t))}" y1="${MARGIN.top}" x2="${f(sx(t))}" y2="${MARGIN.top + plotH}" stroke="#eee"/>`);
    parts.push(`<text x="${f(sx(t))}" y="${MARGIN.top + plotH + 16}" text-anchor="middle">${formatTick(t)}</text>`);
  }
  for (const t of niceTicks(y0, y1)) {
    parts.push(`<line x1="${MARGIN.left}" y1="${f(sy(t))}" x2="${MARGIN.left + plotW}" y2="${f(sy(t))}" stroke="#eee"/>`);
    parts.push(`<text x="${MARGIN.left - 6}" y="${f(sy(t) + 4)}" text-anchor="end">${formatTick(t)}</text>`);
  }
  parts.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`);
  parts.push(`<text x="${MARGIN.left + plotW / 2}" y="${height - 10}" text-anchor="middle">${escapeMarkup(spec.xLabel)}</text>`);
  parts.push(
    `<text x="16" y="${MARGIN.top + plotH / 2}" text-anchor="middle" transform="rotate(-90 16 ${MARGIN.top + plotH / 2})">${escapeMarkup(spec.yLabel)}</text>`,
  );
  spec.series.forEach((series, i) => {
    const color = series.color ?? PALETTE[i % PALETTE.length]!;
    const drawn = series.points.filter((p) => Number.isFinite(p[0]) && Number.isFinite(p[1]));
    if (drawn.length > 0) {
      const path = drawn.map((p, k) => `${k === 0 ? 'M' : 'L'}${f(sx(p[0]))},${f(sy(p[1]))}`).join(' ');
      parts.push(`<path d="${path}" fill="none" stroke="${color}" stroke-width="${series.width ?? 1.5}"/>`);
    }
    if (series.markers) {
      for (const p of drawn) parts.push(`<circle cx="${f(sx(p[0]))}" cy="${f(sy(p[1]))}" r="2" fill="${color}"/>`);
    }
    const ly = MARGIN.top + 14 + i * 16;
    parts.push(
      `<line x1="${MARGIN.left + 10}" y1="${ly - 4}" x2="${MARGIN.left + 30}" y2="${ly - 4}" stroke="${color}" stroke-width="2"/>`,
    );
    parts.push(`<text x="${MARGIN.left + 36}" y="${ly}">${escapeMarkup(series.name)}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

/** Figure 2: the mean reward per stage-2 step (PPO's in the paper) and its exponential moving average, as stage 2 draws
 * it while training and the dataset report draws it from the metrics file. */
export function rewardCurveSvg(points: readonly { step: number; reward: number }[], span: number, algorithm: RlAlgorithm): string {
  const smooth = exponentialMovingAverage(
    points.map((p) => p.reward),
    span,
  );
  return lineChartSvg({
    title: `Mean reward per ${algorithm.toUpperCase()} step (Spearman ${rewardTrendText(rewardTrend(points, span), span)})`,
    xLabel: 'step',
    yLabel: 'mean reward',
    series: [
      { name: 'mean reward', points: points.map((p) => [p.step, p.reward] as const), color: PALETTE[0], width: 1, markers: true },
      { name: `moving average (span ${span})`, points: points.map((p, i) => [p.step, smooth[i]!] as const), color: PALETTE[1], width: 2.5 },
    ],
  });
}

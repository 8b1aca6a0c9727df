/**
 * Dependency-free SVG charts beside ./line-chart.ts (Figure 2): histograms (Figures 3 and 4), a two-ring sunburst of
 * verbs and their nouns (Figure 8) and grouped bars (Figure 6, the human evaluation). Every text is XML-escaped; output
 * is a standalone <svg>.
 */
import { escapeMarkup } from '../markup.js';

const WIDTH = 640;
const HEIGHT = 360;
const MARGIN = { top: 36, right: 20, bottom: 48, left: 60 };
/** The one colour palette of every chart (Tableau 10): series, bars and systems take its colours in order. */
export const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

/** Round tick positions covering [min, max] (1, 2 or 5 times a power of ten apart). */
export function niceTicks(min: number, max: number, count = 6): number[] {
  if (min === max) return [min];
  const rough = (max - min) / Math.max(1, count - 1);
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = ([1, 2, 5, 10].find((m) => m * power >= rough) ?? 10) * power;
  // Counted, not stepped: a range below the values' precision (a reward constant up to rounding) adds nothing to t.
  const first = Math.ceil(min / step) * step;
  const inRange = Math.floor((max - first) / step + 1e-9) + 1;
  return Array.from({ length: inRange }, (_, k) => Number((first + k * step).toPrecision(12)));
}

const num = (x: number) => Number(x.toFixed(2)).toString();

function svgDocument(width: number, height: number, title: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<title>${escapeMarkup(title)}</title>`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${escapeMarkup(title)}</text>`,
    ...body,
    '</svg>',
  ].join('\n');
}

/**
 * Axes of counts: y ticks at whole numbers from 0 to the first round tick at or above `yMax`, and a "no data" note over
 * an empty plot; returns the y scale.
 */
function countAxes(xLabel: string, yLabel: string, yMax: number): { body: string[]; y: (v: number) => number } {
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const ticks = niceTicks(0, Math.max(1, yMax)).filter(Number.isInteger);
  const top = Math.max(yMax, ticks.at(-1)!);
  const y = (v: number) => MARGIN.top + plotHeight - (v / top) * plotHeight;
  const body = [
    `<line x1="${MARGIN.left}" y1="${HEIGHT - MARGIN.bottom}" x2="${WIDTH - MARGIN.right}" y2="${HEIGHT - MARGIN.bottom}" stroke="black"/>`,
    `<line x1="${MARGIN.left}" y1="${MARGIN.top}" x2="${MARGIN.left}" y2="${HEIGHT - MARGIN.bottom}" stroke="black"/>`,
    `<text x="${(MARGIN.left + WIDTH - MARGIN.right) / 2}" y="${HEIGHT - 10}" text-anchor="middle">${escapeMarkup(xLabel)}</text>`,
    `<text transform="translate(14 ${(MARGIN.top + HEIGHT - MARGIN.bottom) / 2}) rotate(-90)" text-anchor="middle">${escapeMarkup(yLabel)}</text>`,
  ];
  if (yMax === 0)
    body.push(
      `<text x="${(MARGIN.left + WIDTH - MARGIN.right) / 2}" y="${(MARGIN.top + HEIGHT - MARGIN.bottom) / 2}" text-anchor="middle" font-size="14" fill="#666">no data</text>`,
    );
  for (const v of ticks) {
    body.push(
      `<line x1="${MARGIN.left - 4}" y1="${num(y(v))}" x2="${MARGIN.left}" y2="${num(y(v))}" stroke="black"/>`,
      `<text x="${MARGIN.left - 6}" y="${num(y(v) + 4)}" text-anchor="end">${num(v)}</text>`,
    );
  }
  return { body, y };
}

export interface Bin {
  /** Lower edge (inclusive) and upper edge (exclusive, except the last bin). */
  from: number;
  to: number;
  count: number;
}

/** Equal-width bins over [min, max]; values outside are clamped into the end bins. */
export function histogramBins(values: readonly number[], bins: number, min: number, max: number): Bin[] {
  const width = (max - min) / bins;
  const counts = new Array<number>(bins).fill(0);
  for (const v of values) {
    const index = Math.min(bins - 1, Math.max(0, Math.floor((v - min) / width)));
    counts[index]!++;
  }
  return counts.map((count, i) => ({ from: min + i * width, to: min + (i + 1) * width, count }));
}

export function histogramSvg(title: string, bins: readonly Bin[], xLabel: string, yLabel = 'count'): string {
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const { body, y } = countAxes(xLabel, yLabel, Math.max(0, ...bins.map((b) => b.count)));
  const barWidth = plotWidth / Math.max(1, bins.length);
  const labelEvery = Math.ceil(bins.length / 10);
  bins.forEach((bin, i) => {
    const x = MARGIN.left + i * barWidth;
    body.push(
      `<rect x="${num(x + 1)}" y="${num(y(bin.count))}" width="${num(Math.max(1, barWidth - 2))}" height="${num(y(0) - y(bin.count))}" fill="${PALETTE[0]}"><title>${num(bin.from)}–${num(bin.to)}: ${bin.count}</title></rect>`,
    );
    if (i % labelEvery === 0)
      body.push(`<text x="${num(x)}" y="${HEIGHT - MARGIN.bottom + 14}" text-anchor="middle">${num(bin.from)}</text>`);
  });
  const last = bins.at(-1);
  if (last) body.push(`<text x="${WIDTH - MARGIN.right}" y="${HEIGHT - MARGIN.bottom + 14}" text-anchor="middle">${num(last.to)}</text>`);
  return svgDocument(WIDTH, HEIGHT, title, body);
}

/**
 * Grouped bars (Figure 6: per rating level, one bar per system): each group a label on the x axis, each series a colour
 * of PALETTE with its value above the bar, and a legend of the series.
 */
export function groupedBarSvg(
  title: string,
  groups: readonly string[],
  series: readonly { label: string; values: readonly number[] }[],
  xLabel: string,
  yLabel: string,
): string {
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const { body, y } = countAxes(xLabel, yLabel, Math.max(0, ...series.flatMap((s) => s.values)));
  const groupWidth = plotWidth / Math.max(1, groups.length);
  const barWidth = (groupWidth * 0.8) / Math.max(1, series.length);
  groups.forEach((group, g) => {
    const left = MARGIN.left + g * groupWidth + groupWidth * 0.1;
    series.forEach((s, i) => {
      const value = s.values[g] ?? 0;
      const x = left + i * barWidth;
      body.push(
        `<rect x="${num(x + 1)}" y="${num(y(value))}" width="${num(Math.max(1, barWidth - 2))}" height="${num(y(0) - y(value))}" fill="${PALETTE[i % PALETTE.length]}"><title>${escapeMarkup(s.label)}, ${escapeMarkup(group)}: ${num(value)}</title></rect>`,
        `<text x="${num(x + barWidth / 2)}" y="${num(y(value) - 4)}" text-anchor="middle">${num(value)}</text>`,
      );
    });
    body.push(
      `<text x="${num(left + groupWidth * 0.4)}" y="${HEIGHT - MARGIN.bottom + 14}" text-anchor="middle">${escapeMarkup(group)}</text>`,
    );
  });
  series.forEach((s, i) => {
    const x = WIDTH - MARGIN.right - 150;
    const top = MARGIN.top + i * 16;
    body.push(
      `<rect x="${x}" y="${top}" width="10" height="10" fill="${PALETTE[i % PALETTE.length]}"/>`,
      `<text x="${x + 14}" y="${top + 9}">${escapeMarkup(s.label)}</text>`,
    );
  });
  return svgDocument(WIDTH, HEIGHT, title, body);
}

export interface SunburstGroup {
  label: string;
  count: number;
  children: readonly { label: string; count: number }[];
}

function arc(cx: number, cy: number, r0: number, r1: number, a0: number, a1: number): string {
  const point = (r: number, a: number) => `${num(cx + r * Math.sin(a))},${num(cy - r * Math.cos(a))}`;
  const large = a1 - a0 > Math.PI ? 1 : 0;
  return `M${point(r0, a0)} L${point(r1, a0)} A${r1},${r1} 0 ${large} 1 ${point(r1, a1)} L${point(r0, a1)} A${r0},${r0} 0 ${large} 0 ${point(r0, a0)} Z`;
}

/**
 * Two rings: the inner ring splits the circle among groups by count (Figure 8: verbs), the outer ring gives each
 * child its share of its group's angle (nouns); the rest of a group's outer angle (its other nouns) stays empty.
 */
export function sunburstSvg(title: string, groups: readonly SunburstGroup[]): string {
  const size = 640;
  const cx = size / 2;
  const cy = size / 2 + 12;
  const [r0, r1, r2] = [60, 170, 290];
  const total = groups.reduce((n, g) => n + g.count, 0) || 1;
  const body: string[] = [];
  let angle = 0;
  groups.forEach((group, i) => {
    const span = (2 * Math.PI * group.count) / total;
    const color = PALETTE[i % PALETTE.length]!;
    body.push(
      `<path d="${arc(cx, cy, r0, r1, angle, angle + span)}" fill="${color}" stroke="white"><title>${escapeMarkup(group.label)}: ${group.count}</title></path>`,
    );
    label(body, group.label, cx, cy, (r0 + r1) / 2, angle + span / 2, span * ((r0 + r1) / 2) > 14);
    let childAngle = angle;
    for (const child of group.children) {
      const childSpan = (span * child.count) / group.count;
      body.push(
        `<path d="${arc(cx, cy, r1, r2, childAngle, childAngle + childSpan)}" fill="${color}" fill-opacity="0.55" stroke="white"><title>${escapeMarkup(group.label)} ${escapeMarkup(child.label)}: ${child.count}</title></path>`,
      );
      label(body, child.label, cx, cy, (r1 + r2) / 2, childAngle + childSpan / 2, childSpan * ((r1 + r2) / 2) > 10);
      childAngle += childSpan;
    }
    angle += span;
  });
  return svgDocument(size, size + 24, title, body);
}

/** A radial label, flipped on the left half so it reads left to right; left out when its slice is too thin. */
function label(body: string[], text: string, cx: number, cy: number, r: number, a: number, fits: boolean): void {
  if (!fits) return;
  const x = cx + r * Math.sin(a);
  const y = cy - r * Math.cos(a);
  let degrees = (a * 180) / Math.PI - 90;
  if (degrees > 90) degrees -= 180;
  body.push(
    `<text x="${num(x)}" y="${num(y)}" transform="rotate(${num(degrees)} ${num(x)} ${num(y)})" text-anchor="middle" dominant-baseline="middle" font-size="10">${escapeMarkup(text)}</text>`,
  );
}

/**
 * Progress of loops longer than a few seconds: a live bar on a terminal, and periodic lines in the log either way (the run
 * log in run.dir gets them as JSON records with a `progress` field), so `tail -f <run.dir>/refine-af.log` shows where a
 * weeks-long run is: done/total, the rate and the time left at that rate.
 */
import cliProgress from 'cli-progress';
import { holdTerminalLine, liveTerminal, logger } from './log.js';

/** A line once this much time has passed and the loop has advanced by LINE_EVERY_FRACTION of its total… */
const LINE_MIN_INTERVAL_MS = 30_000;
const LINE_EVERY_FRACTION = 0.01;
/** …or once this much time has passed at all (slow steps); and always at the end. */
const LINE_MAX_INTERVAL_MS = 10 * 60_000;

export interface Progress {
  update(done: number, fields?: Record<string, string | number>): void;
  stop(): void;
}

/** One advance of a loop: what `refine-af plan --calibrate` times a stage's units by, whatever the stage. */
export interface ProgressEvent {
  label: string;
  done: number;
  total: number;
  /** performance.now() when the loop reported it. */
  at: number;
}

const progressObservers = new Set<(event: ProgressEvent) => void>();

/** Call `observer` on every update of every loop until the returned function is called. */
export function observeProgress(observer: (event: ProgressEvent) => void): () => void {
  progressObservers.add(observer);
  return () => progressObservers.delete(observer);
}

/** "4.2 s", "42 s", "3 min 05 s", "2 h 07 min", "3 d 04 h": a duration at the precision a person reads it with. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return 'unknown';
  if (seconds > 0 && seconds < 10 && !Number.isInteger(seconds)) return `${seconds.toFixed(1)} s`;
  const s = Math.round(seconds);
  const pad = (n: number) => String(n).padStart(2, '0');
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${pad(s % 60)} s`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${pad(Math.floor((s % 3600) / 60))} min`;
  return `${Math.floor(s / 86_400)} d ${pad(Math.floor((s % 86_400) / 3600))} h`;
}

/** Items per second as a readable rate: per second, minute or hour, whichever gives a number ≥ 1. */
export function formatRate(perSecond: number): string {
  if (perSecond >= 1) return `${perSecond.toFixed(1)}/s`;
  if (perSecond * 60 >= 1) return `${(perSecond * 60).toFixed(1)}/min`;
  return `${(perSecond * 3600).toFixed(2)}/h`;
}

/** `start`: items already done before this process (a resumed run); the rate counts only what this process did. */
export function startProgress(label: string, total: number, start = 0): Progress {
  const fieldsText = (fields: Record<string, string | number>) =>
    Object.entries(fields)
      .map(([k, v]) => `${k} ${v}`)
      .join(' | ');
  const started = Date.now();
  let lastLine = { at: started, done: start };
  const logLine = (done: number, fields: Record<string, string | number> = {}) => {
    for (const observe of progressObservers) observe({ label, done, total, at: performance.now() });
    const now = Date.now();
    const elapsed = now - lastLine.at;
    const advanced = done - lastLine.done >= LINE_EVERY_FRACTION * total;
    if (done < total && (elapsed < LINE_MIN_INTERVAL_MS || (!advanced && elapsed < LINE_MAX_INTERVAL_MS))) return;
    lastLine = { at: now, done };
    const ratePerSecond = (done - start) / Math.max((now - started) / 1000, 1e-3);
    const etaSeconds = done >= total ? 0 : ratePerSecond > 0 ? (total - done) / ratePerSecond : Infinity;
    const percent = total > 0 ? ((100 * done) / total).toFixed(1) : '100.0';
    const extra = Object.keys(fields).length ? ` | ${fieldsText(fields)}` : '';
    logger.info(`${label}: ${done}/${total} (${percent} %) | ${formatRate(ratePerSecond)} | ETA ${formatDuration(etaSeconds)}${extra}`, {
      progress: { label, done, total, rate_per_s: ratePerSecond, eta_s: Number.isFinite(etaSeconds) ? etaSeconds : null },
    });
  };
  if (!liveTerminal) return { update: logLine, stop() {} };
  const bar = new cliProgress.SingleBar(
    // Cleared when stopped: the command's summary (or error) takes its place.
    {
      format: `${label} [{bar}] {value}/{total} | {eta_formatted} left | {fields}`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, start, { fields: '' });
  holdTerminalLine(true);
  return {
    update(done, fields = {}) {
      bar.update(done, { fields: fieldsText(fields) });
      logLine(done, fields); // to the run log only: the bar is the terminal's view
    },
    stop() {
      bar.stop();
      holdTerminalLine(false);
    },
  };
}

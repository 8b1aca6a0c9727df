/** Progress bars for loops longer than a few seconds: a live bar on a terminal, periodic log lines otherwise. */
import cliProgress from 'cli-progress';
import { holdTerminalLine, logger } from './log.js';

const LOG_EVERY_MS = 30_000;

export interface Progress {
  update(done: number, fields?: Record<string, string | number>): void;
  stop(): void;
}

export function startProgress(label: string, total: number, start = 0): Progress {
  const fieldsText = (fields: Record<string, string | number>) =>
    Object.entries(fields)
      .map(([k, v]) => `${k} ${v}`)
      .join(' | ');
  if (!process.stderr.isTTY || process.env.CI) {
    let lastLog = Date.now();
    return {
      update(done, fields = {}) {
        if (Date.now() - lastLog < LOG_EVERY_MS && done < total) return;
        lastLog = Date.now();
        logger.info(`${label}: ${done}/${total}${Object.keys(fields).length ? ` | ${fieldsText(fields)}` : ''}`);
      },
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar(
    // Cleared when stopped: the command's summary (or error) takes its place.
    { format: `${label} [{bar}] {value}/{total} | {eta_formatted} left | {fields}`, stream: process.stderr, hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, start, { fields: '' });
  holdTerminalLine(true);
  return {
    update(done, fields = {}) {
      bar.update(done, { fields: fieldsText(fields) });
    },
    stop() {
      bar.stop();
      holdTerminalLine(false);
    },
  };
}

/**
 * winston logging: readable lines on the terminal (stderr) at the chosen level; every record, debug included, as JSON
 * in a run log file.
 */
import winston from 'winston';
import type { z } from 'zod';
import { PYTHON_LOG_RECORD_PREFIX, pythonLogRecordSchema } from './bridge/contract.js';

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

// While a progress bar holds the terminal's last line, a log line first clears it, so it is not written after the bar.
let liveLine = false;
const CLEAR_LINE = '\r\x1b[2K';
/** Progress is shown as live bars on a terminal (not under CI); everywhere else as log lines. */
export const liveTerminal = Boolean(process.stderr.isTTY) && !process.env.CI;

/** With live bars the terminal already shows progress: its records go to the log file only. */
const dropProgressUnderBars = winston.format((info) => (liveTerminal && info.progress !== undefined ? false : info));

const terminalFormat = winston.format.combine(
  dropProgressUnderBars(),
  winston.format.colorize({ level: process.stderr.isTTY }),
  winston.format.printf(({ level, message, source, logger }) => {
    const origin = source ? ` [${String(source)}${logger ? ` ${String(logger)}` : ''}]` : '';
    return `${liveLine && process.stderr.isTTY ? CLEAR_LINE : ''}${level}${origin} ${String(message)}`;
  }),
);

/** `--verbose`, else env REFINE_AF_LOG_LEVEL, wins over the config's level. */
let levelOverride = process.env.REFINE_AF_LOG_LEVEL as LogLevel | undefined;

const terminal = new winston.transports.Console({ level: levelOverride ?? 'info', stderrLevels: [...LOG_LEVELS], format: terminalFormat });

// The logger passes every record on; each transport keeps what its level allows.
export const logger = winston.createLogger({ level: 'debug', transports: [terminal] });

let fileTransport: winston.transport | undefined;

/** How long an exiting process waits for its log file to take the last records. */
const FLUSH_LIMIT_MS = 5_000;

/** The terminal's level: `--verbose` or env REFINE_AF_LOG_LEVEL wins over config. A file, when given, receives every record as JSON. */
export function configureLogging(options: { level: LogLevel; file?: string }): void {
  terminal.level = levelOverride ?? options.level;
  if (fileTransport) logger.remove(fileTransport);
  fileTransport = undefined;
  if (options.file) {
    fileTransport = new winston.transports.File({
      filename: options.file,
      level: 'debug',
      format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    });
    logger.add(fileTransport);
  }
}

/** `--verbose`: the terminal shows every record, library output included, whatever the config says. */
export function overrideLogLevel(level: LogLevel): void {
  levelOverride = level;
  terminal.level = levelOverride;
}

/** What the terminal shows; the Python worker and jobs log at this level too. */
export function terminalLogLevel(): LogLevel {
  return terminal.level as LogLevel;
}

/** A progress bar takes (true) or gives back (false) the terminal's last line. */
export function holdTerminalLine(held: boolean): void {
  liveLine = held;
}

const PYTHON_LEVELS: Record<string, LogLevel> = { CRITICAL: 'error', ERROR: 'error', WARNING: 'warn', INFO: 'info', DEBUG: 'debug' };

function pythonRecord(line: string): z.infer<typeof pythonLogRecordSchema> | undefined {
  if (!line.startsWith(PYTHON_LOG_RECORD_PREFIX)) return undefined;
  try {
    return pythonLogRecordSchema.parse(JSON.parse(line.slice(PYTHON_LOG_RECORD_PREFIX.length)));
  } catch {
    return undefined;
  }
}

/**
 * Log one line of Python output once: a record of the toolkit's own loggers (`refine_af.*`) at its own level; a
 * library's record (transformers, huggingface_hub, bitsandbytes, Python warnings) and raw output (prints, progress
 * bars, native writes) at debug, so that they reach the run log file and, with --verbose, the terminal.
 * Returns the line as a person reads it.
 */
export function logPythonLine(line: string, source: string): string {
  const record = pythonRecord(line);
  if (record) {
    const own = record.logger === 'refine_af' || record.logger.startsWith('refine_af.');
    logger.log(own ? (PYTHON_LEVELS[record.level] ?? 'info') : 'debug', record.message, {
      source,
      logger: record.logger,
      python_level: record.level,
    });
    return `${record.level} ${record.logger}: ${record.message}`;
  }
  // A progress bar redraws itself after carriage returns: its last state is what it said.
  const text =
    line
      .split('\r')
      .filter((part) => part.trim())
      .at(-1) ?? line;
  logger.debug(text, { source });
  return text;
}

/** Wait until every transport has written what it was given (before an explicit process exit). */
export function flushLogs(): Promise<void> {
  return new Promise((resolve) => {
    // A log file that cannot take more (a full disk) never finishes: the error being reported must still end the process.
    const timer = setTimeout(done, FLUSH_LIMIT_MS);
    function done() {
      clearTimeout(timer);
      resolve();
    }
    fileTransport?.once('error', done);
    logger.once('finish', done);
    logger.end();
  });
}

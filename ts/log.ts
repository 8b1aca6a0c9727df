/**
 * winston logging: readable lines on the terminal (stderr) at the chosen level; every record, debug included, as JSON
 * in a run log file.
 */
import winston from 'winston';

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

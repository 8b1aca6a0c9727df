/** winston logging: readable lines on the terminal (stderr), JSON lines in a run log file. */
import winston from 'winston';

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Progress is shown as live bars on a terminal (not under CI); everywhere else as log lines. */
export const liveTerminal = Boolean(process.stderr.isTTY) && !process.env.CI;

/** With live bars the terminal already shows progress: its records go to the log file only. */
const dropProgressUnderBars = winston.format((info) => (liveTerminal && info.progress !== undefined ? false : info));

const terminalFormat = winston.format.combine(
  dropProgressUnderBars(),
  winston.format.colorize({ level: process.stderr.isTTY }),
  winston.format.printf(({ level, message, source }) => `${level}${source ? ` [${String(source)}]` : ''} ${String(message)}`),
);

export const logger = winston.createLogger({
  level: process.env.REFINE_AF_LOG_LEVEL ?? 'info',
  transports: [new winston.transports.Console({ stderrLevels: [...LOG_LEVELS], format: terminalFormat })],
});

let fileTransport: winston.transport | undefined;

/** Level: env REFINE_AF_LOG_LEVEL wins over config. A file, when given, receives every record as JSON. */
export function configureLogging(options: { level: LogLevel; file?: string }): void {
  logger.level = process.env.REFINE_AF_LOG_LEVEL ?? options.level;
  if (fileTransport) logger.remove(fileTransport);
  fileTransport = undefined;
  if (options.file) {
    fileTransport = new winston.transports.File({
      filename: options.file,
      format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    });
    logger.add(fileTransport);
  }
}

/** Python lines arrive as text; keep their level when Python's logging stated one. */
export function logPythonLine(line: string, source: string): void {
  const level = /^(ERROR|CRITICAL)\b/.test(line) ? 'error' : /^WARNING\b/.test(line) ? 'warn' : /^DEBUG\b/.test(line) ? 'debug' : 'info';
  logger.log(level, line, { source });
}

/** Wait until every transport has written what it was given (before an explicit process exit). */
export function flushLogs(): Promise<void> {
  return new Promise((resolve) => {
    logger.on('finish', () => resolve());
    logger.end();
  });
}

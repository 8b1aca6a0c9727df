/** Python's output read on the TS side: a line of the worker or a job is logged once, a record at its own level. */
import type { z } from 'zod';
import { type LogLevel, logger } from '../log.js';
import { PYTHON_LOG_RECORD_PREFIX, pythonLogRecordSchema } from './contract.js';

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

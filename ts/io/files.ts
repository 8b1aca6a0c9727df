/**
 * The crash-safe writer and the validating reader every stage uses.
 * - Logs and append-only outputs: one write per batch, then fsync; a crash tears at most the batch in flight, and
 *   `readJsonl(..., { repairTornTail: true })` drops a torn last line when a run resumes.
 * - Snapshots (state, summaries, configs): written to a temporary file in the same directory, fsynced, renamed over.
 */
import {
  closeSync,
  existsSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  truncateSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { z } from 'zod';
import { RefineAfError } from '../errors.js';

export class DataFileError extends RefineAfError {
  override name = 'DataFileError';
  readonly code = 'data-file';
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    detail: string,
  ) {
    super(`${file}${line === undefined ? '' : `:${line}`}: ${detail}`);
  }
}

function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** writeSync may write less than asked (a disk filling up, a file-size limit): go on until all is written or it throws. */
function writeAll(fd: number, data: Uint8Array): void {
  for (let offset = 0; offset < data.length; ) offset += writeSync(fd, data, offset, data.length - offset);
}

/**
 * Append records as JSON lines in one write, then fsync: after it returns, they survive a crash. When the write fails
 * (a full disk), the file is cut back to its old length, so a failed append leaves no partial batch behind.
 */
export function appendJsonl(file: string, records: readonly unknown[]): void {
  if (records.length === 0) return;
  mkdirSync(dirname(file), { recursive: true });
  const fd = openSync(file, 'a');
  const size = fstatSync(fd).size;
  try {
    writeAll(fd, Buffer.from(`${records.map((r) => JSON.stringify(r)).join('\n')}\n`));
    fsyncSync(fd);
  } catch (error) {
    ftruncateSync(fd, size);
    throw error;
  } finally {
    closeSync(fd);
  }
}

/** Replace a file so that readers see the old or the new content, never a mix (temp file + fsync + rename). */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const dir = dirname(file);
  mkdirSync(dir, { recursive: true });
  const temp = join(dir, `.${basename(file)}.${process.pid}.tmp`);
  const fd = openSync(temp, 'w');
  try {
    writeAll(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    rmSync(temp, { force: true });
    throw error;
  }
  closeSync(fd);
  renameSync(temp, file);
  fsyncDirectory(dir);
}

export function writeJsonAtomic(file: string, value: unknown): void {
  writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`);
}

export function readJsonIfExists<S extends z.ZodType>(file: string, schema: S): z.output<S> | undefined {
  if (!existsSync(file)) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new DataFileError(file, undefined, `not valid JSON: ${(error as Error).message}`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new DataFileError(file, undefined, formatIssues(parsed.error));
  return parsed.data;
}

export function formatIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.map(String).join('.') || '(record)'}: ${i.message}`).join('; ');
}

export interface ReadJsonlOptions {
  /** Drop an unterminated last line (a write torn by a crash) from the file itself, so appends resume cleanly. */
  repairTornTail?: boolean;
}

/** Read and validate every line; a bad line fails with file, line number, key path and the problem. */
export function readJsonl<S extends z.ZodType>(file: string, schema: S, options: ReadJsonlOptions = {}): z.output<S>[] {
  return readJsonlLines(file, schema, options).map(({ record }) => record);
}

/** readJsonl, each record with its line number in the file (blank lines are skipped, so the two differ), for later checks' errors. */
export function readJsonlLines<S extends z.ZodType>(
  file: string,
  schema: S,
  options: ReadJsonlOptions = {},
): { line: number; record: z.output<S> }[] {
  if (!existsSync(file)) return [];
  let text = readFileSync(file, 'utf8');
  if (text.length > 0 && !text.endsWith('\n')) {
    const cut = text.lastIndexOf('\n') + 1;
    if (!options.repairTornTail) {
      throw new DataFileError(file, text.slice(0, cut).split('\n').length, 'last line is unterminated (a torn write?)');
    }
    truncateSync(file, Buffer.byteLength(text.slice(0, cut)));
    text = text.slice(0, cut);
  }
  const records: { line: number; record: z.output<S> }[] = [];
  text.split('\n').forEach((line, index) => {
    if (line.trim() === '') return;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch (error) {
      throw new DataFileError(file, index + 1, `not valid JSON: ${(error as Error).message}`);
    }
    const parsed = schema.safeParse(raw);
    if (!parsed.success) throw new DataFileError(file, index + 1, formatIssues(parsed.error));
    records.push({ line: index + 1, record: parsed.data });
  });
  return records;
}

/**
 * What a dataset reader does with a record it cannot use: `fail` throws on the first one (the statistics of a file with a
 * bad record would be wrong); `reject` sets each aside with its reason and reads on (`score` reports them in a file).
 */
export type BadRecordPolicy = 'fail' | 'reject';

export interface DatasetRead<T> {
  /** index: the record's position among the file's records (blank lines are not records); where: file:line or file[i]. */
  accepted: { index: number; where: string; record: T }[];
  /** With the record's text as the file holds it (its line, or its JSON in an array), so that nothing is lost. */
  rejected: { index: number; where: string; reason: string; text: string }[];
}

/**
 * The one reader of dataset files: a JSON array (the file starts with `[`) or JSONL, one record a line. `parse` turns a
 * parsed value into a record or says why it is unusable; `policy` decides what that reason does. Only a JSON array that
 * does not parse fails as a whole under either policy.
 */
export function readDatasetFile<T>(
  file: string,
  parse: (value: unknown) => { record: T } | { reason: string },
  policy: BadRecordPolicy,
): DatasetRead<T> {
  const text = readFileSync(file, 'utf8');
  const read: DatasetRead<T> = { accepted: [], rejected: [] };
  const take = (index: number, where: string, line: number | undefined, text: string, value: () => unknown) => {
    let parsed: { record: T } | { reason: string };
    try {
      parsed = parse(value());
    } catch (error) {
      if (!(error instanceof SyntaxError)) throw error;
      parsed = { reason: `not valid JSON: ${error.message}` };
    }
    if ('record' in parsed) read.accepted.push({ index, where, record: parsed.record });
    else if (policy === 'reject') read.rejected.push({ index, where, reason: parsed.reason, text });
    else throw new DataFileError(file, line, line === undefined ? `record ${index}: ${parsed.reason}` : parsed.reason);
  };
  if (text.trimStart().startsWith('[')) {
    let records: unknown[];
    try {
      records = JSON.parse(text);
    } catch (error) {
      throw new DataFileError(file, undefined, `not a valid JSON array: ${(error as Error).message}`);
    }
    for (const [i, value] of records.entries()) take(i, `${file}[${i}]`, undefined, JSON.stringify(value), () => value);
  } else {
    let index = 0;
    text.split('\n').forEach((line, lineIndex) => {
      if (line.trim() === '') return;
      take(index, `${file}:${lineIndex + 1}`, lineIndex + 1, line, () => JSON.parse(line));
      index += 1;
    });
  }
  return read;
}

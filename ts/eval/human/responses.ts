/**
 * What the raters judge: the user-oriented instructions (with their golden outputs) and each system's responses to them.
 *
 * A run is a JSON-lines file with one response per instruction, keyed by the instruction's id:
 *   {"id": "user_oriented_task_0", "response": "…"}
 * (other keys are ignored). The system's name is not in the file; it is given beside it (`--runs name=path`), so raters never
 * see it. Every run must answer every instruction exactly once: a blind comparison is fair only over the same instructions.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { UsageError } from '../../errors.js';
import { DataFileError, readJsonlLines } from '../../io/files.js';
import { packageRoot } from '../../paths.js';

export const DEFAULT_INSTRUCTIONS_FILE = resolve(packageRoot, 'seeds', 'user_oriented_instructions.jsonl');

const userOrientedInstructionSchema = z.object({
  id: z.string().min(1),
  motivation_app: z.string(),
  instruction: z.string().min(1),
  instances: z.array(z.strictObject({ input: z.string(), output: z.string() })).min(1),
});

const runLineSchema = z.object({
  id: z.string().min(1),
  response: z.string(),
});

export interface Instruction {
  id: string;
  motivationApp: string;
  instruction: string;
  input: string;
  /** The golden output, shown to raters as a reference. */
  output: string;
}

export interface SystemRun {
  system: string;
  file: string;
  /** Response per instruction id. */
  responses: Map<string, string>;
}

const SYSTEM_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/;

/** Parse a `name=path` argument of `option` (`--runs`, `--datasets`). */
export function parseRunArgument(argument: string, option = '--runs'): { system: string; file: string } {
  const at = argument.indexOf('=');
  const system = argument.slice(0, at);
  const file = argument.slice(at + 1);
  if (at < 0 || !SYSTEM_NAME.test(system) || file === '') {
    throw new UsageError(
      `${option} expects name=path with a system name of letters, digits, ".", "_", "+" or "-" (at most 64), got ${JSON.stringify(argument)}`,
    );
  }
  return { system, file };
}

/** Parse `name=path` arguments, each system named once. */
export function parseSystemArguments(argumentList: readonly string[], option: string): { system: string; file: string }[] {
  const parsed = argumentList.map((argument) => parseRunArgument(argument, option));
  const duplicate = parsed.find((r, i) => parsed.findIndex((o) => o.system === r.system) !== i);
  if (duplicate) throw new UsageError(`${option} names system "${duplicate.system}" twice`);
  return parsed;
}

function requireFile(file: string): void {
  if (!existsSync(file)) throw new DataFileError(file, undefined, 'no such file');
}

export function loadInstructions(file: string = DEFAULT_INSTRUCTIONS_FILE): Instruction[] {
  requireFile(file);
  const rows = readJsonlLines(file, userOrientedInstructionSchema);
  if (rows.length === 0) throw new DataFileError(file, undefined, 'no instructions');
  const seen = new Set<string>();
  return rows.map(({ line, record: row }) => {
    if (seen.has(row.id)) throw new DataFileError(file, line, `id ${JSON.stringify(row.id)} appears twice`);
    seen.add(row.id);
    // The user-oriented set has one instance per instruction (§V-B); a second one would never be shown, so refuse it.
    if (row.instances.length !== 1) throw new DataFileError(file, line, `instances: expected exactly one, got ${row.instances.length}`);
    const [instance] = row.instances as [{ input: string; output: string }];
    return { id: row.id, motivationApp: row.motivation_app, instruction: row.instruction, input: instance.input, output: instance.output };
  });
}

/** Read one system's responses, checking them against the instructions: every id known, none twice, none missing. */
export function loadRun(system: string, file: string, instructions: readonly Instruction[]): SystemRun {
  requireFile(file);
  const known = new Set(instructions.map((i) => i.id));
  const responses = new Map<string, string>();
  readJsonlLines(file, runLineSchema).forEach(({ line, record }) => {
    if (!known.has(record.id)) throw new DataFileError(file, line, `id: ${JSON.stringify(record.id)} is not one of the instructions`);
    if (responses.has(record.id))
      throw new DataFileError(file, line, `id: ${JSON.stringify(record.id)} already answered on an earlier line`);
    responses.set(record.id, record.response);
  });
  const missing = instructions.filter((i) => !responses.has(i.id)).map((i) => i.id);
  if (missing.length > 0) {
    const shown = missing.slice(0, 5).join(', ') + (missing.length > 5 ? `, … (${missing.length - 5} more)` : '');
    throw new DataFileError(
      file,
      undefined,
      `run "${system}" has no response for ${missing.length} of ${instructions.length} instructions: ${shown}`,
    );
  }
  return { system, file, responses };
}

/** The human-written seed tasks (Self-Instruct's 175), validated line by line. */
import { resolve } from 'node:path';
import { z } from 'zod';
import { packageRoot } from '../paths.js';
import { DataFileError, readJsonl } from './files.js';

export const seedTaskSchema = z.strictObject({
  id: z.string().min(1),
  name: z.string().min(1),
  instruction: z.string().trim().min(1),
  instances: z.array(z.strictObject({ input: z.string(), output: z.string() })).min(1),
  is_classification: z.boolean(),
});
export type SeedTask = z.infer<typeof seedTaskSchema>;

export const defaultSeedTasksFile = resolve(packageRoot, 'seeds', 'seed_tasks.jsonl');

/** Every line must be a seed task; a bad one fails with file, line, key path and the problem. */
export function loadSeedTasks(file = defaultSeedTasksFile): SeedTask[] {
  const tasks = readJsonl(file, seedTaskSchema);
  if (tasks.length === 0) throw new DataFileError(file, undefined, 'no seed tasks');
  return tasks;
}

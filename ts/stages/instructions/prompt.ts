/** The in-context sample and the prompt of one instruction-generation request (§II-B, Table VI). */
import { renderTemplate } from '../../prompts/render.js';
import type { Random } from '../../random.js';

/**
 * `total` instructions: `machine` from the machine-generated pool (fewer while it has fewer) and seeds for the rest,
 * shuffled together, as Self-Instruct's bootstrap does.
 */
export function sampleInContext(
  random: Random,
  seeds: readonly string[],
  pool: readonly string[],
  total: number,
  machine: number,
): string[] {
  const fromPool = random.sample(pool, Math.min(machine, pool.length));
  const fromSeeds = random.sample(seeds, total - fromPool.length);
  return random.shuffle([...fromPool, ...fromSeeds]);
}

/** "Task 1: …" to "Task N: …", then "Task N+1:" for the model to continue; whitespace runs collapse as in Self-Instruct. */
export function renderInstructionPrompt(template: string, inContext: readonly string[]): string {
  const tasks = inContext.map((instruction, i) => `Task ${i + 1}: ${instruction.replace(/\s+/g, ' ').trim().replace(/:+$/, '')}`);
  return renderTemplate(template, { in_context_tasks: tasks.join('\n'), next_task_number: inContext.length + 1 });
}

/** Small rating databases for the human-eval tests: instructions and responses full of markup that must render as text. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serveHumanEval } from '../../ts/eval/human/commands.js';
import type { RatingServer } from '../../ts/eval/human/server.js';

/** Text that would run script or break the page if it were rendered unescaped. */
export const HOSTILE_TEXTS = [
  '<script>alert("pwned")</script>',
  '<img src=x onerror="alert(1)">',
  '"><svg onload=alert(2)>',
  "</div></section><script>document.title='owned'</script>",
] as const;

export interface Fixture {
  dir: string;
  instructionsFile: string;
  /** `name=path` arguments, as given to `human-eval serve --runs`. */
  runs: string[];
  /** The response text of each system to each instruction id. */
  responses: Record<string, Record<string, string>>;
  instructionIds: string[];
}

function writeJsonl(file: string, rows: unknown[]): void {
  writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
}

/** `count` instructions answered by two systems: "echo" repeats the golden output, "markup" answers with markup. */
export function ratingFixture(count = 3): Fixture {
  const dir = mkdtempSync(join(tmpdir(), 'refine-af-human-'));
  const instructions = Array.from({ length: count }, (_, i) => ({
    id: `task_${i}`,
    motivation_app: 'Tests',
    instruction: `Instruction ${i}: explain ${HOSTILE_TEXTS[i % HOSTILE_TEXTS.length]}`,
    instances: [{ input: i % 2 === 0 ? `input ${i} ${HOSTILE_TEXTS[(i + 1) % HOSTILE_TEXTS.length]}` : '', output: `golden output ${i} & more` }],
  }));
  const responses: Record<string, Record<string, string>> = { echo: {}, markup: {} };
  for (const [i, instruction] of instructions.entries()) {
    (responses.echo as Record<string, string>)[instruction.id] = `golden output ${i} & more`;
    (responses.markup as Record<string, string>)[instruction.id] = `response ${i} ${HOSTILE_TEXTS[(i + 2) % HOSTILE_TEXTS.length]}`;
  }
  const instructionsFile = join(dir, 'instructions.jsonl');
  writeJsonl(instructionsFile, instructions);
  const runs = Object.entries(responses).map(([system, byId]) => {
    const file = join(dir, `${system}.jsonl`);
    writeJsonl(file, Object.entries(byId).map(([id, response]) => ({ id, response })));
    return `${system}=${file}`;
  });
  return { dir, instructionsFile, runs, responses, instructionIds: instructions.map((i) => i.id) };
}

/** Serve the fixture's runs from `db` on 127.0.0.1, on a free port. */
export function serveFixture(fixture: Fixture, db: string, bodyLimitBytes = 16_384): Promise<RatingServer> {
  return serveHumanEval({ db, runs: fixture.runs, instructions: fixture.instructionsFile, host: '127.0.0.1', port: 0, bodyLimitBytes, sessionHours: 1 });
}

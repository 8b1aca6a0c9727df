/** Super-NI evaluation on the 12-task fixture in its native layout: loading, prompts, resumable generation, scoring, comparing. */
import { cpSync, mkdtempSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalWorkerBackend } from '../../ts/backends/local.js';
import type { GenerationBackend, GenerationRequest } from '../../ts/backends/types.js';
import { PythonWorker } from '../../ts/bridge/worker.js';
import { parseConfig } from '../../ts/config/load.js';
import { compareReports, readReport, tasksBetterText } from '../../ts/eval/compare.js';
import {
  buildPrompt,
  evalSuperNi,
  loadSuperNi,
  predictionSchema,
  RAW_PROMPT_DESCRIPTION,
  type SuperNiReport,
  scoreSuperNi,
} from '../../ts/eval/superni.js';
import { DataFileError, readJsonl } from '../../ts/io/files.js';

const dataDir = join(import.meta.dirname, '..', '..', 'data', 'superni-mini');
const golden = join(import.meta.dirname, '..', 'golden');
const repoRoot = join(import.meta.dirname, '..', '..');

describe('reading the benchmark', () => {
  it('takes the split’s tasks, their first N instances and the first category, lower-cased with underscores', () => {
    const tasks = loadSuperNi(dataDir, 100);
    expect(tasks).toHaveLength(12);
    expect(new Set(tasks.map((t) => t.category)).size).toBe(12);
    expect(tasks.every((t) => t.instances.length === 20)).toBe(true);
    const entailment = tasks.find((t) => t.name === 'task1344_glue_entailment_classification')!;
    expect(entailment.category).toBe('textual_entailment');
    expect(entailment.instances[0]!.id).toBe('task1344-e2e0b311e9054658a24644d11122ce31');
    expect(loadSuperNi(dataDir, 3).every((t) => t.instances.length === 3)).toBe(true);
  });

  it('names the missing task file and the split line that lists it', () => {
    const copy = mkdtempSync(join(tmpdir(), 'superni-copy-'));
    cpSync(dataDir, copy, { recursive: true });
    const split = join(copy, 'splits', 'default', 'test_tasks.txt');
    writeFileSync(split, `${readFileSync(split, 'utf8')}task9999_not_here\n`);
    expect(() => loadSuperNi(copy, 100)).toThrow(DataFileError);
    expect(() => loadSuperNi(copy, 100)).toThrow(/tasks\/task9999_not_here\.json: task file missing: .*test_tasks\.txt:13/);
    expect(() => loadSuperNi(join(copy, 'tasks'), 100)).toThrow(/no test split here/);
  });

  it('builds a definition-only prompt with the instance input and no demonstrations', () => {
    const task = loadSuperNi(dataDir, 1).find((t) => t.name === 'task1344_glue_entailment_classification')!;
    const prompt = buildPrompt('superni_zero_shot.txt', task, task.instances[0]!);
    expect(prompt).toBe(
      `Definition: ${task.definition}\n\nNow complete the following example -\nInput: ${task.instances[0]!.input}\nOutput: `,
    );
    // A definition or input without final punctuation gets a period, as in Tk-Instruct.
    const bare = buildPrompt('superni_zero_shot.txt', { ...task, definition: 'Say yes' }, { id: 'x', input: 'a b', output: ['yes'] });
    expect(bare).toBe('Definition: Say yes.\n\nNow complete the following example -\nInput: a b.\nOutput: ');
  });
});

describe('scoring', () => {
  const tasks = loadSuperNi(dataDir, 100);
  const predictions = readJsonl(join(golden, 'superni-mini-predictions.jsonl'), predictionSchema);

  it('gives the official evaluator’s per-task, per-category and overall numbers', () => {
    const expected = JSON.parse(readFileSync(join(golden, 'superni-mini-scores.json'), 'utf8')) as SuperNiReport;
    const report = scoreSuperNi(tasks, predictions);
    expect(report.overall).toEqual(expected.overall);
    expect(report.categories).toEqual(expected.categories);
    for (const [name, scores] of Object.entries(expected.tasks)) expect(report.tasks[name]).toMatchObject(scores);
    expect(report.missing_predictions).toBe(240 - predictions.length);
  });

  it('rejects duplicate predictions and predictions filed under the wrong task', () => {
    expect(() => scoreSuperNi(tasks, [predictions[0]!, predictions[0]!], 'p.jsonl')).toThrow(
      `p.jsonl: duplicate prediction for id ${predictions[0]!.id} (prediction 2, counting from 1)`,
    );
    expect(() => scoreSuperNi(tasks, [{ ...predictions[0]!, task: 'task1_other' }])).toThrow(/names task task1_other/);
  });

  it('counts the tasks where one run beats another', () => {
    const good = scoreSuperNi(tasks, predictions);
    const empty = scoreSuperNi(tasks, []);
    expect(compareReports(good, empty)).toMatchObject({ better: 12, worse: 0, tied: 0, tasks: 12, percentTasksBetter: 100 });
    expect(compareReports(empty, good).percentTasksBetter).toBe(0);
    expect(compareReports(good, good)).toMatchObject({ tied: 12, percentTasksBetter: 0, percentBetterExcludingTies: null });
  });

  it('gives "% tasks better" of all tasks and of the tasks not tied', () => {
    const scores = (rougeL: number[]) => ({
      overall: { exact_match: 0, rougeL: 0, instances: 0 },
      categories: {},
      tasks: Object.fromEntries(rougeL.map((value, i) => [`task${i}`, { category: 'c', exact_match: 0, rougeL: value, instances: 1 }])),
      missing_predictions: 0,
      ignored_predictions: 0,
    });
    // A wins 2 tasks, loses 1, ties 2: 2 of 5 tasks, 2 of the 3 not tied.
    const c = compareReports(scores([5, 5, 1, 3, 3]), scores([4, 2, 2, 3, 3]));
    expect(c).toMatchObject({ better: 2, worse: 1, tied: 2, tasks: 5, percentTasksBetter: 40, percentBetterExcludingTies: 66.67 });
    expect(tasksBetterText(c)).toBe('40.00% of 5 tasks, 66.67% of the 3 not tied');
    expect(tasksBetterText(compareReports(scores([1, 2]), scores([1, 2])))).toBe('0.00% of 2 tasks (every task tied)');
  });

  it('scores a predictions file on the instances it predicts and compares two runs from the command line', async () => {
    const runA = mkdtempSync(join(tmpdir(), 'superni-a-'));
    const runB = mkdtempSync(join(tmpdir(), 'superni-b-'));
    const cli = (args: string[]) => execa('node', [join(repoRoot, 'bin', 'refine-af.js'), ...args], { cwd: repoRoot, reject: false });
    const predictions = join(golden, 'superni-mini-predictions.jsonl');
    const scored = await cli(['eval', 'superni', '--data-dir', dataDir, '--predictions', predictions, '--out', runA]);
    // The golden file predicts 16 of each task's 20 instances: those 192 are scored (the official evaluator's 59.86
    // over all 240, the 48 unpredicted scoring 0, is 74.83 over the 192).
    expect(scored.stdout).toMatch(/overall\s+74\.83\s+65\.63\s+192/);
    expect(readReport(runA).overall.rougeL).toBe(74.8259);
    // A file that predicts nothing is refused, not scored as zero.
    const nothing = join(runB, 'none.jsonl');
    writeFileSync(nothing, '');
    const refused = await cli(['eval', 'superni', '--data-dir', dataDir, '--predictions', nothing, '--out', runB]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain('predicts no instance of the benchmark');
    // The same instances, every prediction empty: run B loses every task.
    const empty = join(runB, 'empty.jsonl');
    const lines = readFileSync(predictions, 'utf8')
      .split('\n')
      .filter((line) => line !== '');
    writeFileSync(empty, lines.map((line) => `${JSON.stringify({ ...JSON.parse(line), prediction: '' })}\n`).join(''));
    await cli(['eval', 'superni', '--data-dir', dataDir, '--predictions', empty, '--out', runB]);
    const compared = await cli(['eval', 'compare', runA, runB]);
    expect(compared.stdout).toContain(
      '% tasks better (A over B, ROUGE-L): 100.00% of 12 tasks, 100.00% of the 12 not tied  (12 better, 0 worse, 0 tied)',
    );
    expect(compared.stdout).toMatch(/textual_entailment\s+78\.57\s+0\.00\s+78\.57/);
  });
});

/** The real backend, keeping every request it was sent. */
function recording(inner: GenerationBackend): { backend: GenerationBackend; requests: GenerationRequest[] } {
  const requests: GenerationRequest[] = [];
  return {
    requests,
    backend: {
      name: inner.name,
      generate: (request) => {
        requests.push(request);
        return inner.generate(request);
      },
    },
  };
}

describe('generating through the worker (a tiny random Llama: the weights do not matter here)', () => {
  const worker = new PythonWorker();
  afterAll(() => worker.close());
  const model = mkdtempSync(join(tmpdir(), 'tiny-llama-'));
  const adapter = mkdtempSync(join(tmpdir(), 'tiny-lora-'));
  const config = parseConfig({
    eval: { instances_per_task: 2, batch_size: 8, decoding: { max_new_tokens: 6 } },
    models: { device: 'cpu' },
  });
  const backend = new LocalWorkerBackend(worker, config.models, {
    stage: 'eval',
    batchSize: config.eval.batch_size,
    handle: 'superni-eval',
    model,
  });
  beforeAll(async () => {
    await execa(join(repoRoot, '.venv', 'bin', 'python'), [join(repoRoot, 'tests', 'py', 'tiny_models.py'), model, adapter]);
  });

  it('writes one prediction per instance, resumes after a torn write without duplicates, and scores', async () => {
    const out = mkdtempSync(join(tmpdir(), 'superni-run-'));
    const first = await evalSuperNi(config, { dataDir, outDir: out, backend, model });
    const file = join(out, 'predictions.jsonl');
    const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    expect(lines).toHaveLength(24);
    expect(first.overall.instances).toBe(24);
    expect(first.missing_predictions).toBe(0);

    // A crash in the middle of the second batch: ten lines survive, the eleventh is torn.
    const kept = `${lines.slice(0, 10).join('\n')}\n`;
    writeFileSync(file, kept + lines[10]!);
    truncateSync(file, Buffer.byteLength(kept) + 7);
    const resumed = await evalSuperNi(config, { dataDir, outDir: out, backend, model });
    const after = readJsonl(file, predictionSchema);
    expect(after).toHaveLength(24);
    expect(new Set(after.map((p) => p.id)).size).toBe(24);
    expect(readFileSync(file, 'utf8').startsWith(kept)).toBe(true);
    expect(resumed.overall.instances).toBe(24);

    await expect(evalSuperNi(config, { dataDir, outDir: out, backend, model: 'some/other-model' })).rejects.toThrow(/other settings/);
  });

  it('evaluates base + adapter: the adapter is loaded on top of the model and changes its predictions', async () => {
    const settings = parseConfig({
      eval: { instances_per_task: 1, batch_size: 12, decoding: { max_new_tokens: 6 } },
      models: { device: 'cpu' },
    });
    const adapted = new LocalWorkerBackend(worker, settings.models, {
      stage: 'eval',
      batchSize: 12,
      handle: 'superni-eval-adapter',
      model,
      adapter,
    });
    const baseOut = mkdtempSync(join(tmpdir(), 'superni-base-'));
    const adaptedOut = mkdtempSync(join(tmpdir(), 'superni-adapted-'));
    await evalSuperNi(settings, { dataDir, outDir: baseOut, backend, model });
    await evalSuperNi(settings, { dataDir, outDir: adaptedOut, backend: adapted, model, adapter });
    const base = readJsonl(join(baseOut, 'predictions.jsonl'), predictionSchema);
    const withAdapter = readJsonl(join(adaptedOut, 'predictions.jsonl'), predictionSchema);
    expect(withAdapter.map((p) => p.id)).toEqual(base.map((p) => p.id));
    expect(withAdapter.some((p, i) => p.prediction !== base[i]!.prediction)).toBe(true);
    expect(JSON.parse(readFileSync(join(adaptedOut, 'eval-run.json'), 'utf8')).adapter).toBe(adapter);
    // Neither the base nor an adapter without an SFT record has a training template: both get the raw prompt.
    expect(readReport(adaptedOut).prompt).toBe(RAW_PROMPT_DESCRIPTION);
  });

  it('prompts an adapter made by our SFT with the template recorded beside it, the base with the raw prompt, and says which', async () => {
    const settings = parseConfig({
      eval: { instances_per_task: 1, batch_size: 12, decoding: { max_new_tokens: 4 } },
      models: { device: 'cpu' },
    });
    const sftAdapter = mkdtempSync(join(tmpdir(), 'tiny-sft-adapter-'));
    cpSync(adapter, sftAdapter, { recursive: true });
    // As the sft job records it beside the adapter: its parameters, the template texts among them (Alpaca's here).
    const alpaca = (file: string) => readFileSync(join(repoRoot, 'seeds', 'templates', file), 'utf8');
    const record = join(sftAdapter, 'refine-af-sft.json');
    writeFileSync(
      record,
      JSON.stringify({ model, prompt_templates: { input: alpaca('sft_alpaca_input.txt'), no_input: alpaca('sft_alpaca_no_input.txt') } }),
    );
    const sftBackend = new LocalWorkerBackend(worker, settings.models, {
      stage: 'eval',
      batchSize: 12,
      handle: 'superni-eval-sft',
      model,
      adapter: sftAdapter,
    });
    const sftCalls = recording(sftBackend);
    const baseCalls = recording(backend);
    const sftOut = mkdtempSync(join(tmpdir(), 'superni-sft-'));
    const baseOut = mkdtempSync(join(tmpdir(), 'superni-base-raw-'));
    await evalSuperNi(settings, { dataDir, outDir: sftOut, backend: sftCalls.backend, model, adapter: sftAdapter });
    await evalSuperNi(settings, { dataDir, outDir: baseOut, backend: baseCalls.backend, model });

    const tasks = loadSuperNi(dataDir, 1);
    const ids = tasks.map((t) => t.instances[0]!.id);
    // What the worker was sent, by instance (one batch of 12, in task order); predictions.jsonl records the same.
    const sent = (calls: GenerationRequest[], out: string) => {
      expect(calls).toHaveLength(1);
      expect(calls[0]!.decoding.prompt_format).toBe('raw');
      const recorded = readJsonl(join(out, 'predictions.jsonl'), predictionSchema);
      expect(recorded.map((p) => p.prompt)).toEqual(calls[0]!.prompts);
      return new Map(calls[0]!.prompts.map((prompt, i) => [ids[i]!, prompt]));
    };
    const sftPrompts = sent(sftCalls.requests, sftOut);
    const basePrompts = sent(baseCalls.requests, baseOut);
    const entailment = tasks.find((t) => t.name === 'task1344_glue_entailment_classification')!;
    const instance = entailment.instances[0]!;
    expect(sftPrompts.get(instance.id)).toBe(
      'Below is an instruction that describes a task, paired with an input that provides further context. ' +
        'Write a response that appropriately completes the request.\n\n' +
        `### Instruction:\n${entailment.definition}\n\n### Input:\n${instance.input}\n\n### Response:\n`,
    );
    for (const task of tasks) {
      const [only] = task.instances;
      expect(sftPrompts.get(only!.id)).toMatch(/^Below is an instruction that describes a task[^]*\n### Input:\n[^]*\n\n### Response:\n$/);
      expect(basePrompts.get(only!.id)).toBe(buildPrompt('superni_zero_shot.txt', task, only!));
    }

    expect(readReport(sftOut).prompt).toBe(`sft template from ${record}`);
    expect(readReport(baseOut).prompt).toBe('raw Tk-Instruct definition-only');
    expect(readFileSync(join(sftOut, 'scores.txt'), 'utf8').split('\n')[1]).toBe(`prompt: sft template from ${record}`);
    expect(readFileSync(join(baseOut, 'scores.txt'), 'utf8').split('\n')[1]).toBe('prompt: raw Tk-Instruct definition-only');
    expect(JSON.parse(readFileSync(join(sftOut, 'eval-run.json'), 'utf8')).prompt).toBe(`sft template from ${record}`);

    // A record from before the template texts were recorded: its training prompts are unknown, so evaluation refuses.
    writeFileSync(record, JSON.stringify({ model }));
    await expect(
      evalSuperNi(settings, {
        dataDir,
        outDir: mkdtempSync(join(tmpdir(), 'superni-old-')),
        backend: sftBackend,
        model,
        adapter: sftAdapter,
      }),
    ).rejects.toThrow(/refine-af-sft\.json: no prompt_templates/);
  });
});

/**
 * `runPipeline` (the SDK face of `refine-af run`) on the crash harness's tiny settings — stage 1 from a local
 * completions server, the scripted tiny Llama everywhere else — with its real Python worker and SFT job:
 * - every stage ends with nothing left in the worker (models under handles, feedback scorers, the PPO policy), whether
 *   it completed or was interrupted, as `onStageEnd` and run.json report;
 * - a Self-Instruct baseline with `pipeline.instructions_from` takes the REFINE-AF run's instructions byte for byte
 *   without generating any, refuses a source whose stage 1 is not complete, and notices a changed source;
 * - `refine-af export` refuses the unfinished run, then writes the finished one as a dataset folder that the `datasets`
 *   library loads with the card's configs, features and counts.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Transport from 'winston-transport';
import { parse } from 'yaml';
import { parseConfig } from '../../ts/config/load.js';
import type { Config } from '../../ts/config/schema.js';
import { logger } from '../../ts/log.js';
import { defaultPython } from '../../ts/paths.js';
import { runPipeline, type StageEnd } from '../../ts/pipeline/run.js';
import { buildGenerator, harnessConfig, progressOf } from '../reliability/harness.js';
import { type CompletionsServer, startCompletionsServer } from './fixtures/completions-server.js';

const root = mkdtempSync(join(tmpdir(), 'refine-af-stages-'));
const sourceDir = join(root, 'refine-af');
let server: CompletionsServer;
let generator = '';

beforeAll(async () => {
  server = await startCompletionsServer();
  generator = buildGenerator(root);
}, 600_000); // building the tiny model takes minutes on a loaded 2-core machine
afterAll(async () => {
  await server.close();
  rmSync(root, { recursive: true, force: true });
});

function configFor(runDir: string, pipeline: Record<string, unknown> = {}): Config {
  const raw = harnessConfig(runDir, generator, server, 'small');
  // The REFINE-AF run also fine-tunes a Table II subset (its first 2 instructions), which its export offers as a dataset.
  const sft = runDir === sourceDir ? { ...(raw.sft as object), extra_subsets: [2] } : raw.sft;
  return parseConfig({ ...raw, sft, pipeline });
}

const packageRoot = resolve(import.meta.dirname, '..', '..');
const exportCommand = (...args: string[]) =>
  execa('node', [join(packageRoot, 'bin', 'refine-af.js'), 'export', ...args], { cwd: packageRoot, reject: false, all: true });
const published = join(root, 'published');

const manifestOf = (runDir: string) =>
  JSON.parse(readFileSync(join(runDir, 'run.json'), 'utf8')) as { stages: Record<string, { status: string; release?: unknown }> };
const instructionsFile = (runDir: string) => join(runDir, 'machine_instructions.jsonl');

describe("refine-af run releases every stage's models before the next stage", () => {
  const ends: StageEnd[] = [];

  // Whole runs with a Python worker and an SFT job: minutes on a loaded 2-core machine.
  it('interrupted during PPO: the stage ends with the feedback scorers released and nothing loaded', { timeout: 600_000 }, async () => {
    const controller = new AbortController();
    const poll = setInterval(() => {
      if (progressOf(sourceDir, 'rlaf') >= 1) controller.abort(new Error('test interrupt'));
    }, 20);
    await expect(
      runPipeline(configFor(sourceDir), { signal: controller.signal, onStageEnd: (end) => ends.push(end) }).finally(() =>
        clearInterval(poll),
      ),
    ).rejects.toThrow();
    expect(ends.map((e) => [e.stage, e.completed])).toEqual([
      ['instructions', true],
      ['rlaf', false],
    ]);
    // Stage 1 generated on the completions server: no worker process was started for it.
    expect(ends[0]!.release).toBeNull();
    const rlaf = ends[1]!.release!;
    expect(rlaf.before.handles).toEqual([{ handle: 'feedback', kind: 'feedback_scorers', ref: `judge:${generator}` }]);
    expect(rlaf.after.handles).toEqual([]);
    expect(rlaf.after.policy).toBeNull();
  });

  it('refine-af export refuses the unfinished run, naming the stage and the command that finishes it, and writes nothing', async () => {
    const refused = await exportCommand('--run', sourceDir, '--out', published);
    expect(refused.exitCode).toBe(1);
    expect(refused.all).toMatch(/run\.json: rlaf is not complete; finish the run first \(refine-af run --config .*config\.yaml --resume\)/);
    expect(existsSync(published)).toBe(false);
  });

  it('resumed to the end: after every stage the worker holds nothing, and run.json records what was released', {
    timeout: 600_000,
  }, async () => {
    ends.length = 0;
    await runPipeline(configFor(sourceDir), { resume: true, onStageEnd: (end) => ends.push(end) });
    expect(ends.map((e) => [e.stage, e.completed])).toEqual([
      ['rlaf', true],
      ['instances', true],
      ['sft', true],
    ]);
    for (const { stage, release } of ends) {
      expect(release, stage).not.toBeNull();
      expect(release!.after.handles, stage).toEqual([]);
      expect(release!.after.policy, stage).toBeNull();
      expect(manifestOf(sourceDir).stages[stage]!.release, stage).toEqual(release);
    }
    const [rlaf, instances, sft] = ends.map((e) => e.release!);
    expect(rlaf!.before.handles.map((h) => h.handle)).toEqual(['feedback']);
    // Stage 3 closes its backend itself (withStageBackend unloads the policy adapter's model when the stage's work ends),
    // so the stage's release finds nothing left to free.
    expect(instances!.before.handles).toEqual([]);
    expect(sft!.before.handles).toEqual([]); // SFT trains in its own subprocess
  });
});

describe('refine-af export: a finished run as a Hugging Face dataset folder', () => {
  const lines = (file: string) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line !== '');
  // What the datasets library makes of the folder, from the project's own Python environment.
  const loadWithDatasets = (folder: string) =>
    JSON.parse(
      execFileSync(
        defaultPython,
        [
          '-c',
          `import datasets, json, sys
datasets.disable_progress_bars()
folder = sys.argv[1]
loaded = {}
for name in datasets.get_dataset_config_names(folder):
    d = datasets.load_dataset(folder, name)
    loaded[name] = {"splits": {s: d[s].num_rows for s in d}, "features": {k: v.dtype for k, v in d["train"].features.items()}}
print(json.dumps(loaded))`,
          folder,
        ],
        { encoding: 'utf8', env: { ...process.env, HF_DATASETS_OFFLINE: '1' } },
      ),
    ) as Record<string, { splits: Record<string, number>; features: Record<string, string> }>;

  it("loads with datasets: one config per dataset, with the card's features and counts, equal to the files", {
    timeout: 300_000,
  }, async () => {
    const exported = await exportCommand('--run', sourceDir, '--out', published);
    expect(exported.exitCode, exported.all).toBe(0);
    const card = readFileSync(join(published, 'README.md'), 'utf8');
    const header = parse(/^---\n([^]*?)\n---\n/.exec(card)![1]!) as {
      license: string;
      task_categories: string[];
      size_categories: string[];
      configs: { config_name: string; data_files: { split: string; path: string }[] }[];
      dataset_info: {
        config_name: string;
        features: { name: string; dtype: string }[];
        splits: { name: string; num_examples: number }[];
      }[];
    };
    expect(header.task_categories).toEqual(['text-generation']);
    expect(header.size_categories).toEqual(['n<1K']);
    expect(header.license).toBe('other'); // a local model whose licence the card cannot know

    const runDataset = lines(join(sourceDir, 'instances', 'ift.jsonl'));
    const subset = lines(join(published, 'data', 'first-2', 'train.jsonl')).map((line) => JSON.parse(line) as { instruction: string });
    expect(lines(join(published, 'data', 'train.jsonl'))).toEqual(runDataset);
    expect(new Set(subset.map((r) => r.instruction)).size).toBe(
      Math.min(2, new Set(runDataset.map((l) => JSON.parse(l).instruction)).size),
    );

    const loaded = loadWithDatasets(published);
    expect(Object.keys(loaded).sort()).toEqual(['default', 'first-2']);
    for (const config of header.configs) {
      const info = header.dataset_info.find((i) => i.config_name === config.config_name)!;
      const [files] = config.data_files;
      expect(files!.split).toBe('train');
      const rows = lines(join(published, files!.path.replace(/\.parquet$/, '.jsonl'))).length;
      expect(info.splits).toEqual([{ name: 'train', num_examples: rows }]);
      expect(loaded[config.config_name]).toEqual({
        splits: { train: rows },
        features: Object.fromEntries(info.features.map((f) => [f.name, f.dtype])),
      });
    }
    expect(loaded.default!.splits.train).toBe(runDataset.length);
    // The body's counts are the run's: stage 3's summary and the files.
    const summary = JSON.parse(readFileSync(join(sourceDir, 'instances', 'summary.json'), 'utf8')) as { instancesParsed: number };
    expect(card).toContain(`${summary.instancesParsed} instances parsed`);
    expect(card).toMatch(new RegExp(`\\| \`default\` \\| \\d+ \\| ${runDataset.length} \\|`));
  });

  it('refuses a folder that holds other files, changing nothing; --force replaces it; the same run again replaces its own', {
    timeout: 300_000,
  }, async () => {
    const other = join(root, 'other-folder');
    mkdirSync(other);
    writeFileSync(join(other, 'notes.txt'), 'mine');
    const refused = await exportCommand('--run', sourceDir, '--out', other);
    expect(refused.exitCode).toBe(1);
    expect(refused.all).toContain(`${other} already holds other files; choose another --out, or pass --force to replace it`);
    expect(readdirSync(other)).toEqual(['notes.txt']);

    expect((await exportCommand('--run', sourceDir, '--out', published)).exitCode).toBe(0);
    const forced = await exportCommand('--run', sourceDir, '--out', other, '--force');
    expect(forced.exitCode, forced.all).toBe(0);
    expect(readdirSync(other)).not.toContain('notes.txt');
    expect(readdirSync(other)).toContain('README.md');
  });
});

describe('the Self-Instruct baseline shares stage 1 of the REFINE-AF run (pipeline.instructions_from)', () => {
  it("copies the source run's instructions byte for byte without generating, then runs its own stages 3 and SFT", {
    timeout: 600_000,
  }, async () => {
    const baselineDir = join(root, 'self-instruct');
    const requestsBefore = server.requests.length;
    const summary = await runPipeline(configFor(baselineDir, { method: 'self-instruct', instructions_from: sourceDir }));
    expect(server.requests.length).toBe(requestsBefore); // not one completion requested
    expect(readFileSync(instructionsFile(baselineDir))).toEqual(readFileSync(instructionsFile(sourceDir)));
    expect(summary.stages.map((s) => [s.stage, s.outcome])).toEqual([
      ['instructions', 'ran'],
      ['rlaf', 'not in this pipeline'],
      ['instances', 'ran'],
      ['sft', 'ran'],
    ]);
  });

  it('refuses a source with no run, or whose stage 1 is not complete, naming what to run first', async () => {
    const empty = join(root, 'empty');
    mkdirSync(empty);
    await expect(runPipeline(configFor(join(root, 'b1'), { method: 'self-instruct', instructions_from: empty }))).rejects.toThrow(
      /instructions_from: .*empty has no completed instructions stage \(no run there\); run that arm first: refine-af run --config/,
    );
    const interrupted = join(root, 'interrupted');
    // Ctrl-C as stage 1 starts: the ledger has recorded it as running, and no step after it begins.
    const controller = new AbortController();
    const abortAtStart = new (class extends Transport {
      override log(info: { message: string }, next: () => void) {
        if (info.message === 'instructions: starting') controller.abort(new Error('stop at once'));
        next();
      }
    })();
    logger.add(abortAtStart);
    await expect(
      runPipeline(configFor(interrupted), { signal: controller.signal }).finally(() => logger.remove(abortAtStart)),
    ).rejects.toThrow('stop at once');
    expect(manifestOf(interrupted).stages.instructions!.status).toBe('running');
    await expect(runPipeline(configFor(join(root, 'b2'), { method: 'self-instruct', instructions_from: interrupted }))).rejects.toThrow(
      /has no completed instructions stage \(it is running\); run that arm first/,
    );
  });

  it('a changed source file changes the stage-1 hash: the baseline refuses to keep what it copied', async () => {
    writeFileSync(instructionsFile(sourceDir), readFileSync(instructionsFile(sourceDir), 'utf8').split('\n').slice(1).join('\n'));
    await expect(
      runPipeline(configFor(join(root, 'self-instruct'), { method: 'self-instruct', instructions_from: sourceDir })),
    ).rejects.toThrow(/step instructions was made from other inputs/);
  });
});

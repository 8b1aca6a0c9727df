/**
 * Every setting that changes a stage's output is in its run.json hash: a run whose stages are all complete under one
 * config is skipped by `refine-af run` with that config, and refused at the right stage, before any work, once one
 * such setting changes — a template's or the seed tasks' text behind the same path included. Through the real CLI:
 * a fresh process reads the files as they are now.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig } from '../../ts/config/load.js';
import { packageRoot } from '../../ts/paths.js';
import { type StageName, stageHashes } from '../../ts/pipeline/run.js';
import { startRun } from '../reliability/harness.js';

const root = mkdtempSync(join(tmpdir(), 'refine-af-hashes-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Copies of the files a run reads, so that a test can change their text behind the same path. */
const files = {
  instructionsTemplate: join(root, 'instruction_generation.txt'),
  instancesTemplate: join(root, 'instance_generation_input_first.txt'),
  sftTemplate: join(root, 'sft_alpaca_input.txt'),
  seedTasks: join(root, 'seed_tasks.jsonl'),
};
copyFileSync(join(packageRoot, 'seeds', 'templates', 'instruction_generation.txt'), files.instructionsTemplate);
copyFileSync(join(packageRoot, 'seeds', 'templates', 'instance_generation_input_first.txt'), files.instancesTemplate);
copyFileSync(join(packageRoot, 'seeds', 'templates', 'sft_alpaca_input.txt'), files.sftTemplate);
copyFileSync(join(packageRoot, 'seeds', 'seed_tasks.jsonl'), files.seedTasks);

type Raw = Record<string, Record<string, unknown>>;

function baseConfig(): Raw {
  return {
    run: {},
    models: { dtype: 'float32', load_in_4bit: { instructions: false, rlaf: true, instances: true, sft: true, eval: true } },
    instructions: { template: files.instructionsTemplate, seed_tasks: files.seedTasks },
    rlaf: { template: files.instancesTemplate },
    instances: { template: files.instancesTemplate },
    sft: { prompt_template: files.sftTemplate },
    server: {},
  };
}

let runs = 0;
/** A run directory whose run.json says every stage completed under `raw`; returns the config file for it. */
function completedRun(raw: Raw): { raw: Raw; write: () => string } {
  const runDir = join(root, `run-${++runs}`);
  raw.run = { dir: runDir };
  mkdirSync(runDir);
  const stages = Object.fromEntries(
    Object.entries(stageHashes(parseConfig(raw))).map(([stage, hash]) => [
      stage,
      { hash, status: 'complete', artifacts: { recorded: join(runDir, stage) }, release: null, updated_at: 'then' },
    ]),
  );
  writeFileSync(join(runDir, 'run.json'), JSON.stringify({ stages }));
  const file = join(runDir, 'config.input.yaml');
  return {
    raw,
    write: () => {
      writeFileSync(file, stringify(raw));
      return file;
    },
  };
}

/** `refine-af run` on the run's config as `change` leaves it: which stage it refuses, or null when it skips them all. */
async function refusedStage(base: Raw, change: (raw: Raw) => void): Promise<StageName | null> {
  const run = completedRun(base);
  change(run.raw);
  const result = await startRun(run.write());
  const output = String(result.all);
  if (result.exitCode === 0) {
    expect(output.match(/skipped \(already complete\)/g), output).toHaveLength(4);
    return null;
  }
  const refused = /step (\w+) was made from other inputs/.exec(output);
  expect(refused, output).not.toBeNull();
  return refused![1] as StageName;
}

/** Change a file's text for one run, then put it back. */
async function withText(file: string, edit: (text: string) => string, fn: () => Promise<void>): Promise<void> {
  const original = readFileSync(file, 'utf8');
  writeFileSync(file, edit(original));
  try {
    await fn();
  } finally {
    writeFileSync(file, original);
  }
}

describe('run.json hashes everything that changes a stage', () => {
  it('skips every stage of an unchanged config, without starting any', async () => {
    expect(await refusedStage(baseConfig(), () => {})).toBeNull();
  });

  const settings: [string, StageName, (raw: Raw) => void][] = [
    [
      'models.dtype',
      'instructions',
      (r) => {
        r.models!.dtype = 'bfloat16';
      },
    ],
    [
      'models.device',
      'instructions',
      (r) => {
        r.models!.device = 'cuda';
      },
    ],
    [
      'models.load_in_4bit.instructions',
      'instructions',
      (r) => {
        (r.models!.load_in_4bit as Record<string, boolean>).instructions = true;
      },
    ],
    [
      'models.load_in_4bit.instances',
      'instances',
      (r) => {
        (r.models!.load_in_4bit as Record<string, boolean>).instances = false;
      },
    ],
    [
      'instructions.backend',
      'instructions',
      (r) => {
        r.instructions!.backend = 'llama_cpp';
      },
    ],
    [
      'instructions.decoding',
      'instructions',
      (r) => {
        r.instructions!.decoding = { temperature: 0.9 };
      },
    ],
    [
      'instances.decoding',
      'instances',
      (r) => {
        r.instances!.decoding = { max_new_tokens: 64 };
      },
    ],
    [
      'sft.training',
      'sft',
      (r) => {
        r.sft!.training = { learning_rate: 1e-4 };
      },
    ],
  ];
  for (const [key, stage, change] of settings) {
    it(`refuses ${stage} when ${key} changes`, async () => {
      expect(await refusedStage(baseConfig(), change)).toBe(stage);
    });
  }

  it("refuses stage 1 when its llama.cpp server's context changes, not when its thread count does", async () => {
    const onLlamaCpp = () => ({ ...baseConfig(), instructions: { ...baseConfig().instructions, backend: 'llama_cpp' } });
    expect(
      await refusedStage(onLlamaCpp(), (r) => {
        r.server = { llama_cpp: { n_ctx: 2048 } };
      }),
    ).toBe('instructions');
    expect(
      await refusedStage(onLlamaCpp(), (r) => {
        r.server = { llama_cpp: { n_threads: 1 } };
      }),
    ).toBeNull();
  });

  it('hashes the engine backend auto resolves to on this machine, so a run resumed where it resolves differently is refused', async () => {
    // The embedded generator is a .gguf and this machine has no CUDA: stage 3 applies the PPO adapter, so auto resolves
    // to the local worker the run was recorded on; stage 1 applies none, so auto resolves to llama.cpp, not the recorded local.
    expect(
      await refusedStage(baseConfig(), (r) => {
        r.instances!.backend = 'auto';
      }),
    ).toBeNull();
    const run = completedRun(baseConfig());
    run.raw.instructions!.backend = 'auto';
    const output = String((await startRun(run.write())).all);
    expect(output).toMatch(
      /step instructions was made from other inputs .*an engine that backend auto resolved differently on this machine/,
    );
    // Before any work, the run warns of stage 3's paper-scale count (the schema's 15,000) on the local worker; stage 1 is on llama.cpp.
    expect(output).toMatch(/instances: 15,000 instructions to answer on the local worker/);
    expect(output).not.toMatch(/instructions: 15,000 instructions on the local worker/);
  });

  const texts: [string, StageName, string][] = [
    ["stage 1's template", 'instructions', files.instructionsTemplate],
    ['the seed tasks', 'instructions', files.seedTasks],
    ["stage 2 and 3's instance template", 'rlaf', files.instancesTemplate],
    ["SFT's prompt template", 'sft', files.sftTemplate],
  ];
  for (const [what, stage, file] of texts) {
    it(`refuses ${stage} when the text of ${what} changes behind the same path`, async () => {
      const base = baseConfig();
      const run = completedRun(base);
      await withText(
        file,
        (text) => text.replace(/\n(?=[^\n]*$)/, ' \n'),
        async () => {
          const result = await startRun(run.write());
          expect(String(result.all)).toMatch(new RegExp(`step ${stage} was made from other inputs`));
        },
      );
    });
  }
});

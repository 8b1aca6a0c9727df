/**
 * Stage 2's loop end to end on the tiny random Llama (real TRL PPO steps in the real worker): logs, checkpoints,
 * exact resume after a save cut short, stop on abort, and the parse → score mapping of the rollouts.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diagnostics } from '../../fixtures/diagnostics.js';
import type { RlAlgorithm, Triplet } from '../../ts/bridge/contract.js';
import { POLICY_CHECKPOINT_MARKER } from '../../ts/bridge/contract.js';
import { PythonWorker } from '../../ts/bridge/worker.js';
import { parseConfig } from '../../ts/config/load.js';
import type { Config, ConfigInput } from '../../ts/config/schema.js';
import { defaultPython } from '../../ts/paths.js';
import { latestCheckpoint } from '../../ts/stages/rlaf/checkpoints.js';
import { rlafPaths } from '../../ts/stages/rlaf/paths.js';
import { type RlafStepRecord, readRlafMetrics } from '../../ts/stages/rlaf/records.js';
import { type RewardFn, scoreResponses, trainRlaf } from '../../ts/stages/rlaf.js';

const root = mkdtempSync(join(tmpdir(), 'refine-af-rlaf-'));
const modelDir = join(root, 'tiny-llama');
const pool = join(root, 'pool.jsonl');
const worker = new PythonWorker({ extension: diagnostics });

beforeAll(async () => {
  await execa(defaultPython, [join(import.meta.dirname, '..', 'py', 'tiny_models.py'), modelDir]);
  const instructions = [
    'Name a colour.',
    'Add two numbers.',
    'Translate "cat" to French.',
    'Sort a list of numbers.',
    'Give a synonym for "big".',
    'Reverse a word.',
  ];
  writeFileSync(pool, instructions.map((instruction) => `${JSON.stringify({ instruction, most_similar: [] })}\n`).join(''));
});
afterAll(async () => {
  await worker.close();
  rmSync(root, { recursive: true, force: true });
});

function configFor(name: string, steps: number, algorithm: RlAlgorithm = 'ppo') {
  // Two rollouts per step, one PPO epoch and the short instance prompt: each step is a few small forward/backward passes.
  const input: ConfigInput = {
    run: { dir: join(root, name), seed: 5 },
    models: { generator: modelDir, device: 'cpu' },
    rlaf: {
      pool,
      steps,
      save_every: 2,
      decoding: { max_new_tokens: 6 },
      unparsed_reward: -0.25,
      template: 'instance_generation_short.txt',
      ppo: { batch_size: 2, mini_batch_size: 1, gradient_accumulation_steps: 2, ppo_epochs: 1, learning_rate: 1e-2 },
      // GRPO and RLOO: one instruction, two completions of it, per step.
      algorithm,
      grpo: { num_generations: 2, per_device_train_batch_size: 1, gradient_accumulation_steps: 2, learning_rate: 1e-2 },
      rloo: { num_generations: 2, per_device_train_batch_size: 1, gradient_accumulation_steps: 2, learning_rate: 1e-2 },
    },
  };
  return parseConfig(input);
}

function readRollouts(file: string): { step: number; reward: number; instruction: string }[] {
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { step: number; reward: number; instruction: string });
}

// The tiny random model rarely writes a parsable "Output:", so the loop tests mostly see unparsed_reward; the mapping
// from parsed instances to rewards is tested on its own below.
const lengthReward: RewardFn = async (triplets) =>
  triplets.map((t) => ({ reward: -t.output.length / 100, indicators: { length: t.output.length } }));

/** Stage 2 on a run directory of its own, 3 steps in all (save_every 2). */
function newRun(name: string, algorithm: RlAlgorithm = 'ppo') {
  const config = configFor(name, 3, algorithm);
  return { config, paths: rlafPaths(config) };
}

/** Trains and aborts while step 2 runs, as Ctrl-C would (nothing awaits between step 1's log line and the start of step 2). */
async function trainInterrupted(config: Config) {
  const controller = new AbortController();
  const poll = setInterval(() => {
    if (existsSync(rlafPaths(config).metrics)) controller.abort();
  }, 20);
  return trainRlaf(config, { worker, reward: lengthReward, signal: controller.signal }).finally(() => clearInterval(poll));
}

const resume = (config: Config) => trainRlaf(config, { worker, reward: lengthReward, resume: true });

describe('the RLAF loop', () => {
  // Each test makes the run it starts from in its own directory: interrupted, resumed to the end, a save cut short.
  it('stops after the step in flight when aborted, with logs, chart and a usable checkpoint', async () => {
    const { config, paths } = newRun('aborted');
    const summary = await trainInterrupted(config);
    expect(summary).toMatchObject({ steps: 2, interrupted: true, checkpoint: join(paths.checkpoints, 'step-000002') });
    const metrics = readRlafMetrics(paths.metrics);
    expect(metrics.map((m) => m.step)).toEqual([1, 2]);
    for (const m of metrics) {
      expect(Number.isFinite(m.kl) && Number.isFinite(m.policy_loss) && Number.isFinite(m.value_loss) && m.entropy > 0).toBe(true);
    }
    const rollouts = readRollouts(paths.rollouts);
    expect(rollouts).toHaveLength(2 * config.rlaf.ppo.batch_size);
    expect(metrics[0]!.reward_mean).toBeCloseTo(rollouts.slice(0, 2).reduce((a, r) => a + r.reward, 0) / 2, 12);
    // The adapter's place in the checkpoint is the worker's to say (ppo_save), not rebuilt here.
    expect(summary.adapter).toBe(join(summary.checkpoint, 'adapter'));
    expect(existsSync(join(summary.adapter, 'adapter_model.safetensors'))).toBe(true);
    expect(readFileSync(paths.metricsCsv, 'utf8').split('\r\n')[0]).toMatch(/^step,reward_mean,reward_ema,/);
    expect(readFileSync(paths.chart, 'utf8')).toMatch(/^<svg[\s\S]*<path d="M[^"]+L[^"]+"/);
  });

  it('refuses to start over an existing run without --resume', async () => {
    const { config } = newRun('refused');
    await trainInterrupted(config);
    await expect(trainRlaf(config, { worker, reward: lengthReward })).rejects.toThrow(/pass --resume/);
  });

  it('resumes to the end: steps continue after the checkpoint, and the end is checkpointed', async () => {
    const { config, paths } = newRun('resumed');
    await trainInterrupted(config);
    const summary = await resume(config);
    expect(summary).toMatchObject({ steps: 3, interrupted: false, checkpoint: join(paths.checkpoints, 'step-000003') });
    expect(readRlafMetrics(paths.metrics).map((m) => m.step)).toEqual([1, 2, 3]);
    expect(readdirSync(paths.checkpoints).sort()).toEqual(['step-000002', 'step-000003']);
    // Resumed with no step left, nothing is saved: the adapter is the one the worker restored, as it reports it.
    const again = await resume(config);
    expect(again).toMatchObject({ steps: 3, checkpoint: summary.checkpoint, adapter: join(summary.checkpoint, 'adapter') });
  });

  it('after a save cut short, resumes from the last complete checkpoint and redoes exactly the steps after it', async () => {
    const { config, paths } = newRun('cut-short');
    await trainInterrupted(config);
    await resume(config);
    const before = readRlafMetrics(paths.metrics);
    const rolloutsBefore = readRollouts(paths.rollouts);
    rmSync(join(paths.checkpoints, 'step-000003', POLICY_CHECKPOINT_MARKER));
    expect(latestCheckpoint(paths.checkpoints)?.step).toBe(2);

    await resume(config);
    const after = readRlafMetrics(paths.metrics);
    const comparable = ({ seconds, seconds_ppo, ...rest }: (typeof after)[number]) => rest;
    expect(after.map(comparable)).toEqual(before.map(comparable));
    expect(readRollouts(paths.rollouts)).toEqual(rolloutsBefore);
    expect(latestCheckpoint(paths.checkpoints)?.step).toBe(3);
  });

  it.each(['grpo', 'rloo'] as const)(
    '%s: interrupted, resumed, and resumed again after a save cut short, ends exactly where an uninterrupted run ends',
    async (algorithm) => {
      const straight = newRun(`${algorithm}-straight`, algorithm);
      const summary = await trainRlaf(straight.config, { worker, reward: lengthReward });
      const { config, paths } = newRun(`${algorithm}-resumed`, algorithm);
      await trainInterrupted(config);
      await resume(config);
      rmSync(join(paths.checkpoints, 'step-000003', POLICY_CHECKPOINT_MARKER));
      const resumed = await resume(config);

      const comparable = ({ seconds, seconds_ppo, ...rest }: RlafStepRecord) => rest;
      const metrics = readRlafMetrics(paths.metrics);
      expect(metrics.map(comparable)).toEqual(readRlafMetrics(straight.paths.metrics).map(comparable));
      expect(metrics.every((m) => m.value_loss === null && m.kl_coef === config.rlaf[algorithm].beta)).toBe(true);
      // Two completions of one instruction per step, scored one by one.
      const rollouts = readRollouts(paths.rollouts);
      expect(rollouts).toEqual(readRollouts(straight.paths.rollouts));
      expect(rollouts.map((r) => r.step)).toEqual([1, 1, 2, 2, 3, 3]);
      expect(new Set(rollouts.filter((r) => r.step === 1).map((r) => r.instruction)).size).toBe(1);
      expect(resumed).toMatchObject({ steps: 3, interrupted: false, spearman_reward_step: summary.spearman_reward_step });
      expect(existsSync(join(resumed.adapter, 'adapter_model.safetensors'))).toBe(true);
    },
    // Four runs of stage 2 (straight, interrupted, resumed twice): 81 s for GRPO on the 2 shared cores at load 10.
    420_000,
  );

  it('survives a SIGINT to the worker (Ctrl-C reaches the whole process group) without tearing the call in flight', async () => {
    await worker.call('ping', {});
    const call = worker.call('sleep', { seconds: 1.5 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    process.kill(worker.pid!, 'SIGINT');
    await expect(call).resolves.toEqual({ slept: 1.5 });
  });

  it('sends the rewards to the PPO trainer unchanged through the bridge', async () => {
    const config = configFor('bridge', 1);
    const { rlaf } = config;
    await worker.call('policy_init', {
      ref: modelDir,
      dtype: 'float32',
      load_in_4bit: false,
      device: 'cpu',
      lora: rlaf.lora,
      algorithm: 'ppo',
      settings: { ...rlaf.ppo, batch_size: 4, mini_batch_size: 1, gradient_accumulation_steps: 4 },
      seed: 1,
      resume_from: null,
    });
    try {
      await worker.call('policy_generate', {
        prompts: ['a', 'b', 'c', 'd'],
        decoding: { max_new_tokens: 4, stop: [], prompt_format: 'raw' },
        seed: 1,
      });
      const scores = [0.125, -3.5, 7.25, 0.0625];
      const stats = await worker.call('policy_step', { scores, seed: 2 });
      expect(stats.mean_score).toBe(scores.reduce((a, b) => a + b) / 4);
      expect(stats.step).toBe(1);
    } finally {
      await worker.call('policy_close', {});
    }
  });
});

describe('scoreResponses', () => {
  const completion = (text: string) => ({ text, finish_reason: 'eos' as const, new_tokens: 5 });

  it('scores the first parsed instance of each response, in order, and gives unparsed responses the fixed reward', async () => {
    const seen: Triplet[] = [];
    const reward: RewardFn = async (triplets) => {
      seen.push(...triplets);
      return triplets.map((t, i) => ({ reward: 10 + i, indicators: { length: t.output.length } }));
    };
    const rollouts = await scoreResponses(
      ['Say hi.', 'Ramble.', 'Sort.'],
      [
        completion('\nOutput: hi'),
        completion(' no instance here'),
        completion('\nExample 1\nList: [2, 1]\nOutput: [1, 2]\nExample 2\nList: [3]\nOutput: [3]'),
      ],
      reward,
      -1,
    );
    expect(seen).toEqual([
      { instruction: 'Say hi.', input: '', output: 'hi' },
      { instruction: 'Sort.', input: 'List: [2, 1]', output: '[1, 2]' },
    ]);
    expect(rollouts.map((r) => r.reward)).toEqual([10, -1, 11]);
    expect(rollouts.map((r) => r.indicators)).toEqual([{ length: 2 }, {}, { length: 6 }]);
    expect(rollouts[1]!.instance).toBeNull();
  });

  it('rejects a reward function that returns the wrong number of rewards or a non-finite one', async () => {
    const responses = [completion('\nOutput: a')];
    await expect(scoreResponses(['x'], responses, async () => [], -1)).rejects.toThrow(/0 rewards for 1 triplets/);
    await expect(scoreResponses(['x'], responses, async () => [{ reward: Number.NaN, indicators: {} }], -1)).rejects.toThrow(/NaN/);
  });
});

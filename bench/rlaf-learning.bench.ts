/**
 * Proof that the stage-2 loop learns: PPO on the embedded SmolLM2-135M-Instruct, CPU, with a synthetic reward the
 * policy can learn fast, through the real loop (instance-generation prompts over the 175 seed instructions, instance parser,
 * TRL PPOTrainer steps, logs and chart). Success = Spearman(reward, step) > 0.5 over the run.
 *
 * The synthetic reward prefers a parsable instance with a short output: −min(words, 40) / 40 for a parsed instance
 * (0 is best), rlaf.unparsed_reward = −1 when nothing parses. Everything else is the configured loop; the overrides
 * below only shrink the run to fit minutes of CPU: the two-demonstration cut of Table VII (137 prompt tokens instead of
 * 642), shorter rollouts, two PPO epochs, and a learning rate that moves a LoRA adapter within tens of steps.
 *
 * Run: `npx tsx bench/rlaf-learning.bench.ts [steps]` (default 24). Writes runs/bench-rlaf/rlaf/{metrics.jsonl,
 * metrics.csv, reward-curve.svg, summary.json} and prints the figures recorded in BENCHMARKS.md.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { PythonWorker } from '../ts/bridge/worker.js';
import { parseConfig } from '../ts/config/load.js';
import { defaultSeedTasksFile } from '../ts/io/seeds.js';
import { configureLogging } from '../ts/log.js';
import { readRlafMetrics, rlafPaths, trainRlaf, type RewardFn } from '../ts/stages/rlaf.js';

const steps = Number.parseInt(process.argv[2] ?? '24', 10);
const MAX_WORDS = 40;
const runDir = join('runs', 'bench-rlaf');

const config = parseConfig({
  run: { dir: runDir, seed: 42 },
  models: { generator: 'embedded:smollm2-135m-instruct', device: 'cpu' },
  rlaf: {
    pool: defaultSeedTasksFile,
    steps,
    batch_size: 4,
    mini_batch_size: 2,
    gradient_accumulation_steps: 2,
    ppo_epochs: 2,
    learning_rate: 1e-3,
    max_new_tokens: 40,
    template: 'instance_generation_short.txt',
    save_every: 1000,
  },
});

const words = (text: string) => text.split(/\s+/).filter(Boolean).length;
const shortOutputReward: RewardFn = async (triplets) =>
  triplets.map((t) => ({ reward: -Math.min(words(t.output), MAX_WORDS) / MAX_WORDS, indicators: { output_words: words(t.output) } }));

configureLogging({ level: 'info' });
rmSync(runDir, { recursive: true, force: true });
const worker = new PythonWorker();
const started = performance.now();
try {
  const summary = await trainRlaf(config, { worker, reward: shortOutputReward });
  const metrics = readRlafMetrics(rlafPaths(config).metrics);
  const third = Math.max(1, Math.floor(metrics.length / 3));
  const meanOf = (rows: typeof metrics) => rows.reduce((a, r) => a + r.reward_mean, 0) / rows.length;
  console.log(
    JSON.stringify(
      {
        steps: summary.steps,
        spearman_reward_step: Number(summary.spearman_reward_step.toFixed(3)),
        reward_first_third: Number(meanOf(metrics.slice(0, third)).toFixed(3)),
        reward_last_third: Number(meanOf(metrics.slice(-third)).toFixed(3)),
        reward_last_ema: Number(summary.reward_last_ema.toFixed(3)),
        parsed_first_third: Number((metrics.slice(0, third).reduce((a, r) => a + r.parsed_fraction, 0) / third).toFixed(2)),
        parsed_last_third: Number((metrics.slice(-third).reduce((a, r) => a + r.parsed_fraction, 0) / third).toFixed(2)),
        kl_last: Number(metrics.at(-1)!.kl.toFixed(3)),
        seconds_per_step: Number(summary.seconds_per_step.toFixed(1)),
        wall_seconds: Math.round((performance.now() - started) / 1000),
        chart: summary.chart,
      },
      null,
      2,
    ),
  );
} finally {
  await worker.close();
}

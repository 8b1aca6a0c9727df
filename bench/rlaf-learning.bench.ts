/**
 * Proof that the stage-2 loop learns: PPO on the embedded SmolLM2-135M-Instruct, CPU, with a synthetic reward the
 * policy can learn fast, through the real loop (instance-generation prompts over the 175 seed instructions, instance parser,
 * TRL PPOTrainer steps, logs and chart). Success = Spearman ρ(step, per-step mean reward) > 0.5 over the run.
 *
 * The synthetic reward prefers a parsable instance with a short output: −min(words, 40) / 40 for a parsed instance
 * (0 is best), rlaf.unparsed_reward = −1 when nothing parses. Everything else is the configured loop; the overrides
 * below only shrink the run to fit minutes of a shared CPU: the two-demonstration cut of Table VII (137 prompt tokens
 * instead of 642), rollouts of at most 32 tokens, one PPO epoch with an optimiser update per rollout (4 per step instead of
 * 16 passes for 4 updates), and a learning rate that moves a LoRA adapter within a few dozen updates.
 *
 * Run: `OMP_NUM_THREADS=1 npx tsx bench/rlaf-learning.bench.ts [steps] [--resume]` (default 24 steps; --resume extends
 * an earlier run of this script from its last checkpoint, which draws exactly what a straight run would). One OpenMP thread because the
 * project machine's 2 cores are shared: with torch's default of 2 threads on an oversubscribed machine, OpenMP's spinning
 * barriers made a step ~35× slower (a rollout of 8 tokens: 214 s with 2 threads, 5.7 s with 1). Writes runs/bench-rlaf/rlaf/{metrics.jsonl,
 * metrics.csv, reward-curve.svg, summary.json} and prints the figures recorded in BENCHMARKS.md.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { PythonWorker } from '../ts/bridge/worker.js';
import { parseConfig } from '../ts/config/load.js';
import { defaultSeedTasksFile } from '../ts/io/seeds.js';
import { configureLogging } from '../ts/log.js';
import { rlafPaths } from '../ts/stages/rlaf/paths.js';
import { readRlafMetrics } from '../ts/stages/rlaf/records.js';
import { type RewardFn, trainRlaf } from '../ts/stages/rlaf.js';

const args = process.argv.slice(2);
const resume = args.includes('--resume');
const steps = Number.parseInt(args.find((a) => a !== '--resume') ?? '24', 10);
const MAX_WORDS = 40;
const runDir = join('runs', 'bench-rlaf');

const config = parseConfig({
  run: { dir: runDir, seed: 42 },
  models: { generator: 'embedded:smollm2-135m-instruct', device: 'cpu' },
  rlaf: {
    pool: defaultSeedTasksFile,
    steps,
    ppo: { batch_size: 4, mini_batch_size: 1, gradient_accumulation_steps: 1, ppo_epochs: 1, learning_rate: 1e-3 },
    decoding: { max_new_tokens: 32 },
    template: 'instance_generation_short.txt',
    save_every: 1000,
  },
});

const words = (text: string) => text.split(/\s+/).filter(Boolean).length;
const shortOutputReward: RewardFn = async (triplets) =>
  triplets.map((t) => ({ reward: -Math.min(words(t.output), MAX_WORDS) / MAX_WORDS, indicators: { output_words: words(t.output) } }));

configureLogging({ level: 'info' });
if (!resume) rmSync(runDir, { recursive: true, force: true });
const worker = new PythonWorker();
const started = performance.now();
try {
  const summary = await trainRlaf(config, { worker, reward: shortOutputReward, resume });
  const metrics = readRlafMetrics(rlafPaths(config).metrics);
  const third = Math.max(1, Math.floor(metrics.length / 3));
  const meanOf = (rows: typeof metrics) => rows.reduce((a, r) => a + r.reward_mean, 0) / rows.length;
  console.log(
    JSON.stringify(
      {
        steps: summary.steps,
        spearman_reward_step_raw: Number(summary.spearman_reward_step.raw.toFixed(3)),
        spearman_reward_step_smoothed: Number(summary.spearman_reward_step.smoothed.toFixed(3)),
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

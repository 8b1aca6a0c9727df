/**
 * PPO vs GRPO vs RLOO side by side through the real stage-2 loop, on the embedded SmolLM2-135M-Instruct, CPU, with the
 * synthetic reward of bench/rlaf-learning.bench.ts (a parsable instance with a short output; −1 when nothing parses).
 * Each algorithm generates 4 completions a step: PPO 4 instructions × 1 (rlaf.ppo.batch_size 4, an update per rollout
 * as in the learning bench), GRPO and RLOO 1 instruction × 4 (num_generations 4, one optimizer step over them), all at
 * learning rate 1e-3. Prints per algorithm: seconds per step and per completion, the worker's peak resident memory
 * (VmHWM; a fresh worker per algorithm), the reward per step, and Spearman ρ(step, reward).
 *
 * Run: `OMP_NUM_THREADS=1 npx tsx bench/rlaf-algorithms.bench.ts [steps]` (default 8). Writes runs/bench-rlaf-<algorithm>/.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { RL_ALGORITHMS } from '../ts/bridge/contract.js';
import { PythonWorker } from '../ts/bridge/worker.js';
import { parseConfig } from '../ts/config/load.js';
import { defaultSeedTasksFile } from '../ts/io/seeds.js';
import { configureLogging } from '../ts/log.js';
import { rlafPaths } from '../ts/stages/rlaf/paths.js';
import { readRlafMetrics } from '../ts/stages/rlaf/records.js';
import { type RewardFn, trainRlaf } from '../ts/stages/rlaf.js';

const steps = Number.parseInt(process.argv[2] ?? '8', 10);
const MAX_WORDS = 40;
const words = (text: string) => text.split(/\s+/).filter(Boolean).length;
const shortOutputReward: RewardFn = async (triplets) =>
  triplets.map((t) => ({ reward: -Math.min(words(t.output), MAX_WORDS) / MAX_WORDS, indicators: { output_words: words(t.output) } }));
const group = { num_generations: 4, per_device_train_batch_size: 1, gradient_accumulation_steps: 4, learning_rate: 1e-3 };

configureLogging({ level: 'info' });
const rows = [];
for (const algorithm of RL_ALGORITHMS) {
  const runDir = join('runs', `bench-rlaf-${algorithm}`);
  rmSync(runDir, { recursive: true, force: true });
  const config = parseConfig({
    run: { dir: runDir, seed: 42 },
    models: { generator: 'embedded:smollm2-135m-instruct', device: 'cpu' },
    rlaf: {
      algorithm,
      pool: defaultSeedTasksFile,
      steps,
      ppo: { batch_size: 4, mini_batch_size: 1, gradient_accumulation_steps: 1, ppo_epochs: 1, learning_rate: 1e-3 },
      grpo: group,
      rloo: group,
      decoding: { max_new_tokens: 32 },
      template: 'instance_generation_short.txt',
      save_every: 1000,
    },
  });
  const worker = new PythonWorker();
  try {
    const summary = await trainRlaf(config, { worker, reward: shortOutputReward });
    const peak = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${worker.pid}/status`, 'utf8'))![1]!;
    const metrics = readRlafMetrics(rlafPaths(config).metrics);
    const completions = 4;
    rows.push({
      algorithm,
      steps: summary.steps,
      seconds_per_step: Number(summary.seconds_per_step.toFixed(1)),
      seconds_per_completion: Number((summary.seconds_per_step / completions).toFixed(2)),
      seconds_update_per_step: Number((metrics.reduce((a, m) => a + m.seconds_ppo, 0) / metrics.length).toFixed(1)),
      peak_rss_mib: Math.round(Number(peak) / 1024),
      reward: metrics.map((m) => Number(m.reward_mean.toFixed(3))),
      parsed: metrics.map((m) => m.parsed_fraction),
      kl_last: Number(metrics.at(-1)!.kl.toFixed(3)),
      spearman_reward_step_raw: Number(summary.spearman_reward_step.raw.toFixed(3)),
    });
  } finally {
    await worker.close();
  }
}
console.log(JSON.stringify(rows, null, 2));

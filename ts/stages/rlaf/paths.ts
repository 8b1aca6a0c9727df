/** Where stage 2 writes: metrics, rollouts, chart, summary and checkpoints in <run.dir>/<rlaf.out_dir>, TensorBoard beside the run. */
import { isAbsolute, join, resolve } from 'node:path';
import type { Config } from '../../config/schema.js';
import { tensorboardDir } from '../../paths.js';
import { instructionsOutputPaths } from '../instructions.js';

export interface RlafPaths {
  pool: string;
  dir: string;
  metrics: string;
  metricsCsv: string;
  rollouts: string;
  chart: string;
  summary: string;
  checkpoints: string;
  /** TensorBoard event files of every step (rlaf.report_to). */
  tensorboard: string;
}

export function rlafPaths(config: Config): RlafPaths {
  const inRun = (path: string) => (isAbsolute(path) ? path : join(config.run.dir, path));
  const dir = inRun(config.rlaf.out_dir);
  return {
    pool: config.rlaf.pool === undefined ? instructionsOutputPaths(config).output : resolve(config.rlaf.pool),
    dir,
    metrics: join(dir, 'metrics.jsonl'),
    metricsCsv: join(dir, 'metrics.csv'),
    rollouts: join(dir, 'rollouts.jsonl'),
    chart: join(dir, 'reward-curve.svg'),
    summary: join(dir, 'summary.json'),
    checkpoints: join(dir, 'checkpoints'),
    tensorboard: tensorboardDir(config.run.dir, 'rlaf'),
  };
}

export function checkpointDir(paths: RlafPaths, step: number): string {
  return join(paths.checkpoints, `step-${String(step).padStart(6, '0')}`);
}

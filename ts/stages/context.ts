/** What every stage function receives: the validated config, the shared Python worker, the run directory and the logger. */
import { mkdirSync } from 'node:fs';
import type { Logger } from 'winston';
import { resolveBackends } from '../backends/engine.js';
import { withWorker } from '../backends/from-config.js';
import type { MethodResult } from '../bridge/contract.js';
import type { PythonWorker } from '../bridge/worker.js';
import type { Config } from '../config/schema.js';
import { logger } from '../log.js';

export interface StageContext {
  config: Config;
  /** One worker per process (pythonia is a singleton): every stage of a run shares it. */
  worker: PythonWorker;
  runDir: string;
  logger: Logger;
}

/**
 * Run `fn` with a context for `config`: the run directory, and one worker closed afterwards. The context's config has
 * every `backend: auto` resolved on this machine (ts/backends/engine.ts).
 */
export async function withStageContext<T>(config: Config, fn: (ctx: StageContext) => Promise<T>): Promise<T> {
  mkdirSync(config.run.dir, { recursive: true });
  return withWorker(config, async (worker) =>
    fn({ config: await resolveBackends(config, worker), worker, runDir: config.run.dir, logger }),
  );
}

/** What the worker held when a stage ended, and what it holds after the release (nothing, unless a release failed). */
export type StageRelease = MethodResult<'release_models'>;

/**
 * Free everything in the worker (models under handles, feedback scorers, the PPO policy) and empty the CUDA cache, so
 * that the next stage, or the SFT subprocess, starts with the memory free. `refine-af run` calls it after every stage,
 * whether it completed, failed or was interrupted. Without a worker process nothing is loaded: null, and none is started.
 */
export async function releaseModels(worker: PythonWorker): Promise<StageRelease | null> {
  if (worker.pid === undefined) return null;
  return worker.call('release_models', {});
}

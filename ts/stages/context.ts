/** What every stage function receives: the validated config, the shared Python worker, the run directory and the logger. */
import type { Logger } from 'winston';
import type { PythonWorker } from '../bridge/worker.js';
import type { Config } from '../config/schema.js';

export interface StageContext {
  config: Config;
  /** One worker per process (pythonia is a singleton): every stage of a run shares it. */
  worker: PythonWorker;
  runDir: string;
  logger: Logger;
}

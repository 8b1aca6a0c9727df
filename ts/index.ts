/** The refine-af SDK: the same functions the CLI runs, with their types. */
export { loadConfig, parseConfig, ConfigError } from './config/load.js';
export { configSchema, EMBEDDED_DEFAULT_MODEL, type Config, type ConfigInput } from './config/schema.js';
export { configReference } from './config/reference.js';
export { PythonWorker, workerFromConfig, type WorkerOptions } from './bridge/worker.js';
export { runJob, type JobOptions } from './bridge/jobs.js';
export { BridgeError, PythonError, WorkerDiedError, WorkerTimeoutError, ContractError } from './bridge/errors.js';
export type { Completion, Decoding, ModelInfo, ResolvedModel, WorkerMethod, MethodParams, MethodResult, JobName } from './bridge/contract.js';
export type { GenerationBackend, GenerationRequest } from './backends/types.js';
export { LocalWorkerBackend } from './backends/local.js';
export { doctor, generateText } from './commands.js';
export { configureLogging, logger } from './log.js';
export {
  serveHumanEval,
  addRater,
  ratingDistribution,
  exportHumanEval,
  type ServeHumanEvalOptions,
  type ExportTable,
} from './eval/human/commands.js';
export { startRatingServer, type RatingServer, type RatingServerOptions } from './eval/human/server.js';
export { RatingStore, RatingStoreError, type SystemDistribution, type RatingRecord } from './eval/human/store.js';
export { loadInstructions, loadRun, parseRunArgument, type Instruction, type SystemRun } from './eval/human/responses.js';
export { RATINGS, RATING_MEANINGS, type Rating } from './eval/human/scale.js';

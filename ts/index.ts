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
export { withStageContext, type StageContext } from './stages/context.js';
export { parseInstances, type ParsedInstance } from './stages/instance-parser.js';
export {
  generateInstances,
  buildDataset,
  writeIftDataset,
  instanceFiles,
  DROP_REASONS,
  type DropReason,
  type InstanceFiles,
  type InstanceStageOptions,
  type InstanceStageResult,
} from './stages/instances.js';
export { runSft, sftPrompt, sftSubsets, sftOutDir, firstInstructions, type SftOptions, type SftRunResult } from './stages/sft.js';
export { datasetStatistics, formatTableV, countWords, iftRecordSchema, type DatasetStatistics, type IftRecord } from './stats/dataset.js';

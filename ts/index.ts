/**
 * The refine-af SDK: what a user calls — the whole run, each stage, config loading, the backends, the rating app's
 * commands — and every error class they may catch. Each export is documented in the README's SDK section
 * (tests/ts/public-api.test.ts checks both). Internals are imported from their modules.
 */
export { loadConfig, parseConfig, ConfigError } from './config/load.js';
export type { Config, ConfigInput } from './config/schema.js';
export { configReference } from './config/reference.js';
export { configureLogging, logger } from './log.js';

export { runPipeline, formatRunSummary, RunConflictError, RunIncompleteError, type RunOptions, type RunSummary, type StageName } from './run.js';
export { runInstructionGeneration, type InstructionsOptions, type InstructionsSummary } from './stages/instructions.js';
export { dedupFiles, type DedupFilesOptions, type DedupSummary } from './stages/dedup.js';
export { runRlafTraining } from './stages/rlaf.js';
export type { RlafSummary } from './stages/rlaf/records.js';
export { runInstanceGeneration, type InstanceStageOptions, type InstanceStageResult } from './stages/instances.js';
export { runSftTraining, type SftOptions, type SftRunResult } from './stages/sft.js';
export { scoreFile, type ScoreDatasetOptions, type ScoreSummary } from './feedback/score.js';
export { evalSuperNiModel, scorePredictionsFile, readReport, compareReports, type SuperNiReport, type Comparison } from './eval/superni.js';
export { analyseDataset, type StatsOptions, type DatasetStats } from './stats/report.js';
export { runRepro, formatReproSummary, ReproConfigError, type ReproOptions, type ReproSummary } from './repro.js';
export { doctor, generateText } from './commands.js';
export { InterruptedError } from './interrupt.js';

export type { GenerationBackend, GenerationRequest, BackendDecoding } from './backends/types.js';
export { LocalWorkerBackend } from './backends/local.js';
export { OpenAICompletionsBackend, EndpointError, ServedModelError } from './backends/openai.js';
export { openStageBackend, withStageBackend, BackendConfigError, type StageBackendSpec } from './backends/from-config.js';
export { startServer, type ManagedServer } from './bridge/jobs.js';
export { PythonWorker, workerFromConfig, type WorkerOptions } from './bridge/worker.js';
export { BridgeError, PythonError, WorkerDiedError, WorkerTimeoutError, ContractError } from './bridge/errors.js';

export {
  serveHumanEval,
  importHumanEvalRuns,
  addRater,
  ratingDistribution,
  exportHumanEval,
  type ServeHumanEvalOptions,
  type ExportTable,
} from './eval/human/commands.js';
export { generateResponsesWithModel } from './eval/human/respond.js';
export { RatingStoreError } from './eval/human/store.js';

export { DataFileError } from './io/files.js';
export { TemplateError } from './prompts/render.js';

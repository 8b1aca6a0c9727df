/**
 * The refine-af SDK: what a user calls — the whole run, each stage, config loading, the backends, the rating app's
 * commands — and every error class they may catch. Each export is documented in the README's SDK section
 * (tests/ts/public-api.test.ts checks both). Internals are imported from their modules.
 */

export { chooseEngine, type EngineChoice, type EngineFacts, resolveBackends } from './backends/engine.js';
export {
  openStageBackend,
  type StageBackendSpec,
  type StageModel,
  stageBackendSpec,
  withStageBackend,
  withWorker,
  workerFromConfig,
} from './backends/from-config.js';
export { LocalWorkerBackend } from './backends/local.js';
export { EndpointError, OpenAICompletionsBackend, ServedModelError } from './backends/openai.js';
export { type ManagedServer, startServer } from './backends/servers.js';
export type { GenerationBackend, GenerationRequest } from './backends/types.js';
export type { Decoding } from './bridge/contract.js';
export { BridgeError, ContractError, ParameterError, PythonError, WorkerDiedError, WorkerTimeoutError } from './bridge/errors.js';
export { PythonWorker, type WorkerOptions } from './bridge/worker.js';
export { type DedupFilesOptions, type DedupSummary, dedupFiles } from './commands/dedup.js';
export { type DoctorReport, doctor, formatDoctorReport } from './commands/doctor.js';
export { generateText } from './commands/generate-text.js';
export { ConfigError, loadConfig, parseConfig } from './config/load.js';
export { configReference } from './config/reference.js';
export type { Config, ConfigInput } from './config/schema.js';
export { RefineAfError, UsageError } from './errors.js';
export { type Comparison, compareReports, readReport } from './eval/compare.js';
export {
  addRater,
  type ExportTable,
  exportHumanEval,
  importHumanEvalRuns,
  importQualityReview,
  type QualityReviewImportOptions,
  qualityReviewTable,
  ratingDistribution,
  type ServeHumanEvalOptions,
  serveHumanEval,
  servingSettings,
} from './eval/human/commands.js';
export { generateResponsesWithModel } from './eval/human/respond.js';
export { type QualityReviewRow, RatingStoreError } from './eval/human/store.js';
export { evalSuperNiModel, type SuperNiReport, scorePredictionsFile } from './eval/superni.js';
export { type ScoreDatasetOptions, type ScoreSummary, scoreFile } from './feedback/score.js';
export { InterruptedError } from './interrupt.js';
export { DataFileError } from './io/files.js';
export { loadSeedTasks, type SeedTask } from './io/seeds.js';
export { configureLogging, logger } from './log.js';
export { defaultConfigFile } from './paths.js';
export { type ExportOptions, type ExportResult, exportDataset } from './pipeline/export.js';
export {
  type CalibrateOptions,
  calibratePlan,
  formatPlan,
  type Plan,
  type PlanOptions,
  planCounts,
  planRun,
  planSchema,
  ThroughputProfileError,
} from './pipeline/plan.js';
export { formatReproSummary, type ReproOptions, type ReproSummary, runRepro } from './pipeline/repro.js';
export {
  formatRunSummary,
  type RunOptions,
  type RunSummary,
  runPipeline,
  type StageName,
} from './pipeline/run.js';
export { TemplateError } from './prompts/render.js';
export { type InstanceStageOptions, type InstanceStageResult, runInstanceGeneration } from './stages/instances.js';
export { type InstructionsOptions, type InstructionsSummary, runInstructionGeneration } from './stages/instructions.js';
export { RunConflictError, RunIncompleteError } from './stages/ledger.js';
export type { RlafSummary } from './stages/rlaf/records.js';
export { runRlafTraining } from './stages/rlaf.js';
export { runSftTraining, type SftOptions, type SftRunResult } from './stages/sft.js';
export { analyseDataset, type DatasetStats, type StatsOptions } from './stats/report.js';

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
export { rougeTokens } from './rouge/tokenize.js';
export { rougeL, rougeLFromLcs } from './rouge/score.js';
export { lcsLength } from './rouge/lcs.js';
export { NoveltyIndex, type Nearest, type SimilarEntry, type IndexCounters } from './rouge/index.js';
export { dedupInstructions, isNovel, type DedupOptions, type DedupRecord } from './rouge/dedup.js';
export { dedupFiles, type DedupFilesOptions, type DedupSummary } from './stages/dedup.js';
export { loadSeedTasks, seedTaskSchema, type SeedTask } from './io/seeds.js';
export { Random, type RandomState } from './random.js';
export { OpenAICompletionsBackend, EndpointError } from './backends/openai.js';
export { backendFromConfig } from './backends/from-config.js';
export {
  generateInstructions,
  runInstructionGeneration,
  instructionsOutputPaths,
  machineInstructionSchema,
  type MachineInstruction,
  type InstructionsSummary,
} from './stages/instructions.js';
export { parseCompletion, rejectionReason, REJECTION_REASONS, type RejectionReason } from './stages/instructions/postprocess.js';
export { exactMatch, normalizeAnswer, superniRougeL, stemmedRougeTokens, scoreInstance } from './eval/metrics.js';
export { porterStem } from './eval/porter.js';
export {
  loadSuperNi,
  buildPrompt,
  generatePredictions,
  scoreSuperNi,
  formatReport,
  evalSuperNi,
  evalSuperNiModel,
  scorePredictionsFile,
  readReport,
  compareReports,
  formatComparison,
  type SuperNiTask,
  type SuperNiInstance,
  type SuperNiReport,
  type Prediction,
  type Comparison,
} from './eval/superni.js';
export { loadDataset, tableV, wordCount, type Instance, type TableV } from './stats/dataset.js';
export { verbNoun, diversity, type VerbNoun, type DiversitySummary } from './stats/diversity.js';
export { exponentialMovingAverage, spearman } from './stats/series.js';
export { analyseDataset, type DatasetStats, type StatsOptions, type RewardCurve } from './stats/report.js';

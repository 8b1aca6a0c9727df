/** The refine-af SDK: the same functions the CLI runs, with their types. */
export { loadConfig, parseConfig, ConfigError } from './config/load.js';
export { configSchema, EMBEDDED_DEFAULT_MODEL, type Config, type ConfigInput } from './config/schema.js';
export { configReference } from './config/reference.js';
export { sourceSchema, sourceText, type Source } from './config/provenance.js';
export { PythonWorker, workerFromConfig, type WorkerOptions } from './bridge/worker.js';
export { runJob, startServer, type JobOptions, type ManagedServer } from './bridge/jobs.js';
export { BridgeError, PythonError, WorkerDiedError, WorkerTimeoutError, ContractError } from './bridge/errors.js';
export type { Completion, Decoding, ModelInfo, ResolvedModel, WorkerMemory, WorkerMethod, MethodParams, MethodResult, JobName } from './bridge/contract.js';
export { FEEDBACK_INDICATORS, type FeedbackIndicator, type IndicatorValues, type Triplet } from './bridge/contract.js';
export type { BackendDecoding, GenerationBackend, GenerationRequest } from './backends/types.js';
export { LocalWorkerBackend } from './backends/local.js';
export { doctor, generateText } from './commands.js';
export { configureLogging, logger } from './log.js';
export {
  serveHumanEval,
  addRater,
  ratingDistribution,
  exportHumanEval,
  importHumanEvalRuns,
  type ServeHumanEvalOptions,
  type ExportTable,
} from './eval/human/commands.js';
export { generateResponses, generateResponsesWithModel, userOrientedPrompt, type RespondOptions } from './eval/human/respond.js';
export { startRatingServer, type RatingServer, type RatingServerOptions } from './eval/human/server.js';
export { RatingStore, RatingStoreError, type SystemDistribution, type RatingRecord } from './eval/human/store.js';
export { loadInstructions, loadRun, parseRunArgument, type Instruction, type SystemRun } from './eval/human/responses.js';
export { RATINGS, RATING_MEANINGS, type Rating } from './eval/human/scale.js';
export { rougeTokens } from './rouge/tokenize.js';
export { rougeL, rougeLFromLcs } from './rouge/score.js';
export { lcsLength } from './rouge/lcs.js';
export { NoveltyIndex, type Nearest, type SimilarEntry, type IndexCounters } from './rouge/index.js';
export { dedupInstructions, isNovel, type DedupOptions, type DedupRecord } from './rouge/dedup.js';
export { dedupFiles, type DedupFilesOptions, type DedupSummary } from './stages/dedup.js';
export { loadSeedTasks, seedTaskSchema, type SeedTask } from './io/seeds.js';
export { Random, type RandomState } from './random.js';
export { OpenAICompletionsBackend, EndpointError, ServedModelError } from './backends/openai.js';
export { BackendConfigError, openStageBackend, withStageBackend, type StageBackendSpec } from './backends/from-config.js';
export {
  generateInstructions,
  runInstructionGeneration,
  instructionsOutputPaths,
  machineInstructionSchema,
  type MachineInstruction,
  type InstructionsSummary,
  type InstructionsOptions,
} from './stages/instructions.js';
export { parseCompletion, rejectionReason, REJECTION_REASONS, type RejectionReason } from './stages/instructions/postprocess.js';
export { exactMatch, normalizeAnswer, superniRougeL, stemmedRougeTokens, scoreInstance } from './eval/metrics.js';
export { porterStem } from './eval/porter.js';
export {
  loadSuperNi,
  buildPrompt,
  evalPromptFor,
  RAW_PROMPT_DESCRIPTION,
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
  type EvalPrompt,
  type SuperNiReport,
  type Prediction,
  type Comparison,
} from './eval/superni.js';
export { verbNoun, diversity, type VerbNoun, type DiversitySummary } from './stats/diversity.js';
export { analyseDataset, type DatasetStats, type StatsOptions, type RewardCurve } from './stats/report.js';
export {
  composeReward,
  rewardFormula,
  normaliserFor,
  RunningZScore,
  type RewardFormula,
  type RunningZScoreState,
} from './feedback/compose.js';
export { FeedbackScorer, type ScoredTriplet, type IndicatorBackends } from './feedback/scorer.js';
export { scoreDataset, scoreFile, readTriplets, summaryTable, type ScoreDatasetOptions, type ScoreSummary, type ScoredRecord } from './feedback/score.js';
export { withStageContext, releaseModels, type StageContext, type StageRelease } from './stages/context.js';
export { parseInstances, type ParsedInstance } from './stages/instance-parser.js';
export { instancePrompt } from './stages/instance-prompt.js';
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
export {
  runSft,
  sftPrompt,
  sftPromptTemplates,
  readSftPromptTemplates,
  sftModelTemplates,
  SFT_RECORD_FILE,
  sftSubsets,
  sftOutDir,
  firstInstructions,
  type SftOptions,
  type SftRunResult,
  type SftPromptTemplates,
} from './stages/sft.js';
export { datasetStatistics, formatTableV, countWords, iftRecordSchema, loadDataset, type DatasetStatistics, type IftRecord } from './stats/dataset.js';
export {
  trainRlaf,
  runRlafTraining,
  rlafPaths,
  latestCheckpoint,
  readRlafMetrics,
  rlafStepRecordSchema,
  type RewardFn,
  type Reward,
  type RlafStepRecord,
  type RlafSummary,
  type RlafPaths,
  type TrainRlafOptions,
} from './stages/rlaf.js';
export type { PpoStepStats } from './bridge/contract.js';
export { spearman, pearson, ranks } from './stats/correlation.js';
export { exponentialMovingAverage } from './stats/smoothing.js';
export { lineChartSvg, type LineChartSpec, type LineSeries } from './stats/line-chart.js';
export { runRepro, formatReproSummary, reproDir, ReproConfigError, type ReproOptions, type ReproSummary } from './repro.js';
export { writeReproReport, loadPaperResults, PAPER_RESULTS_FILE, type PaperResults, type ReproResults } from './repro-report.js';
export {
  runPipeline,
  formatRunSummary,
  completedRun,
  RunConflictError,
  RunIncompleteError,
  STAGE_NAMES,
  type RunOptions,
  type RunSummary,
  type StageEnd,
  type StageName,
  type StageReport,
} from './run.js';

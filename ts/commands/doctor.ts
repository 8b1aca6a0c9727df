/**
 * `refine-af doctor`: is this machine ready for a config? It checks everything the config needs and lists every
 * problem with its config key (a lab checks once, fixes all, and starts), and says which engine each generating stage
 * will run on and why.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chooseEngine, type EngineChoice, localAtScaleWarning, machineFacts, stageFacts, stageWorkCount } from '../backends/engine.js';
import type { EngineKind, GeneratingStage } from '../backends/from-config.js';
import {
  GENERATING_STAGE_NAMES,
  LLAMA_CPP_MISSING,
  namedBackend,
  stageBackendKey,
  vllmCommandProblem,
  withWorker,
} from '../backends/from-config.js';
import { OpenAICompletionsBackend } from '../backends/openai.js';
import type { MethodResult, ResolvedModel } from '../bridge/contract.js';
import type { Config } from '../config/schema.js';
import { SPLIT_FILE } from '../eval/superni.js';
import { planRun } from '../pipeline/plan.js';
import { formatDuration } from '../progress.js';

/** Something that stops the config from running here, under the config key(s) that decide it. */
export interface DoctorProblem {
  key: string;
  message: string;
}

export interface StageEngine {
  stage: GeneratingStage;
  /** The config key that chose it. */
  key: string;
  /** The engine, or null when auto cannot be resolved (models.generator does not resolve). */
  kind: EngineKind | null;
  /** Whether the config said auto. */
  auto: boolean;
  why: string;
  /** What to install for a faster engine. */
  faster: string | null;
}

export interface DoctorReport {
  python: MethodResult<'ping'>;
  /** Every model the config uses that resolved, by its config key. */
  models: Record<string, ResolvedModel>;
  engines: StageEngine[];
  /** Things that will work, slowly. */
  warnings: string[];
  problems: DoctorProblem[];
}

/** The model references `config` uses, by config key: the generator, and the feedback models its indicators name. */
function modelRefs(config: Config): Record<string, string> {
  const refs: Record<string, string> = { 'models.generator': config.models.generator };
  const backends = Object.values(config.feedback.backends);
  if (backends.includes('reward_model')) refs['feedback.reward_model'] = config.feedback.reward_model;
  if (backends.includes('unieval')) refs['feedback.unieval'] = config.feedback.unieval;
  if (backends.includes('judge')) refs['feedback.judge'] = config.feedback.judge;
  return refs;
}

/** The generating stages `config` runs: stage 1 unless copied from another run, stage 3, and the evaluations when eval.data_dir names a benchmark. */
function stagesRun(config: Config): GeneratingStage[] {
  return GENERATING_STAGE_NAMES.filter(
    (stage) =>
      (stage !== 'instructions' || config.pipeline.instructions_from === null) &&
      ((stage !== 'eval' && stage !== 'responses') || config.eval.data_dir !== null),
  );
}

/** Is this machine ready for `config`: the worker and torch/CUDA, every model, the benchmark, and every stage's engine. */
export function doctor(config: Config): Promise<DoctorReport> {
  return withWorker(config, async (worker) => {
    const python = await worker.call('ping', {});
    const problems: DoctorProblem[] = [];
    const models: Record<string, ResolvedModel> = {};
    for (const [key, ref] of Object.entries(modelRefs(config))) {
      try {
        models[key] = await worker.call('resolve_model', { ref });
      } catch (error) {
        problems.push({ key, message: (error as Error).message });
      }
    }
    const dataDir = config.eval.data_dir;
    if (dataDir !== null && !existsSync(resolve(dataDir, SPLIT_FILE))) {
      problems.push({
        key: 'eval.data_dir',
        message: `${dataDir} has no ${SPLIT_FILE}: not a Super-NaturalInstructions checkout (git clone https://github.com/allenai/natural-instructions ${dataDir})`,
      });
    }
    const machine = await machineFacts(config, worker);
    const engines: StageEngine[] = [];
    const warnings: string[] = [];
    let endpoint: Promise<string | null> | undefined;
    for (const stage of stagesRun(config)) {
      const key = stageBackendKey(stage);
      const named = namedBackend(config, stage);
      const auto: EngineChoice | null =
        machine.gguf === null ? null : chooseEngine(stageFacts(config, stage, { ...machine, gguf: machine.gguf }));
      if (named === 'auto') {
        engines.push(
          auto === null
            ? { stage, key, kind: null, auto: true, why: 'unknown until models.generator resolves', faster: null }
            : { stage, key, auto: true, ...auto },
        );
      } else {
        const faster = named === 'local' && auto !== null && auto.kind !== 'local';
        engines.push({
          stage,
          key,
          kind: named,
          auto: false,
          why: `named by ${key}`,
          faster: faster ? `backend auto would choose ${auto.kind} here (${auto.why})` : null,
        });
      }
      const kind = engines.at(-1)!.kind;
      if (kind === 'vllm') {
        const missing = vllmCommandProblem(config);
        if (missing !== null) problems.push({ key: `${key}, server.vllm.command`, message: `${key} is vllm, but ${missing}` });
      }
      if (kind === 'openai') {
        endpoint ??= openaiEndpointProblem(config);
        const unanswered = await endpoint;
        if (unanswered !== null) problems.push({ key: `${key}, openai.base_url`, message: `${key} is openai, but ${unanswered}` });
      }
      if (kind === 'llama_cpp' && !machine.llamaCpp) {
        problems.push({ key, message: `${key} is llama_cpp, but ${LLAMA_CPP_MISSING}` });
      }
      if (kind === 'llama_cpp' && machine.gguf !== null) {
        const facts = stageFacts(config, stage, { ...machine, gguf: machine.gguf });
        if (!facts.gguf)
          problems.push({
            key: `${key}, models.generator`,
            message: `${key} is llama_cpp, which serves .gguf files only, and the model is not one`,
          });
        if (facts.adapter) {
          problems.push({
            key,
            message: `${key} is llama_cpp, but this stage generates with a peft adapter, which llama.cpp's server cannot apply`,
          });
        }
      }
      const warning = kind === 'local' ? localAtScaleWarning(stage, stageWorkCount(config, stage)) : null;
      if (warning !== null) warnings.push(`${warning}; ${atScaleEstimate(config, stage)}`);
    }
    return { python, models, engines, warnings, problems };
  });
}

/**
 * What `refine-af plan --throughput` estimates for the stage on one A100 with transformers generate against vLLM
 * (cited figures, docs/throughput.json), as a clause of the warning.
 */
function atScaleEstimate(config: Config, stage: GeneratingStage): string {
  const seconds = (profile: string) => planRun(config, { throughput: profile }).stages.find((s) => s.stage === stage)?.estimate?.seconds;
  const local = seconds('a100-transformers');
  const vllm = seconds('a100-vllm');
  if (local === undefined || vllm === undefined) return 'refine-af plan says what the run costs';
  return (
    `on one A100 at most ${formatDuration(local)} with transformers generate against ${formatDuration(vllm)} with vLLM ` +
    '(refine-af plan --throughput: published figures, an estimate, not a measurement)'
  );
}

/** Why the openai section's servers do not answer GET /models with openai.model, or null when they all do. */
async function openaiEndpointProblem(config: Config): Promise<string | null> {
  // One attempt per server: a doctor asks whether it answers now, not whether it comes back after retries.
  const backend = new OpenAICompletionsBackend({ ...config.openai, max_retries: 0 });
  try {
    await backend.check();
    return null;
  } catch (error) {
    return `${(error as Error).message}; start the server, or fix openai.base_url and openai.model`;
  }
}

/** The report as lines for a person: the machine, the models, each stage's engine, the warnings, then every problem. */
export function formatDoctorReport({ python, models, engines, warnings, problems }: DoctorReport): string {
  const lines = [
    `Python ${python.python}, torch ${python.torch}, ${python.cuda_available ? `${python.cuda_devices} CUDA device(s)` : 'no CUDA (CPU)'}`,
    ...Object.entries(models).map(
      ([key, model]) => `  ${key}: ${model.ref} → ${model.kind} ${model.gguf_file ? join(model.path, model.gguf_file) : model.path}`,
    ),
    'engines:',
    ...engines.map(
      (e) => `  ${e.stage}: ${e.kind ?? 'unknown'}${e.auto ? ' (auto)' : ''} — ${e.why}${e.faster === null ? '' : `; faster: ${e.faster}`}`,
    ),
    ...warnings.map((w) => `WARNING: ${w}`),
  ];
  if (problems.length === 0) return [...lines, 'ready'].join('\n');
  return [...lines, `not ready: ${problems.length} problem(s)`, ...problems.map((p) => `  ${p.key}: ${p.message}`)].join('\n');
}

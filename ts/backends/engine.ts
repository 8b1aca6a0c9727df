/**
 * `backend: auto` (README "Serving"): the engine a generating stage gets on this machine, chosen from four facts by
 * `chooseEngine`, and resolved once per run (`resolveBackends`) so that everything after it, the stage's hash included,
 * sees the concrete engine.
 */
import type { PythonWorker } from '../bridge/worker.js';
import type { Config } from '../config/schema.js';
import { logger } from '../log.js';
import {
  type EngineKind,
  GENERATING_STAGE_NAMES,
  type GeneratingStage,
  namedBackend,
  stageBackendKey,
  vllmCommandProblem,
  withStageBackendKind,
} from './from-config.js';

/** What decides the engine of `backend: auto`. */
export interface EngineFacts {
  /** torch in the worker sees a CUDA device. */
  cuda: boolean;
  /** server.vllm.command's program is here (`make vllm` installs it). */
  vllm: boolean;
  /** llama-cpp-python is installed in the worker's environment (`make serving`; `make test` builds it, `make demo` does not wait for it). */
  llamaCpp: boolean;
  /** The model the stage generates with is a .gguf file. */
  gguf: boolean;
  /** The stage applies a peft adapter (stage 3's PPO policy, the SFT models under evaluation). */
  adapter: boolean;
}

export interface EngineChoice {
  kind: EngineKind;
  why: string;
  /** What to install for a faster engine; null when this is the fastest the project has. */
  faster: string | null;
}

const INSTALL_VLLM =
  'on a GPU machine, install vLLM (`make vllm`, then server.vllm.command: [.venv-vllm/bin/vllm, serve]): continuous batching and LoRA ' +
  'adapters served as modules; never measured here (no GPU)';

const LLAMA_CPP_GAIN = "llama.cpp kept 4.7x the torch worker's instructions per minute on 2 CPU cores (BENCHMARKS.md)";

/** The engine `backend: auto` resolves to: vLLM on CUDA, llama.cpp for a GGUF on a CPU without adapter, the local worker otherwise. */
export function chooseEngine(facts: EngineFacts): EngineChoice {
  if (facts.cuda && facts.vllm) {
    return { kind: 'vllm', why: `CUDA and vLLM are here${facts.adapter ? '; the adapter is served as a LoRA module' : ''}`, faster: null };
  }
  if (facts.cuda) return { kind: 'local', why: 'CUDA, but no vLLM (server.vllm.command is not found)', faster: INSTALL_VLLM };
  if (facts.gguf && !facts.adapter && !facts.llamaCpp) {
    return {
      kind: 'local',
      why: 'no CUDA and a .gguf model, but llama-cpp-python is not installed',
      faster: `\`make serving\` compiles llama.cpp's server once per machine (minutes): ${LLAMA_CPP_GAIN}`,
    };
  }
  if (facts.gguf && !facts.adapter) {
    return {
      kind: 'llama_cpp',
      why: `no CUDA, a .gguf model and no adapter: ${LLAMA_CPP_GAIN}`,
      faster: INSTALL_VLLM,
    };
  }
  const why = facts.gguf
    ? "no CUDA, and the stage applies a peft adapter, which llama.cpp's server cannot"
    : 'no CUDA, and the model is not a .gguf file (llama.cpp serves only those)';
  return { kind: 'local', why, faster: INSTALL_VLLM };
}

/** What of this machine and this config decides every stage's engine; `gguf` is null when models.generator does not resolve. */
export interface MachineFacts {
  cuda: boolean;
  vllm: boolean;
  llamaCpp: boolean;
  gguf: boolean | null;
}

/** CUDA as the worker's torch sees it, vLLM as server.vllm.command finds it, and whether models.generator is a .gguf file. */
export async function machineFacts(config: Config, worker: PythonWorker): Promise<MachineFacts> {
  const { cuda_available, llama_cpp_server } = await worker.call('ping', {});
  const gguf = await worker.call('resolve_model', { ref: config.models.generator }).then(
    (resolved) => resolved.gguf_file !== null,
    () => null,
  );
  return { cuda: cuda_available, vllm: vllmCommandProblem(config) === null, llamaCpp: llama_cpp_server, gguf };
}

/**
 * Whether `stage` applies an adapter, and so whether llama.cpp could serve it. Stage 3 of REFINE-AF generates with the
 * PPO adapter. The evaluations (Super-NI, the user-oriented responses) generate with the SFT models: adapters on the
 * generator with sft.lora, else full checkpoints saved by the Trainer, which are not .gguf files either.
 */
export function stageFacts(config: Config, stage: GeneratingStage, machine: MachineFacts & { gguf: boolean }): EngineFacts {
  const adapter = {
    instructions: false,
    instances: config.pipeline.method === 'refine-af',
    eval: config.sft.lora !== null,
    responses: config.sft.lora !== null,
  }[stage];
  const fullCheckpoints = (stage === 'eval' || stage === 'responses') && config.sft.lora === null;
  return { cuda: machine.cuda, vllm: machine.vllm, llamaCpp: machine.llamaCpp, gguf: machine.gguf && !fullCheckpoints, adapter };
}

/**
 * `config` with every `backend: auto` replaced by the engine it resolves to here, each choice logged with its reason; a
 * config without auto is returned as is, without asking the worker anything.
 */
export async function resolveBackends(config: Config, worker: PythonWorker): Promise<Config> {
  const auto = GENERATING_STAGE_NAMES.filter((stage) => namedBackend(config, stage) === 'auto');
  if (auto.length === 0) return config;
  const machine = await machineFacts(config, worker);
  // A generator that does not resolve fails the stage that loads it, with the resolver's message; until then it counts as no GGUF.
  const facts = { ...machine, gguf: machine.gguf ?? false };
  let resolved = config;
  for (const stage of auto) {
    const choice = chooseEngine(stageFacts(config, stage, facts));
    logger.info(`${stageBackendKey(stage)}: auto → ${choice.kind} (${choice.why})`);
    resolved = withStageBackendKind(resolved, stage, choice.kind);
  }
  return resolved;
}

/** Work from which the local worker's hours matter: the demo's 40 instructions take minutes, the paper's 15,000 at 7B days. */
const PAPER_SCALE = 1000;

/** How many generations `stage` makes, where the config says (stages 1 and 3: one pool of instructions); null otherwise. */
export function stageWorkCount(config: Config, stage: GeneratingStage): number | null {
  return stage === 'instructions' || stage === 'instances' ? config.instructions.num_instructions : null;
}

/** The warning for `count` generations of `stage` on the local worker (transformers generate), or null below paper scale. */
export function localAtScaleWarning(stage: GeneratingStage, count: number | null): string | null {
  if (count === null || count < PAPER_SCALE) return null;
  return (
    `${stage}: ${count.toLocaleString('en-US')} ${stage === 'instructions' ? 'instructions' : 'instructions to answer'} on the local worker ` +
    '(transformers generate, one batch at a time): at 7B this takes days to weeks; a GPU with vLLM (backend auto or vllm) is the engine for this scale'
  );
}

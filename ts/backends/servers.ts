/**
 * Model servers (OpenAI-compatible HTTP) that a stage starts through the bridge's exec door (jobs.ts startServerProcess)
 * and stops when it ends: external programs, so their command lines are declared here, not in the TS↔Python contract.
 * Each declares its parameters and the arguments that follow its command; it is ready when GET /v1/models answers.
 */
import { z } from 'zod';
import type { ParentDeathSignal } from '../bridge/contract.js';
import { ParameterError } from '../bridge/errors.js';
import { type ServerLaunch, type ServerProcess, startServerProcess } from '../bridge/jobs.js';

interface ServerSpec<P extends z.ZodType> {
  description: string;
  params: P;
  args: (params: z.output<P>) => string[];
  /** Whether it applies LoRA adapters given as `adapters` (served name → directory). */
  servesAdapters: boolean;
  /**
   * What the kernel sends it when the Node process that started it dies, SIGKILL included: SIGTERM for a server that
   * must stop processes of its own first; SIGKILL where SIGTERM would first finish every request in flight or queued,
   * for a client that is gone.
   */
  parentDeathSignal: ParentDeathSignal;
}
const server = <P extends z.ZodType>(spec: ServerSpec<P>) => spec;

const serverCommonParams = {
  /** The weights: a hub id or directory (vLLM), a .gguf file (llama.cpp). */
  model: z.string().min(1),
  /** The name requests give as `model` for the base weights. */
  served_name: z.string().min(1),
  port: z.number().int().min(1).max(65_535),
  /** LoRA adapters, served name → directory. */
  adapters: z.record(z.string().min(1), z.string().min(1)),
  extra_args: z.array(z.string()),
};

export const servers = {
  vllm: server({
    description: "vLLM's OpenAI-compatible server (`vllm serve`), GPU only; LoRA adapters as --enable-lora --lora-modules NAME=DIR.",
    params: z.object({
      ...serverCommonParams,
      dtype: z.enum(['auto', 'float32', 'bfloat16', 'float16']),
      /** bitsandbytes 4-bit, the stage's models.load_in_4bit. */
      load_in_4bit: z.boolean(),
      tensor_parallel_size: z.number().int().positive(),
      max_lora_rank: z.number().int().positive(),
    }),
    args: (p) => [
      p.model,
      ...['--host', '127.0.0.1', '--port', String(p.port), '--served-model-name', p.served_name, '--dtype', p.dtype],
      ...['--tensor-parallel-size', String(p.tensor_parallel_size)],
      ...(p.load_in_4bit ? ['--quantization', 'bitsandbytes'] : []),
      ...(Object.keys(p.adapters).length > 0
        ? [
            '--enable-lora',
            '--max-lora-rank',
            String(p.max_lora_rank),
            '--lora-modules',
            ...Object.entries(p.adapters).map(([name, dir]) => `${name}=${dir}`),
          ]
        : []),
      ...p.extra_args,
    ],
    servesAdapters: true,
    // Its engine and tensor-parallel workers are processes of its own; on SIGTERM it cancels the HTTP server at once
    // (vllm/entrypoints/launcher.py serve_http) and stops them.
    parentDeathSignal: 'SIGTERM',
  }),
  llama_cpp: server({
    description:
      "llama-cpp-python's OpenAI-compatible server (`python -m llama_cpp.server`) serving a .gguf file on CPU; no peft adapters.",
    params: z.object({
      ...serverCommonParams,
      n_ctx: z.number().int().positive(),
      n_threads: z.number().int().positive(),
      seed: z.number().int(),
    }),
    args: (p) => [
      ...['--model', p.model, '--model_alias', p.served_name, '--host', '127.0.0.1', '--port', String(p.port), '--n_ctx', String(p.n_ctx)],
      ...['--n_threads', String(p.n_threads)],
      ...['--seed', String(p.seed)],
      ...p.extra_args,
    ],
    servesAdapters: false,
    // One process; on SIGTERM uvicorn would wait for every completion in flight and queued (33 s after a stage-1 kill
    // here), holding the port and the cores for a client that is gone.
    parentDeathSignal: 'SIGKILL',
  }),
} as const;

export type ServerName = keyof typeof servers;
export type ServerParams<S extends ServerName> = z.input<(typeof servers)[S]['params']>;

/** A model server started by startServer: which one, where it answers, and how to stop it. */
export interface ManagedServer extends ServerProcess {
  readonly name: ServerName;
}

export interface ServerOptions extends Pick<ServerLaunch, 'python' | 'startupTimeoutMs' | 'signal'> {
  /** Program and leading arguments, e.g. ['vllm', 'serve'] or [python, '-m', 'llama_cpp.server']; the server's arguments follow. */
  command: readonly string[];
}

/**
 * Start a model server with its checked parameters, send its output to the logger, and resolve once GET /v1/models
 * answers 200 (jobs.ts startServerProcess says when it stops or fails).
 */
export async function startServer<S extends ServerName>(name: S, params: ServerParams<S>, options: ServerOptions): Promise<ManagedServer> {
  const spec = servers[name];
  const origin = `server.${name}`;
  const checked = spec.params.safeParse(params);
  if (!checked.success) throw new ParameterError(origin, checked.error.message);
  const { command, ...launch } = options;
  const started = await startServerProcess({
    ...launch,
    origin,
    command: [...command, ...(spec.args as (p: unknown) => string[])(checked.data)],
    port: (checked.data as { port: number }).port,
    parentDeathSignal: spec.parentDeathSignal,
  });
  return { name, ...started };
}

/**
 * The one seam between TypeScript and Python. Every worker method (called through pythonia) and every job
 * (a subprocess run by execa) is declared here once: its parameters, its result, its events and its default
 * timeout. `py/refine_af/service.py` implements exactly these names; nothing else crosses the languages.
 */
import { z } from 'zod';

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;

export const pythonErrorSchema = z.object({
  type: z.string(),
  message: z.string(),
  traceback: z.string(),
});
export type PythonErrorInfo = z.infer<typeof pythonErrorSchema>;

/** What `service.call` returns for every method: a value or a structured Python exception, never a proxy. */
export const envelopeSchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), value: z.unknown() }),
  z.object({ ok: z.literal(false), error: pythonErrorSchema }),
]);

interface MethodSpec<P extends z.ZodType, R extends z.ZodType> {
  description: string;
  params: P;
  result: R;
  /** Default per-call limit; `bridge.timeouts_ms` in config overrides it per method. */
  timeoutMs: number;
}
const method = <P extends z.ZodType, R extends z.ZodType>(spec: MethodSpec<P, R>) => spec;

const resolvedModelSchema = z.object({
  ref: z.string(),
  kind: z.enum(['embedded', 'local', 'hub']),
  path: z.string(),
  gguf_file: z.string().nullable(),
});
export type ResolvedModel = z.infer<typeof resolvedModelSchema>;

export const modelLoadingSchema = z.object({
  dtype: z.enum(['auto', 'float32', 'bfloat16', 'float16']),
  load_in_4bit: z.boolean(),
  device: z.string(),
});

const modelInfoSchema = z.object({
  resolved: resolvedModelSchema,
  device: z.string(),
  dtype: z.string(),
  quantization: z.enum(['nf4', 'none']),
  parameters: z.number().int(),
  architecture: z.string(),
});
export type ModelInfo = z.infer<typeof modelInfoSchema>;

export const decodingSchema = z.object({
  max_new_tokens: z.number().int().positive(),
  do_sample: z.boolean(),
  temperature: z.number().positive(),
  top_p: z.number().gt(0).lte(1),
  stop: z.array(z.string()),
  prompt_format: z.enum(['raw', 'chat']),
});
export type Decoding = z.infer<typeof decodingSchema>;

const completionSchema = z.object({
  text: z.string(),
  finish_reason: z.enum(['stop', 'eos', 'length']),
  new_tokens: z.number().int(),
});
export type Completion = z.infer<typeof completionSchema>;

export const workerMethods = {
  ping: method({
    description: 'Health check: the worker process and its torch/CUDA view.',
    params: z.object({}),
    result: z.object({
      pid: z.number().int(),
      python: z.string(),
      torch: z.string(),
      cuda_available: z.boolean(),
      cuda_devices: z.number().int(),
    }),
    timeoutMs: 2 * MINUTE_MS,
  }),
  echo: method({
    description: 'Diagnostic: returns the strings it is given (bridge tests and the overhead benchmark).',
    params: z.object({ texts: z.array(z.string()) }),
    result: z.object({ texts: z.array(z.string()) }),
    timeoutMs: MINUTE_MS,
  }),
  sleep: method({
    description: 'Diagnostic: blocks the worker for a while (long-call and worker-death tests).',
    params: z.object({ seconds: z.number().nonnegative() }),
    result: z.object({ slept: z.number() }),
    timeoutMs: HOUR_MS,
  }),
  emit_output: method({
    description: 'Diagnostic: writes a line through print, stderr, logging and a raw fd write (log-channel tests).',
    params: z.object({ text: z.string() }),
    result: z.object({}),
    timeoutMs: MINUTE_MS,
  }),
  resolve_model: method({
    description: 'Turn a model reference (embedded name, local path or hub id) into a loadable location, or fail naming what was looked for.',
    params: z.object({ ref: z.string() }),
    result: resolvedModelSchema,
    timeoutMs: 2 * MINUTE_MS,
  }),
  load_model: method({
    description: 'Load a causal LM under a handle (idempotent per handle): 4-bit NF4 when asked and on CUDA.',
    params: modelLoadingSchema.extend({
      handle: z.string(),
      ref: z.string(),
      adapter: z.string().optional().describe('A PEFT (LoRA) adapter directory applied on top of the model.'),
    }),
    result: modelInfoSchema,
    timeoutMs: 2 * HOUR_MS,
  }),
  unload_model: method({
    description: 'Free a loaded model.',
    params: z.object({ handle: z.string() }),
    result: z.object({ unloaded: z.boolean() }),
    timeoutMs: 5 * MINUTE_MS,
  }),
  generate: method({
    description: 'Batched generation from a loaded model; text is cut at the first stop sequence.',
    params: decodingSchema.extend({
      handle: z.string(),
      prompts: z.array(z.string()),
      seed: z.number().int(),
      batch_size: z.number().int().positive(),
    }),
    result: z.object({ completions: z.array(completionSchema) }),
    timeoutMs: 4 * HOUR_MS,
  }),
} as const;

export type WorkerMethod = keyof typeof workerMethods;
export type MethodParams<M extends WorkerMethod> = z.input<(typeof workerMethods)[M]['params']>;
export type MethodResult<M extends WorkerMethod> = z.output<(typeof workerMethods)[M]['result']>;

interface JobSpec<P extends z.ZodType, E extends z.ZodType, R extends z.ZodType> {
  description: string;
  params: P;
  /** Events other than the final result/error, one JSON object per stdout line. */
  progress: E;
  result: R;
}
const job = <P extends z.ZodType, E extends z.ZodType, R extends z.ZodType>(spec: JobSpec<P, E, R>) => spec;

export const jobs = {
  countdown: job({
    description: 'Diagnostic: emits one progress event per step with stray prints in between; fails at a step on request.',
    params: z.object({
      steps: z.number().int().nonnegative(),
      seconds_per_step: z.number().nonnegative(),
      fail_at_step: z.number().int().optional(),
    }),
    progress: z.object({ type: z.literal('progress'), step: z.number().int(), total: z.number().int() }),
    result: z.object({ steps: z.number().int() }),
  }),
} as const;

export type JobName = keyof typeof jobs;
export type JobParams<J extends JobName> = z.input<(typeof jobs)[J]['params']>;
export type JobProgress<J extends JobName> = z.output<(typeof jobs)[J]['progress']>;
export type JobResult<J extends JobName> = z.output<(typeof jobs)[J]['result']>;

/** Terminal events every job may send besides its own progress events. */
export const jobTerminalEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('result'), value: z.unknown() }),
  z.object({ type: z.literal('error'), error: pythonErrorSchema }),
]);

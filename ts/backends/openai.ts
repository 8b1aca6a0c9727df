/**
 * OpenAI-compatible servers (vLLM, llama.cpp, TGI) as a generation backend, called with the official openai client, which
 * retries connection errors, timeouts, 408/409/429 and 5xx with exponential backoff and jitter, honouring Retry-After,
 * and limits each request's time. On top of it: one prompt per request with a bounded number in flight, several
 * replicas sharing the requests (a request that still fails on one moves to the next healthy one), and a check before
 * any work that the servers serve the model or adapter asked for.
 */
import OpenAI from 'openai';
import type { Completion, Decoding } from '../bridge/contract.js';
import type { Config } from '../config/schema.js';
import { RefineAfError } from '../errors.js';
import { logger } from '../log.js';
import type { GenerationBackend, GenerationRequest } from './types.js';

export class EndpointError extends RefineAfError {
  override name = 'EndpointError';
  readonly code: string = 'endpoint';
}

/** The servers do not serve the model or LoRA adapter a stage needs; raised before any request is made. */
export class ServedModelError extends EndpointError {
  override name = 'ServedModelError';
  override readonly code = 'served-model';
  constructor(
    readonly baseUrl: string,
    readonly model: string,
    readonly served: readonly string[],
    hint: string,
  ) {
    super(`${baseUrl} does not serve "${model}" (GET /models lists: ${served.join(', ') || 'nothing'}); ${hint}`);
  }
}

/**
 * Which server answers, from GET /models: vLLM says owned_by "vllm"; llama-cpp-python "me", llama.cpp's own server
 * "llamacpp". It decides how a completion's end is read and which parameters the server is known to ignore.
 */
export type ServerDialect = 'vllm' | 'llama_cpp' | 'other';

function dialectOf(ownedBy: string | undefined): ServerDialect {
  if (ownedBy === 'vllm') return 'vllm';
  if (ownedBy === 'me' || ownedBy === 'llamacpp') return 'llama_cpp';
  return 'other';
}

/**
 * llama.cpp samples with its own defaults on top of temperature and top_p (top_k 40, min_p 0.05, repeat_penalty 1.1);
 * neutralised, it samples as vLLM and the local worker do from the same settings.
 */
const LLAMA_CPP_NEUTRAL_SAMPLING = { top_k: 0, min_p: 0, repeat_penalty: 1 };

/**
 * Decoding parameters a server takes but does not apply as the protocol means them, with what it does instead; a
 * request that sets one is warned about once. Unknown servers ("other") are assumed to follow the protocol.
 */
const NOT_AS_SPECIFIED: Record<ServerDialect, Partial<Record<'presence_penalty' | 'seed' | 'stop', string>>> = {
  vllm: {},
  // llama-cpp-python 0.3.36, Llama.sample: penalties over last_n_tokens_size (64) tokens, the prompt's included.
  llama_cpp: {
    presence_penalty:
      'llama.cpp penalises only tokens among the last 64 of prompt and completion (its repeat window), not the whole completion',
  },
  other: {},
};

export interface OpenAIBackendOptions {
  /** The model name requests carry: the served base model, or a LoRA adapter's served name. */
  model?: string;
  /** What to tell the user when the servers do not list `model`. */
  missingModelHint?: string;
  /** Names the backend in artifacts, e.g. "llama_cpp:embedded:smollm2-135m-instruct"; default openai:<url>#<model>. */
  name?: string;
}

interface Replica {
  url: string;
  client: OpenAI;
  /** Consecutive requests that failed on it after the client's own retries; a healthy replica has 0. */
  failures: number;
}

export class OpenAICompletionsBackend implements GenerationBackend {
  readonly name: string;
  readonly model: string;
  private readonly replicas: Replica[];
  private dialect: ServerDialect | undefined;
  private nextReplica = 0;
  private warned = false;

  constructor(
    private readonly settings: Config['openai'],
    private readonly options: OpenAIBackendOptions = {},
  ) {
    this.model = options.model ?? settings.model;
    this.name = options.name ?? `openai:${settings.base_url.join(',')}#${this.model}`;
    const apiKey = process.env[settings.api_key_env];
    this.replicas = settings.base_url.map((url) => ({
      url,
      failures: 0,
      client: new OpenAI({
        baseURL: url,
        apiKey: apiKey ?? '',
        // Without a key no Authorization header is sent (a local server needs none).
        defaultHeaders: apiKey ? {} : { Authorization: null },
        maxRetries: settings.max_retries,
        timeout: settings.timeout_ms,
      }),
    }));
  }

  /** Check that every replica serves the model (or adapter) and learn which server it is; done once, before any work. */
  async check(): Promise<ServerDialect> {
    if (this.dialect !== undefined) return this.dialect;
    const dialects = new Set<ServerDialect>();
    for (const replica of this.replicas) {
      let served: { id: string; owned_by?: string }[];
      try {
        served = [];
        for await (const model of replica.client.models.list()) served.push(model);
      } catch (error) {
        throw new EndpointError(`${replica.url}: listing the served models failed: ${(error as Error).message}`);
      }
      const entry = served.find((m) => m.id === this.model);
      if (entry === undefined) {
        throw new ServedModelError(
          replica.url,
          this.model,
          served.map((m) => m.id),
          this.options.missingModelHint ?? 'set openai.model to one of them',
        );
      }
      dialects.add(dialectOf(served[0]?.owned_by));
    }
    this.dialect = dialects.size === 1 ? [...dialects][0]! : 'other';
    return this.dialect;
  }

  async generate(request: GenerationRequest): Promise<Completion[]> {
    const dialect = await this.check();
    this.warnOnce(dialect, request);
    const results = new Array<Completion>(request.prompts.length);
    let next = 0;
    const lane = async () => {
      while (next < request.prompts.length) {
        const i = next++;
        // Each prompt gets its own seed, so a completion does not depend on which lane sent it.
        results[i] = await this.onSomeReplica((client) => this.complete(client, dialect, request, request.prompts[i]!, request.seed + i));
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.settings.concurrency, request.prompts.length) }, lane));
    return results;
  }

  private warnOnce(dialect: ServerDialect, request: GenerationRequest): void {
    if (this.warned) return;
    const used = {
      presence_penalty: (request.decoding.presence_penalty ?? 0) !== 0,
      seed: request.decoding.do_sample,
      stop: request.decoding.stop.length > 0,
    };
    const caveats = Object.entries(NOT_AS_SPECIFIED[dialect]).filter(([name]) => used[name as keyof typeof used]);
    if (caveats.length === 0) return;
    logger.warn(`${this.name}: ${caveats.map(([name, what]) => `${name} is not applied as OpenAI specifies it: ${what}`).join('; ')}`);
    this.warned = true;
  }

  /** Run `attempt` on the healthiest replica next in turn; when it fails there after the client's retries, on the next one. */
  private async onSomeReplica<T>(attempt: (client: OpenAI) => Promise<T>): Promise<T> {
    const tried = new Set<Replica>();
    for (;;) {
      const replica = this.pickReplica(tried);
      try {
        const result = await attempt(replica.client);
        replica.failures = 0;
        return result;
      } catch (error) {
        if (!retryable(error)) throw new EndpointError(`${replica.url}: ${describe(error)}`);
        replica.failures++;
        tried.add(replica);
        if (tried.size === this.replicas.length) {
          throw new EndpointError(
            `gave up after ${this.settings.max_retries + 1} attempts on each of ${this.replicas.map((r) => r.url).join(', ')}: ${describe(error)}`,
          );
        }
        logger.warn(
          `${replica.url}: ${describe(error)} after ${this.settings.max_retries + 1} attempts; moving the request to another replica`,
        );
      }
    }
  }

  private pickReplica(tried: ReadonlySet<Replica>): Replica {
    const candidates = this.replicas.filter((r) => !tried.has(r));
    const fewest = Math.min(...candidates.map((r) => r.failures));
    const healthy = candidates.filter((r) => r.failures === fewest);
    return healthy[this.nextReplica++ % healthy.length]!;
  }

  private async complete(
    client: OpenAI,
    dialect: ServerDialect,
    request: GenerationRequest,
    prompt: string,
    seed: number,
  ): Promise<Completion> {
    const { decoding } = request;
    const sampling = {
      model: this.model,
      ...requestDecoding(decoding),
      seed,
      ...(dialect === 'llama_cpp' ? LLAMA_CPP_NEUTRAL_SAMPLING : {}),
    };
    let text: string | null | undefined;
    let choice: { finish_reason: string | null; stop_reason?: string | number | null } | undefined;
    let usage: { completion_tokens?: number } | undefined;
    if (decoding.prompt_format === 'chat') {
      const response = await client.chat.completions.create({ ...sampling, messages: [{ role: 'user', content: prompt }] });
      choice = response.choices[0];
      text = response.choices[0]?.message.content;
      usage = response.usage;
    } else {
      const response = await client.completions.create({ ...sampling, prompt });
      choice = response.choices[0];
      text = response.choices[0]?.text;
      usage = response.usage;
    }
    if (choice === undefined || typeof text !== 'string') throw new EndpointError(`no completion in the response of ${this.model}`);
    return { text, finish_reason: finishReason(choice, decoding.stop.length > 0), new_tokens: usage?.completion_tokens ?? 0 };
  }
}

type RequestDecoding = Pick<
  OpenAI.CompletionCreateParamsNonStreaming,
  'max_tokens' | 'temperature' | 'top_p' | 'stop' | 'presence_penalty'
>;

/**
 * The request fields of each key of the decoding object, in one place: a key added to decodingSchema does not compile
 * until it is given its fields here (none where the protocol has no such parameter).
 */
function requestDecoding(decoding: Decoding): RequestDecoding {
  const fieldsOf: Record<keyof Decoding, RequestDecoding> = {
    max_new_tokens: { max_tokens: decoding.max_new_tokens },
    // Greedy decoding is temperature 0 in this protocol (temperature and top_p then neutral).
    do_sample: {},
    temperature: { temperature: decoding.do_sample ? decoding.temperature : 0 },
    top_p: { top_p: decoding.do_sample ? decoding.top_p : 1 },
    stop: decoding.stop.length > 0 ? { stop: decoding.stop } : {},
    presence_penalty: decoding.presence_penalty === undefined ? {} : { presence_penalty: decoding.presence_penalty },
    // Not a request field: it chooses the endpoint, chat or completions (`complete`).
    prompt_format: {},
  };
  return Object.assign({}, ...Object.values(fieldsOf));
}

/**
 * finish_reason "length" is the token limit everywhere. Otherwise vLLM says which end it was (stop_reason: the stop
 * string, or null for end-of-sequence); llama.cpp and others say "stop" for both, and leave the stop string out of the
 * text: then it is "stop" when stop strings were asked for (an end-of-sequence is reported as a stop), else "eos".
 */
function finishReason(
  choice: { finish_reason: string | null; stop_reason?: string | number | null },
  askedToStop: boolean,
): Completion['finish_reason'] {
  if (choice.finish_reason === 'length') return 'length';
  if (choice.stop_reason !== undefined) return choice.stop_reason === null ? 'eos' : 'stop';
  return askedToStop ? 'stop' : 'eos';
}

/** A failure another replica may not have: the server is unreachable, overloaded or broken, not the request. */
function retryable(error: unknown): boolean {
  if (error instanceof OpenAI.APIConnectionError) return true; // includes timeouts
  return (
    error instanceof OpenAI.APIError && error.status !== undefined && (error.status === 408 || error.status === 429 || error.status >= 500)
  );
}

function describe(error: unknown): string {
  if (error instanceof OpenAI.APIConnectionError) {
    const cause =
      (error.cause as { code?: string; cause?: { code?: string } } | undefined)?.cause?.code ??
      (error.cause as { code?: string } | undefined)?.code;
    return `${error.message}${cause ? ` (${cause})` : ''}`;
  }
  if (error instanceof OpenAI.APIError) return `HTTP ${error.status}: ${error.message.slice(0, 500)}`;
  return (error as Error).message;
}

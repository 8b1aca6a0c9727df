/**
 * Any OpenAI-compatible server (vLLM, TGI, llama.cpp server) as a generation backend: one prompt per request, a
 * bounded number in flight, failed requests retried with exponential backoff, each request under a time limit.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Completion } from '../bridge/contract.js';
import type { Config } from '../config/schema.js';
import { logger } from '../log.js';
import type { GenerationBackend, GenerationRequest } from './types.js';

export class EndpointError extends Error {
  override name = 'EndpointError';
}

/** A failure worth retrying: the server may answer next time. */
class TransientError extends Error {}

interface Choice {
  text?: string;
  message?: { content?: string | null };
  finish_reason?: string | null;
  /** vLLM: the stop string that ended generation; null when it was the end-of-sequence token. */
  stop_reason?: string | number | null;
}

export class OpenAICompletionsBackend implements GenerationBackend {
  readonly name: string;

  constructor(private readonly settings: Config['openai']) {
    this.name = `openai:${settings.base_url}#${settings.model}`;
  }

  async generate(request: GenerationRequest): Promise<Completion[]> {
    const results = new Array<Completion>(request.prompts.length);
    let next = 0;
    const lane = async () => {
      while (next < request.prompts.length) {
        const i = next++;
        // Each prompt gets its own seed, so a completion does not depend on which lane sent it.
        results[i] = await this.withRetries(() => this.complete(request, request.prompts[i]!, request.seed + i));
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.settings.concurrency, request.prompts.length) }, lane));
    return results;
  }

  private async withRetries<T>(attempt: () => Promise<T>): Promise<T> {
    const { max_retries, initial_backoff_ms, max_backoff_ms } = this.settings;
    for (let retry = 0; ; retry++) {
      try {
        return await attempt();
      } catch (error) {
        if (!(error instanceof TransientError)) throw error;
        if (retry >= max_retries) {
          throw new EndpointError(`${this.settings.base_url}: gave up after ${retry + 1} attempts: ${error.message}`);
        }
        const wait = Math.min(initial_backoff_ms * 2 ** retry, max_backoff_ms);
        logger.warn(`${this.settings.base_url}: ${error.message}; retry ${retry + 1}/${max_retries} in ${wait} ms`);
        await sleep(wait);
      }
    }
  }

  private async complete(request: GenerationRequest, prompt: string, seed: number): Promise<Completion> {
    const { decoding } = request;
    const chat = decoding.prompt_format === 'chat';
    const url = `${this.settings.base_url.replace(/\/+$/, '')}/${chat ? 'chat/completions' : 'completions'}`;
    const body = {
      model: this.settings.model,
      ...(chat ? { messages: [{ role: 'user', content: prompt }] } : { prompt }),
      max_tokens: decoding.max_new_tokens,
      // Greedy decoding is temperature 0 in this protocol.
      temperature: decoding.do_sample ? decoding.temperature : 0,
      top_p: decoding.do_sample ? decoding.top_p : 1,
      ...(decoding.stop.length > 0 ? { stop: decoding.stop } : {}),
      ...(decoding.presence_penalty !== undefined ? { presence_penalty: decoding.presence_penalty } : {}),
      seed,
      n: 1,
    };
    const apiKey = process.env[this.settings.api_key_env];
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.settings.timeout_ms),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code;
      throw new TransientError(`${url}: ${(error as Error).message}${cause ? ` (${cause})` : ''}`);
    }
    const text = await response.text().catch((error: Error) => {
      throw new TransientError(`${url}: reading the response failed: ${error.message}`);
    });
    if (response.status === 429 || response.status >= 500) throw new TransientError(`${url}: HTTP ${response.status}: ${text.slice(0, 300)}`);
    if (!response.ok) throw new EndpointError(`${url}: HTTP ${response.status}: ${text.slice(0, 500)}`);
    let parsed: { choices?: Choice[]; usage?: { completion_tokens?: number } };
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new EndpointError(`${url}: response is not JSON: ${text.slice(0, 300)}`);
    }
    const choice = parsed.choices?.[0];
    const output = chat ? choice?.message?.content : choice?.text;
    if (choice === undefined || typeof output !== 'string') throw new EndpointError(`${url}: no completion in the response: ${text.slice(0, 300)}`);
    const finishReason = choice.finish_reason === 'length' ? 'length' : choice.stop_reason == null ? 'eos' : 'stop';
    return { text: output, finish_reason: finishReason, new_tokens: parsed.usage?.completion_tokens ?? 0 };
  }
}

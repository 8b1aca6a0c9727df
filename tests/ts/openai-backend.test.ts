import { afterEach, describe, expect, it } from 'vitest';
import { EndpointError, OpenAICompletionsBackend } from '../../ts/backends/openai.js';
import { parseConfig } from '../../ts/config/load.js';
import { deterministicCompletion, startCompletionsServer, type CompletionsServer } from './fixtures/completions-server.js';

const decoding = { max_new_tokens: 64, do_sample: true, temperature: 0.7, top_p: 0.5, stop: ['Task 11:'], prompt_format: 'raw' as const };
const settings = (overrides: Record<string, unknown>) => parseConfig({ openai: { initial_backoff_ms: 5, max_backoff_ms: 20, ...overrides } }).openai;

describe('OpenAI-compatible completions backend (against a real HTTP server on 127.0.0.1)', () => {
  let server: CompletionsServer | undefined;
  afterEach(() => server?.close());

  it('sends every prompt with its own seed, the decoding settings and the stop sequences, in order, concurrently', async () => {
    server = await startCompletionsServer({ delayMs: 20 });
    const backend = new OpenAICompletionsBackend(settings({ base_url: server.url, model: 'm', concurrency: 3 }));
    const prompts = ['p0', 'p1', 'p2', 'p3', 'p4'];
    const completions = await backend.generate({ prompts, decoding, seed: 100 });
    expect(completions.map((c) => c.text)).toEqual(prompts.map((p, i) => deterministicCompletion(p, 100 + i).split('Task 11:')[0]));
    expect(completions.every((c) => c.finish_reason !== 'length' && c.new_tokens > 0)).toBe(true);
    expect(server.requests.map((r) => r.prompt).sort()).toEqual(prompts);
    expect(server.requests[0]).toMatchObject({ model: 'm', max_tokens: 64, temperature: 0.7, top_p: 0.5, stop: ['Task 11:'] });
  });

  it('reports a completion cut by the token limit as "length"', async () => {
    server = await startCompletionsServer();
    const backend = new OpenAICompletionsBackend(settings({ base_url: server.url }));
    const [completion] = await backend.generate({ prompts: ['p'], decoding: { ...decoding, max_new_tokens: 2 }, seed: 1 });
    expect(completion!.finish_reason).toBe('length');
  });

  it('retries HTTP 503 with backoff and then succeeds', async () => {
    server = await startCompletionsServer({ failFirst: 3 });
    const backend = new OpenAICompletionsBackend(settings({ base_url: server.url, max_retries: 3, concurrency: 1 }));
    const [completion] = await backend.generate({ prompts: ['x'], decoding, seed: 5 });
    expect(completion!.text).toBe(deterministicCompletion('x', 5).split('Task 11:')[0]);
  });

  it('gives up with a clear error when the server keeps failing', async () => {
    server = await startCompletionsServer({ failFirst: 100 });
    const backend = new OpenAICompletionsBackend(settings({ base_url: server.url, max_retries: 2 }));
    await expect(backend.generate({ prompts: ['x'], decoding, seed: 5 })).rejects.toThrow(/gave up after 3 attempts: .*HTTP 503/);
  });

  it('retries an unreachable endpoint, then fails naming it', async () => {
    const closed = await startCompletionsServer();
    await closed.close(); // its port is now closed
    const backend = new OpenAICompletionsBackend(settings({ base_url: closed.url, max_retries: 2 }));
    const failure = backend.generate({ prompts: ['x'], decoding, seed: 5 });
    await expect(failure).rejects.toBeInstanceOf(EndpointError);
    await expect(failure).rejects.toThrow(new RegExp(`${closed.url}.*gave up after 3 attempts.*ECONNREFUSED`));
  });

  it('does not retry a client error (HTTP 404: wrong base URL)', async () => {
    server = await startCompletionsServer();
    const backend = new OpenAICompletionsBackend(settings({ base_url: `${server.url}/wrong`, max_retries: 5 }));
    await expect(backend.generate({ prompts: ['x'], decoding, seed: 5 })).rejects.toThrow(/HTTP 404/);
  });
});

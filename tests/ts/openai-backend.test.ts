/**
 * Faults of an OpenAI-compatible server that a real one cannot be made to produce on cue: HTTP 503 and 429 with
 * Retry-After, a server that keeps failing, a replica that is down. They use the small fixture server; everything a
 * real server can show (decoding, stop strings, seeds, served models and adapters) is tested against llama.cpp's in
 * tests/ts/llama-server.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { EndpointError, OpenAICompletionsBackend, ServedModelError } from '../../ts/backends/openai.js';
import { parseConfig } from '../../ts/config/load.js';
import { logger } from '../../ts/log.js';
import { type CompletionsServer, deterministicCompletion, FIXTURE_MODEL, startCompletionsServer } from './fixtures/completions-server.js';
import { CaptureTransport } from './helpers.js';

const decoding = { max_new_tokens: 64, do_sample: true, temperature: 0.7, top_p: 0.5, stop: ['Task 11:'], prompt_format: 'raw' as const };
const settings = (overrides: Record<string, unknown>) => parseConfig({ openai: { model: FIXTURE_MODEL, ...overrides } }).openai;
const expected = (prompt: string, seed: number) => deterministicCompletion(prompt, seed).split('Task 11:')[0];

describe('OpenAI-compatible backend under server faults (fixture server on 127.0.0.1)', () => {
  const servers: CompletionsServer[] = [];
  const start = async (options: Parameters<typeof startCompletionsServer>[0] = {}) => {
    const server = await startCompletionsServer(options);
    servers.push(server);
    return server;
  };
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  it('retries HTTP 503 (the openai client, with backoff) and then succeeds', async () => {
    const server = await start({ failFirst: 2 });
    const backend = new OpenAICompletionsBackend(settings({ base_url: server.url, max_retries: 3, concurrency: 1 }));
    const [completion] = await backend.generate({ prompts: ['x'], decoding, seed: 5 });
    expect(completion!.text).toBe(expected('x', 5));
    expect(server.arrivals).toHaveLength(3);
  });

  it('waits as long as a 429 Retry-After says before retrying', async () => {
    const server = await start({ failFirst: 1, retryAfterSeconds: 2 });
    const backend = new OpenAICompletionsBackend(settings({ base_url: server.url, max_retries: 2, concurrency: 1 }));
    const [completion] = await backend.generate({ prompts: ['x'], decoding, seed: 5 });
    expect(completion!.text).toBe(expected('x', 5));
    expect(server.arrivals).toHaveLength(2);
    // The client's own backoff for a first retry is at most about 0.5 s; the server asked for 2 s.
    expect(server.arrivals[1]! - server.arrivals[0]!).toBeGreaterThanOrEqual(1_900);
  });

  it('gives up with an EndpointError naming the server when it keeps failing', async () => {
    const server = await start({ failFirst: 100 });
    const backend = new OpenAICompletionsBackend(settings({ base_url: server.url, max_retries: 1 }));
    const failure = backend.generate({ prompts: ['x'], decoding, seed: 5 });
    await expect(failure).rejects.toBeInstanceOf(EndpointError);
    await expect(failure).rejects.toThrow(new RegExp(`gave up after 2 attempts on each of ${server.url}: HTTP 503`));
    expect(server.arrivals).toHaveLength(2);
  });

  it('moves the requests of a replica that dies to a healthy one, and says so', async () => {
    const live = await start();
    const dying = await startCompletionsServer();
    const capture = new CaptureTransport({ level: 'warn' });
    logger.add(capture);
    try {
      const backend = new OpenAICompletionsBackend(settings({ base_url: [dying.url, live.url], max_retries: 0, concurrency: 2 }));
      await backend.check(); // both serve the model
      await dying.close(); // its port is now closed
      const prompts = ['p0', 'p1', 'p2', 'p3', 'p4', 'p5'];
      const completions = await backend.generate({ prompts, decoding, seed: 10 });
      expect(completions.map((c) => c.text)).toEqual(prompts.map((p, i) => expected(p, 10 + i)));
      expect(live.requests.map((r) => r.prompt).sort()).toEqual(prompts);
      expect(
        capture.lines.some(
          (l) => l.message.startsWith(`${dying.url}: Connection error`) && l.message.includes('moving the request to another replica'),
        ),
      ).toBe(true);
    } finally {
      logger.remove(capture);
    }
  });

  it('shares the requests between healthy replicas', async () => {
    const [a, b] = [await start({ delayMs: 20 }), await start({ delayMs: 20 })];
    const backend = new OpenAICompletionsBackend(settings({ base_url: [a.url, b.url], concurrency: 4 }));
    const prompts = Array.from({ length: 8 }, (_, i) => `p${i}`);
    const completions = await backend.generate({ prompts, decoding, seed: 3 });
    expect(completions.map((c) => c.text)).toEqual(prompts.map((p, i) => expected(p, 3 + i)));
    expect(a.requests.length).toBeGreaterThan(0);
    expect(b.requests.length).toBeGreaterThan(0);
    expect(a.requests.length + b.requests.length).toBe(8);
  });

  it('fails when every replica is down, naming them all', async () => {
    const dead = await startCompletionsServer();
    const backend = new OpenAICompletionsBackend(settings({ base_url: dead.url, max_retries: 1 }));
    await backend.check();
    await dead.close();
    const failure = backend.generate({ prompts: ['x'], decoding, seed: 5 });
    await expect(failure).rejects.toBeInstanceOf(EndpointError);
    await expect(failure).rejects.toThrow(new RegExp(`gave up after 2 attempts on each of ${dead.url}: Connection error.*ECONNREFUSED`));
  });

  it('fails at once, before any completion request, when the base URL is wrong (HTTP 404 is not retried)', async () => {
    const server = await start();
    const backend = new OpenAICompletionsBackend(settings({ base_url: `${server.url}/wrong`, max_retries: 5 }));
    const started = Date.now();
    await expect(backend.generate({ prompts: ['x'], decoding, seed: 5 })).rejects.toThrow(/listing the served models failed: 404/);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(server.arrivals).toHaveLength(0);
  });

  it('refuses a model the server does not list, naming what it serves', async () => {
    const server = await start();
    const backend = new OpenAICompletionsBackend(settings({ base_url: server.url, model: 'llama-2-7b' }));
    const failure = backend.generate({ prompts: ['x'], decoding, seed: 5 });
    await expect(failure).rejects.toBeInstanceOf(ServedModelError);
    await expect(failure).rejects.toThrow(`does not serve "llama-2-7b" (GET /models lists: ${FIXTURE_MODEL})`);
    expect(server.arrivals).toHaveLength(0);
  });
});

/** The `openai` section of the config; ts/config/schema.ts assembles the sections into the one schema. */
import { z } from 'zod';
import { library, ours } from '../provenance.js';

export const openaiSection = z
  .strictObject({
    base_url: z
      .union([z.string().url(), z.array(z.string().url()).min(1)])
      .default('http://127.0.0.1:8000/v1')
      .transform((url) => (Array.isArray(url) ? url : [url]))
      .describe(
        'Base URL of an OpenAI-compatible server (vLLM, TGI, llama.cpp server), or a list of replicas serving the same model: they share the requests, and a request that fails on one moves to another.',
      )
      .meta(library("vLLM's OpenAI-compatible server (port 8000)")),
    model: z
      .string()
      .min(1)
      .default('default')
      .describe('Model name the server expects in each request.')
      .meta(ours("a placeholder: the served model's name goes here")),
    adapters: z
      .record(z.string().min(1), z.string().min(1))
      .default({})
      .describe(
        'LoRA adapters the servers serve, served name → adapter directory (vLLM: --enable-lora --lora-modules NAME=DIR). A stage that needs an adapter ' +
          "(stage 3's policy, an SFT model under evaluation) sends its name as the model; it must also be listed by the server's /v1/models.",
      )
      .meta(library("vLLM's --lora-modules NAME=DIR")),
    api_key_env: z
      .string()
      .default('OPENAI_API_KEY')
      .describe('Environment variable holding the API key; unset sends no Authorization header.')
      .meta(library("the OpenAI client's variable")),
    concurrency: z
      .number()
      .int()
      .positive()
      .default(8)
      .describe('Requests in flight at once (one prompt per request, so the server batches them continuously).')
      .meta(ours('enough requests in flight for a server to batch')),
    max_retries: z
      .number()
      .int()
      .nonnegative()
      .default(5)
      .describe(
        'Retries of a failed request on one server (connection error, timeout, HTTP 408, 409, 429 or 5xx) by the openai client, which waits as Retry-After says or backs off exponentially with jitter; then the request moves to another replica.',
      )
      .meta(ours('rides out a server restart')),
    timeout_ms: z
      .number()
      .positive()
      .default(600_000)
      .describe('Limit for one request, after which it counts as failed and is retried.')
      .meta(ours('a long completion on a busy server fits')),
  })
  .describe(
    'OpenAI-compatible servers as a generation backend, called with the official openai client (the path beyond one GPU: vLLM with tensor parallelism, replicas).',
  );

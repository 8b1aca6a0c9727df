/**
 * The instance-generation prompt of stages 2 and 3 is Self-Instruct's complete input-first prompt, built and decoded as
 * Self-Instruct does (seeds/README.md): prompt = template + " " + instruction.strip() + "\n"; presence penalty 1.5 on every
 * backend, stop at "Example 6" and "Task:", 350 tokens.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalWorkerBackend } from '../../ts/backends/local.js';
import { OpenAICompletionsBackend } from '../../ts/backends/openai.js';
import { PythonWorker } from '../../ts/bridge/worker.js';
import { parseConfig } from '../../ts/config/load.js';
import { defaultPython, packageRoot } from '../../ts/paths.js';
import { instancePrompt } from '../../ts/stages/instances/prompt.js';
import { type CompletionsServer, startCompletionsServer } from './fixtures/completions-server.js';

/** sha256 of Self-Instruct's `input_first_template_for_gen` (commit 0b26ccaa), as recorded in seeds/README.md. */
const SELF_INSTRUCT_INPUT_FIRST_SHA256 = 'f16bd050e44163a3030f65a6a4fff184e3e64a06ebe8c8c3a3ee426e0aad3fd8';

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

describe('the default instance prompt', () => {
  const config = parseConfig({});

  it('is Self-Instruct\'s input-first template + " " + instruction.strip() + "\\n", byte for byte, in stages 2 and 3', () => {
    const instruction = '  Sort the given list ascendingly. \n';
    const suffix = ' Sort the given list ascendingly.\n';
    for (const template of [config.instances.template, config.rlaf.template]) {
      const prompt = instancePrompt(template, instruction);
      expect(prompt.endsWith(suffix)).toBe(true);
      const selfInstructTemplate = prompt.slice(0, -suffix.length);
      expect(sha256(selfInstructTemplate)).toBe(SELF_INSTRUCT_INPUT_FIRST_SHA256);
      // The complete prompt: eleven demonstrations, the last an email, then the open task.
      expect(selfInstructTemplate.match(/^Task: /gm)).toHaveLength(11);
      expect(selfInstructTemplate).toMatch(/\[Your Name\]\n\nTask:$/);
    }
  });

  it('is decoded as Self-Instruct decodes it; stage 2 keeps plain sampling and takes only the stop and token limit', () => {
    expect(config.instances.decoding).toMatchObject({
      stop: ['Example 6', 'Task:'],
      max_new_tokens: 350,
      presence_penalty: 1.5,
      do_sample: false,
    });
    expect(config.rlaf.decoding).toEqual({ stop: ['Example 6', 'Task:'], max_new_tokens: 350, prompt_format: 'raw' });
  });
});

const decoding = { max_new_tokens: 4, do_sample: false, temperature: 1, top_p: 1, stop: ['Task:'], prompt_format: 'raw' as const };

describe('presence penalty', () => {
  let server: CompletionsServer;
  beforeAll(async () => {
    server = await startCompletionsServer();
  });
  afterAll(() => server.close());

  it('is sent to an OpenAI-compatible endpoint when given, and not otherwise', async () => {
    const backend = new OpenAICompletionsBackend(parseConfig({ openai: { base_url: server.url, model: 'fixture' } }).openai);
    await backend.generate({ prompts: ['a'], decoding: { ...decoding, presence_penalty: 1.5 }, seed: 1 });
    await backend.generate({ prompts: ['b'], decoding, seed: 1 });
    expect(server.requests.map((r) => r.presence_penalty)).toEqual([1.5, undefined]);
  });

  describe('on the local worker', () => {
    const dir = mkdtempSync(join(tmpdir(), 'refine-af-presence-'));
    const worker = new PythonWorker();
    beforeAll(() => execa(defaultPython, [join(packageRoot, 'tests', 'py', 'tiny_models.py'), join(dir, 'tiny')]));
    afterAll(() => worker.close());

    it('reaches the worker: the tiny model, which repeats itself greedily, writes other text with it', async () => {
      const models = parseConfig({ models: { generator: join(dir, 'tiny'), dtype: 'float32', device: 'cpu' } }).models;
      const backend = new LocalWorkerBackend(worker, models, { stage: 'instances', batchSize: 2 });
      const request = { prompts: ['Task: a\n', 'Task: b\n'], decoding: { ...decoding, max_new_tokens: 8 }, seed: 1 };
      const plain = await backend.generate(request);
      const penalised = await backend.generate({ ...request, decoding: { ...request.decoding, presence_penalty: 2 } });
      expect(penalised.map((c) => c.new_tokens)).toEqual([8, 8]);
      for (const [i, completion] of penalised.entries()) expect(completion.text).not.toBe(plain[i]!.text);
    }, 120_000);
  });
});

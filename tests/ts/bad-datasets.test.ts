/** Datasets with a missing or wrongly typed field: the stage stops before any model work, naming file, line and field, and writes nothing. */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../ts/config/load.js';
import { withStageContext } from '../../ts/stages/context.js';
import { generateInstances } from '../../ts/stages/instances.js';
import { runSft } from '../../ts/stages/sft.js';

const root = mkdtempSync(join(tmpdir(), 'refine-af-bad-data-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const config = parseConfig({
  run: { dir: join(root, 'run') },
  models: { generator: join(root, 'never-loaded') },
  pipeline: { method: 'self-instruct' },
});

describe('datasets with missing fields', () => {
  it('stage 3: a pool line without "instruction" is named by file and line; nothing is generated', async () => {
    const pool = join(root, 'pool.jsonl');
    writeFileSync(pool, '{"instruction": "Name a colour."}\n{"instructions": "typo in the key"}\n');
    await expect(withStageContext(config, (ctx) => generateInstances(ctx, { instructionsFile: pool, adapter: null }))).rejects.toThrow(
      new RegExp(`${pool}:2: .*instruction`),
    );
    expect(existsSync(join(config.run.dir, 'instances', 'generations.jsonl'))).toBe(false);
  });

  it('SFT: an IFT record without "output" (or with a number for it) is named by file and line; no job starts', async () => {
    for (const bad of ['{"instruction": "a", "input": ""}', '{"instruction": "a", "input": "", "output": 5}']) {
      const dataset = join(root, 'ift.jsonl');
      writeFileSync(dataset, `{"instruction": "Name a colour.", "input": "", "output": "red"}\n${bad}\n`);
      await expect(withStageContext(config, (ctx) => runSft(ctx, { datasetFile: dataset }))).rejects.toThrow(
        new RegExp(`${dataset}:2: .*output`),
      );
      expect(existsSync(join(config.run.dir, 'sft', 'result.json'))).toBe(false);
    }
  });
});

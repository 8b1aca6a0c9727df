/**
 * One base for relative paths in a config: the working directory the command runs in, never the config file's own
 * directory (README, "Config files"). A real `refine-af` run from another directory, with the config in a subdirectory.
 */

import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { type CompletionsServer, startCompletionsServer } from './fixtures/completions-server.js';

const packageRoot = resolve(import.meta.dirname, '..', '..');
const cli = join(packageRoot, 'bin', 'refine-af.js');
const root = mkdtempSync(join(tmpdir(), 'refine-af-config-paths-'));
let server: CompletionsServer;

beforeAll(async () => {
  server = await startCompletionsServer();
});
afterAll(async () => {
  await server.close();
  rmSync(root, { recursive: true, force: true });
});

describe('relative paths in a config', () => {
  it('resolve against the working directory, not the directory of the config file', async () => {
    mkdirSync(join(root, 'configs'));
    copyFileSync(join(packageRoot, 'seeds', 'seed_tasks.jsonl'), join(root, 'my-seeds.jsonl'));
    writeFileSync(
      join(root, 'configs', 'relative.yaml'),
      stringify({
        run: { dir: 'out', seed: 1 },
        openai: { base_url: server.url, model: 'fixture' },
        instructions: { backend: 'openai', num_instructions: 2, request_batch_size: 2, seed_tasks: 'my-seeds.jsonl' },
      }),
    );
    const result = await execa('node', [cli, 'generate-instructions', '--config', join('configs', 'relative.yaml'), '--json'], {
      cwd: root,
      reject: false,
    });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ output: join('out', 'machine_instructions.jsonl') });
    expect(existsSync(join(root, 'out', 'machine_instructions.jsonl'))).toBe(true);
    expect(existsSync(join(root, 'configs', 'out'))).toBe(false);
  }, 120_000);
});

/**
 * A command that fails to start (a model or adapter that cannot be loaded) writes nothing that makes the corrected
 * command refuse: a real `refine-af` process fails on the wrong model, then the same command with the right one runs
 * without --resume and without "other settings".
 */

import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { buildGenerator, harnessConfig } from '../reliability/harness.js';
import { type CompletionsServer, startCompletionsServer } from './fixtures/completions-server.js';
import { saveTinyLora } from './helpers.js';

const packageRoot = resolve(import.meta.dirname, '..', '..');
const cli = join(packageRoot, 'bin', 'refine-af.js');
const root = mkdtempSync(join(tmpdir(), 'refine-af-failed-start-'));
let server: CompletionsServer;
let generator = '';

beforeAll(async () => {
  server = await startCompletionsServer();
  generator = buildGenerator(root);
});
afterAll(async () => {
  await server.close();
  rmSync(root, { recursive: true, force: true });
});

async function refineAf(...args: string[]) {
  const result = await execa('node', [cli, ...args], { cwd: packageRoot, reject: false, all: true });
  return { exitCode: result.exitCode, output: String(result.all) };
}

function writeConfig(name: string, config: Record<string, unknown>): string {
  const file = join(root, `${name}.yaml`);
  writeFileSync(file, stringify(config));
  return file;
}

describe('a failed start leaves nothing that blocks the retry', () => {
  it('generate-instructions with a generator that does not exist, then with one that does', async () => {
    const runDir = join(root, 'instructions');
    const base = harnessConfig(runDir, generator, server, 'small');
    const missing = join(root, 'no-such-model');
    const wrong = writeConfig('wrong-generator', {
      ...base,
      models: { ...(base.models as object), generator: missing },
      instructions: { ...(base.instructions as object), backend: 'local' },
    });
    const failed = await refineAf('generate-instructions', '--config', wrong);
    expect(failed.exitCode, failed.output).toBe(1);
    expect(failed.output).toContain(missing);
    expect(existsSync(join(runDir, 'machine_instructions.state.json'))).toBe(false);

    const corrected = await refineAf('generate-instructions', '--config', writeConfig('generator', base));
    expect(corrected.exitCode, corrected.output).toBe(0);
    expect(corrected.output).toContain('8 instructions kept');
  });

  it('generate-instances with a directory that holds no adapter, then with an adapter', async () => {
    const runDir = join(root, 'instances');
    const config = writeConfig('instances', { ...harnessConfig(runDir, generator, server, 'small'), pipeline: { method: 'refine-af' } });
    const pool = join(root, 'pool.jsonl');
    writeFileSync(pool, `${JSON.stringify({ instruction: 'Name a colour.' })}\n${JSON.stringify({ instruction: 'Name a fruit.' })}\n`);
    const adapter = saveTinyLora(join(root, 'adapter'), generator);

    // A directory that is there but holds no adapter: the CLI passes it on, and loading it fails.
    const notAnAdapter = mkdirSync(join(root, 'not-an-adapter'), { recursive: true })!;
    const failed = await refineAf('generate-instances', '--config', config, '--instructions', pool, '--adapter', notAnAdapter);
    expect(failed.exitCode, failed.output).toBe(1);
    expect(failed.output).toContain(notAnAdapter);
    expect(existsSync(join(runDir, 'instances', 'settings.json'))).toBe(false);

    const corrected = await refineAf('generate-instances', '--config', config, '--instructions', pool, '--adapter', adapter);
    expect(corrected.exitCode, corrected.output).toBe(0);
    expect(corrected.output).toContain('from 2 instructions');
  });
});

/**
 * What a person sees in a terminal: a real command in a real pseudo-terminal (tmux renders it as the screen shows it),
 * with the embedded model loaded by the real worker. Library output (transformers' notices, the GGUF de-quantisation
 * bar, Python warnings) goes to the run log file, not the screen; the progress bar is gone; a short summary ends it.
 */

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig } from '../../ts/config/load.js';
import { runInstructionGeneration } from '../../ts/stages/instructions.js';
import { type CompletionsServer, startCompletionsServer } from './fixtures/completions-server.js';
import { runInTerminal } from './helpers.js';

const packageRoot = resolve(import.meta.dirname, '..', '..');
const cli = join(packageRoot, 'bin', 'refine-af.js');
const root = mkdtempSync(join(tmpdir(), 'refine-af-terminal-output-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('generate-instructions in a terminal, on the embedded model', () => {
  it('shows the toolkit’s own lines and a summary; library output is in the run log file only', async () => {
    const runDir = join(root, 'embedded');
    const configFile = join(root, 'embedded.yaml');
    // Two instructions in batches of two short completions: one model load and a few generations.
    writeFileSync(
      configFile,
      stringify({
        run: { dir: runDir, seed: 1 },
        instructions: { num_instructions: 2, request_batch_size: 2, decoding: { max_new_tokens: 48 } },
      }),
    );
    // CI would turn the bar into log lines; a terminal user has none of it set.
    const { screen, exitCode } = await runInTerminal(
      ['env', '-u', 'CI', '-u', 'REFINE_AF_LOG_LEVEL', 'node', cli, 'generate-instructions', '--config', configFile],
      {
        cwd: packageRoot,
      },
    );
    const lines = screen.split('\n').filter((line) => line.trim());
    expect(exitCode, screen).toBe(0);
    // The summary: what was made, where, the counts, the time.
    expect(lines.slice(-3), screen).toEqual([
      expect.stringMatching(
        new RegExp(`^2 instructions kept of \\d+ generated in \\d+ requests → ${join(runDir, 'machine_instructions.jsonl')}$`),
      ),
      expect.stringMatching(/^rejected: /),
      expect.stringMatching(/^\(\d+(\.\d)? s\)$|^\(\d+ min \d+ s\)$/),
    ]);
    // Above it, only the toolkit's own log lines, each once: no library notice, no Python line, no leftover bar.
    const above = lines.slice(0, -3);
    for (const line of above) expect(line, screen).toMatch(/^(info|warn) (?!\[python)/);
    expect(new Set(above).size, screen).toBe(above.length);
    expect(screen).not.toMatch(/[\u2588\u2591]|legacy|gguf|bitsandbytes|warnings\.warn|Traceback/i);
    // The library output did happen, and went to the run log file at debug level.
    const records = readFileSync(join(runDir, 'refine-af.log'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, string>);
    const python = records.filter((record) => record.source === 'python');
    expect(python.length).toBeGreaterThan(0);
    expect(python.every((record) => record.level === 'debug' || record.logger?.startsWith('refine_af'))).toBe(true);
  }, 900_000);
});

describe('--json', () => {
  let server: CompletionsServer;
  beforeAll(async () => {
    server = await startCompletionsServer();
  });
  afterAll(() => server.close());

  const settings = (runDir: string) => ({
    run: { dir: runDir, seed: 3 },
    openai: { base_url: server.url, model: 'fixture', concurrency: 2 },
    instructions: { backend: 'openai', num_instructions: 6, request_batch_size: 2 },
  });

  it('prints exactly the object the SDK returns, as one JSON document on stdout', async () => {
    const cliDir = join(root, 'json-cli');
    const configFile = join(root, 'json.yaml');
    writeFileSync(configFile, stringify(settings(cliDir)));
    const result = await execa('node', [cli, 'generate-instructions', '--config', configFile, '--json'], {
      cwd: packageRoot,
      reject: false,
    });
    expect(result.exitCode, result.stderr).toBe(0);
    const printed = JSON.parse(result.stdout) as { output: string };
    const sdkDir = join(root, 'json-sdk');
    const returned = await runInstructionGeneration(parseConfig(settings(sdkDir)));
    expect(printed).toEqual({ ...returned, output: join(cliDir, 'machine_instructions.jsonl') });
    expect(returned.output).toBe(join(sdkDir, 'machine_instructions.jsonl'));
  }, 300_000);
});

/**
 * `refine-af run` against bad input and a hostile disk, through the real CLI: a model path that does not exist, a
 * config changed under an existing run (never overwritten without --force), an interrupted stage not restarted
 * without --resume, and a full disk (a real tmpfs of a few KiB; needs root to mount, skipped otherwise) that fails
 * cleanly and resumes to the same result once there is room.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { z } from 'zod';
import { appendJsonl, readJsonl, writeJsonAtomic } from '../../ts/io/files.js';
import { harnessConfig, runningStage, startRun } from '../reliability/harness.js';
import { type CompletionsServer, startCompletionsServer } from './fixtures/completions-server.js';

const root = mkdtempSync(join(tmpdir(), 'refine-af-inputs-'));
const missingModel = join(root, 'no-such-model');
let server: CompletionsServer;

beforeAll(async () => {
  server = await startCompletionsServer();
});
afterAll(async () => {
  await server.close();
  rmSync(root, { recursive: true, force: true });
});

/** Stage 1 runs on the completions server; stage 2 needs the generator, here a path that does not exist. */
function writeConfig(name: string, runDir: string, instructions: Record<string, unknown> = {}): string {
  const config = harnessConfig(runDir, missingModel, server, 'small');
  config.instructions = { ...(config.instructions as object), ...instructions };
  const file = join(root, `${name}.yaml`);
  writeFileSync(file, stringify(config));
  return file;
}

async function run(configFile: string, ...flags: ('--resume' | '--force')[]) {
  const result = await startRun(configFile, ...flags);
  const errors = String(result.all)
    .replace(/\x1b\[[0-9;]*m/g, '')
    .split('\n')
    .filter((l) => /^error /.test(l));
  return { exitCode: result.exitCode, errors, output: String(result.all) };
}

const digest = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const instructionsOf = (runDir: string) =>
  readJsonl(join(runDir, 'machine_instructions.jsonl'), z.object({ instruction: z.string() })).map((r) => r.instruction);

describe('refine-af run: bad input and the disk', () => {
  const runDir = join(root, 'run');
  let configFile = '';
  let mounted = false;
  const disk = join(root, 'disk');
  beforeAll(() => {
    configFile = writeConfig('run', runDir);
    mkdirSync(disk);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=12k', 'tmpfs', disk], { stdio: 'ignore' });
      mounted = true;
    } catch {
      mounted = false;
    }
  });

  it('a generator path that does not exist: one error naming it; stage 1 is complete and kept', async () => {
    const result = await run(configFile);
    expect(result.exitCode).toBe(1);
    expect(result.errors, result.output).toHaveLength(1);
    expect(result.errors[0]).toContain(missingModel);
    expect(instructionsOf(runDir)).toHaveLength(8);
    expect(runningStage(runDir)).toBe('rlaf');
  });

  it('does not restart an interrupted stage without --resume', async () => {
    const result = await run(configFile);
    expect(result.exitCode).toBe(1);
    expect(result.errors).toEqual([expect.stringContaining('rlaf was interrupted')]);
    expect(result.errors[0]).toContain('pass --resume');
  });

  it('never overwrites artifacts made by a different config without --force, and --force redoes them', async () => {
    const before = digest(join(runDir, 'machine_instructions.jsonl'));
    const changed = writeConfig('changed', runDir, { num_instructions: 5 });
    const refused = await run(changed, '--resume');
    expect(refused.exitCode).toBe(1);
    expect(refused.errors).toEqual([expect.stringMatching(/step instructions was made from other inputs.*--force/)]);
    expect(digest(join(runDir, 'machine_instructions.jsonl'))).toBe(before);

    const forced = await run(changed, '--force');
    expect(forced.errors[0]).toContain(missingModel); // stage 1 redone under the new config, then stage 2 as before
    expect(instructionsOf(runDir)).toHaveLength(5);
  });

  afterAll(() => {
    if (mounted) execFileSync('umount', [disk]);
  });

  it.runIf(process.getuid?.() === 0)(
    'a full disk (12 KiB tmpfs): a clean failure naming ENOSPC, no torn line, and a resume with room gives the uninterrupted result',
    async () => {
      expect(mounted).toBe(true);
      const reference = join(root, 'reference');
      await run(writeConfig('reference', reference, { num_instructions: 16 }));
      const full = join(disk, 'run');
      const fullConfig = writeConfig('full', full, { num_instructions: 16 });
      const failed = await run(fullConfig);
      expect(failed.exitCode).toBe(1);
      expect(failed.errors.join('\n'), failed.output).toMatch(/ENOSPC/);
      const kept = instructionsOf(full); // strict read: a torn line would throw
      expect(kept.length).toBeLessThan(16);
      expect(kept).toEqual(instructionsOf(reference).slice(0, kept.length));

      execFileSync('mount', ['-o', 'remount,size=4m', disk]);
      const resumed = await run(fullConfig, '--resume');
      expect(resumed.errors[0]).toContain(missingModel); // stage 1 finished; stage 2 needs the (missing) model
      expect(instructionsOf(full)).toEqual(instructionsOf(reference));
    },
  );

  it.runIf(process.getuid?.() === 0)(
    'the crash-safe writer on a full disk: a write cut short throws and leaves the old content whole',
    () => {
      rmSync(join(disk, 'run'), { recursive: true, force: true }); // the previous test's run: the disk shrinks back to 12 KiB
      execFileSync('mount', ['-o', 'remount,size=12k', disk]);
      const log = join(disk, 'log.jsonl');
      const snapshot = join(disk, 'snapshot.json');
      appendJsonl(log, [{ n: 1 }]);
      writeJsonAtomic(snapshot, { n: 1 });
      const big = { text: 'x'.repeat(64 * 1024) }; // more than the disk holds: the kernel writes what fits, then ENOSPC
      expect(() => appendJsonl(log, [big])).toThrow(/ENOSPC/);
      expect(readFileSync(log, 'utf8')).toBe('{"n":1}\n');
      expect(() => writeJsonAtomic(snapshot, big)).toThrow(/ENOSPC/);
      expect(JSON.parse(readFileSync(snapshot, 'utf8'))).toEqual({ n: 1 });
    },
  );
});

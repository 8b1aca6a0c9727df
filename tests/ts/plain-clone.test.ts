/**
 * A plain clone is complete: the repository cloned alone into an empty directory (no sibling checkout beside it, as
 * anyone cloning it has it) holds every file its code, tests and docs refer to. Two checks, cheap enough for every
 * `make test`: no tracked file names a path outside the repository, and the tests that read the repository's data
 * (the Super-NI fixture and its golden scores, the seed and user-oriented instructions, the command run from the
 * clone's own compiled dist/) pass inside the clone. It clones the last commit: uncommitted edits are not in it.
 */
import { cpSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, expect, it } from 'vitest';
import { packageRoot } from '../../ts/paths.js';

const clone = join(mkdtempSync(join(tmpdir(), 'plain-clone-')), 'refine-af');
// Spelled in pieces so that this file does not itself match the search below.
const sibling = ['..', 'shared'].join('/');

beforeAll(async () => {
  await execa('git', ['clone', '--quiet', '--no-hardlinks', packageRoot, clone]);
  // Installed and built outputs, not repository files: linked or copied so the clone skips a reinstall (and tsc finds
  // its incremental build up to date).
  symlinkSync(join(packageRoot, 'node_modules'), join(clone, 'node_modules'));
  symlinkSync(join(packageRoot, '.venv'), join(clone, '.venv'));
  cpSync(join(packageRoot, 'dist'), join(clone, 'dist'), { recursive: true });
}, 120_000);

it('has no tracked file that refers to a sibling checkout', async () => {
  const found = await execa('git', ['grep', '-n', '-F', sibling], { cwd: clone, reject: false });
  expect(found.stdout).toBe('');
  expect(found.exitCode).toBe(1); // git grep: 1 = nothing found (2 would be an error)
});

it('passes the tests that read the repository data, run inside the clone', async () => {
  const run = await execa(
    'npx',
    [
      'vitest',
      'run',
      'tests/ts/eval-superni.test.ts',
      'tests/ts/human-eval-data.test.ts',
      '-t',
      'reading the benchmark|scoring|user-oriented|runs',
    ],
    { cwd: clone, reject: false, all: true, env: { NO_COLOR: '1', FORCE_COLOR: '0' } },
  );
  expect(run.exitCode, run.all).toBe(0);
  expect(run.all).toMatch(/Test Files {2}2 passed \(2\)/);
}, 600_000);

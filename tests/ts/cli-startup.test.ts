/**
 * Start-up of the command: `refine-af --help` must not load the package's modules or build the config schemas (zod),
 * which made it take ~1 s; each command imports what it runs inside its action.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../ts/paths.js';

async function loadedBy(args: string[]): Promise<{ stdout: string; modules: string[] }> {
  const record = join(mkdtempSync(join(tmpdir(), 'startup-')), 'imports.txt');
  const hooks = join(packageRoot, 'tests', 'ts', 'fixtures', 'startup', 'record-imports.mjs');
  const { stdout } = await execa('node', ['--import', hooks, join(packageRoot, 'bin', 'refine-af.js'), ...args], {
    env: { RECORD_IMPORTS: record, NODE_OPTIONS: '' },
  });
  const urls = readFileSync(record, 'utf8').trim().split('\n');
  return { stdout, modules: urls.filter((u) => u.startsWith('file:')).map((u) => relative(packageRoot, fileURLToPath(u))) };
}

describe('refine-af start-up', () => {
  it('--help loads the bin, cli.js and commander, nothing else', async () => {
    const { stdout, modules } = await loadedBy(['--help']);
    expect(stdout).toContain('Usage: refine-af');
    // node_modules may be a link: a dependency is known by the node_modules/<name>/ in its path.
    const [dependencies, own] = [modules.filter((m) => m.includes('node_modules/')), modules.filter((m) => !m.includes('node_modules/'))];
    expect(own).toEqual(['bin/refine-af.js', 'dist/cli.js']);
    expect(dependencies.filter((m) => !m.includes('node_modules/commander/'))).toEqual([]);
  });
});

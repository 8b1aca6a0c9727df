/**
 * Vitest global setup: tests that start the `refine-af` command run the compiled dist/, so bring it up to date with ts/
 * first (tsc's incremental build: a few seconds when nothing changed), as `make setup` does.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../../ts/paths.js';

export default function buildDist(): void {
  execFileSync(join(packageRoot, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.build.json'], { cwd: packageRoot, stdio: 'inherit' });
}

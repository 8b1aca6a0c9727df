/** Where the package's own files live, wherever the process was started from, and where a program is. */
import { accessSync, constants } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const defaultPython = resolve(packageRoot, '.venv', 'bin', 'python');
/** The config `make demo` runs, shipped with the package: what an SDK caller loads from any working directory. */
export const defaultConfigFile = resolve(packageRoot, 'configs', 'default.yaml');

/** TensorBoard event files of one training in a run (`tensorboard --logdir <run.dir>` shows them all side by side). */
export function tensorboardDir(runDir: string, name: string): string {
  return join(runDir, 'tensorboard', name);
}

/** A run's ledger (ts/pipeline/ledger.ts): per stage, the hash of its inputs, its status and its artifacts. */
export function runLedgerFile(runDir: string): string {
  return join(runDir, 'run.json');
}

/** The executable a command's program names (a path, or a name looked up on PATH as a shell does), or null when none is. */
export function findExecutable(program: string): string | null {
  const candidates = program.includes('/')
    ? [resolve(program)]
    : (process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, program));
  return (
    candidates.find((file) => {
      try {
        accessSync(file, constants.X_OK);
        return true;
      } catch {
        return false;
      }
    }) ?? null
  );
}

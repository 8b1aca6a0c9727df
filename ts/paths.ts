/** Where the package's own files live, wherever the process was started from. */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const pythonPackageDir = resolve(packageRoot, 'py');
export const defaultPython = resolve(packageRoot, '.venv', 'bin', 'python');

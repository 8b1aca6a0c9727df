/**
 * What crosses the languages outside a call's parameters and result is declared in ts/bridge/contract.ts; the Python side
 * is read here, so that renaming either side without the other fails a test rather than silently dropping log records or
 * settings.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DIAGNOSTICS_MODULE, diagnostics } from '../../fixtures/diagnostics.js';
import { jobs, PYTHON_LOG_RECORD_PREFIX, pythonEnvironment, workerMethods } from '../../ts/bridge/contract.js';
import { logPythonLine } from '../../ts/log.js';
import { packageRoot } from '../../ts/paths.js';

const service = readFileSync(join(packageRoot, 'py', 'refine_af', 'service.py'), 'utf8');

/** The functions a Python file registers with service.py's `@method` and `@job` decorators, by name. */
function registered(source: string, decorator: 'method' | 'job'): string[] {
  return [...source.matchAll(new RegExp(`^@${decorator}\\ndef (\\w+)\\(`, 'gm'))].map((match) => match[1]!).sort();
}

describe('the names on each side', () => {
  it('service.py implements exactly the production contract', () => {
    expect(registered(service, 'method')).toEqual(Object.keys(workerMethods).sort());
    expect(registered(service, 'job')).toEqual(Object.keys(jobs).sort());
  });

  it("the tests' diagnostics module implements exactly the diagnostics contract, none of it in production", () => {
    const fixture = readFileSync(DIAGNOSTICS_MODULE, 'utf8');
    expect(registered(fixture, 'method')).toEqual(Object.keys(diagnostics.methods).sort());
    expect(registered(fixture, 'job')).toEqual(Object.keys(diagnostics.jobs).sort());
    for (const name of [...Object.keys(diagnostics.methods), ...Object.keys(diagnostics.jobs)]) {
      expect(Object.keys({ ...workerMethods, ...jobs }), name).not.toContain(name);
    }
  });
});

describe('the seam outside the method and job schemas', () => {
  it('service.py writes log records with the declared prefix, and TS reads them as records', () => {
    expect(service).toContain(`LOG_RECORD_PREFIX = ${JSON.stringify(PYTHON_LOG_RECORD_PREFIX)}`);
    const line = `${PYTHON_LOG_RECORD_PREFIX}${JSON.stringify({ level: 'WARNING', logger: 'refine_af.models', message: 'hello' })}`;
    expect(logPythonLine(line, 'test')).toBe('WARNING refine_af.models: hello');
  });

  it('service.py reads every variable of the environment the worker and jobs are started with', () => {
    const names = Object.keys(pythonEnvironment({ logLevel: 'info', logFile: '/tmp/x' })).filter((name) => name.startsWith('REFINE_AF_'));
    expect(names.sort()).toEqual(['REFINE_AF_PYTHON_LOG_LEVEL', 'REFINE_AF_WORKER_LOG']);
    for (const name of names) expect(service, name).toContain(`os.environ.get("${name}"`);
    expect(pythonEnvironment({ logLevel: 'debug' })).toEqual({ PYTHONUNBUFFERED: '1', REFINE_AF_PYTHON_LOG_LEVEL: 'DEBUG' });
  });
});

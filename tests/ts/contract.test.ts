/**
 * What crosses the languages is declared in ts/bridge/contract.ts; the Python side is read here (service.py's source, the
 * signatures of its methods, the fields of its Decoding), so that adding or renaming a key, a method or a log channel on
 * one side without the other fails a test rather than silently dropping settings or log records.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DIAGNOSTICS_MODULE, diagnostics } from '../../fixtures/diagnostics.js';
import { jobs, PYTHON_LOG_RECORD_PREFIX, pythonEnvironment, workerMethods } from '../../ts/bridge/contract.js';
import { logPythonLine } from '../../ts/bridge/python-log.js';
import { defaultPython, packageRoot } from '../../ts/paths.js';

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

describe('the parameters on each side', () => {
  it('each method takes exactly its declared keys in Python, and every decoding key is a field of Decoding', async () => {
    const { stdout } = await execa(defaultPython, [new URL('./fixtures/python_params.py', import.meta.url).pathname, DIAGNOSTICS_MODULE]);
    const python = z
      .object({ methods: z.record(z.string(), z.array(z.string())), decoding: z.array(z.string()) })
      .parse(JSON.parse(stdout));
    for (const [name, spec] of Object.entries({ ...workerMethods, ...diagnostics.methods })) {
      const params = (spec.params as z.ZodObject).shape;
      expect(Object.keys(params).sort(), name).toEqual(python.methods[name]?.sort());
      const decoding = params.decoding;
      if (decoding instanceof z.ZodObject) {
        expect(
          Object.keys(decoding.shape).filter((key) => !python.decoding.includes(key)),
          `${name}.decoding: keys Python drops`,
        ).toEqual([]);
      }
    }
  }, 60_000);
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

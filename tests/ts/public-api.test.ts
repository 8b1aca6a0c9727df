/**
 * The SDK's surface: ts/index.ts exports exactly what the README's SDK section documents, and every error class the code
 * defines for callers (exported from its module, derived from Error) is among them, so that a user can catch it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import * as sdk from '../../ts/index.js';

const root = resolve(import.meta.dirname, '..', '..');

/** Every name ts/index.ts exports, types included, as the TypeScript compiler sees them. */
function indexExports(): string[] {
  const file = join(root, 'ts', 'index.ts');
  const program = ts.createProgram([file], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const symbol = checker.getSymbolAtLocation(program.getSourceFile(file)!)!;
  return checker.getExportsOfModule(symbol).map((s) => s.name);
}

/** The names in backticks in the first column of the table in the README's `## SDK` section. */
function documentedExports(): string[] {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n## SDK\n'), readme.indexOf('\n## ', readme.indexOf('\n## SDK\n') + 1));
  const rows = section.split('\n').filter((line) => line.startsWith('| `'));
  return rows.flatMap((row) => [...row.split('|')[1]!.matchAll(/`([A-Za-z]\w*)`/g)].map((m) => m[1]!));
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );
}

describe('the public API', () => {
  it('is exactly what the README documents, each name once', () => {
    const exported = indexExports();
    const documented = documentedExports();
    expect(documented.length).toBeGreaterThan(20);
    expect(new Set(documented).size, 'a name documented twice').toBe(documented.length);
    expect([...documented].sort()).toEqual([...exported].sort());
  });

  it('exports every error class the code defines for callers', async () => {
    const errorClasses: string[] = [];
    for (const file of sourceFiles(join(root, 'ts'))) {
      const names = [...readFileSync(file, 'utf8').matchAll(/^export class (\w+) extends \w+/gm)].map((m) => m[1]!);
      if (names.length === 0) continue;
      const module = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
      for (const name of names) {
        const value = module[name] as { prototype?: unknown };
        if (value?.prototype instanceof Error) errorClasses.push(`${relative(root, file)}: ${name}`);
      }
    }
    // The ones the issue found missing are among them: the scan sees what it should.
    expect(errorClasses.map((e) => e.split(': ')[1])).toEqual(
      expect.arrayContaining(['RunConflictError', 'DataFileError', 'InterruptedError', 'TemplateError']),
    );
    const missing = errorClasses.filter((entry) => !(entry.split(': ')[1]! in sdk));
    expect(missing).toEqual([]);
  });

  it('has one error family: every exported error is a RefineAfError with a code of its own', async () => {
    const { RefineAfError } = sdk as unknown as { RefineAfError: abstract new () => Error };
    const codes = new Map<string, string>();
    for (const file of sourceFiles(join(root, 'ts'))) {
      const text = readFileSync(file, 'utf8');
      for (const [, name, body] of text.matchAll(/^export class (\w+) extends \w+ \{\n((?: {2}.*\n)*?)\}/gm)) {
        const value = (sdk as Record<string, unknown>)[name!] as { prototype?: unknown } | undefined;
        if (!(value?.prototype instanceof Error)) continue;
        expect(value.prototype, name).toBeInstanceOf(RefineAfError);
        const code = /readonly code(?:: string)? = '([a-z-]+)'/.exec(body!)?.[1];
        expect(code, `${name} declares its code`).toBeDefined();
        expect(codes.get(code!), `${name}'s code ${code} is taken`).toBeUndefined();
        codes.set(code!, name!);
      }
    }
    expect(codes.size).toBeGreaterThan(12);
  });

  it('leaves internals out', () => {
    for (const internal of ['lcsLength', 'ranks', 'Random', 'latestCheckpoint', 'generateInstances', 'runSft', 'withStageContext'])
      expect(sdk).not.toHaveProperty(internal);
  });
});

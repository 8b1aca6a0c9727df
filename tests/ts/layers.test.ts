/**
 * The layers of ts/ (README "Layout"), bottom to top: a module imports from its own layer or the ones below, never from
 * one above. The import graph is read from the sources as they are, static and dynamic imports alike.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const ts = join(root, 'ts');

/** Each top-level folder or file of ts/ (without .ts), in its layer; the first layer is the ground floor. */
const LAYERS: readonly (readonly string[])[] = [
  ['errors', 'paths', 'log', 'markup', 'random', 'interrupt', 'progress', 'io', 'rouge', 'prompts'],
  ['bridge'],
  ['config'],
  ['backends', 'stats'],
  ['feedback'],
  ['stages'],
  ['eval'],
  ['pipeline'],
  ['commands'],
  ['cli', 'index'],
];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : name.endsWith('.ts') ? [path] : [];
  });
}

/** The top-level folder or file of ts/ a path belongs to. */
const unitOf = (file: string) => relative(ts, file).split('/')[0]!.replace(/\.ts$/, '');
const layerOf = (unit: string) => LAYERS.findIndex((layer) => layer.includes(unit));

describe('the layers of ts/', () => {
  const files = sourceFiles(ts);

  it('place every module', () => {
    expect(files.map(unitOf).filter((unit) => layerOf(unit) < 0)).toEqual([]);
  });

  it('import only downwards (or within a layer)', () => {
    const upward: string[] = [];
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      for (const [, specifier] of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
        const target = resolve(dirname(file), specifier!);
        if (layerOf(unitOf(target)) > layerOf(unitOf(file))) upward.push(`${relative(root, file)} → ${specifier}`);
      }
    }
    expect(upward).toEqual([]);
  });
});

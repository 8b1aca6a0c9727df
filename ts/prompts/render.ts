/** The one templating function: `{{name}}` placeholders in files under seeds/templates/, every one filled, none extra. */
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { packageRoot } from '../paths.js';

const PLACEHOLDER = /\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g;
const cache = new Map<string, string>();

export class TemplateError extends Error {
  override name = 'TemplateError';
}

/** A template path is absolute, or relative to seeds/templates/ in the package. */
export function loadTemplate(path: string): string {
  const file = isAbsolute(path) ? path : resolve(packageRoot, 'seeds', 'templates', path);
  let text = cache.get(file);
  if (text === undefined) {
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new TemplateError(`cannot read template ${file}: ${(error as Error).message}`);
    }
    cache.set(file, text);
  }
  return text;
}

export function renderTemplate(path: string, values: Record<string, string | number>): string {
  const template = loadTemplate(path);
  const used = new Set<string>();
  const out = template.replace(PLACEHOLDER, (_, name: string) => {
    if (!(name in values)) throw new TemplateError(`template ${path}: no value for {{${name}}}`);
    used.add(name);
    return String(values[name]);
  });
  const unused = Object.keys(values).filter((k) => !used.has(k));
  if (unused.length > 0) throw new TemplateError(`template ${path}: values given but not used: ${unused.join(', ')}`);
  return out;
}

/** The one templating rule: `{{name}}` placeholders (in files under seeds/templates/ or recorded texts), every one filled, none extra. */
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { RefineAfError } from '../errors.js';
import { packageRoot } from '../paths.js';

const PLACEHOLDER = /\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g;
const cache = new Map<string, string>();

export class TemplateError extends RefineAfError {
  override name = 'TemplateError';
  readonly code = 'template';
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
  return renderTemplateText(loadTemplate(path), values, `template ${path}`);
}

/** Fill a template given as text (one recorded elsewhere, e.g. beside an SFT adapter); `source` names it in errors. */
export function renderTemplateText(template: string, values: Record<string, string | number>, source: string): string {
  const used = new Set<string>();
  const out = template.replace(PLACEHOLDER, (_, name: string) => {
    if (!(name in values)) throw new TemplateError(`${source}: no value for {{${name}}}`);
    used.add(name);
    return String(values[name]);
  });
  const unused = Object.keys(values).filter((k) => !used.has(k));
  if (unused.length > 0) throw new TemplateError(`${source}: values given but not used: ${unused.join(', ')}`);
  return out;
}

/** Read a YAML config, validate it with the one schema, and report any problem as file:line, key path, value, expectation. */
import { readFileSync } from 'node:fs';
import { LineCounter, isNode, parseDocument } from 'yaml';
import type { z } from 'zod';
import { configSchema, type Config, type ConfigInput } from './schema.js';

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly file: string, readonly problems: string[]) {
    super(`invalid config ${file}:\n  ${problems.join('\n  ')}`);
  }
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** One problem per offending key: an unknown-keys issue becomes one entry per key, pointing at that key. */
function flatten(issues: z.core.$ZodIssue[]): { path: PropertyKey[]; message: string }[] {
  return issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({ path: [...issue.path, key], message: 'unknown key (a typo?); see `refine-af config reference`' }))
      : [{ path: issue.path, message: issue.message }],
  );
}

/** Validate an already-parsed object (the SDK path); `source` names it in errors. */
export function parseConfig(raw: unknown, source = '<config object>', locate?: (path: PropertyKey[]) => string): Config {
  const result = configSchema.safeParse(raw ?? {});
  if (result.success) return result.data;
  const problems = flatten(result.error.issues).map(({ path, message }) => {
    const keyPath = path.map(String).join('.') || '(top level)';
    const got = path.reduce<unknown>((node, key) => (node as Record<PropertyKey, unknown> | undefined)?.[key], raw);
    return `${locate?.(path) ?? source}: ${keyPath}: ${message}; got ${describeValue(got)}`;
  });
  throw new ConfigError(source, problems);
}

export function loadConfig(file: string, overrides: ConfigInput = {}): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(file, [`cannot read: ${(error as Error).message}`]);
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => `${file}:${e.linePos?.[0].line ?? '?'}:${e.linePos?.[0].col ?? '?'}: YAML syntax: ${e.message.split('\n')[0]}`),
    );
  }
  const raw = doc.toJS() ?? {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(file, [`${file}:1: expected a mapping of sections, got ${describeValue(raw)}`]);
  const locate = (path: PropertyKey[]): string => {
    for (let depth = path.length; depth > 0; depth--) {
      const node = doc.getIn(path.slice(0, depth).map(String), true);
      if (isNode(node) && node.range) return `${file}:${lineCounter.linePos(node.range[0]).line}`;
    }
    return file;
  };
  return parseConfig(mergeDeep(raw as Record<string, unknown>, overrides as Record<string, unknown>), file, locate);
}

function mergeDeep(base: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    const current = out[key];
    out[key] =
      value && typeof value === 'object' && !Array.isArray(value) && current && typeof current === 'object' && !Array.isArray(current)
        ? mergeDeep(current as Record<string, unknown>, value as Record<string, unknown>)
        : value;
  }
  return out;
}

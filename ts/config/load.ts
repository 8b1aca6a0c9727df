/** Read a YAML config, validate it with the one schema, and report any problem as file:line, key path, value, expectation. */
import { readFileSync } from 'node:fs';
import { isNode, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { RefineAfError } from '../errors.js';
import { type Config, type ConfigInput, configSchema } from './schema.js';

/** A config that cannot be used: one that does not validate, or a setting that cannot work here, found before any work. */
export class ConfigError extends RefineAfError {
  override name = 'ConfigError';
  readonly code = 'config';
  constructor(
    /** The file (or object) the config was read from; undefined for a validated config found unusable later. */
    readonly source: string | undefined,
    /** One line per problem: where (file:line), the key path, what was expected and what was there. */
    readonly problems: string[],
    /** The dotted key paths at fault, as `config reference` names them. */
    readonly keyPaths: string[],
  ) {
    super(source === undefined ? problems.join('\n') : `invalid config ${source}:\n  ${problems.join('\n  ')}`);
  }

  /** A setting that validates but cannot work (with another setting, on this machine, with that backend). */
  static at(keyPath: string | string[], problem: string): ConfigError {
    return new ConfigError(undefined, [problem], typeof keyPath === 'string' ? [keyPath] : keyPath);
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

const PPO_CONFIG = [
  'batch_size',
  'mini_batch_size',
  'gradient_accumulation_steps',
  'learning_rate',
  'ppo_epochs',
  'init_kl_coef',
  'cliprange',
  'cliprange_value',
  'vf_coef',
  'gamma',
  'lam',
  'max_grad_norm',
];
const TRAINING_ARGUMENTS = [
  'learning_rate',
  'warmup_ratio',
  'gradient_accumulation_steps',
  'max_steps',
  'logging_steps',
  'save_steps',
  'save_total_limit',
  'report_to',
];
/** Keys of earlier versions and where each lives now (library settings moved under the library's own names). */
const MOVED_KEYS: Record<string, string> = {
  ...Object.fromEntries(PPO_CONFIG.map((key) => [`rlaf.${key}`, `rlaf.ppo.${key}`])),
  'rlaf.adaptive_kl': 'rlaf.ppo.adap_kl_ctrl',
  'rlaf.kl_target': 'rlaf.ppo.target',
  'rlaf.kl_horizon': 'rlaf.ppo.horizon',
  'rlaf.lora.alpha': 'rlaf.lora.lora_alpha',
  ...Object.fromEntries(TRAINING_ARGUMENTS.map((key) => [`sft.${key}`, `sft.training.${key}`])),
  'sft.epochs': 'sft.training.num_train_epochs',
  'sft.lr_scheduler': 'sft.training.lr_scheduler_type',
  'sft.per_device_batch_size': 'sft.training.per_device_train_batch_size',
  'sft.lora_r': 'sft.lora.r',
  'sft.lora_alpha': 'sft.lora.lora_alpha',
  'sft.lora_dropout': 'sft.lora.lora_dropout',
  'sft.lora_target_modules': 'sft.lora.target_modules',
};
/** Decoding keys that sat flat in a generating section before each section nested them as `<section>.decoding`. */
const MOVED_DECODING_KEYS: Record<string, string> = Object.fromEntries(
  Object.entries(configSchema.parse({})).flatMap(([section, settings]) =>
    'decoding' in settings ? Object.keys(settings.decoding).map((key) => [`${section}.${key}`, `${section}.decoding.${key}`]) : [],
  ),
);

/** A key of an earlier version: the problem names where it lives now, instead of calling it a typo. */
function movedKeyProblem(path: PropertyKey[], got: unknown): string | undefined {
  const keyPath = path.map(String).join('.');
  if (keyPath === 'sft.lora' && typeof got === 'boolean') {
    return `sft.lora: is now the LoRA settings (r, lora_alpha, lora_dropout, target_modules; omit it for the defaults), or null to train every weight`;
  }
  const moved = MOVED_KEYS[keyPath];
  if (moved) return `${keyPath}: moved to ${moved} (library settings are nested under the library's own field names)`;
  const decoding = MOVED_DECODING_KEYS[keyPath];
  return decoding && `${keyPath}: moved to ${decoding} (every generating section nests its decoding settings as <section>.decoding)`;
}

/** Validate an already-parsed object (the SDK path); `source` names it in errors. */
export function parseConfig(raw: unknown, source = '<config object>', locate?: (path: PropertyKey[]) => string): Config {
  const result = configSchema.safeParse(raw ?? {});
  if (result.success) return result.data;
  const issues = flatten(result.error.issues);
  const problems = issues.map(({ path, message }) => {
    const got = path.reduce<unknown>((node, key) => (node as Record<PropertyKey, unknown> | undefined)?.[key], raw);
    const moved = movedKeyProblem(path, got);
    if (moved) return `${locate?.(path) ?? source}: ${moved}`;
    return `${locate?.(path) ?? source}: ${keyPathOf(path)}: ${message}; got ${describeValue(got)}`;
  });
  throw new ConfigError(
    source,
    problems,
    issues.map(({ path }) => keyPathOf(path)),
  );
}

const keyPathOf = (path: PropertyKey[]): string => path.map(String).join('.') || '(top level)';

export function loadConfig(file: string, overrides: ConfigInput = {}): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(file, [`cannot read: ${(error as Error).message}`], []);
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => `${file}:${e.linePos?.[0].line ?? '?'}:${e.linePos?.[0].col ?? '?'}: YAML syntax: ${e.message.split('\n')[0]}`),
      [],
    );
  }
  // Taking every default silently would run the paper's counts on the embedded model: a config says something.
  if (doc.contents === null) {
    throw new ConfigError(
      file,
      [`${file}: no settings (the file is empty or only comments); start from configs/default.yaml, or see \`refine-af config reference\``],
      ['(top level)'],
    );
  }
  const raw = doc.toJS();
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new ConfigError(file, [`${file}:1: expected a mapping of sections, got ${describeValue(raw)}`], ['(top level)']);
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

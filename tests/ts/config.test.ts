import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loraConfigSchema, ppoConfigSchema, trainingArgumentsSchema } from '../../ts/bridge/contract.js';
import { ConfigError, loadConfig, parseConfig } from '../../ts/config/load.js';
import { configReference } from '../../ts/config/reference.js';

const dir = mkdtempSync(join(tmpdir(), 'refine-af-config-'));
function yamlFile(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}
function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  it('fills the paper defaults into an empty config', () => {
    const config = parseConfig({});
    expect(config.models.generator).toBe('embedded:smollm2-135m-instruct');
    // rlaf is the paper's (§III-A); the other entries are ours, each says why.
    expect(config.models.load_in_4bit).toEqual({ instructions: false, rlaf: true, instances: true, sft: true, eval: true });
    expect(config.run.seed).toBe(42);
  });

  it('names file, line, key path, value and expectation for a wrongly typed value', () => {
    const file = yamlFile('typed.yaml', 'run:\n  seed: 3\nmodels:\n  load_in_4bit:\n    rlaf: "yes"\n');
    const [problem, ...rest] = problemsOf(() => loadConfig(file));
    expect(rest).toEqual([]);
    expect(problem).toContain(`${file}:5: models.load_in_4bit.rlaf:`);
    expect(problem).toContain('expected boolean');
    expect(problem).toContain('got "yes"');
  });

  it('rejects the old single 4-bit flag, saying what to write instead', () => {
    const file = yamlFile('one-flag.yaml', 'models:\n  load_in_4bit: true\n');
    const [problem, ...rest] = problemsOf(() => loadConfig(file));
    expect(rest).toEqual([]);
    expect(problem).toContain(
      `${file}:2: models.load_in_4bit: one setting per stage, not one for all: write e.g. {instructions: false, rlaf: true,`,
    );
    expect(problem).toContain('got true');
  });

  it('rejects an unknown key (a typo) at its line', () => {
    const file = yamlFile('typo.yaml', 'models:\n  generator: x\n  genrator: y\nrun:\n  sed: 1\n');
    const problems = problemsOf(() => loadConfig(file));
    expect(problems).toHaveLength(2);
    expect(problems.some((p) => p.startsWith(`${file}:3: models.genrator: unknown key`))).toBe(true);
    expect(problems.some((p) => p.startsWith(`${file}:5: run.sed: unknown key`))).toBe(true);
  });

  it('rejects a per-method timeout for a method the worker does not have', () => {
    const file = yamlFile('timeouts.yaml', 'bridge:\n  timeouts_ms:\n    generate: 1000\n    genrate: 2000\n');
    expect(problemsOf(() => loadConfig(file))).toEqual([
      expect.stringMatching(new RegExp(`^${file}:4: bridge\\.timeouts_ms\\.genrate: unknown key`)),
    ]);
    expect(loadConfig(yamlFile('timeout.yaml', 'bridge:\n  timeouts_ms:\n    generate: 1000\n')).bridge.timeouts_ms).toEqual({
      generate: 1000,
    });
  });

  it("names the new key path of every key that moved under a library's own names", () => {
    const file = yamlFile(
      'old-keys.yaml',
      'rlaf:\n  batch_size: 8\n  kl_target: 3\n  lora:\n    alpha: 8\nsft:\n  lora: false\n  lora_r: 4\n  per_device_batch_size: 1\n  epochs: 2\n',
    );
    expect(problemsOf(() => loadConfig(file)).sort()).toEqual(
      [
        `${file}:2: rlaf.batch_size: moved to rlaf.ppo.batch_size (library settings are nested under the library's own field names)`,
        `${file}:3: rlaf.kl_target: moved to rlaf.ppo.target (library settings are nested under the library's own field names)`,
        `${file}:5: rlaf.lora.alpha: moved to rlaf.lora.lora_alpha (library settings are nested under the library's own field names)`,
        `${file}:7: sft.lora: is now the LoRA settings (r, lora_alpha, lora_dropout, target_modules; omit it for the defaults), or null to train every weight`,
        `${file}:8: sft.lora_r: moved to sft.lora.r (library settings are nested under the library's own field names)`,
        `${file}:9: sft.per_device_batch_size: moved to sft.training.per_device_train_batch_size (library settings are nested under the library's own field names)`,
        `${file}:10: sft.epochs: moved to sft.training.num_train_epochs (library settings are nested under the library's own field names)`,
      ].sort(),
    );
  });

  it('names <section>.decoding.<key> for a decoding key that sat flat in a generating section', () => {
    const file = yamlFile(
      'old-decoding.yaml',
      'instances:\n  max_new_tokens: 96\n  presence_penalty: 0\nrlaf:\n  stop: []\neval:\n  prompt_format: chat\nhuman_eval:\n  max_new_tokens: 64\n',
    );
    const reason = '(every generating section nests its decoding settings as <section>.decoding)';
    expect(problemsOf(() => loadConfig(file)).sort()).toEqual(
      [
        `${file}:2: instances.max_new_tokens: moved to instances.decoding.max_new_tokens ${reason}`,
        `${file}:3: instances.presence_penalty: moved to instances.decoding.presence_penalty ${reason}`,
        `${file}:5: rlaf.stop: moved to rlaf.decoding.stop ${reason}`,
        `${file}:7: eval.prompt_format: moved to eval.decoding.prompt_format ${reason}`,
        `${file}:9: human_eval.max_new_tokens: moved to human_eval.decoding.max_new_tokens ${reason}`,
      ].sort(),
    );
  });

  it('nests the decoding of every generating section as one object of the wire schema, defaults as before', () => {
    const config = parseConfig({});
    expect(config.instances.decoding).toEqual({
      max_new_tokens: 350,
      do_sample: false,
      temperature: 1,
      top_p: 1,
      presence_penalty: 1.5,
      stop: ['Example 6', 'Task:'],
      prompt_format: 'raw',
    });
    expect(config.rlaf.decoding).toEqual({ max_new_tokens: 350, stop: ['Example 6', 'Task:'], prompt_format: 'raw' });
    expect(config.eval.decoding).toEqual({ max_new_tokens: 128, stop: [], prompt_format: 'raw' });
    expect(config.human_eval.decoding).toEqual({ max_new_tokens: 512 });
  });

  it("samples stage 1 as Self-Instruct's bootstrap_instructions.py does: temperature 0.7, top-p 0.5, presence penalty 2", () => {
    expect(parseConfig({}).instructions.decoding).toMatchObject({ do_sample: true, temperature: 0.7, top_p: 0.5, presence_penalty: 2 });
    expect(configReference()).toContain(
      '| `instructions.decoding.presence_penalty` | number | `2` | library: Self-Instruct bootstrap_instructions.py |',
    );
  });

  it("holds LoRA in one shape for PPO and SFT, and each library's settings under exactly the names the bridge passes on", () => {
    const config = parseConfig({ sft: { lora: { r: 4 } } });
    expect(Object.keys(config.rlaf.lora).sort()).toEqual(Object.keys(config.sft.lora!).sort());
    expect(loraConfigSchema.parse(config.rlaf.lora)).toEqual(config.rlaf.lora);
    expect(loraConfigSchema.parse(config.sft.lora)).toEqual({ r: 4, lora_alpha: 32, lora_dropout: 0.05, target_modules: null });
    // Strict: a key the library object lacks (or one it has and the config lacks) fails here, not in Python.
    expect(ppoConfigSchema.parse(config.rlaf.ppo)).toEqual(config.rlaf.ppo);
    expect(trainingArgumentsSchema.parse(config.sft.training)).toEqual(config.sft.training);
    expect(parseConfig({ sft: { lora: null } }).sft.lora).toBeNull();
    expect(problemsOf(() => parseConfig({ rlaf: { lora: { lora_dropout: 0.1 } } }))).toEqual([
      expect.stringContaining('rlaf.lora.lora_dropout: must be 0: PPO'),
    ]);
  });

  it('reports malformed YAML with line and column', () => {
    const file = yamlFile('broken.yaml', 'run:\n  seed: [3\nmodels: {}\n');
    const [problem] = problemsOf(() => loadConfig(file));
    expect(problem?.startsWith(`${file}:`)).toBe(true);
    expect(problem).toMatch(/:\d+:\d+: YAML syntax/);
  });

  it('rejects a file whose top level is not a mapping', () => {
    const file = yamlFile('list.yaml', '- a\n- b\n');
    expect(problemsOf(() => loadConfig(file))[0]).toContain('expected a mapping');
  });

  it('reports a missing file as a config error', () => {
    expect(problemsOf(() => loadConfig(join(dir, 'absent.yaml')))[0]).toContain('cannot read');
  });

  it('applies overrides on top of the file', () => {
    const file = yamlFile('base.yaml', 'run:\n  seed: 3\n');
    expect(loadConfig(file, { run: { dir: '/tmp/x' } }).run).toEqual({ seed: 3, dir: '/tmp/x' });
  });

  it('accepts every shipped config', () => {
    for (const name of readdirSync('configs').filter((f) => f.endsWith('.yaml'))) {
      expect(() => loadConfig(join('configs', name)), name).not.toThrow();
    }
  });

  it('documents every key in the reference', () => {
    const reference = configReference();
    expect(reference).toContain('| `models.load_in_4bit.rlaf` | boolean | `true` |');
    expect(reference).toContain('| `run.seed` | integer | `42` |');
  });
});

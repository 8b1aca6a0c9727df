/** Every leaf key of the config schema says where its default comes from, and `config reference` prints it. */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { sourceSchema } from '../../ts/config/provenance.js';
import { configReference } from '../../ts/config/reference.js';
import { configSchema } from '../../ts/config/schema.js';

/** The object inside defaults, prefaults, optionals and nullables; anything else as it is. */
function unwrapped(schema: z.ZodType): z.ZodType {
  let inner: z.ZodType = schema;
  while (
    inner instanceof z.ZodDefault ||
    inner instanceof z.ZodPrefault ||
    inner instanceof z.ZodOptional ||
    inner instanceof z.ZodNullable
  ) {
    inner = inner.unwrap() as z.ZodType;
  }
  return inner;
}

/** Every leaf key (a field that is not itself an object of fields), with its `.meta()`. */
function leaves(schema: z.ZodType, prefix = ''): { key: string; meta: Record<string, unknown> | undefined }[] {
  const object = unwrapped(schema);
  if (!(object instanceof z.ZodObject)) return [];
  return Object.entries(object.shape as Record<string, z.ZodType>).flatMap(([name, field]) => {
    const key = prefix === '' ? name : `${prefix}.${name}`;
    return unwrapped(field) instanceof z.ZodObject ? leaves(field, key) : [{ key, meta: field.meta() }];
  });
}

const withoutSource = (schema: z.ZodType) =>
  leaves(schema)
    .filter(({ meta }) => !sourceSchema.safeParse(meta?.source).success)
    .map(({ key }) => key);

describe('provenance of the config defaults', () => {
  it('finds a key without a source, nested or not (the walk below can fail)', () => {
    const schema = z.strictObject({
      a: z
        .number()
        .default(1)
        .meta({ source: { kind: 'ours', why: 'test' } }),
      b: z
        .strictObject({
          c: z.number().default(2),
          d: z
            .string()
            .optional()
            .meta({ source: { kind: 'paper' } }),
        })
        .prefault({}),
    });
    expect(withoutSource(schema)).toEqual(['b.c', 'b.d']);
  });

  it('is given for every leaf key of the schema: the paper (section), a library (which) or ours (why)', () => {
    const keys = leaves(configSchema).map(({ key }) => key);
    expect(keys).toEqual(
      expect.arrayContaining([
        'rlaf.steps',
        'rlaf.lora.r',
        'feedback.weights.reward',
        'instructions.decoding.top_p',
        'sft.lora.lora_alpha',
        'rlaf.ppo.target',
        'sft.training.num_train_epochs',
      ]),
    );
    expect(keys.length).toBeGreaterThan(100);
    expect(withoutSource(configSchema)).toEqual([]);
  });

  it('is printed by `config reference` for each key', () => {
    const reference = configReference();
    expect(reference).toContain('| source of the default |');
    expect(reference).toContain('| `rlaf.steps` | integer | `200` | paper §III-A |');
    expect(reference).toContain('| `rlaf.ppo.init_kl_coef` | number | `0.2` | library: TRL 0.11 PPOConfig default |');
    expect(reference).toMatch(/\| `models\.generator` \| string \| `"embedded:smollm2-135m-instruct"` \| ours: /);
    const rows = new Map(
      reference
        .split('\n')
        .filter((l) => l.startsWith('| `'))
        .map((l) => [l.slice(3, l.indexOf('`', 3)), l.split(' | ')[3]]),
    );
    for (const { key } of leaves(configSchema)) expect(rows.get(key), key).toMatch(/^(paper §|paper Table|paper Figure|library: |ours: )/);
  });

  it('calls ours what the paper does not state: an inferred value, a checkpoint it does not name, an SFT adapter', () => {
    const sources = new Map(
      configReference()
        .split('\n')
        .filter((l) => l.startsWith('| `'))
        .map((l) => [l.slice(3, l.indexOf('`', 3)), l.split(' | ')[3]!]),
    );
    expect(sources.get('rlaf.ppo.mini_batch_size')).toMatch(
      /^ours: inferred, not stated: §III-A gives batch size 4 and 4 gradient accumulation/,
    );
    expect(sources.get('feedback.reward_model')).toMatch(/^ours: the paper \(§II-C, Table I\) names only "oasst-rm-pythia-1\.4b"/);
    expect(sources.get('sft.lora')).toMatch(/^ours: the paper says nothing of adapters for SFT .* being measured/);
    // The batch size and accumulation steps the mini-batch is inferred from are the paper's own.
    expect(sources.get('rlaf.ppo.batch_size')).toBe('paper §III-A');
    expect(sources.get('rlaf.ppo.gradient_accumulation_steps')).toBe('paper §III-A');
  });
});

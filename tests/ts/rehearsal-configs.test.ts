import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../ts/config/load.js';
import { packageRoot } from '../../ts/paths.js';

const configsDir = join(packageRoot, 'configs');

/** The keys a rehearsal may change: model references, counts (work, batch sizes, token limits), the benchmark (the Super-NI fixture) and the run directories (its own and, for the baseline, the REFINE-AF run it copies stage 1 from). */
const MAY_DIFFER = new Set([
  'run.dir',
  'pipeline.instructions_from',
  'models.generator',
  'feedback.reward_model',
  'feedback.unieval',
  'instructions.num_instructions',
  'instructions.request_batch_size',
  'instructions.decoding.max_new_tokens',
  'rlaf.steps',
  'rlaf.save_every',
  'rlaf.decoding.max_new_tokens',
  'instances.batch_size',
  'instances.decoding.max_new_tokens',
  'sft.training.max_steps',
  'sft.max_instructions',
  'sft.extra_subsets',
  'sft.max_seq_length',
  'sft.training.logging_steps',
  'sft.training.save_steps',
  'eval.instances_per_task',
  'eval.decoding.max_new_tokens',
  'eval.batch_size',
  'eval.data_dir',
  'human_eval.decoding.max_new_tokens',
]);

/** Every leaf (a scalar or an array) of a parsed config, by its dotted key path. */
function leaves(value: unknown, path = ''): Map<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return new Map([[path, value]]);
  const out = new Map<string, unknown>();
  for (const [key, child] of Object.entries(value)) for (const entry of leaves(child, path ? `${path}.${key}` : key)) out.set(...entry);
  return out;
}

function differingKeys(a: unknown, b: unknown): string[] {
  const left = leaves(a);
  const right = leaves(b);
  const keys = new Set([...left.keys(), ...right.keys()]);
  return [...keys].filter((key) => JSON.stringify(left.get(key)) !== JSON.stringify(right.get(key))).sort();
}

describe('the rehearsal configs (make repro MODEL=rehearsal)', () => {
  for (const suffix of ['', '-self-instruct']) {
    it(`rehearsal${suffix}.yaml differs from llama2-7b${suffix}.yaml only in model references, counts and run directory`, () => {
      const lab = loadConfig(join(configsDir, `llama2-7b${suffix}.yaml`));
      const rehearsal = loadConfig(join(configsDir, `rehearsal${suffix}.yaml`));
      const differing = differingKeys(lab, rehearsal);
      expect(differing.filter((key) => !MAY_DIFFER.has(key))).toEqual([]);
      // It is a rehearsal of the lab path: local models, the paper's feedback backends, a run directory of its own.
      expect(differing).toEqual(expect.arrayContaining(['run.dir', 'models.generator', 'feedback.reward_model', 'feedback.unieval']));
      for (const ref of [rehearsal.models.generator, rehearsal.feedback.reward_model, rehearsal.feedback.unieval]) {
        expect(ref).toMatch(/^\.\/runs\/rehearsal-models\//);
      }
      expect(rehearsal.feedback.backends).toEqual({
        reward: 'reward_model',
        naturalness: 'unieval',
        coherence: 'unieval',
        understandability: 'unieval',
      });
    });
  }

  it('the walk sees a change anywhere, nested keys and arrays included', () => {
    const lab = loadConfig(join(configsDir, 'llama2-7b.yaml'));
    const changed = loadConfig(join(configsDir, 'llama2-7b.yaml'), { rlaf: { lora: { r: 8 } }, instructions: { blacklist: ['x'] } });
    expect(differingKeys(lab, changed)).toEqual(['instructions.blacklist', 'rlaf.lora.r']);
  });

  it("the subsets stay below the number of instructions, as Table II's do", () => {
    for (const suffix of ['', '-self-instruct']) {
      const rehearsal = loadConfig(join(configsDir, `rehearsal${suffix}.yaml`));
      for (const subset of rehearsal.sft.extra_subsets) expect(subset).toBeLessThan(rehearsal.instructions.num_instructions);
    }
  });
});

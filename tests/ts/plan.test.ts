/**
 * `refine-af plan`: the work of every stage counted from the config (configs/default.yaml and configs/llama2-7b.yaml, and
 * the same with their counts changed), and `plan --calibrate` through the real CLI on the rehearsal config (tiny random
 * models): plan.json parses, every stage of the run has a positive time and what it was extrapolated from, and the
 * config's run.dir is never created.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { loadConfig } from '../../ts/config/load.js';
import { defaultPython, packageRoot } from '../../ts/paths.js';
import {
  DEFAULT_THROUGHPUT_TABLE,
  planCounts,
  planRun,
  planSchema,
  ThroughputProfileError,
  throughputTableSchema,
} from '../../ts/pipeline/plan.js';

const root = mkdtempSync(join(tmpdir(), 'refine-af-plan-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const config = (name: string, overrides = {}) => loadConfig(join(packageRoot, 'configs', `${name}.yaml`), overrides);

describe('plan counts', () => {
  it("count configs/default.yaml's work from its settings", () => {
    const counts = planCounts(config('default'), { keptPerRequest: 0.5, instancesPerInstruction: 1 });
    // 40 instructions at 0.5 kept per request: 80 requests, 5 batches of 16, each up to 64 tokens.
    expect(counts.instructions).toEqual({
      instructions: 40,
      requests_at_least: 20,
      requests: 80,
      batches: 5,
      max_generated_tokens: 5 * 16 * 64,
    });
    expect(counts.rlaf).toMatchObject({ ppo_steps: 10, rollouts: 40, max_generated_tokens: 40 * 64, forward_backward_passes: 40 });
    expect(counts.instances).toEqual({ prompts: 40, batches: 5, max_generated_tokens: 40 * 96 });
    expect(counts.sft).toMatchObject({ models: 1, instances: 40, optimizer_steps: 4 });
  });

  it("count configs/llama2-7b.yaml's: 15,000 instructions, 200 PPO steps, three fine-tunings over 3 epochs", () => {
    const counts = planCounts(config('llama2-7b'), { keptPerRequest: 1, instancesPerInstruction: 1 });
    expect(counts.instructions).toMatchObject({ instructions: 15_000, requests: 15_000, batches: 3000 });
    expect(counts.rlaf).toMatchObject({ ppo_steps: 200, rollouts: 800, max_generated_tokens: 800 * 350 });
    expect(counts.instances).toMatchObject({ prompts: 15_000, batches: Math.ceil(15_000 / 16) });
    const { per_device_train_batch_size, gradient_accumulation_steps } = config('llama2-7b').sft.training;
    const batch = per_device_train_batch_size * gradient_accumulation_steps;
    const steps = [15_000, 5000, 10_000].reduce((sum, n) => sum + Math.ceil(n / batch) * 3, 0);
    expect(counts.sft).toMatchObject({ models: 3, instances: 30_000, optimizer_steps: steps });
    // Super-NI of the base model and the three fine-tunings; the 252 user-oriented instructions for each.
    expect(counts.eval).toMatchObject({ models: 4, human_eval_responses: 4 * 252 });
  });

  it('follow the config: twice the instructions, twice the requests; more PPO steps, more rollouts', () => {
    const rates = { keptPerRequest: 0.8, instancesPerInstruction: 1 };
    const base = planCounts(config('llama2-7b'), rates);
    const doubled = planCounts(config('llama2-7b', { instructions: { num_instructions: 30_000 } }), rates);
    expect(doubled.instructions.requests).toBe(2 * base.instructions.requests!);
    expect(doubled.instances.prompts).toBe(2 * base.instances.prompts!);
    expect(planCounts(config('default', { rlaf: { steps: 30 } }), rates).rlaf.rollouts).toBe(
      3 * planCounts(config('default'), rates).rlaf.rollouts!,
    );
    // The Self-Instruct baseline copies stage 1 and has no stage 2.
    const baseline = planRun(config('llama2-7b-self-instruct'));
    expect(baseline.stages.map((s) => s.stage)).toEqual(['instructions', 'instances', 'sft', 'eval']);
    expect(baseline.stages[0]!.counts).toEqual({ copied_instructions: 15_000 });
  });
});

describe('plan --throughput', () => {
  it("estimates the generation stages from a cited profile's rate, saying so, and refuses a profile the table lacks", () => {
    const table = throughputTableSchema.parse(JSON.parse(readFileSync(DEFAULT_THROUGHPUT_TABLE, 'utf8')));
    const profile = table.profiles['a100-vllm']!;
    const plan = planRun(config('llama2-7b'), { throughput: 'a100-vllm' });
    const stage = (name: string) => plan.stages.find((s) => s.stage === name)!;
    expect(stage('instructions').estimate!.seconds).toBeCloseTo(
      stage('instructions').counts.max_generated_tokens! / profile.output_tokens_per_s,
      6,
    );
    expect(stage('instances').estimate!.extrapolated_from).toContain(profile.source);
    expect(stage('instances').estimate!.extrapolated_from).toMatch(/^estimate, not a measurement/);
    // No cited figure for PPO or SFT: no estimate, and so no total.
    expect(stage('rlaf').estimate).toBeNull();
    expect(plan.total_seconds).toBeNull();
    expect(plan.calibrated).toBe(false);
    for (const entry of Object.values(table.profiles)) expect(entry.source).toMatch(/https:\/\//);
    expect(() => planRun(config('llama2-7b'), { throughput: 'a100-nothing' })).toThrow(ThroughputProfileError);
  });
});

describe('refine-af plan --calibrate', () => {
  it('on the rehearsal config: plan.json with every stage timed and explained; run.dir untouched', async () => {
    const models = join(root, 'rehearsal-models');
    await execa(defaultPython, [join(packageRoot, 'fixtures', 'rehearsal_models.py'), models]);
    const rehearsal = parse(readFileSync(join(packageRoot, 'configs', 'rehearsal.yaml'), 'utf8'));
    const runDir = join(root, 'rehearsal-run');
    rehearsal.run.dir = runDir;
    rehearsal.models.generator = join(models, 'llama');
    rehearsal.feedback.reward_model = join(models, 'oasst-rm');
    rehearsal.feedback.unieval = join(models, 'unieval');
    const file = join(root, 'rehearsal.yaml');
    writeFileSync(file, stringify(rehearsal));
    const out = join(root, 'plan.json');

    const run = await execa('node', [join(packageRoot, 'bin', 'refine-af.js'), 'plan', '--calibrate', '--config', file, '--out', out], {
      cwd: packageRoot,
      reject: false,
      all: true,
      env: { REFINE_AF_LOG_LEVEL: 'warn' },
    });
    expect(run.exitCode, run.all).toBe(0);
    const plan = planSchema.parse(JSON.parse(readFileSync(out, 'utf8')));
    expect(plan.calibrated).toBe(true);
    const inRun = plan.stages.filter((s) => s.in_run);
    expect(inRun.map((s) => s.stage)).toEqual(['instructions', 'rlaf', 'instances', 'sft']);
    for (const { stage, estimate } of inRun) {
      expect(estimate?.seconds, stage).toBeGreaterThan(0);
      expect(estimate?.per_unit_seconds, stage).toBeGreaterThan(0);
      expect(estimate?.extrapolated_from, stage).toMatch(/ per (batch|step)\b.*; fixed \d/);
    }
    // Three fine-tunings (all 24 instructions, then the subsets 8 and 16) pay the fixed cost three times.
    expect(inRun[3]!.estimate!.extrapolated_from).toMatch(/× 3 fine-tunings/);
    expect(plan.total_seconds).toBeCloseTo(
      inRun.reduce((sum, s) => sum + s.estimate!.seconds, 0),
      6,
    );
    expect(run.stdout).toMatch(/^total \(refine-af run\): /m);
    expect(existsSync(runDir)).toBe(false);
    // Four stages of real models with a worker: 15 minutes were not enough on the shared 2-core machine under load.
  }, 2_400_000);
});

/**
 * `backend: auto` and `refine-af doctor` (README "Serving", "Checking a machine"). The choice is a function of four facts,
 * tested for every branch (CUDA is never present here); doctor runs as the real CLI, in a fresh process, on this
 * machine's real facts: the worker's torch, the models as the resolver finds them, vLLM as PATH has it.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { chooseEngine, type EngineFacts, stageFacts } from '../../ts/backends/engine.js';
import type { EngineKind } from '../../ts/backends/from-config.js';
import { freePort } from '../../ts/bridge/jobs.js';
import { parseConfig } from '../../ts/config/load.js';
import { defaultPython, packageRoot } from '../../ts/paths.js';
import { buildGenerator } from '../reliability/harness.js';

const root = mkdtempSync(join(tmpdir(), 'refine-af-auto-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('backend auto chooses', () => {
  const cases: [string, EngineFacts, EngineKind][] = [
    ['vLLM where CUDA and vLLM are', { cuda: true, vllm: true, llamaCpp: true, gguf: false, adapter: false }, 'vllm'],
    ['vLLM for an adapter too (served as a LoRA module)', { cuda: true, vllm: true, llamaCpp: true, gguf: false, adapter: true }, 'vllm'],
    [
      'llama.cpp for a GGUF on a CPU without adapter',
      { cuda: false, vllm: false, llamaCpp: true, gguf: true, adapter: false },
      'llama_cpp',
    ],
    [
      'the local worker for a GGUF with an adapter (llama.cpp cannot apply one)',
      { cuda: false, vllm: false, llamaCpp: true, gguf: true, adapter: true },
      'local',
    ],
    [
      'the local worker for a model that is no GGUF on a CPU',
      { cuda: false, vllm: false, llamaCpp: true, gguf: false, adapter: false },
      'local',
    ],
    ['the local worker where CUDA is but vLLM is not', { cuda: true, vllm: false, llamaCpp: true, gguf: true, adapter: false }, 'local'],
    [
      'the local worker for a GGUF on a CPU where llama-cpp-python is not installed (a fresh machine before `make serving`)',
      { cuda: false, vllm: false, llamaCpp: false, gguf: true, adapter: false },
      'local',
    ],
  ];
  for (const [what, facts, kind] of cases) {
    it(what, () => {
      expect(chooseEngine(facts).kind).toBe(kind);
    });
  }

  it('says what to install where a faster engine exists, and nothing where vLLM already runs', () => {
    const cudaWithoutVllm = chooseEngine({ cuda: true, vllm: false, llamaCpp: true, gguf: false, adapter: false });
    expect(cudaWithoutVllm.why).toMatch(/CUDA, but no vLLM/);
    expect(cudaWithoutVllm.faster).toMatch(/make vllm/);
    expect(chooseEngine({ cuda: true, vllm: true, llamaCpp: true, gguf: false, adapter: false }).faster).toBeNull();
    const withoutLlamaCpp = chooseEngine({ cuda: false, vllm: false, llamaCpp: false, gguf: true, adapter: false });
    expect(withoutLlamaCpp.why).toMatch(/llama-cpp-python is not installed/);
    expect(withoutLlamaCpp.faster).toMatch(/make serving/);
  });

  it("takes a stage's adapter from the config: stage 3's PPO policy in REFINE-AF only, the SFT adapters in the evaluations", () => {
    const machine = { cuda: false, vllm: false, llamaCpp: true, gguf: true };
    const refineAf = parseConfig({ pipeline: { method: 'refine-af' } });
    const selfInstruct = parseConfig({ pipeline: { method: 'self-instruct' } });
    const fullSft = parseConfig({ sft: { lora: null } });
    expect(stageFacts(refineAf, 'instructions', machine).adapter).toBe(false);
    expect(stageFacts(refineAf, 'instances', machine).adapter).toBe(true);
    expect(stageFacts(selfInstruct, 'instances', machine).adapter).toBe(false);
    expect(stageFacts(refineAf, 'eval', machine).adapter).toBe(true);
    // Fully fine-tuned models are Trainer checkpoints, no .gguf files: llama.cpp cannot serve them either.
    expect(stageFacts(fullSft, 'responses', machine)).toMatchObject({ adapter: false, gguf: false });
  });
});

let configs = 0;
function configFile(raw: Record<string, unknown>): string {
  const file = join(root, `config-${++configs}.yaml`);
  writeFileSync(file, stringify({ run: { dir: join(root, `run-${configs}`) }, ...raw }));
  return file;
}

/** PATH with node's directory only: no vLLM on it, whatever the machine has installed. */
const withoutVllm = { PATH: dirname(process.execPath) };

const cli = (args: string[], env: Record<string, string> = {}) =>
  execa(process.execPath, [join(packageRoot, 'bin', 'refine-af.js'), ...args], { cwd: packageRoot, reject: false, all: true, env });

const auto = { backend: 'auto' };

describe('refine-af doctor', () => {
  it('says which engine each stage runs on here and why: the embedded GGUF on this CPU, then a model that is no GGUF', async () => {
    const everyStageAuto = { instructions: auto, instances: auto, eval: { ...auto, data_dir: 'data/superni-mini' }, human_eval: auto };
    const gguf = await cli(['doctor', '--config', configFile(everyStageAuto)], withoutVllm);
    expect(gguf.exitCode, gguf.all).toBe(0);
    expect(gguf.all).toMatch(/no CUDA \(CPU\)/);
    expect(gguf.all).toMatch(/instructions: llama_cpp \(auto\) — no CUDA, a \.gguf model and no adapter/);
    expect(gguf.all).toMatch(/instances: local \(auto\) — no CUDA, and the stage applies a peft adapter/);
    expect(gguf.all).toMatch(/eval: local \(auto\)/);
    expect(gguf.all).toMatch(/faster: on a GPU machine, install vLLM \(`make vllm`/);
    // The schema's count is the paper's 15,000: stage 3 on the local worker is warned of, stage 1 on llama.cpp is not.
    expect(gguf.all).toMatch(/WARNING: instances: 15,000 instructions to answer on the local worker/);
    expect(gguf.all).not.toMatch(/WARNING: instructions:/);
    expect(gguf.all).toMatch(/\nready\n/);

    const scripted = buildGenerator(root);
    const notGguf = await cli([
      'doctor',
      '--config',
      configFile({ ...everyStageAuto, models: { generator: scripted }, feedback: { judge: scripted } }),
    ]);
    expect(notGguf.exitCode, notGguf.all).toBe(0);
    expect(notGguf.all).toMatch(/instructions: local \(auto\) — no CUDA, and the model is not a \.gguf file/);
    expect(notGguf.all).toMatch(/WARNING: instructions: 15,000 instructions on the local worker/);
    // With what it would cost on a lab's GPU, from refine-af plan's cited throughputs.
    expect(notGguf.all).toMatch(
      /instructions: 15,000 .*; on one A100 at most \d.* with transformers generate against \d.* with vLLM \(refine-af plan --throughput/,
    );
  });

  it('on a machine without llama-cpp-python (a fresh one before `make serving`): auto falls back to the worker, a named llama_cpp is a problem', async () => {
    // The project's Python with llama_cpp made unfindable, as in a .venv that `make setup` made and `make serving` did not complete.
    const hidden = join(root, 'no-llama-cpp');
    mkdirSync(hidden, { recursive: true });
    writeFileSync(
      join(hidden, 'sitecustomize.py'),
      // A None entry is how Python marks a module as not importable: find_spec returns None, import raises.
      'import sys\n\nsys.modules["llama_cpp"] = None\n',
    );
    const python = join(hidden, 'python');
    writeFileSync(python, `#!/bin/sh\nPYTHONPATH=${hidden}\${PYTHONPATH:+:$PYTHONPATH} exec ${defaultPython} "$@"\n`, { mode: 0o755 });
    const bridge = { python };
    const fallback = await cli(['doctor', '--config', configFile({ bridge, instructions: auto })], withoutVllm);
    expect(fallback.exitCode, fallback.all).toBe(0);
    expect(fallback.all).toMatch(/instructions: local \(auto\) — no CUDA and a \.gguf model, but llama-cpp-python is not installed/);
    expect(fallback.all).toMatch(/faster: `make serving` compiles llama\.cpp's server/);

    const named = await cli(['doctor', '--config', configFile({ bridge, instructions: { backend: 'llama_cpp' } })], withoutVllm);
    expect(named.exitCode, named.all).toBe(1);
    expect(named.all).toMatch(
      /instructions\.backend: instructions\.backend is llama_cpp, but llama-cpp-python \(llama\.cpp's server\) is not installed/,
    );
    // The stage itself stops with the same clear error before starting a server, not with the server's traceback.
    const stage = await cli(['generate-instructions', '--config', configFile({ bridge, instructions: { backend: 'llama_cpp' } })]);
    expect(stage.exitCode).toBe(1);
    expect(stage.all).toMatch(
      /instructions\.backend is llama_cpp, but llama-cpp-python \(llama\.cpp's server\) is not installed .*`make serving`/,
    );
    expect(stage.all).not.toMatch(/Traceback/);
  });

  it('lists every model that does not resolve and a missing benchmark, each with its config key, and exits 1', async () => {
    const missing = (name: string) => join(root, 'nowhere', name);
    const result = await cli([
      'doctor',
      '--config',
      configFile({
        models: { generator: missing('generator') },
        feedback: {
          backends: { reward: 'reward_model', naturalness: 'unieval', coherence: 'unieval', understandability: 'judge' },
          reward_model: missing('oasst-rm'),
          unieval: missing('unieval'),
          judge: missing('judge'),
        },
        eval: { data_dir: missing('natural-instructions') },
      }),
    ]);
    expect(result.exitCode, result.all).toBe(1);
    expect(result.all).toMatch(/not ready: 5 problem\(s\)/);
    for (const [key, name] of [
      ['models.generator', 'generator'],
      ['feedback.reward_model', 'oasst-rm'],
      ['feedback.unieval', 'unieval'],
      ['feedback.judge', 'judge'],
      ['eval.data_dir', 'natural-instructions'],
    ]) {
      expect(result.all).toMatch(new RegExp(`\\n  ${key}: .*${name}`));
    }
  });

  it('reports a vllm backend without vLLM and an openai backend whose endpoint does not answer, and exits 1', async () => {
    const port = await freePort();
    const result = await cli(
      [
        'doctor',
        '--config',
        configFile({
          instructions: { backend: 'openai' },
          instances: { backend: 'vllm' },
          openai: { base_url: [`http://127.0.0.1:${port}/v1`] },
        }),
      ],
      withoutVllm,
    );
    expect(result.exitCode, result.all).toBe(1);
    expect(result.all).toMatch(/not ready: 2 problem\(s\)/);
    expect(result.all).toMatch(
      /\n {2}instructions\.backend, openai\.base_url: instructions\.backend is openai, but http:\/\/127\.0\.0\.1:\d+\/v1: listing the served models failed/,
    );
    expect(result.all).toMatch(
      /\n {2}instances\.backend, server\.vllm\.command: instances\.backend is vllm, but .*vllm is not found .*`make vllm`/,
    );
  });
});

describe('a stage on backend vllm without vLLM installed', () => {
  it('fails before starting anything, naming server.vllm.command and make vllm, not with a Python traceback', async () => {
    const file = configFile({ instructions: { backend: 'vllm', num_instructions: 4 } });
    const result = await cli(['generate-instructions', '--config', file], withoutVllm);
    expect(result.exitCode).toBe(1);
    expect(result.all).toMatch(
      /instructions\.backend is vllm, but server\.vllm\.command's program vllm is not found \(not on PATH\).*`make vllm`/,
    );
    expect(result.all).not.toMatch(/Traceback|FileNotFoundError/);
  });
});

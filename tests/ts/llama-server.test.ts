/**
 * Every generating stage against a real OpenAI-compatible server: llama-cpp-python's (`make setup` installs it),
 * serving the embedded SmolLM2 GGUF on the CPU. The stages start it themselves (backend llama_cpp, through
 * ts/backends/servers.ts startServer) and stop it when they end; the backend's own checks (decoding, stop strings,
 * seeds, served models and adapters) run against one server started here. A SIGKILLed stage leaves no server behind,
 * and its resume ends equal to an uninterrupted run.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { openStageBackend, workerFromConfig } from '../../ts/backends/from-config.js';
import { OpenAICompletionsBackend, ServedModelError } from '../../ts/backends/openai.js';
import type { ManagedServer } from '../../ts/backends/servers.js';
import type { PythonWorker } from '../../ts/bridge/worker.js';
import { ConfigError, parseConfig } from '../../ts/config/load.js';
import { type Config, EMBEDDED_DEFAULT_MODEL } from '../../ts/config/schema.js';
import { evalSuperNiModel } from '../../ts/eval/superni.js';
import { logger } from '../../ts/log.js';
import { packageRoot } from '../../ts/paths.js';
import { withStageContext } from '../../ts/stages/context.js';
import { generateInstances } from '../../ts/stages/instances.js';
import { runInstructionGeneration } from '../../ts/stages/instructions.js';
import { compareRuns, completeLines, descendants } from '../reliability/harness.js';
import { startTestLlamaServer } from './fixtures/llama-server.js';
import { CaptureTransport, printedPid, processAlive, waitForExit } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'refine-af-llama-server-'));
const cli = join(packageRoot, 'bin', 'refine-af.js');
const superniMini = join(packageRoot, 'data', 'superni-mini');

/** A config on the embedded model, small enough for a loaded 2-core machine; `extra` is merged one section deep. */
function configInput(dir: string, extra: Record<string, Record<string, unknown>> = {}): Record<string, unknown> {
  const base: Record<string, Record<string, unknown>> = {
    run: { dir, seed: 7 },
    logging: { level: 'warn' },
    openai: { concurrency: 2 },
    instructions: { backend: 'llama_cpp', num_instructions: 6, request_batch_size: 2, decoding: { max_new_tokens: 96 } },
    pipeline: { method: 'self-instruct' },
    instances: { backend: 'llama_cpp', template: 'instance_generation_short.txt', batch_size: 2, decoding: { max_new_tokens: 40 } },
    eval: { backend: 'llama_cpp', instances_per_task: 1, batch_size: 4, decoding: { max_new_tokens: 12 } },
  };
  for (const [section, values] of Object.entries(extra)) base[section] = { ...base[section], ...values };
  return base;
}
const configFor = (dir: string, extra: Record<string, Record<string, unknown>> = {}): Config => parseConfig(configInput(dir, extra));

/** The server process a stage started, from its "ready" log line. */
function serverPids(capture: CaptureTransport): number[] {
  return capture.lines.flatMap((l) => {
    const match = /^server\.llama_cpp: ready at .* \(pid (\d+)\)$/.exec(l.message);
    return match ? [Number(match[1])] : [];
  });
}

async function withCapture<T>(fn: (capture: CaptureTransport) => Promise<T>): Promise<T> {
  const capture = new CaptureTransport({ level: 'info' });
  logger.add(capture);
  try {
    return await fn(capture);
  } finally {
    logger.remove(capture);
  }
}

const decoding = { max_new_tokens: 24, do_sample: false, temperature: 1, top_p: 1, stop: [], prompt_format: 'raw' as const };

describe('the OpenAI backend against a running llama.cpp server', () => {
  let worker: PythonWorker;
  let server: ManagedServer;
  let gguf: string;
  const settings = (extra: Record<string, unknown> = {}) =>
    parseConfig({ openai: { base_url: server.baseUrl, model: 'smollm2', ...extra } }).openai;

  beforeAll(async () => {
    worker = workerFromConfig(configFor(join(root, 'unused')));
    const resolved = await worker.call('resolve_model', { ref: EMBEDDED_DEFAULT_MODEL });
    gguf = join(resolved.path, resolved.gguf_file!);
    server = await startTestLlamaServer(gguf, worker.python);
  }, 180_000);
  afterAll(async () => {
    await server?.stop();
    await worker?.close();
  });

  it('decodes greedily the same way twice, and reports the token limit as "length"', { timeout: 120_000 }, async () => {
    const backend = new OpenAICompletionsBackend(settings());
    const prompts = ['The capital of France is', 'Water boils at'];
    const first = await backend.generate({ prompts, decoding, seed: 1 });
    const second = await backend.generate({ prompts, decoding: { ...decoding }, seed: 99 });
    expect(first.map((c) => c.text)).toEqual(second.map((c) => c.text));
    expect(first.every((c) => c.text.length > 0 && c.new_tokens > 0)).toBe(true);
    const [cut] = await backend.generate({ prompts: ['Count: 1, 2, 3,'], decoding: { ...decoding, max_new_tokens: 3 }, seed: 1 });
    expect(cut).toMatchObject({ finish_reason: 'length', new_tokens: 3 });
  });

  it('stops at a stop string, leaves it out of the text, and says "stop"', { timeout: 120_000 }, async () => {
    const backend = new OpenAICompletionsBackend(settings());
    const prompt = 'Count: 1, 2, 3, 4, 5,';
    const [free] = await backend.generate({ prompts: [prompt], decoding, seed: 1 });
    // The stop string is a piece of what the model says unhindered, so it must cut there.
    const stop = free!.text.trim().split(/\s+/)[2]!;
    const [stopped] = await backend.generate({ prompts: [prompt], decoding: { ...decoding, stop: [stop] }, seed: 1 });
    expect(stopped!.finish_reason).toBe('stop');
    expect(stopped!.text).not.toContain(stop);
    expect(free!.text.startsWith(stopped!.text)).toBe(true);
    expect(stopped!.text.length).toBeLessThan(free!.text.length);
  });

  it('samples the same text from the same seed, and other texts from other seeds', { timeout: 120_000 }, async () => {
    const backend = new OpenAICompletionsBackend(settings());
    const sampling = { ...decoding, do_sample: true, temperature: 1, top_p: 1 };
    const prompts = ['Once upon a time', 'Once upon a time', 'Once upon a time'];
    const a = await backend.generate({ prompts, decoding: sampling, seed: 40 });
    const b = await backend.generate({ prompts, decoding: sampling, seed: 40 });
    expect(b.map((c) => c.text)).toEqual(a.map((c) => c.text));
    // One prompt, three seeds (40, 41, 42): three draws.
    expect(new Set(a.map((c) => c.text)).size).toBeGreaterThan(1);
  });

  it('goes at once when the process that started it is SIGKILLed mid-completion, not after what it was serving', {
    timeout: 120_000,
  }, async () => {
    const parent = execa('node', ['--import', 'tsx', 'tests/ts/fixtures/server-parent.ts', gguf], { cwd: packageRoot, reject: false });
    const started = await printedPid<{ pid: number; baseUrl: string }>(parent.stdout);
    // Three completions of 1,500 tokens with end-of-text banned: about half a minute of decoding on these cores.
    const body = { model: 'smollm2', prompt: 'Count: 1, 2, 3, 4,', max_tokens: 1500, temperature: 0, logit_bias: { '0': -100, '2': -100 } };
    const requests = [0, 1, 2].map(() =>
      fetch(`${started.baseUrl}/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }).catch((error: unknown) => error),
    );
    await sleep(1_500);
    expect(processAlive(started.pid)).toBe(true);
    parent.kill('SIGKILL');
    await parent;
    expect(await waitForExit(started.pid, 3_000), 'the server finished its completions for a client that is gone').toBe(true);
    expect((await Promise.all(requests)).every((r) => r instanceof Error)).toBe(true);
  });

  it('passes the presence penalty through, warning once that llama.cpp applies it over its 64-token window', {
    timeout: 120_000,
  }, async () => {
    await withCapture(async (capture) => {
      const backend = new OpenAICompletionsBackend(settings());
      const prompt = 'List fruits: apple, apple, apple,';
      const [plain] = await backend.generate({ prompts: [prompt], decoding, seed: 1 });
      const [penalised] = await backend.generate({ prompts: [prompt], decoding: { ...decoding, presence_penalty: 2 }, seed: 1 });
      await backend.generate({ prompts: [prompt], decoding: { ...decoding, presence_penalty: 2 }, seed: 1 });
      expect(penalised!.text).not.toBe(plain!.text);
      const warnings = capture.lines.filter(
        (l) => l.level === 'warn' && l.message.includes('presence_penalty is not applied as OpenAI specifies it'),
      );
      expect(warnings).toHaveLength(1);
    });
  });

  it('refuses a model the server does not list before sending any completion', async () => {
    const backend = new OpenAICompletionsBackend(settings({ model: 'llama-2-7b' }));
    const failure = backend.generate({ prompts: ['x'], decoding, seed: 1 });
    await expect(failure).rejects.toBeInstanceOf(ServedModelError);
    await expect(failure).rejects.toThrow(`${server.baseUrl} does not serve "llama-2-7b" (GET /models lists: smollm2)`);
  });

  it('refuses an adapter the server does not serve, saying how to serve it', async () => {
    const adapter = join(root, 'policy-adapter');
    const spec = { stage: 'instances' as const, kind: 'openai' as const, worker, batchSize: 2, handle: 'h', model: 'smollm2', adapter };
    const unnamed = parseConfig({ openai: { base_url: server.baseUrl, model: 'smollm2' } });
    await expect(openStageBackend(unnamed, spec)).rejects.toMatchObject({
      name: 'ConfigError',
      keyPaths: ['instances.backend', 'openai.adapters'],
      message:
        `instances.backend is openai, and this stage generates with the adapter ${adapter}, which openai.adapters does not name; ` +
        `add it (openai.adapters: {NAME: ${adapter}}) and serve it (vLLM: --enable-lora --lora-modules NAME=${adapter})`,
    });
    const named = parseConfig({ openai: { base_url: server.baseUrl, model: 'smollm2', adapters: { policy: adapter } } });
    const failure = openStageBackend(named, spec);
    await expect(failure).rejects.toBeInstanceOf(ServedModelError);
    await expect(failure).rejects.toThrow(
      `does not serve "policy" (GET /models lists: smollm2); start the server with --enable-lora --lora-modules policy=${adapter}`,
    );
  });
});

describe('stages on a llama.cpp server they start and stop themselves (backend llama_cpp)', () => {
  it('stage 1 keeps its instructions, names the server in each record, and stops the server', { timeout: 300_000 }, async () => {
    const dir = join(root, 'stage1');
    await withCapture(async (capture) => {
      const summary = await runInstructionGeneration(configFor(dir));
      expect(summary.kept).toBe(6);
      const records = readFileSync(summary.output, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { instruction: string; model: string });
      expect(records).toHaveLength(6);
      expect(new Set(records.map((r) => r.model))).toEqual(new Set([`llama_cpp:${EMBEDDED_DEFAULT_MODEL}`]));
      const [pid] = serverPids(capture);
      expect(pid).toBeDefined();
      expect(processAlive(pid!)).toBe(false);
      // n_threads left at null decodes on every core, as the torch worker does (llama-cpp-python alone takes half).
      const started = capture.lines.find((l) => l.message.startsWith('server.llama_cpp: starting '));
      expect(started?.message).toContain(` --n_threads ${availableParallelism()} `);
    });
  });

  it('stage 3 generates with the base model (self-instruct) and refuses a peft policy before starting anything', {
    timeout: 300_000,
  }, async () => {
    const dir = join(root, 'stage3');
    const pool = join(root, 'pool.jsonl');
    writeFileSync(
      pool,
      ['Name a colour.', 'Translate "cat" into French.', 'Add 2 and 3.'].map((instruction) => JSON.stringify({ instruction })).join('\n') +
        '\n',
    );
    const config = configFor(dir);
    await withCapture(async (capture) => {
      const result = await withStageContext(config, (ctx) => generateInstances(ctx, { instructionsFile: pool, adapter: null }));
      expect(completeLines(join(dir, 'instances', 'generations.jsonl'))).toBe(3);
      expect(JSON.parse(readFileSync(result.files.summary, 'utf8')).policy).toBe(`llama_cpp:${EMBEDDED_DEFAULT_MODEL}`);
      expect(serverPids(capture).every((pid) => !processAlive(pid))).toBe(true);
    });
    const refineAf = parseConfig({ ...configInput(join(root, 'stage3-adapter')), pipeline: { method: 'refine-af' } });
    await withCapture(async (capture) => {
      const failure = withStageContext(refineAf, (ctx) =>
        generateInstances(ctx, { instructionsFile: pool, adapter: join(root, 'policy') }),
      );
      await expect(failure).rejects.toBeInstanceOf(ConfigError);
      await expect(failure).rejects.toThrow(
        /instances\.backend is llama_cpp, but this stage generates with the peft adapter .*policy, which llama\.cpp's server cannot apply/,
      );
      expect(capture.lines.some((l) => l.message.startsWith('server.llama_cpp'))).toBe(false);
      expect(existsSync(join(root, 'stage3-adapter', 'instances', 'generations.jsonl'))).toBe(false);
    });
  });

  it('the Super-NI evaluation scores every instance of data/superni-mini', { timeout: 300_000 }, async () => {
    const out = join(root, 'superni');
    const report = await evalSuperNiModel(configFor(join(root, 'superni-run')), {
      dataDir: superniMini,
      outDir: out,
      model: EMBEDDED_DEFAULT_MODEL,
    });
    expect(report.overall.instances).toBe(12);
    expect(completeLines(join(out, 'predictions.jsonl'))).toBe(12);
  });
});

describe('SIGKILL mid-stage with a started llama.cpp server, then resume', () => {
  /** Run a CLI command; with `killWhen`, SIGKILL it once that holds and return the processes it had started. */
  async function runCli(args: string[], killWhen?: () => boolean): Promise<{ killed: boolean; children: number[]; output: string }> {
    const child = execa('node', [cli, ...args], { cwd: packageRoot, reject: false, all: true, env: { REFINE_AF_LOG_LEVEL: 'warn' } });
    let children: number[] = [];
    let killed = false;
    const watch = (async () => {
      while (killWhen && child.exitCode === null) {
        children = descendants(child.pid!);
        if (killWhen()) {
          child.kill('SIGKILL');
          killed = true;
          return;
        }
        await sleep(50);
      }
    })();
    const result = await child;
    await watch;
    if (!killed && result.exitCode !== 0) throw new Error(`refine-af ${args.join(' ')} failed:\n${String(result.all).slice(-3000)}`);
    return { killed, children, output: String(result.all) };
  }

  async function crashResumeCompare(
    name: string,
    args: (dir: string) => string[],
    resumeFlag: string[],
    progress: (dir: string) => number,
    killAt: number,
  ) {
    const reference = join(root, `${name}-reference`);
    const crashed = join(root, `${name}-crashed`);
    for (const dir of [reference, crashed]) writeFileSync(`${dir}.yaml`, stringify(configInput(dir)));
    await runCli(args(reference));
    const kill = await runCli(args(crashed), () => progress(crashed) >= killAt);
    expect(kill.killed, 'the run ended before the kill point').toBe(true);
    // The worker and the server die with the killed process.
    expect(kill.children.length).toBeGreaterThanOrEqual(2);
    for (const pid of kill.children) expect(await waitForExit(pid, 15_000), `process ${pid} outlived its parent`).toBe(true);
    await runCli([...args(crashed), ...resumeFlag]);
    const comparison = compareRuns(reference, crashed);
    expect(
      Object.entries(comparison)
        .filter(([, same]) => !same)
        .map(([file]) => file),
    ).toEqual([]);
    return comparison;
  }

  it('stage 1: nothing lost, nothing duplicated, equal to the uninterrupted run', { timeout: 600_000 }, async () => {
    const comparison = await crashResumeCompare(
      'cli-stage1',
      (dir) => ['generate-instructions', '--config', `${dir}.yaml`],
      ['--resume'],
      (dir) => completeLines(join(dir, 'machine_instructions.jsonl')),
      2,
    );
    expect(Object.keys(comparison)).toContain('machine_instructions.jsonl');
  });

  it('stage 3: generations resume where they stopped, the IFT dataset equal', { timeout: 600_000 }, async () => {
    const pool = join(root, 'crash-pool.jsonl');
    const instructions = [
      'Name a colour.',
      'Add 2 and 3.',
      'Give a synonym of "big".',
      'Name a planet.',
      'Write a greeting.',
      'Name an animal.',
      'Spell "cat".',
      'Name a month.',
    ];
    writeFileSync(pool, `${instructions.map((instruction) => JSON.stringify({ instruction })).join('\n')}\n`);
    const comparison = await crashResumeCompare(
      'cli-stage3',
      (dir) => ['generate-instances', '--config', `${dir}.yaml`, '--instructions', pool],
      [],
      (dir) => completeLines(join(dir, 'instances', 'generations.jsonl')),
      2,
    );
    expect(Object.keys(comparison)).toEqual(expect.arrayContaining(['instances/generations.jsonl', 'instances/summary.json']));
  });

  it('the Super-NI evaluation: predictions resume where they stopped, scores equal', { timeout: 600_000 }, async () => {
    const out = (dir: string) => join(dir, 'superni');
    const comparison = await crashResumeCompare(
      'cli-superni',
      (dir) => ['eval', 'superni', '--config', `${dir}.yaml`, '--data-dir', superniMini, '--out', out(dir)],
      [],
      (dir) => completeLines(join(out(dir), 'predictions.jsonl')),
      4,
    );
    expect(Object.keys(comparison)).toEqual(expect.arrayContaining(['superni/predictions.jsonl', 'superni/scores.json']));
  });
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

/**
 * Crash-and-resume harness: a real `refine-af run` (a child process, its own Python worker and jobs) on tiny settings,
 * SIGKILLed at seeded points in every stage, resumed with --resume until it completes, then compared with an
 * uninterrupted run of the same config.
 *
 * A kill point is (stage, progress, delay): once run.json says the stage is running and its progress counter (stage 1:
 * kept instructions, stage 2: PPO steps logged, stage 3: instructions generated, SFT: Trainer checkpoints written) has
 * reached `progress`, wait `delay` ms and SIGKILL the Node process (its Python worker and jobs must then die on their
 * own: a real crash gives nobody a chance to clean up). After every kill the harness checks what is on disk; at the end
 * it compares every artifact with the uninterrupted run.
 */

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { stringify } from 'yaml';
import { z } from 'zod';
import { POLICY_CHECKPOINT_MARKER, type RlAlgorithm } from '../../ts/bridge/contract.js';
import { readJsonl } from '../../ts/io/files.js';
import { defaultPython, packageRoot } from '../../ts/paths.js';
import { STAGE_NAMES, type StageName } from '../../ts/pipeline/run.js';
import { Random } from '../../ts/random.js';
import { type CompletionsServer, startCompletionsServer } from '../ts/fixtures/completions-server.js';
import { processAlive } from '../ts/helpers.js';

export interface KillPoint {
  stage: StageName;
  progress: number;
  delayMs: number;
}

export interface KillOutcome {
  planned: KillPoint;
  /** The stage run.json said was running when the kill landed; 'none' when the run finished first. */
  landed: StageName | 'none';
  /** Progress counter of that stage at the kill. */
  progressAtKill: number;
  /** Python processes of the killed run still alive 10 s after the kill. */
  orphans: number;
  /** JSONL lines torn by the kill (a partial last line), over every artifact. */
  tornLines: number;
  /** Work done before the kill that the resume does again: stage 1 kept instructions past the snapshot, stage 2 steps past the last checkpoint. */
  redone: number;
}

export interface HarnessReport {
  seed: number;
  kills: KillOutcome[];
  attempts: number;
  /** Artifact → identical to the uninterrupted run (after dropping wall-clock fields). */
  comparison: Record<string, boolean>;
  /** Artifacts read strictly (no torn-tail repair) after the run, with duplicate keys counted. */
  strictParse: Record<string, { ok: boolean; records: number; duplicates: number; error?: string }>;
  referenceSeconds: number;
  /** How long each stage and one unit of its work took in the uninterrupted run (ms); the kill delays scale with a unit. */
  times: StageTimes;
  totalSeconds: number;
}

const cli = join(packageRoot, 'bin', 'refine-af.js');

/**
 * The kill points: `perStage` per stage, in run order, each at a seeded progress counter and a seeded delay after it of
 * up to one unit of that stage's work, as timed in the uninterrupted run (so the kill falls anywhere inside a unit,
 * on a fast machine as on a slow one).
 */
export function planKills(
  seed: number,
  perStage: number,
  units: Record<StageName, number>,
  unitMs: Record<StageName, number>,
  stages: readonly StageName[] = STAGE_NAMES,
): KillPoint[] {
  const random = new Random(seed);
  return stages.flatMap((stage) =>
    Array.from({ length: perStage }, () => ({ stage, progress: random.int(units[stage]), delayMs: random.int(unitMs[stage]) })).sort(
      (a, b) => a.progress - b.progress || a.delayMs - b.delayMs,
    ),
  );
}

/** A kill point is due once its stage runs with the progress reached, or at once when the run is already past that stage. */
function due(runDir: string, kill: KillPoint): boolean {
  const running = runningStage(runDir);
  if (running === undefined) return false;
  const order = STAGE_NAMES.indexOf(running) - STAGE_NAMES.indexOf(kill.stage);
  return order > 0 || (order === 0 && progressOf(runDir, kill.stage) >= kill.progress);
}

/** The scripted tiny Llama (scripted_llama.py): stage 3 parses an instance from every completion, so SFT has data. */
export function buildGenerator(root: string): string {
  const modelDir = join(root, 'scripted-llama');
  if (!existsSync(join(modelDir, 'config.json')))
    execFileSync(defaultPython, [join(import.meta.dirname, '..', 'py', 'scripted_llama.py'), modelDir], { stdio: 'ignore' });
  return modelDir;
}

/** The run's config: every stage on a few units of work, deterministic where the backend allows. */
export function harnessConfig(
  runDir: string,
  generator: string,
  server: CompletionsServer,
  size: 'full' | 'small' = 'full',
  algorithm: RlAlgorithm = 'ppo',
): Record<string, unknown> {
  const small = size === 'small';
  // GRPO and RLOO: one instruction and two completions of it a step, the same 2 completions a step as PPO's batch.
  const criticFree = { num_generations: 2, per_device_train_batch_size: 1, gradient_accumulation_steps: 2, learning_rate: 1e-3 };
  return {
    run: { dir: runDir, seed: 11 },
    models: { generator, dtype: 'float32', device: 'cpu' },
    logging: { level: 'warn' },
    openai: { base_url: server.url, model: 'fixture', max_retries: 2, concurrency: 2 },
    instructions: { backend: 'openai', num_instructions: small ? 8 : 16, request_batch_size: 2 },
    feedback: { judge: generator, judge_max_field_tokens: 32, batch_size: 4 },
    rlaf: {
      steps: small ? 3 : 4,
      save_every: 1,
      decoding: { max_new_tokens: 8 },
      template: 'instance_generation_short.txt',
      algorithm,
      ppo: { batch_size: 2, mini_batch_size: 1, gradient_accumulation_steps: 2, ppo_epochs: 1, learning_rate: 1e-3 },
      grpo: criticFree,
      rloo: criticFree,
      lora: { r: 4, lora_alpha: 8 },
    },
    instances: { template: 'instance_generation_short.txt', batch_size: 2, decoding: { max_new_tokens: 12 }, drop_truncated: false },
    sft: {
      training: {
        max_steps: small ? 2 : 5,
        save_steps: 1,
        logging_steps: 1,
        per_device_train_batch_size: 1,
        gradient_accumulation_steps: 1,
        warmup_ratio: 0,
        lr_scheduler_type: 'constant',
        learning_rate: 1e-3,
        save_total_limit: 2,
      },
      max_seq_length: 128,
      lora: { r: 4, lora_alpha: 8 },
    },
  };
}

/** Units of work per stage in the harness config (the range kill points are drawn from). */
export const HARNESS_UNITS: Record<'full' | 'small', Record<StageName, number>> = {
  full: { instructions: 16, rlaf: 4, instances: 16, sft: 5 },
  small: { instructions: 8, rlaf: 3, instances: 8, sft: 2 },
};

// ------------------------------------------------------------------ what is on disk

const manifestSchema = z.object({ stages: z.record(z.string(), z.object({ status: z.string() })) });

export function runningStage(runDir: string): StageName | undefined {
  try {
    const manifest = manifestSchema.parse(JSON.parse(readFileSync(join(runDir, 'run.json'), 'utf8')));
    return STAGE_NAMES.find((s) => manifest.stages[s]?.status === 'running');
  } catch {
    return undefined;
  }
}

export function completeLines(file: string): number {
  if (!existsSync(file)) return 0;
  return readFileSync(file, 'utf8').split('\n').length - 1;
}

function sftCheckpoints(runDir: string): number[] {
  const dir = join(runDir, 'sft', 'checkpoints');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((n) => /^checkpoint-(\d+)$/.exec(n)?.[1])
    .filter((n) => n !== undefined)
    .map(Number);
}

export function progressOf(runDir: string, stage: StageName): number {
  switch (stage) {
    case 'instructions':
      return completeLines(join(runDir, 'machine_instructions.jsonl'));
    case 'rlaf':
      return completeLines(join(runDir, 'rlaf', 'metrics.jsonl'));
    case 'instances':
      return completeLines(join(runDir, 'instances', 'generations.jsonl'));
    case 'sft':
      return Math.max(0, ...sftCheckpoints(runDir));
  }
}

/** JSONL artifacts of a run, each with the key that must be unique in it. */
export const JSONL_ARTIFACTS: Record<string, (record: Record<string, unknown>) => string> = {
  'machine_instructions.jsonl': (r) => String(r.instruction),
  'rlaf/metrics.jsonl': (r) => String(r.step),
  'rlaf/rollouts.jsonl': (r) => JSON.stringify([r.step, r.instruction, r.response]),
  'instances/generations.jsonl': (r) => String(r.index),
  'instances/ift.jsonl': (r) => JSON.stringify([r.instruction, r.input, r.output]),
  'sft/train.jsonl': (r) => JSON.stringify(r),
};

function tornLines(runDir: string): number {
  return Object.keys(JSONL_ARTIFACTS).filter((name) => {
    const file = join(runDir, name);
    return existsSync(file) && statSync(file).size > 0 && !readFileSync(file, 'utf8').endsWith('\n');
  }).length;
}

/** Work the resume will redo: what was written after the last snapshot/checkpoint the resume starts from. */
function redoneAfterKill(runDir: string, stage: StageName | 'none'): number {
  if (stage === 'instructions') {
    const state = join(runDir, 'machine_instructions.state.json');
    if (!existsSync(state)) return completeLines(join(runDir, 'machine_instructions.jsonl'));
    return (
      completeLines(join(runDir, 'machine_instructions.jsonl')) -
      (JSON.parse(readFileSync(state, 'utf8')) as { output_lines: number }).output_lines
    );
  }
  if (stage === 'rlaf') {
    const dir = join(runDir, 'rlaf', 'checkpoints');
    const steps = existsSync(dir)
      ? readdirSync(dir)
          .filter((n) => existsSync(join(dir, n, POLICY_CHECKPOINT_MARKER)))
          .map((n) => Number(/(\d+)$/.exec(n)?.[1] ?? 0))
      : [];
    return completeLines(join(runDir, 'rlaf', 'metrics.jsonl')) - Math.max(0, ...steps);
  }
  return 0;
}

export function descendants(pid: number): number[] {
  let out = '';
  try {
    out = execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' });
  } catch {
    return [];
  }
  const children = out.split('\n').filter(Boolean).map(Number);
  return children.flatMap((c) => [c, ...descendants(c)]);
}

// ------------------------------------------------------------------ running

interface Attempt {
  exit: string;
  killedIn?: StageName | 'none';
  progressAtKill?: number;
  orphans?: number;
  output: string;
}

/** `refine-af run` as a child process, exactly as a user starts it. */
export function startRun(configFile: string, ...flags: ('--resume' | '--force')[]) {
  return execa('node', [cli, 'run', '--config', configFile, ...flags], {
    cwd: packageRoot,
    reject: false,
    all: true,
    env: { REFINE_AF_LOG_LEVEL: 'warn' },
  });
}

async function attempt(configFile: string, runDir: string, resume: boolean, kill?: KillPoint): Promise<Attempt> {
  const child = startRun(configFile, ...(resume ? (['--resume'] as const) : []));
  let killed: Attempt | undefined;
  const watch =
    kill &&
    (async () => {
      while (child.exitCode === null && !child.killed) {
        if (due(runDir, kill)) {
          await sleep(kill.delayMs);
          if (child.exitCode !== null) return;
          const pythons = descendants(child.pid!);
          const landed = runningStage(runDir) ?? 'none';
          const progressAtKill = landed === 'none' ? 0 : progressOf(runDir, landed);
          child.kill('SIGKILL');
          await child;
          let orphans = pythons.filter(processAlive);
          for (let waited = 0; orphans.length > 0 && waited < 10_000; waited += 200) {
            await sleep(200);
            orphans = orphans.filter(processAlive);
          }
          for (const pid of orphans) process.kill(pid, 'SIGKILL');
          killed = { exit: 'SIGKILL', killedIn: landed, progressAtKill, orphans: orphans.length, output: '' };
          return;
        }
        await sleep(20);
      }
    })();
  const result = await child;
  await watch;
  const output = String(result.all ?? '');
  if (killed) return { ...killed, output };
  return { exit: result.signal ?? String(result.exitCode), output };
}

/** How long each stage of the uninterrupted run took, and one unit of its work (ms). */
export interface StageTimes {
  stageMs: Record<StageName, number>;
  /**
   * The mean time between two progress counts, from the first count to the last: a unit of work without the stage's
   * start (loading models) and end, which a delay drawn from the whole stage's time per unit would overshoot into the
   * next stage. The stage's time per unit where it counted fewer than two.
   */
  unitMs: Record<StageName, number>;
}

/** Run the config to the end without interruption (the reference), timing each stage and its units of work. */
export async function uninterruptedRun(configFile: string, runDir: string, units: Record<StageName, number>): Promise<StageTimes> {
  const started = Object.fromEntries(STAGE_NAMES.map((s) => [s, 0])) as Record<StageName, number>;
  const ended = { ...started };
  const counted = Object.fromEntries(STAGE_NAMES.map((s) => [s, [] as number[]])) as Record<StageName, number[]>;
  const timer = setInterval(() => {
    const stage = runningStage(runDir);
    if (stage === undefined) return;
    started[stage] ||= Date.now();
    ended[stage] = Date.now();
    const progress = progressOf(runDir, stage);
    while (counted[stage].length < progress) counted[stage].push(Date.now());
  }, 10);
  const result = await attempt(configFile, runDir, false).finally(() => clearInterval(timer));
  if (result.exit !== '0') throw new Error(`uninterrupted run failed (${result.exit}):\n${result.output.slice(-4000)}`);
  const perStage = <T>(f: (stage: StageName) => T) => Object.fromEntries(STAGE_NAMES.map((s) => [s, f(s)])) as Record<StageName, T>;
  const stageMs = perStage((s) => ended[s] - started[s]);
  const unitMs = perStage((s) => {
    const times = counted[s];
    const between = times.length >= 2 ? (times.at(-1)! - times[0]!) / (times.length - 1) : stageMs[s] / units[s];
    return Math.max(1, Math.round(between));
  });
  return { stageMs, unitMs };
}

export async function crashedRun(
  configFile: string,
  runDir: string,
  kills: KillPoint[],
): Promise<{ kills: KillOutcome[]; attempts: number }> {
  const outcomes: KillOutcome[] = [];
  let attempts = 0;
  let resume = false;
  for (const kill of kills) {
    attempts++;
    const result = await attempt(configFile, runDir, resume, kill);
    resume = true;
    if (result.exit !== 'SIGKILL') {
      if (result.exit !== '0') throw new Error(`attempt ${attempts} failed (${result.exit}):\n${result.output.slice(-4000)}`);
      outcomes.push({ planned: kill, landed: 'none', progressAtKill: 0, orphans: 0, tornLines: 0, redone: 0 });
      return { kills: outcomes, attempts };
    }
    outcomes.push({
      planned: kill,
      landed: result.killedIn!,
      progressAtKill: result.progressAtKill!,
      orphans: result.orphans!,
      tornLines: tornLines(runDir),
      redone: redoneAfterKill(runDir, result.killedIn!),
    });
  }
  attempts++;
  const result = await attempt(configFile, runDir, resume);
  if (result.exit !== '0') throw new Error(`final resume failed (${result.exit}):\n${result.output.slice(-4000)}`);
  return { kills: outcomes, attempts };
}

// ------------------------------------------------------------------ comparing

/**
 * Fields that differ between any two runs whatever happened: wall-clock times, and what one call of a stage did
 * (instructions generated by this call, the checkpoint it resumed from, the Trainer's mean loss over the steps of this
 * call, what the worker held and its RSS when the stage released its models). Paths are compared relative to the run
 * directory. Everything else must be equal.
 */
const PER_CALL = /^(seconds|seconds_ppo|seconds_per_step|runtime_s|started_at|updated_at|generatedNow|resumed_from|train_loss|release)$/;

function normalised(value: unknown, runDir: string, key = ''): unknown {
  if (Array.isArray(value)) {
    const items = value.map((v) => normalised(v, runDir));
    // peft writes target_modules from a Python set: its order follows PYTHONHASHSEED, its content is what matters.
    return key === 'target_modules' ? items.map(String).sort() : items;
  }
  // The completions server listens on a fresh port in every session.
  if (typeof value === 'string')
    return value
      .split(runDir)
      .join('<run>')
      .replace(/http:\/\/127\.0\.0\.1:\d+/g, '<server>');
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([k]) => !PER_CALL.test(k))
        .map(([k, v]) => [k, normalised(v, runDir, k)]),
    );
  }
  return value;
}

function csvWithoutWallClock(text: string): string {
  const rows = text.split('\r\n').map((row) => row.split(','));
  const keep = (rows[0] ?? []).map((name) => !PER_CALL.test(name));
  return rows.map((row) => row.filter((_, i) => keep[i]).join(',')).join('\n');
}

function fileDigest(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** The config copy and the Trainer's pickled arguments hold the run directory's absolute path. */
const NOT_COMPARED = new Set(['config.yaml', 'training_args.bin']);

/** Every artifact the run reports (files under the run dir except logs and Trainer checkpoints), normalised. */
function artifactDigests(runDir: string): Record<string, string> {
  const digests: Record<string, string> = {};
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const relPath = rel ? `${rel}/${name}` : name;
      if (statSync(path).isDirectory()) {
        // Intermediate checkpoints depend on where the kills fell (which ones were rotated out); the final ones are compared.
        // TensorBoard event files are logs: named and stamped with wall time and host, and appended to by each resume.
        // The run's report is drawn from the artifacts compared here, and names the run directory in its text.
        if (name === 'checkpoints' || (['tensorboard', 'report'].includes(name) && rel === '')) continue;
        walk(path, relPath);
      } else if (!/\.log$/.test(name) && !NOT_COMPARED.has(name)) {
        const text = readFileSync(path);
        if (name.endsWith('.json')) digests[relPath] = JSON.stringify(normalised(JSON.parse(text.toString('utf8')), runDir));
        else if (name.endsWith('.jsonl'))
          digests[relPath] = JSON.stringify(
            text
              .toString('utf8')
              .trim()
              .split('\n')
              .filter(Boolean)
              .map((l) => normalised(JSON.parse(l), runDir)),
          );
        else if (name.endsWith('.csv')) digests[relPath] = csvWithoutWallClock(text.toString('utf8'));
        else digests[relPath] = fileDigest(path);
      }
    }
  };
  walk(runDir, '');
  return digests;
}

export function compareRuns(reference: string, crashed: string): Record<string, boolean> {
  const a = artifactDigests(reference);
  const b = artifactDigests(crashed);
  const names = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return Object.fromEntries(names.map((n) => [n, a[n] !== undefined && a[n] === b[n]]));
}

export function strictParse(runDir: string): HarnessReport['strictParse'] {
  return Object.fromEntries(
    Object.entries(JSONL_ARTIFACTS).map(([name, key]) => {
      try {
        const records = readJsonl(join(runDir, name), z.record(z.string(), z.unknown()));
        const keys = records.map(key);
        return [name, { ok: true, records: records.length, duplicates: keys.length - new Set(keys).size }];
      } catch (error) {
        return [name, { ok: false, records: 0, duplicates: 0, error: (error as Error).message }];
      }
    }),
  );
}

/**
 * The whole experiment: reference run, crashed run, comparison. `stages` are the stages killed in (every one unless
 * given); `algorithm` is stage 2's.
 */
export async function crashAndResume(
  root: string,
  options: { seed: number; perStage: number; size?: 'full' | 'small'; algorithm?: RlAlgorithm; stages?: readonly StageName[] },
): Promise<HarnessReport> {
  const size = options.size ?? 'full';
  const algorithm = options.algorithm ?? 'ppo';
  mkdirSync(root, { recursive: true });
  const generator = buildGenerator(root);
  const server = await startCompletionsServer({ delayMs: 150 });
  try {
    const write = (name: string) => {
      const runDir = join(root, name);
      const file = join(root, `${name}.yaml`);
      writeFileSync(file, stringify(harnessConfig(runDir, generator, server, size, algorithm)));
      return { runDir, file };
    };
    const reference = write(`reference-${size}-${algorithm}`);
    const crashed = write(`crashed-${size}-${algorithm}-${options.seed}-${options.perStage}`);
    for (const dir of [reference.runDir, crashed.runDir]) rmSync(dir, { recursive: true, force: true });
    const started = Date.now();
    const times = await uninterruptedRun(reference.file, reference.runDir, HARNESS_UNITS[size]);
    const referenceSeconds = (Date.now() - started) / 1000;
    const { kills, attempts } = await crashedRun(
      crashed.file,
      crashed.runDir,
      planKills(options.seed, options.perStage, HARNESS_UNITS[size], times.unitMs, options.stages),
    );
    return {
      seed: options.seed,
      kills,
      attempts,
      comparison: compareRuns(reference.runDir, crashed.runDir),
      strictParse: strictParse(crashed.runDir),
      referenceSeconds,
      times,
      totalSeconds: (Date.now() - started) / 1000,
    };
  } finally {
    await server.close();
  }
}

/**
 * The execa door: long batch jobs (SFT, multi-GPU work under `accelerate launch`) run as subprocesses of
 * `python -m refine_af.service job NAME PARAMS_FILE`, streaming JSON-lines events on stdout. Every event is
 * validated against the job's declaration in contract.ts; stderr lines go to the logger; the subprocess is
 * killed when the TS process exits or the caller aborts. Model servers (vLLM, llama.cpp; their command lines are
 * ts/backends/servers.ts's) start through its exec door (startServerProcess).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { InterruptedError } from '../interrupt.js';
import { logger, terminalLogLevel } from '../log.js';
import { defaultPython } from '../paths.js';
import {
  type ContractExtension,
  type JobName,
  type JobParams,
  type JobProgress,
  type JobResult,
  type JobSpecs,
  jobs,
  jobTerminalEventSchema,
  type MethodSpecs,
  type ParentDeathSignal,
  pythonEnvironment,
} from './contract.js';
import { BridgeError, ContractError, LAST_OUTPUT_LINES, ParameterError, PythonError, WorkerDiedError } from './errors.js';
import { logPythonLine } from './python-log.js';

const KILL_GRACE_MS = 5_000;

export interface JobOptions<J extends keyof T, T extends JobSpecs = typeof jobs> {
  python?: string;
  /** Command prefix such as ['accelerate', 'launch', '--num_processes', '4']; empty runs the interpreter directly. */
  launcher?: readonly string[];
  onProgress?: (event: JobProgress<J, T>) => void;
  signal?: AbortSignal;
  cwd?: string;
  env?: Record<string, string>;
}

/** More jobs, run through the extension's script (the tests' diagnostics). */
export interface ExtendedJobOptions<J extends keyof (typeof jobs & X), X extends JobSpecs> extends JobOptions<J, typeof jobs & X> {
  extension: ContractExtension<MethodSpecs, X>;
}

export async function runJob<J extends JobName>(name: J, params: JobParams<J>, options?: JobOptions<J>): Promise<JobResult<J>>;
export async function runJob<J extends keyof (typeof jobs & X) & string, X extends JobSpecs>(
  name: J,
  params: JobParams<J, typeof jobs & X>,
  options: ExtendedJobOptions<J, X>,
): Promise<JobResult<J, typeof jobs & X>>;
export async function runJob(
  name: string,
  params: unknown,
  options: JobOptions<string, JobSpecs> & { extension?: ContractExtension } = {},
): Promise<unknown> {
  const origin = `job.${name}`;
  const table: JobSpecs = { ...jobs, ...options.extension?.jobs };
  if (!Object.hasOwn(table, name)) throw new BridgeError(`${origin}: not a job of this contract`);
  const spec = table[name]!;
  const checked = spec.params.safeParse(params);
  if (!checked.success) throw new ParameterError(origin, checked.error.message);
  const dir = mkdtempSync(join(tmpdir(), 'refine-af-job-'));
  const paramsFile = join(dir, 'params.json');
  writeFileSync(paramsFile, JSON.stringify(checked.data));
  const entry = options.extension ? [options.extension.module] : ['-m', 'refine_af.service'];
  const moduleArgs = [...entry, 'job', name, paramsFile];
  const [command, ...prefix] = options.launcher?.length ? options.launcher : [options.python ?? defaultPython];
  const stderrTail: string[] = [];
  let result: unknown;
  let failure: Error | undefined;
  try {
    const subprocess = execa(command!, [...prefix, ...moduleArgs], {
      cwd: options.cwd,
      env: {
        ...options.env,
        ...pythonEnvironment({ logLevel: terminalLogLevel() }),
        // The worker's log file reaches pythonia through this process's environment; a job that imports service.py
        // rather than running it (the tests' diagnostics) would take it for the worker's and write there.
        REFINE_AF_WORKER_LOG: undefined,
      },
      cancelSignal: options.signal,
      forceKillAfterDelay: KILL_GRACE_MS,
      cleanup: true,
      reject: false,
      lines: true,
      stdin: 'ignore',
      buffer: { stdout: false, stderr: false },
    });
    logLines(subprocess.stderr, origin, stderrTail);
    for await (const line of subprocess.iterable({ from: 'stdout' })) {
      if (!line.trim()) continue;
      let event: unknown;
      try {
        event = JSON.parse(line);
      } catch {
        failure ??= new ContractError(origin, `a stdout line is not JSON: ${line.slice(0, 200)}`);
        continue;
      }
      const terminal = jobTerminalEventSchema.safeParse(event);
      if (terminal.success) {
        if (terminal.data.type === 'error') {
          failure = new PythonError(origin, terminal.data.error);
          continue;
        }
        const parsed = spec.result.safeParse(terminal.data.value);
        if (parsed.success) result = parsed.data;
        else failure = new ContractError(origin, parsed.error.message);
        continue;
      }
      const progress = spec.progress.safeParse(event);
      if (progress.success) options.onProgress?.(progress.data);
      else failure ??= new ContractError(origin, progress.error.message);
    }
    const finished = await subprocess;
    if (failure) throw failure;
    if (finished.isCanceled) {
      // Ctrl-C (interrupt.ts) is reported as the interruption it is, which the CLI turns into how to continue.
      if (options.signal?.reason instanceof InterruptedError) throw options.signal.reason;
      throw new BridgeError(`${origin} was cancelled`);
    }
    if (finished.exitCode !== 0 || result === undefined) {
      throw new WorkerDiedError(origin, finished.exitCode ?? null, finished.signal ?? null, stderrTail.join('\n'));
    }
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Send a subprocess stream's lines to the logger, keeping the last LAST_OUTPUT_LINES in `tail` for an error message. */
function logLines(stream: Readable, origin: string, tail: string[]): void {
  stream.setEncoding('utf8');
  let partial = '';
  const keepLine = (line: string) => {
    if (!line.trim()) return;
    tail.push(logPythonLine(line, origin));
    if (tail.length > LAST_OUTPUT_LINES) tail.shift();
  };
  stream.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    lines.forEach(keepLine);
  });
  // A process that dies mid-line (an abort message, a crash) leaves its last words without a newline.
  stream.on('end', () => keepLine(partial));
}

/** A server started by startServerProcess: where it answers, and how to stop it. */
export interface ServerProcess {
  /** e.g. http://127.0.0.1:8123/v1 */
  readonly baseUrl: string;
  readonly pid: number | undefined;
  /** Stop it (SIGTERM, then SIGKILL after a grace period) and wait until it has exited. Idempotent. */
  stop(): Promise<void>;
}

/** An OpenAI-compatible server program to start, and how it is tied to this process. */
export interface ServerLaunch {
  /** Names it in the log and in errors, e.g. "server.vllm". */
  origin: string;
  /** The whole command line: program, then its arguments. */
  command: readonly string[];
  /** The port on 127.0.0.1 its command line tells it to listen on. */
  port: number;
  /** What the kernel sends it when this process dies, SIGKILL included (service.py exec). */
  parentDeathSignal: ParentDeathSignal;
  /** The interpreter that starts it tied to this process (it dies with it, even on SIGKILL); default the project's. */
  python?: string;
  /** How long the server may take to answer GET /v1/models. */
  startupTimeoutMs: number;
  /** Aborting (SIGINT) stops the server. */
  signal?: AbortSignal;
}

const READY_POLL_MS = 250;

/**
 * Start a server program through `python -m refine_af.service exec`, send its output to the logger, and resolve once
 * GET /v1/models answers 200. It is stopped when the caller calls stop(), the signal aborts, or this process exits. If
 * it exits or does not answer in time, the start fails with the server's last output.
 */
export async function startServerProcess(launch: ServerLaunch): Promise<ServerProcess> {
  const { origin, command } = launch;
  const baseUrl = `http://127.0.0.1:${launch.port}/v1`;
  logger.info(`${origin}: starting ${command.join(' ')}`);
  const outputTail: string[] = [];
  const subprocess = execa(launch.python ?? defaultPython, ['-m', 'refine_af.service', 'exec', launch.parentDeathSignal, ...command], {
    env: pythonEnvironment({ logLevel: terminalLogLevel() }),
    cancelSignal: launch.signal,
    forceKillAfterDelay: KILL_GRACE_MS,
    // Its own process group: Ctrl-C in the terminal reaches the stage, which finishes its batch and then stops the
    // server, instead of the server dying under the batch in flight. It dies with this process (service.py exec).
    detached: true,
    reject: false,
    stdin: 'ignore',
    all: true,
    buffer: false,
  });
  logLines(subprocess.all!, origin, outputTail);
  const exited = subprocess.then((finished) => finished);
  let stopped = false;
  const stop = async () => {
    if (!stopped) {
      stopped = true;
      subprocess.kill('SIGTERM');
    }
    await exited;
  };
  const started = Date.now();
  let exitedEarly: Awaited<typeof exited> | undefined;
  void exited.then((finished) => (exitedEarly = finished));
  try {
    for (;;) {
      if (exitedEarly !== undefined) {
        if (exitedEarly.isCanceled) throw new BridgeError(`${origin} was cancelled while starting`);
        throw new WorkerDiedError(origin, exitedEarly.exitCode ?? null, exitedEarly.signal ?? null, outputTail.join('\n'));
      }
      if (await answers(`${baseUrl}/models`)) break;
      if (Date.now() - started > launch.startupTimeoutMs) {
        throw new BridgeError(
          `${origin} did not answer ${baseUrl}/models within ${launch.startupTimeoutMs} ms (raise server.startup_timeout_ms); last output:\n${outputTail.join('\n')}`,
        );
      }
      await sleep(READY_POLL_MS);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  logger.info(`${origin}: ready at ${baseUrl} after ${((Date.now() - started) / 1000).toFixed(1)} s (pid ${subprocess.pid})`);
  return { baseUrl, pid: subprocess.pid, stop };
}

async function answers(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}

/** A TCP port free at this moment on 127.0.0.1 (the server binds it right after). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolvePort(port));
    });
  });
}

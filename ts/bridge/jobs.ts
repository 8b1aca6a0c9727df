/**
 * The execa door: long batch jobs (SFT, multi-GPU work under `accelerate launch`) run as subprocesses of
 * `python -m refine_af.service job NAME PARAMS_FILE`, streaming JSON-lines events on stdout. Every event is
 * validated against the job's declaration in contract.ts; stderr lines go to the logger; the subprocess is
 * killed when the TS process exits or the caller aborts.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { InterruptedError } from '../interrupt.js';
import { logPythonLine, terminalLogLevel } from '../log.js';
import { defaultPython } from '../paths.js';
import { jobs, jobTerminalEventSchema, pythonEnvironment, type JobName, type JobParams, type JobProgress, type JobResult } from './contract.js';
import { BridgeError, ContractError, LAST_OUTPUT_LINES, PythonError, WorkerDiedError } from './errors.js';

const KILL_GRACE_MS = 5_000;

export interface JobOptions<J extends JobName> {
  python?: string;
  /** Command prefix such as ['accelerate', 'launch', '--num_processes', '4']; empty runs the interpreter directly. */
  launcher?: readonly string[];
  onProgress?: (event: JobProgress<J>) => void;
  signal?: AbortSignal;
  cwd?: string;
  env?: Record<string, string>;
}

export async function runJob<J extends JobName>(name: J, params: JobParams<J>, options: JobOptions<J> = {}): Promise<JobResult<J>> {
  const spec = jobs[name];
  const origin = `job.${name}`;
  const checked = spec.params.safeParse(params);
  if (!checked.success) throw new BridgeError(`${origin}: invalid parameters: ${checked.error.message}`);
  const dir = mkdtempSync(join(tmpdir(), 'refine-af-job-'));
  const paramsFile = join(dir, 'params.json');
  writeFileSync(paramsFile, JSON.stringify(checked.data));
  const moduleArgs = ['-m', 'refine_af.service', 'job', name, paramsFile];
  const [command, ...prefix] = options.launcher?.length ? options.launcher : [options.python ?? defaultPython];
  const stderrTail: string[] = [];
  let result: JobResult<J> | undefined;
  let failure: Error | undefined;
  try {
    const subprocess = execa(command!, [...prefix, ...moduleArgs], {
      cwd: options.cwd,
      env: {
        ...options.env,
        ...pythonEnvironment({ logLevel: terminalLogLevel() }),
      },
      cancelSignal: options.signal,
      forceKillAfterDelay: KILL_GRACE_MS,
      cleanup: true,
      reject: false,
      lines: true,
      stdin: 'ignore',
      buffer: { stdout: false, stderr: false },
    });
    subprocess.stderr.setEncoding('utf8');
    let partial = '';
    const keepStderrLine = (line: string) => {
      if (!line.trim()) return;
      stderrTail.push(logPythonLine(line, origin));
      if (stderrTail.length > LAST_OUTPUT_LINES) stderrTail.shift();
    };
    subprocess.stderr.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      lines.forEach(keepStderrLine);
    });
    // A process that dies mid-line (an abort message, a crash) leaves its last words without a newline.
    subprocess.stderr.on('end', () => keepStderrLine(partial));
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
        if (parsed.success) result = parsed.data as JobResult<J>;
        else failure = new ContractError(origin, parsed.error.message);
        continue;
      }
      const progress = spec.progress.safeParse(event);
      if (progress.success) options.onProgress?.(progress.data as JobProgress<J>);
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

/**
 * The pythonia door: one long-lived Python worker that holds loaded models between calls.
 *
 * pythonia is a per-process singleton that neither reports a dead worker nor limits a call to anything but
 * 100 s by default. This wrapper adds what a training run needs: per-method
 * timeouts, rejection of every pending call when the process dies, a fresh worker on the next call, zod
 * validation of every parameter and result, Python output routed into the TS logger, and no orphan at exit.
 */

import type { ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants, mkdtempSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { logger, terminalLogLevel } from '../log.js';
import { defaultPython } from '../paths.js';
import {
  type ContractExtension,
  envelopeSchema,
  type MethodParams,
  type MethodResult,
  type MethodSpecs,
  pythonEnvironment,
  type WorkerMethod,
  workerMethods,
} from './contract.js';
import {
  BridgeError,
  ContractError,
  LAST_OUTPUT_LINES,
  ParameterError,
  PythonError,
  WorkerDiedError,
  WorkerTimeoutError,
} from './errors.js';
import { logPythonLine } from './python-log.js';

const LOG_POLL_MS = 200;
const SERVICE_MODULE = 'refine_af.service';

export interface WorkerOptions<X extends MethodSpecs = Record<never, never>> {
  /** Python interpreter with requirements.txt installed (default: the project's .venv). */
  python?: string;
  /** Per-method limits in ms, overriding the contract's defaults. */
  timeoutsMs?: Partial<Record<WorkerMethod, number>>;
  /** Python log level for the worker's logging (default: the terminal's level when the worker starts). */
  logLevel?: string;
  /** More methods, imported into the worker after service.py (the tests' diagnostics). */
  extension?: ContractExtension<X>;
}

interface Pythonia {
  python: ((module: string) => Promise<ServiceProxy>) & { exit: () => void };
  com: { proc: ChildProcess | null };
}
interface ServiceProxy {
  call$: (name: string, params: string, options: { $timeout: number }) => Promise<string>;
}

interface Pending {
  reject: (error: Error) => void;
  method: string;
}

let pythoniaModule: Pythonia | undefined;
let activeWorker: PythonWorker | undefined;

/** pythonia spawns its process when first loaded, so it is loaded only once the environment is prepared. */
function loadPythonia(): Pythonia {
  pythoniaModule ??= createRequire(import.meta.url)('pythonia') as Pythonia;
  return pythoniaModule;
}

export class PythonWorker<X extends MethodSpecs = Record<never, never>> {
  readonly python: string;
  private readonly methods: MethodSpecs;
  private readonly extensionModule: string | undefined;
  private readonly timeoutsMs: Partial<Record<WorkerMethod, number>>;
  private readonly logLevel: string | undefined;
  private service: ServiceProxy | undefined;
  private starting: Promise<ServiceProxy> | undefined;
  private process: ChildProcess | undefined;
  private readonly pending = new Set<Pending>();
  private logDir: string | undefined;
  private logOffset = 0;
  /** The worker's last lines of output, quoted when it dies. */
  private lastLines: string[] = [];
  private logTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(options: WorkerOptions<X> = {}) {
    this.python = options.python ?? defaultPython;
    this.methods = { ...workerMethods, ...options.extension?.methods };
    this.extensionModule = options.extension?.module;
    this.timeoutsMs = options.timeoutsMs ?? {};
    this.logLevel = options.logLevel;
  }

  /** The worker's process id while it runs. */
  get pid(): number | undefined {
    return this.process?.exitCode === null ? this.process.pid : undefined;
  }

  async call<M extends keyof (typeof workerMethods & X) & string>(
    name: M,
    params: MethodParams<M, typeof workerMethods & X>,
    options: { timeoutMs?: number } = {},
  ): Promise<MethodResult<M, typeof workerMethods & X>> {
    if (this.closed) throw new BridgeError(`worker.${name}: the worker was closed`);
    const origin = `worker.${name}`;
    // The types keep a caller to its worker's contract; a name from elsewhere (a cast, plain JS) is refused here.
    if (!Object.hasOwn(this.methods, name)) throw new BridgeError(`${origin}: not a method of this worker's contract`);
    const spec = this.methods[name]!;
    const checked = spec.params.safeParse(params);
    if (!checked.success) throw new ParameterError(origin, checked.error.message);
    const service = await this.start();
    const timeoutMs = options.timeoutMs ?? this.timeoutsMs[name as WorkerMethod] ?? spec.timeoutMs;
    const raw = await this.track(origin, timeoutMs, service.call$(name, JSON.stringify(checked.data), { $timeout: Infinity }));
    const envelope = envelopeSchema.safeParse(JSON.parse(raw));
    if (!envelope.success) throw new ContractError(origin, envelope.error.message);
    if (!envelope.data.ok) throw new PythonError(origin, envelope.data.error);
    const result = spec.result.safeParse(envelope.data.value);
    if (!result.success) throw new ContractError(origin, result.error.message);
    return result.data as MethodResult<M, typeof workerMethods & X>;
  }

  /** Stop the worker; pending calls are rejected. Safe to call more than once. */
  async close(): Promise<void> {
    this.closed = true;
    this.stop(new BridgeError('the worker was closed while this call was pending'));
    if (activeWorker === this) activeWorker = undefined;
  }

  private track(origin: string, timeoutMs: number, call: Promise<string>): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const entry: Pending = { reject, method: origin };
      this.pending.add(entry);
      const timer = Number.isFinite(timeoutMs)
        ? setTimeout(() => {
            this.pending.delete(entry);
            reject(new WorkerTimeoutError(origin, timeoutMs));
            // The call still runs in Python and its state is unknown: start over rather than queue behind it.
            this.stop(new BridgeError(`the worker was restarted after ${origin} timed out`));
          }, timeoutMs)
        : undefined;
      call.then(
        (value) => {
          clearTimeout(timer);
          if (this.pending.delete(entry)) resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          if (this.pending.delete(entry)) reject(error instanceof Error ? error : new BridgeError(String(error)));
        },
      );
    });
  }

  private start(): Promise<ServiceProxy> {
    if (this.service) return Promise.resolve(this.service);
    this.starting ??= this.spawn().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  private async spawn(): Promise<ServiceProxy> {
    if (activeWorker && activeWorker !== this) {
      throw new BridgeError('another PythonWorker is running in this process; close it first (pythonia allows one worker per process)');
    }
    try {
      accessSync(this.python, constants.X_OK);
    } catch {
      throw new BridgeError(
        `Python interpreter ${this.python} not found or not executable; run \`make setup\` or set bridge.python in the config`,
      );
    }
    activeWorker = this;
    this.logDir = mkdtempSync(join(tmpdir(), 'refine-af-worker-'));
    const logFile = join(this.logDir, 'worker.log');
    this.logOffset = 0;
    this.lastLines = [];
    process.env.PYTHON_BIN = this.python;
    // pythonia starts Python with this process's environment.
    Object.assign(process.env, pythonEnvironment({ logLevel: this.logLevel ?? terminalLogLevel(), logFile }));
    const pythonia = loadPythonia();
    const importing = pythonia.python(SERVICE_MODULE);
    const child = pythonia.com.proc;
    if (!child) throw new BridgeError('pythonia did not start a Python process');
    this.process = child;
    child.once('exit', (code, signal) => this.onExit(child, code, signal));
    this.logTimer = setInterval(() => this.drainLog(logFile), LOG_POLL_MS);
    this.logTimer.unref();
    const service = (await this.track(
      'worker.start',
      workerMethods.ping.timeoutMs,
      importing as unknown as Promise<string>,
    )) as unknown as ServiceProxy;
    if (this.extensionModule !== undefined) {
      // After service.py: the extension registers its methods into service.py's table.
      const extending = pythonia.python(this.extensionModule) as unknown as Promise<string>;
      await this.track('worker.start', workerMethods.ping.timeoutMs, extending);
    }
    this.service = service;
    logger.debug(`python worker started (pid ${child.pid}, ${this.python})`);
    return service;
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (child !== this.process) return;
    // A warning: the pending calls reject with WorkerDiedError, which is the one error their caller reports.
    if (this.pending.size > 0) logger.warn(`python worker (pid ${child.pid}) died: ${signal ?? `exit code ${code}`}`);
    if (this.logDir) this.drainLog(join(this.logDir, 'worker.log')); // its last words, written just before it died
    const tail = this.lastLines.join('\n');
    for (const entry of this.pending) entry.reject(new WorkerDiedError(entry.method, code, signal, tail));
    this.pending.clear();
    this.stop();
  }

  private stop(reason?: Error): void {
    const child = this.process;
    this.process = undefined;
    this.service = undefined;
    if (reason) for (const entry of this.pending) entry.reject(reason);
    this.pending.clear();
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    if (child && pythoniaModule?.com.proc === child) pythoniaModule.python.exit();
    if (this.logTimer) clearInterval(this.logTimer);
    this.logTimer = undefined;
    if (this.logDir) {
      this.drainLog(join(this.logDir, 'worker.log'));
      rmSync(this.logDir, { recursive: true, force: true });
      this.logDir = undefined;
    }
    if (activeWorker === this) activeWorker = undefined;
  }

  private drainLog(file: string): void {
    let size: number;
    try {
      size = statSync(file).size;
    } catch {
      return;
    }
    if (size <= this.logOffset) return;
    const fd = openSync(file, 'r');
    try {
      const buffer = Buffer.alloc(size - this.logOffset);
      readSync(fd, buffer, 0, buffer.length, this.logOffset);
      const text = buffer.toString('utf8');
      const complete = text.lastIndexOf('\n') + 1;
      this.logOffset += Buffer.byteLength(text.slice(0, complete));
      for (const line of text.slice(0, complete).split('\n')) {
        if (!line.trim()) continue;
        this.lastLines.push(logPythonLine(line, 'python'));
        if (this.lastLines.length > LAST_OUTPUT_LINES) this.lastLines.shift();
      }
    } finally {
      closeSync(fd);
    }
  }
}

// A Node process that exits for any reason takes its worker along; Python also watches for a dead parent.
process.once('exit', () => {
  const child = pythoniaModule?.com.proc;
  if (child && child.exitCode === null) child.kill('SIGKILL');
});

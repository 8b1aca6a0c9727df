/** Errors that come out of the bridge: values with fields, never strings to parse. */
import { RefineAfError } from '../errors.js';
import type { PythonErrorInfo } from './contract.js';

/** Anything that went wrong across the seam; the classes below say what. */
export class BridgeError extends RefineAfError {
  override name = 'BridgeError';
  readonly code: string = 'bridge';
}

/**
 * CUDA: torch.OutOfMemoryError ("CUDA out of memory"); Python: MemoryError; torch on CPU: a RuntimeError from its
 * allocator, "DefaultCPUAllocator: can't allocate memory … (Cannot allocate memory)"; Rust extensions (tokenizers): a
 * PanicException wrapping a MemoryError.
 */
function outOfMemory(info: Pick<PythonErrorInfo, 'type' | 'message'>): boolean {
  return /OutOfMemoryError|MemoryError/.test(info.type) || /out of memory|can't allocate memory|\bMemoryError\b/i.test(info.message);
}

/**
 * What a process prints as it aborts when a native allocation fails: Rust's allocation-error handler (tokenizers) and
 * C++'s std::bad_alloc. Such a process dies (SIGABRT) without raising MemoryError.
 */
const NATIVE_OUT_OF_MEMORY = /memory allocation of \d+ bytes failed|std::bad_alloc/;

/** A Python exception raised inside a worker method or job. */
export class PythonError extends BridgeError {
  override name = 'PythonError';
  override readonly code = 'python';
  readonly pythonType: string;
  readonly pythonMessage: string;
  readonly pythonTraceback: string;
  constructor(
    readonly origin: string,
    info: PythonErrorInfo,
  ) {
    super(
      `${origin} failed in Python: ${outOfMemory(info) ? 'out of memory (lower a batch size or free memory, then resume): ' : ''}${info.type}: ${info.message}`,
    );
    this.pythonType = info.type;
    this.pythonMessage = info.message;
    this.pythonTraceback = info.traceback;
  }
  /** Out-of-memory on either device, so callers can lower a batch size and resume. */
  get isOutOfMemory(): boolean {
    return outOfMemory({ type: this.pythonType, message: this.pythonMessage });
  }
}

/** Lines of a dead process's last output quoted in its WorkerDiedError. */
export const LAST_OUTPUT_LINES = 20;

/** The worker or job process ended (killed, segfault, OOM killer, a native allocation failure) while work was pending. */
export class WorkerDiedError extends BridgeError {
  override name = 'WorkerDiedError';
  override readonly code = 'worker-died';
  /** Its last output says a native allocation failed: callers can lower a batch size and resume. */
  readonly isOutOfMemory: boolean;
  constructor(
    readonly origin: string,
    readonly exitCode: number | null,
    readonly signal: string | null,
    detail = '',
  ) {
    const outOfMemory = NATIVE_OUT_OF_MEMORY.test(detail);
    super(
      `${origin}: the Python process died (${signal ? `signal ${signal}` : `exit code ${exitCode}`})` +
        (outOfMemory ? ': out of memory (lower a batch size or free memory, then resume)' : '') +
        (detail ? `; last output:\n${detail}` : '; the next call starts a fresh worker'),
    );
    this.isOutOfMemory = outOfMemory;
  }
}

/** A worker call that ran past its limit (bridge.timeouts_ms); the worker was stopped. */
export class WorkerTimeoutError extends BridgeError {
  override name = 'WorkerTimeoutError';
  override readonly code = 'worker-timeout';
  constructor(
    readonly origin: string,
    readonly timeoutMs: number,
  ) {
    super(
      `${origin} did not finish within ${timeoutMs} ms; the worker was stopped. ` +
        `Raise bridge.timeouts_ms.${origin.replace(/^worker\./, '')} in the config if this call is expected to take longer.`,
    );
  }
}

/** Python answered with something the contract does not allow: a bug on one side of the seam. */
export class ContractError extends BridgeError {
  override name = 'ContractError';
  override readonly code = 'contract';
  constructor(
    readonly origin: string,
    readonly issues: string,
  ) {
    super(`${origin} returned a value that does not match its declaration in ts/bridge/contract.ts: ${issues}`);
  }
}

/** Parameters that break a method's, job's or server's declaration in ts/bridge/contract.ts: refused before Python sees them. */
export class ParameterError extends BridgeError {
  override name = 'ParameterError';
  override readonly code = 'invalid-parameters';
  constructor(
    readonly origin: string,
    readonly issues: string,
  ) {
    super(`${origin}: invalid parameters: ${issues}`);
  }
}

/** Errors that come out of the bridge: values with fields, never strings to parse. */
import type { PythonErrorInfo } from './contract.js';

export class BridgeError extends Error {
  override name = 'BridgeError';
}

/** A Python exception raised inside a worker method or job. */
export class PythonError extends BridgeError {
  override name = 'PythonError';
  readonly pythonType: string;
  readonly pythonMessage: string;
  readonly pythonTraceback: string;
  constructor(readonly origin: string, info: PythonErrorInfo) {
    super(`${origin} failed in Python: ${info.type}: ${info.message}`);
    this.pythonType = info.type;
    this.pythonMessage = info.message;
    this.pythonTraceback = info.traceback;
  }
  /** Out-of-memory on either device, so callers can lower a batch size and resume. */
  get isOutOfMemory(): boolean {
    return /OutOfMemoryError|MemoryError/.test(this.pythonType) || /out of memory/i.test(this.pythonMessage);
  }
}

/** The worker or job process ended (killed, segfault, OOM killer) while work was pending. */
export class WorkerDiedError extends BridgeError {
  override name = 'WorkerDiedError';
  constructor(
    readonly origin: string,
    readonly exitCode: number | null,
    readonly signal: string | null,
    detail = '',
  ) {
    super(
      `${origin}: the Python process died (${signal ? `signal ${signal}` : `exit code ${exitCode}`})` +
        (detail ? `; last output:\n${detail}` : '; the next call starts a fresh worker'),
    );
  }
}

export class WorkerTimeoutError extends BridgeError {
  override name = 'WorkerTimeoutError';
  constructor(readonly origin: string, readonly timeoutMs: number) {
    super(
      `${origin} did not finish within ${timeoutMs} ms; the worker was stopped. ` +
        `Raise bridge.timeouts_ms.${origin.replace(/^worker\./, '')} in the config if this call is expected to take longer.`,
    );
  }
}

/** Python answered with something the contract does not allow: a bug on one side of the seam. */
export class ContractError extends BridgeError {
  override name = 'ContractError';
  constructor(readonly origin: string, readonly issues: string) {
    super(`${origin} returned a value that does not match its declaration in ts/bridge/contract.ts: ${issues}`);
  }
}

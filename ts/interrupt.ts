/**
 * Ctrl-C and SIGTERM stop a long run after the current unit of work (a batch, a PPO step), never in the middle of a
 * write. The first signal aborts the returned AbortSignal, which every stage checks between units; a second one exits
 * at once (state on disk is still consistent: every write is append+fsync or temp+rename).
 */

import { RefineAfError } from './errors.js';
import { logger } from './log.js';

export class InterruptedError extends RefineAfError {
  override name = 'InterruptedError';
  readonly code = 'interrupted';
}

const FORCED_EXIT_CODE = 130;

export function handleInterrupts(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onSignal = (name: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      logger.error(`${name} again: exiting now`);
      process.exit(FORCED_EXIT_CODE);
    }
    logger.warn(`${name}: stopping after the current unit of work (send it again to stop at once)`);
    controller.abort(new InterruptedError(`interrupted by ${name}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** Called by stages between units of work. */
export function throwIfInterrupted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new InterruptedError('interrupted');
}

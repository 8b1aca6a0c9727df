/** Checkpoints and resume: the newest complete checkpoint, and the logs cut back to it. */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { z } from 'zod';
import { POLICY_CHECKPOINT_MARKER, policyCheckpointMarkerSchema } from '../../bridge/contract.js';
import { readJsonIfExists, readJsonl, writeFileAtomic } from '../../io/files.js';
import { logger } from '../../log.js';
import { RunConflictError } from '../ledger.js';
import type { RlafPaths } from './paths.js';
import { type RlafStepRecord, type RolloutRecord, rlafStepRecordSchema, rolloutRecordSchema } from './records.js';

/** The newest checkpoint that has its completion marker (a save cut short has none and is ignored). */
export function latestCheckpoint(checkpoints: string): { dir: string; step: number } | undefined {
  if (!existsSync(checkpoints)) return undefined;
  const complete = readdirSync(checkpoints)
    .filter((name) => /^step-\d+$/.test(name))
    .flatMap((name) => {
      const marker = readJsonIfExists(join(checkpoints, name, POLICY_CHECKPOINT_MARKER), policyCheckpointMarkerSchema);
      return marker ? [{ dir: join(checkpoints, name), step: marker.step }] : [];
    });
  return complete.sort((a, b) => b.step - a.step)[0];
}

/** Keep the log lines of steps up to the checkpoint and drop the rest: those steps run again from the checkpoint. */
export function reconcileLogs(paths: RlafPaths, checkpointStep: number): { history: RlafStepRecord[]; rollouts: RolloutRecord[] } {
  const keep = <T extends { step: number }>(file: string, schema: z.ZodType<T>): T[] => {
    const records = readJsonl(file, schema, { repairTornTail: true });
    const kept = records.filter((r) => r.step <= checkpointStep);
    if (kept.length !== records.length) {
      writeFileAtomic(file, kept.map((r) => `${JSON.stringify(r)}\n`).join(''));
      logger.info(`rlaf: dropped ${records.length - kept.length} lines of ${file} written after the checkpoint at step ${checkpointStep}`);
    }
    return kept;
  };
  const rollouts = keep(paths.rollouts, rolloutRecordSchema);
  const history = keep(paths.metrics, rlafStepRecordSchema);
  const steps = history.map((r) => r.step);
  if (steps.some((s, i) => s !== i + 1) || steps.length !== checkpointStep) {
    throw new RunConflictError(
      `${paths.metrics} does not hold steps 1…${checkpointStep} in order (found ${steps.length} lines): it belongs to another run`,
    );
  }
  return { history, rollouts };
}

/**
 * The step ledger: how `refine-af run` (run.json, one entry per stage), `refine-af repro` (repro.json, one per step) and
 * each fine-tuning (its directory's ledger.json) decide what to do with work that may already be done.
 *
 *   hash the step's inputs → complete under the same hash: skip → made from other inputs: refuse, or with --force
 *   discard its outputs (and those of the steps built on it) → interrupted: refuse, or continue with --resume (start
 *   over with --force) → no entry, but outputs there (the step's own command made them): continue them → record
 *   "running" → work → record "complete" with its artifacts.
 *
 * Every write replaces the file atomically, so a crash leaves the entry as it was before or after, never torn.
 */
import { createHash } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { z } from 'zod';
import { workerMethods } from '../bridge/contract.js';
import { RefineAfError } from '../errors.js';
import { throwIfInterrupted } from '../interrupt.js';
import { readJsonIfExists, writeJsonAtomic } from '../io/files.js';
import { logger } from '../log.js';

export const ledgerEntrySchema = z.strictObject({
  hash: z.string(),
  status: z.enum(['running', 'complete']),
  artifacts: z.record(z.string(), z.string()),
  /** When the step's work (last) started: with updated_at of a complete step, how long it took (absent in older ledgers). */
  started_at: z.string().optional(),
  /** What the worker held at the end of a pipeline stage and after its release; null when no worker process ran. */
  release: workerMethods.release_models.result.nullable().optional(),
  updated_at: z.string(),
});
export type LedgerEntry = z.infer<typeof ledgerEntrySchema>;

/** The file's one key that holds the entries: run.json says `stages` (runs made before the ledger keep working). */
export type LedgerCollection = 'stages' | 'steps';

const ledgerFileSchema = (collection: LedgerCollection) => z.strictObject({ [collection]: z.record(z.string(), ledgerEntrySchema) });

/** A refusal: work of other inputs in the way without --force, or an interrupted step without --resume. */
export class RunConflictError extends RefineAfError {
  override name = 'RunConflictError';
  readonly code = 'run-conflict';
}

/** A step another one builds on is not complete. */
export class RunIncompleteError extends RefineAfError {
  override name = 'RunIncompleteError';
  readonly code = 'run-incomplete';
}

export function hashOf(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}

/** The entries of a ledger file, or none when there is no file; artifact paths as the working directory reaches them. */
export function readLedger(file: string, collection: LedgerCollection): Record<string, LedgerEntry> {
  const entries = readJsonIfExists(file, ledgerFileSchema(collection))?.[collection] ?? {};
  return mapArtifacts(entries, (path) => (/^\.\.?\//.test(path) ? join(dirname(file), path) : path));
}

/**
 * Write the entries, each artifact path recorded relative to the ledger's directory ("./…", "../…"), so that a copied
 * run directory names its own files. Paths recorded by older versions (absolute, or from the working directory) are
 * read as they are.
 */
function writeLedger(file: string, collection: LedgerCollection, entries: Record<string, LedgerEntry>): void {
  const recorded = mapArtifacts(entries, (path) => {
    const fromLedger = relative(dirname(file), resolve(path));
    return fromLedger.startsWith('..') ? fromLedger : `./${fromLedger}`;
  });
  writeJsonAtomic(file, { [collection]: recorded });
}

function mapArtifacts(entries: Record<string, LedgerEntry>, map: (path: string) => string): Record<string, LedgerEntry> {
  return Object.fromEntries(
    Object.entries(entries).map(([name, entry]) => [
      name,
      { ...entry, artifacts: Object.fromEntries(Object.entries(entry.artifacts).map(([key, path]) => [key, map(path)])) },
    ]),
  );
}

/** The artifacts of each named step, or a refusal naming the first that is not complete and how to finish it. */
export function completedSteps(
  file: string,
  collection: LedgerCollection,
  names: readonly string[],
  finish: string,
): Record<string, LedgerEntry> {
  const entries = readLedger(file, collection);
  for (const name of names) {
    if (entries[name]?.status !== 'complete') throw new RunIncompleteError(`${file}: ${name} is not complete; ${finish}`);
  }
  return entries;
}

export interface LedgerOptions {
  /** Continue a step that was interrupted (crash, Ctrl-C) under the same inputs. */
  resume?: boolean;
  /** Discard the outputs of a step whose inputs changed, or of an interrupted one, and redo it. */
  force?: boolean;
  /** Checked before a step starts and after its work; an interrupted step stays "running". */
  signal?: AbortSignal;
}

export interface LedgerStep {
  name: string;
  /** Everything the step's outputs depend on; its hash is the step's identity. */
  inputs: unknown;
  /** Files and directories the step writes: what --force removes. */
  outputs: readonly string[];
  /** Steps of this ledger built on this one: discarded with it by --force, so nothing of the old inputs survives. */
  dependents?: readonly { name: string; outputs: readonly string[] }[];
}

export interface StepWork {
  artifacts: Record<string, string>;
  release?: LedgerEntry['release'];
}

export interface StepOutcome {
  hash: string;
  outcome: 'ran' | 'skipped (already complete)';
  artifacts: Record<string, string>;
}

export class Ledger {
  private readonly entries: Record<string, LedgerEntry>;
  /** What happened to each step run through this ledger, in order. */
  readonly outcomes: { step: string; outcome: StepOutcome['outcome'] }[] = [];

  /** `label` prefixes the log lines ("repro superni/base: …"); empty for the pipeline's stages. */
  constructor(
    readonly file: string,
    private readonly collection: LedgerCollection,
    private readonly options: LedgerOptions,
    private readonly label = '',
  ) {
    this.entries = readLedger(file, collection);
  }

  /** Long steps check it between batches (Ctrl-C). */
  get signal(): AbortSignal | undefined {
    return this.options.signal;
  }

  /** Run `work` for `step` unless it is complete under the same inputs; `resume` tells it to continue what is there. */
  async run(step: LedgerStep, work: (resume: boolean) => Promise<StepWork>): Promise<StepOutcome> {
    throwIfInterrupted(this.options.signal);
    const hash = hashOf(step.inputs);
    const name = `${this.label}${step.name}`;
    const entry = this.entries[step.name];
    if (entry?.hash === hash && entry.status === 'complete') {
      logger.info(`${name}: complete for these inputs, skipped`);
      this.outcomes.push({ step: step.name, outcome: 'skipped (already complete)' });
      return { hash, outcome: 'skipped (already complete)', artifacts: entry.artifacts };
    }
    if (entry !== undefined && (entry.hash !== hash || !this.options.resume)) {
      if (!this.options.force) {
        throw new RunConflictError(
          entry.hash !== hash
            ? `${this.file}: step ${step.name} was made from other inputs (recorded ${entry.hash}, now ${hash}: another config, an engine that ` +
                `backend auto resolved differently on this machine, or a step it builds on was redone); pass --force to redo it (discarding its outputs${step.dependents?.length ? ' and those of every step built on it' : ''})`
            : `${this.file}: step ${step.name} was interrupted; pass --resume to continue it, or --force to start it over`,
        );
      }
      this.discard([step, ...(step.dependents ?? [])]);
    }
    // Outputs without an entry were made by the step's own command (a stage run by hand): the step continues them, and
    // its own record (a snapshot, settings.json, a checkpoint, a fine-tuning's ledger) refuses what other settings made.
    const byHand = entry === undefined && step.outputs.some((path) => existsSync(path));
    if (byHand) logger.info(`${name}: its outputs exist without an entry in ${this.file} (made by its own command): continuing them`);
    const resume = byHand || this.entries[step.name]?.status === 'running';
    const startedAt = new Date().toISOString();
    this.save(step.name, { hash, status: 'running', artifacts: {}, started_at: startedAt, updated_at: startedAt });
    logger.info(`${name}: ${resume ? 'resuming' : 'starting'}`);
    const { artifacts, release } = await work(resume);
    throwIfInterrupted(this.options.signal);
    this.save(step.name, {
      hash,
      status: 'complete',
      artifacts,
      started_at: startedAt,
      ...(release === undefined ? {} : { release }),
      updated_at: new Date().toISOString(),
    });
    this.outcomes.push({ step: step.name, outcome: 'ran' });
    return { hash, outcome: 'ran', artifacts };
  }

  private discard(steps: readonly { name: string; outputs: readonly string[] }[]): void {
    for (const { name, outputs } of steps) {
      for (const path of outputs) rmSync(path, { recursive: true, force: true });
      if (this.entries[name] === undefined) continue;
      delete this.entries[name];
      logger.warn(`${this.label}${name}: --force: discarded what other inputs made`);
    }
    writeLedger(this.file, this.collection, this.entries);
  }

  private save(name: string, entry: LedgerEntry): void {
    this.entries[name] = entry;
    writeLedger(this.file, this.collection, this.entries);
  }
}

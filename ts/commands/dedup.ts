/** `refine-af dedup`: the novelty filter alone, from instruction files to a decision file. */
import { z } from 'zod';
import { readJsonl, writeFileAtomic } from '../io/files.js';
import { type DedupOptions, type DedupRecord, dedupInstructions } from '../rouge/dedup.js';

/** Any JSON object with a string `instruction`; other fields are allowed and ignored. */
const instructionLine = z.looseObject({ instruction: z.string() });

export interface DedupFilesOptions extends DedupOptions {
  pool: string;
  candidates: string;
  out: string;
}

export interface DedupSummary {
  pool: number;
  candidates: number;
  kept: number;
}

/** Read both files (a malformed line fails with its file and line), decide every candidate, write all records at once. */
export function dedupFiles(options: DedupFilesOptions): DedupSummary {
  const pool = readJsonl(options.pool, instructionLine).map((r) => r.instruction);
  const candidates = readJsonl(options.candidates, instructionLine).map((r) => r.instruction);
  const records: DedupRecord[] = [...dedupInstructions(pool, candidates, options)];
  writeFileAtomic(options.out, records.map((r) => `${JSON.stringify(r)}\n`).join(''));
  return { pool: pool.length, candidates: candidates.length, kept: records.filter((r) => r.kept).length };
}

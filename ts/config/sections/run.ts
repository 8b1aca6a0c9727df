/** The `run` section of the config; ts/config/schema.ts assembles the sections into the one schema. */
import { z } from 'zod';
import { ours } from '../provenance.js';

export const runSection = z
  .strictObject({
    dir: z
      .string()
      .default('runs/default')
      .describe('Run directory: every artifact, checkpoint and log of the run goes here.')
      .meta(ours('one directory per run; the paper names none')),
    seed: z
      .number()
      .int()
      .default(42)
      .describe('Seed for every random choice (sampling, shuffling, decoding), so a run is reproducible.')
      .meta(ours('any fixed seed makes a run reproducible; the paper states none')),
  })
  .describe('Where a run writes and how it is seeded.');

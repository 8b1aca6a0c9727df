/** The `bridge` section of the config; ts/config/schema.ts assembles the sections into the one schema. */
import { z } from 'zod';
import { type WorkerMethod, workerMethods } from '../../bridge/contract.js';
import { ours } from '../provenance.js';

export const bridgeSection = z
  .strictObject({
    python: z
      .string()
      .optional()
      .describe('Python interpreter of the worker and jobs (default: the project .venv made by `make setup`).')
      .meta(ours('the project .venv that make setup builds')),
    timeouts_ms: z
      .partialRecord(z.enum(Object.keys(workerMethods) as [WorkerMethod, ...WorkerMethod[]]), z.number().positive())
      .default({})
      .describe(
        'Per-method call limits in ms, e.g. {generate: 14400000}; unlisted methods use the defaults in ts/bridge/contract.ts; a name that is not a worker method is an error.',
      )
      .meta(ours("per-method limits of ts/bridge/contract.ts, sized for the paper's models")),
    job_launcher: z
      .array(z.string())
      .default([])
      .describe('Command prefix for batch jobs, e.g. ["accelerate", "launch", "--num_processes", "4"]; empty runs the interpreter.')
      .meta(ours('one process; a launcher only for several GPUs')),
  })
  .describe('The TS↔Python seam.');

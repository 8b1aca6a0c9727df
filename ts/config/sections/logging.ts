/** The `logging` section of the config; ts/config/schema.ts assembles the sections into the one schema. */
import { z } from 'zod';
import { LOG_LEVELS } from '../../log.js';
import { ours } from '../provenance.js';

export const loggingSection = z
  .strictObject({
    level: z
      .enum(LOG_LEVELS)
      .default('info')
      .describe('Log level (env REFINE_AF_LOG_LEVEL overrides).')
      .meta(ours('progress and warnings, not debug detail')),
    file: z
      .string()
      .default('refine-af.log')
      .describe('JSON-lines log file, relative to the run directory.')
      .meta(ours("beside the run's artifacts")),
  })
  .describe('Logging.');

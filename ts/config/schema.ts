/**
 * The one configuration schema. Every hyperparameter is a field with a type, a default, a sentence saying what it
 * does and, as `.meta(paper(…) | library(…) | ours(…))`, where its default comes from (ts/config/provenance.ts):
 * the paper's values (REFINE-AF, §II and §III-A) wherever the paper gives one. Objects are strict: an unknown key
 * (a typo) is an error, never silently ignored. Each section is defined in its own file under ts/config/sections/
 * (the fields several share in ts/config/fields.ts); this module assembles them in the order the reference prints.
 */
import { z } from 'zod';
import { bridgeSection } from './sections/bridge.js';
import { evalSection } from './sections/eval.js';
import { feedbackSection } from './sections/feedback.js';
import { humanEvalSection } from './sections/human-eval.js';
import { instancesSection } from './sections/instances.js';
import { instructionsSection } from './sections/instructions.js';
import { loggingSection } from './sections/logging.js';
import { modelsSection } from './sections/models.js';
import { openaiSection } from './sections/openai.js';
import { pipelineSection } from './sections/pipeline.js';
import { rlafSection } from './sections/rlaf.js';
import { runSection } from './sections/run.js';
import { serverSection } from './sections/server.js';
import { sftSection } from './sections/sft.js';
import { statsSection } from './sections/stats.js';

export { EMBEDDED_DEFAULT_MODEL, GENERATION_BACKENDS } from './fields.js';

export const configSchema = z
  .strictObject({
    run: runSection.prefault({}),
    models: modelsSection.prefault({}),
    bridge: bridgeSection.prefault({}),
    logging: loggingSection.prefault({}),
    human_eval: humanEvalSection.prefault({}),
    openai: openaiSection.prefault({}),
    server: serverSection.prefault({}),
    instructions: instructionsSection.prefault({}),
    eval: evalSection.prefault({}),
    stats: statsSection.prefault({}),
    feedback: feedbackSection.prefault({}),
    rlaf: rlafSection.prefault({}),
    pipeline: pipelineSection.prefault({}),
    instances: instancesSection.prefault({}),
    sft: sftSection.prefault({}),
  })
  .describe('A refine-af configuration.');

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

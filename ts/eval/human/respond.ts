/**
 * A system's responses to the user-oriented instructions (§V-B), as a run file for the rating app:
 * load the instructions → skip the ids already in the run file → prompt the model (base + adapter) in batches, greedy →
 * append each batch ({"id", "response"} lines, the format of responses.ts) before the next, so a crash loses at most
 * the batch in flight and a rerun continues where it stopped.
 */
import { z } from 'zod';
import { resolveBackends } from '../../backends/engine.js';
import { stageBackendSpec, withStageBackend, withWorker } from '../../backends/from-config.js';
import type { GenerationBackend } from '../../backends/types.js';
import { GREEDY } from '../../bridge/contract.js';
import type { Config } from '../../config/schema.js';
import { throwIfInterrupted } from '../../interrupt.js';
import { appendJsonl, readJsonl } from '../../io/files.js';
import { logger } from '../../log.js';
import { startProgress } from '../../progress.js';
import { sftModelTemplates, sftPrompt, sftPromptTemplates } from '../../stages/sft.js';
import { type Instruction, loadInstructions } from './responses.js';

const runLineSchema = z.object({ id: z.string(), response: z.string() });

/**
 * How a model is asked one instruction: a model made by our SFT with the templates it was trained with (recorded beside it,
 * as evaluation does); any other model with the config's sft templates (Alpaca's by default: the paper names no prompt
 * for the user-oriented instructions).
 */
export function userOrientedPrompt(config: Config, model: string, adapter?: string): (instruction: Instruction) => string {
  const sft = sftModelTemplates(model, adapter);
  const templates = sft?.templates ?? sftPromptTemplates(config.sft);
  const source = sft?.record ?? 'sft prompt template';
  return (instruction) => sftPrompt(templates, { instruction: instruction.instruction, input: instruction.input }, source);
}

export interface RespondOptions {
  backend: GenerationBackend;
  /** The model and adapter the backend serves: they choose the prompt. */
  model: string;
  adapter?: string;
  /** The run file to write (appended; a torn last line from a crash is dropped first). */
  out: string;
  /** Default: the 252 user-oriented instructions in seeds/. */
  instructions?: string;
  signal?: AbortSignal;
}

/** Answer every instruction not yet in `out`; returns how many the file holds at the end. */
export async function generateResponses(config: Config, options: RespondOptions): Promise<{ out: string; responses: number }> {
  const instructions = loadInstructions(options.instructions);
  const done = new Set(readJsonl(options.out, runLineSchema, { repairTornTail: true }).map((line) => line.id));
  const pending = instructions.filter((i) => !done.has(i.id));
  const prompt = userOrientedPrompt(config, options.model, options.adapter);
  if (done.size > 0) logger.info(`user-oriented responses: resuming, ${done.size} of ${instructions.length} already in ${options.out}`);
  const batchSize = config.eval.batch_size;
  const progress = startProgress('user-oriented responses', instructions.length, done.size);
  try {
    for (let start = 0; start < pending.length; start += batchSize) {
      throwIfInterrupted(options.signal);
      const batch = pending.slice(start, start + batchSize);
      const completions = await options.backend.generate({
        prompts: batch.map(prompt),
        seed: config.run.seed,
        decoding: { ...GREEDY, stop: [], prompt_format: 'raw', ...config.human_eval.decoding },
      });
      appendJsonl(
        options.out,
        batch.map((instruction, i) => ({ id: instruction.id, response: completions[i]!.text })),
      );
      progress.update(done.size + start + batch.length);
    }
  } finally {
    progress.stop();
  }
  return { out: options.out, responses: instructions.length };
}

/** Load `model` (plus `adapter`) on human_eval.backend with a worker of its own and answer the instructions; all is closed afterwards. */
export function generateResponsesWithModel(
  config: Config,
  options: Omit<RespondOptions, 'backend'>,
): Promise<{ out: string; responses: number }> {
  return withWorker(config, async (worker) => {
    const resolved = await resolveBackends(config, worker);
    return withStageBackend(
      resolved,
      stageBackendSpec(resolved, 'responses', {
        worker,
        handle: 'user-oriented',
        model: options.model,
        adapter: options.adapter,
        signal: options.signal,
      }),
      (backend) => generateResponses(resolved, { ...options, backend }),
    );
  });
}

/** `refine-af doctor`: is this machine ready for a config? */
import { withWorker } from '../backends/from-config.js';
import type { ResolvedModel } from '../bridge/contract.js';
import type { Config } from '../config/schema.js';

/** Is this machine ready for a config: worker, torch/CUDA, and every model the config uses (generator, feedback) resolvable? */
export function doctor(config: Config) {
  return withWorker(config, async (worker) => {
    const python = await worker.call('ping', {});
    const refs: Record<string, string> = { generator: config.models.generator };
    const backends = Object.values(config.feedback.backends);
    if (backends.includes('reward_model')) refs.reward_model = config.feedback.reward_model;
    if (backends.includes('unieval')) refs.unieval = config.feedback.unieval;
    if (backends.includes('judge')) refs.judge = config.feedback.judge;
    const models: Record<string, ResolvedModel> = {};
    for (const [role, ref] of Object.entries(refs)) models[role] = await worker.call('resolve_model', { ref });
    return { python, models };
  });
}

/** How a stage loads the generator: the models section's dtype and device, and that stage's own 4-bit setting. */
import type { z } from 'zod';
import type { modelLoadingSchema } from '../bridge/contract.js';
import type { Config } from './schema.js';

export type QuantizedStage = keyof Config['models']['load_in_4bit'];
export type ModelLoading = z.infer<typeof modelLoadingSchema>;

export function modelLoading(models: Config['models'], stage: QuantizedStage): ModelLoading {
  return { dtype: models.dtype, load_in_4bit: models.load_in_4bit[stage], device: models.device };
}

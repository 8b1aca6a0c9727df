/**
 * Where each config default comes from, attached to every leaf key of the schema as `.meta({ source })`: the paper
 * (with its section), a library's default or another project's published value (named), or our own choice (with why).
 * `refine-af config reference` prints it; a test walks the schema and fails on a key without one.
 */
import { z } from 'zod';

export const sourceSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('paper'), section: z.string().min(1) }),
  z.strictObject({ kind: z.literal('library'), library: z.string().min(1) }),
  z.strictObject({ kind: z.literal('ours'), why: z.string().min(1) }),
]);
export type Source = z.infer<typeof sourceSchema>;

/** The REFINE-AF paper's value: `section` is where it says so, e.g. "§III-A" or "Table V". */
export const paper = (section: string): { source: Source } => ({ source: { kind: 'paper', section } });
/** A library's default or another project's value, e.g. "TRL 0.11 PPOConfig default", "Self-Instruct". */
export const library = (library: string): { source: Source } => ({ source: { kind: 'library', library } });
/** Our choice, and why. */
export const ours = (why: string): { source: Source } => ({ source: { kind: 'ours', why } });

export function sourceText(source: Source): string {
  switch (source.kind) {
    case 'paper':
      return `paper ${source.section}`;
    case 'library':
      return `library: ${source.library}`;
    case 'ours':
      return `ours: ${source.why}`;
  }
}

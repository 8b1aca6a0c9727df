/**
 * A seeded, realistic stand-in for 15,000 machine-generated instructions (we have no real ones): recombinations
 * and perturbations of the 175 seed and 252 user-oriented instructions, with a controlled share of near-duplicates.
 *  - 25% near-duplicates: a seed, user-oriented or earlier candidate with 1–3 small edits (drop, swap, replace a word,
 *    change case or punctuation) — what a model that copies its in-context examples produces;
 *  - 65% recombinations: the first part of one instruction joined to the last part of another, then 15–40% of the
 *    words replaced by words drawn from the whole corpus — new tasks phrased in the corpus's language;
 *  - 10% two instructions run together (long candidates, over 32 tokens, exercise the multi-word bit-vectors).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { packageRoot } from '../ts/paths.js';
import { Random } from '../ts/random.js';

export const NEAR_DUPLICATE_SHARE = 0.25;
export const LONG_SHARE = 0.1;

function instructionsOf(file: string): string[] {
  return readFileSync(resolve(packageRoot, 'seeds', file), 'utf8')
    .trim()
    .split('\n')
    .map((line) => (JSON.parse(line) as { instruction: string }).instruction);
}

export function seedInstructions(): string[] {
  return instructionsOf('seed_tasks.jsonl');
}

export function makeCandidates(count: number, seed: number): string[] {
  const random = new Random(seed);
  const sources = [...seedInstructions(), ...instructionsOf('user_oriented_instructions.jsonl')];
  const vocabulary = sources.flatMap((s) => s.split(/\s+/));
  const pick = <T>(items: readonly T[]) => items[random.int(items.length)]!;
  const words = (text: string) => text.split(/\s+/).filter(Boolean);
  const candidates: string[] = [];

  const nearDuplicate = (text: string) => {
    const w = words(text);
    const edits = 1 + random.int(3);
    for (let e = 0; e < edits && w.length > 2; e++) {
      const at = random.int(w.length);
      switch (random.int(4)) {
        case 0:
          w.splice(at, 1);
          break;
        case 1:
          if (at + 1 < w.length) [w[at], w[at + 1]] = [w[at + 1]!, w[at]!];
          break;
        case 2:
          w[at] = pick(vocabulary);
          break;
        default:
          w[at] = random.int(2) ? w[at]!.toUpperCase() : `${w[at]},`;
      }
    }
    return w.join(' ');
  };

  const recombination = () => {
    const a = words(pick(sources));
    const b = words(pick(sources));
    const w = [
      ...a.slice(0, 1 + random.int(Math.max(1, Math.ceil(a.length / 2)))),
      ...b.slice(random.int(Math.max(1, Math.floor(b.length / 2)))),
    ];
    const share = 0.15 + 0.25 * (random.nextUint32() / 2 ** 32);
    for (let i = 1; i < w.length; i++) if (random.nextUint32() / 2 ** 32 < share) w[i] = pick(vocabulary);
    return w.join(' ');
  };

  for (let i = 0; i < count; i++) {
    const r = random.nextUint32() / 2 ** 32;
    if (r < NEAR_DUPLICATE_SHARE) candidates.push(nearDuplicate(candidates.length > 0 && random.int(2) ? pick(candidates) : pick(sources)));
    else if (r < NEAR_DUPLICATE_SHARE + LONG_SHARE) candidates.push(`${pick(sources)} ${recombination()}`);
    else candidates.push(recombination());
  }
  return candidates;
}

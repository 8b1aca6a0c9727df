/** Property tests of stage 1's parser of model output: any completion parses without throwing, and numbered tasks round-trip. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../ts/config/load.js';
import { parseCompletion, REJECTION_REASONS, rejectionReason } from '../../ts/stages/instructions/postprocess.js';

const finishReason = fc.constantFrom('stop' as const, 'eos' as const, 'length' as const);
/** Text shaped like model output: task headers, blank lines, digits, punctuation and arbitrary Unicode mixed. */
const modelText = fc
  .array(
    fc.oneof(
      fc.string({ unit: 'grapheme' }),
      fc.constantFrom('\n', '\n\n', 'Task 10:', '\nTask 11.', '\n12)', ' 3-', 'TASK #4 -', '\t', '\r\n'),
    ),
    { maxLength: 30 },
  )
  .map((parts) => parts.join(''));
const filters = parseConfig({}).instructions;

describe('stage 1 completion parser (property-based)', () => {
  it('never throws, and yields single-line trimmed instructions whose only rejection is truncation of the last one', () => {
    fc.assert(
      fc.property(modelText, finishReason, (text, finish_reason) => {
        const parsed = parseCompletion({ text, finish_reason });
        expect(parsed.length).toBeGreaterThanOrEqual(1);
        parsed.forEach((p, i) => {
          expect(p.instruction).toBe(p.instruction.trim());
          expect(p.instruction).not.toMatch(/\s\s|\n/);
          expect(p.rejected).toBe(finish_reason === 'length' && i === parsed.length - 1 ? 'truncated' : undefined);
        });
      }),
      { numRuns: 2000 },
    );
  });

  it('recovers every numbered task of a well-formed completion, in order', () => {
    const word = fc.stringMatching(/^[A-Za-z][a-z]{0,8}$/);
    const instruction = fc.array(word, { minLength: 1, maxLength: 12 }).map((words) => words.join(' '));
    fc.assert(
      fc.property(fc.array(instruction, { minLength: 1, maxLength: 6 }), fc.integer({ min: 9, max: 40 }), (tasks, first) => {
        const text = ` ${tasks.map((t, i) => (i === 0 ? t : `Task ${first + i}: ${t}`)).join('\n')}`;
        expect(parseCompletion({ text, finish_reason: 'stop' }).map((p) => p.instruction)).toEqual(tasks);
      }),
    );
  });

  it('the filters give every parsed instruction a known reason or none, and never throw', () => {
    fc.assert(
      fc.property(modelText, (text) => {
        for (const { instruction } of parseCompletion({ text, finish_reason: 'stop' })) {
          const reason = rejectionReason(instruction, filters);
          if (reason !== undefined) expect(REJECTION_REASONS).toContain(reason);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

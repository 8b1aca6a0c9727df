import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadTemplate } from '../../ts/prompts/render.js';
import { type ParsedInstance, parseInstances } from '../../ts/stages/instances/parser.js';

describe('parseInstances on the shapes the Table VII prompt invites', () => {
  it('reads a direct output with no input, keeping a multi-line output whole', () => {
    const text = '\nOutput:\n- Lying Leg Raises\n- Plank\n- Side Plank\n';
    expect(parseInstances(text)).toEqual([{ input: '', output: '- Lying Leg Raises\n- Plank\n- Side Plank' }]);
  });

  it('reads a one-line direct output', () => {
    expect(parseInstances(' Output: 85°F = 29.44°C')).toEqual([{ input: '', output: '85°F = 29.44°C' }]);
  });

  it('keeps a named input field label and makes one instance per example', () => {
    const text = [
      '',
      'Example 1',
      'Sentence: This house is surprisingly not constructed very well.',
      'Output: This house does not seem to be constructed well.',
      'Example 2',
      'Sentence: Just so you know, we did an experiment last week.',
      'Output: Our experiments last week demonstrated surprising results.',
    ].join('\n');
    expect(parseInstances(text)).toEqual([
      {
        input: 'Sentence: This house is surprisingly not constructed very well.',
        output: 'This house does not seem to be constructed well.',
      },
      {
        input: 'Sentence: Just so you know, we did an experiment last week.',
        output: 'Our experiments last week demonstrated surprising results.',
      },
    ]);
  });

  it('strips the generic "Input N -" label but keeps the named field after it', () => {
    const text = 'Example 1\nList: [10, 92, 2]\nOutput: [2, 10, 92]\nExample 2\nInput 2 - List: [9.99, 10, -5]\nOutput: [-5, 9.99, 10]';
    expect(parseInstances(text)).toEqual([
      { input: 'List: [10, 92, 2]', output: '[2, 10, 92]' },
      { input: 'List: [9.99, 10, -5]', output: '[-5, 9.99, 10]' },
    ]);
  });

  it('strips a bare "Input:" label', () => {
    expect(parseInstances('Example 1:\nInput: hello world\nOutput: world hello')).toEqual([
      { input: 'hello world', output: 'world hello' },
    ]);
  });

  it('cuts at a new "Task:" the model goes on to invent', () => {
    const text = '\nExample 1\nParagraph: Dr. No lives in Jamaica.\nOutput: Jamaica\nTask: Name three colours.\nOutput: red, green, blue';
    expect(parseInstances(text)).toEqual([{ input: 'Paragraph: Dr. No lives in Jamaica.', output: 'Jamaica' }]);
  });

  it('cuts at an end-of-text token and ignores the junk after it', () => {
    expect(parseInstances('Output: 42</s>\nOutput: junk')).toEqual([{ input: '', output: '42' }]);
    expect(parseInstances('Output: 42<|endoftext|>Example 1\nOutput: junk')).toEqual([{ input: '', output: '42' }]);
  });

  it('splits several pairs without Example headers at the repeated field label', () => {
    const text = 'Sentence: i has a apple\nOutput: I have an apple.\nSentence: she go home\nOutput: She goes home.\n';
    expect(parseInstances(text)).toEqual([
      { input: 'Sentence: i has a apple', output: 'I have an apple.' },
      { input: 'Sentence: she go home', output: 'She goes home.' },
    ]);
  });

  it('reads numbered markers "Input 1:" / "Output 1:" in one block', () => {
    const text = 'Input 1: 3 + 4\nOutput 1: 7\nInput 2: 10 - 2\nOutput 2: 8';
    expect(parseInstances(text)).toEqual([
      { input: '3 + 4', output: '7' },
      { input: '10 - 2', output: '8' },
    ]);
  });

  it('reads an input and output on one line', () => {
    expect(parseInstances('Example 1\nWord: cat Output: animal')).toEqual([{ input: 'Word: cat', output: 'animal' }]);
  });

  it('reads content on the Example header line', () => {
    expect(parseInstances('Example 1: Number: 4\nOutput: even\nExample 2 - Number: 7\nOutput: odd')).toEqual([
      { input: 'Number: 4', output: 'even' },
      { input: 'Number: 7', output: 'odd' },
    ]);
  });

  it('keeps multi-field inputs and multi-line outputs of an example together', () => {
    const text = 'Example 1\nSentence 1: The cat sat.\nSentence 2: A cat was sitting.\nOutput:\nYes.\nBoth say the cat sat.\n\nExample 2\n';
    expect(parseInstances(text)).toEqual([
      { input: 'Sentence 1: The cat sat.\nSentence 2: A cat was sitting.', output: 'Yes.\nBoth say the cat sat.' },
    ]);
  });

  it('returns an empty output (for the stage to count) and drops a block without any output', () => {
    const text = 'Example 1\nList: [1]\nOutput:\nExample 2\nList: [3, 1, 2';
    expect(parseInstances(text)).toEqual([{ input: 'List: [1]', output: '' }]);
  });

  it('returns nothing for text with no output at all', () => {
    expect(parseInstances('')).toEqual([]);
    expect(parseInstances('I am not sure what you mean.')).toEqual([]);
    expect(parseInstances('Task: another task\nOutput: cut away')).toEqual([]);
  });

  it('does not take "Examples" or "example" inside a sentence for a header', () => {
    expect(parseInstances('Output: Examples of fruit: apple, pear.\nFor example 1 apple.')).toEqual([
      { input: '', output: 'Examples of fruit: apple, pear.\nFor example 1 apple.' },
    ]);
  });
});

describe('parseInstances on completions of the full Self-Instruct prompt', () => {
  // Each demonstration of the prompt, after its "Task: <instruction>" line, is what a completion looks like; the stop at
  // "Task:" leaves the blank line that separates demonstrations at the end.
  const demonstrations = loadTemplate('instance_generation_input_first.txt')
    .split(/^Task: /m)
    .slice(1, -1)
    .map((block) => ({ instruction: block.slice(0, block.indexOf('\n')).trim(), completion: block.slice(block.indexOf('\n')) }));

  it('reads every one of the eleven demonstrations into as many instances as it shows', () => {
    expect(demonstrations.map(({ instruction, completion }) => [instruction.slice(0, 30), parseInstances(completion).length])).toEqual([
      ['Which exercises are best for r', 1],
      ['Extract all the country names ', 1],
      ['Converting 85 F to Celsius.', 1],
      ['Sort the given list ascendingl', 2],
      ['Suggest a better and more prof', 2],
      ['Read the following paragraph a', 1],
      ['Write Python code to solve thi', 1],
      ['Solve the equation and find th', 2],
      ['Write a program to compute the', 1],
      ['Select the oldest person from ', 2],
      ['Turn down a job offer by sendi', 1],
    ]);
  });

  it('keeps a two-field input together and a multi-line calculation whole (the math demonstration)', () => {
    const math = demonstrations[5]!;
    const [instance] = parseInstances(math.completion);
    expect(instance!.input).toMatch(
      /^Paragraph: Gun violence .* with a firearm\.\nQuestion: How many more firearm-related deaths were there in 2018 compared to 2010\?$/s,
    );
    expect(instance!.output).toBe(
      '38390 - (19392 + 11078) = 38390 - 30470 = 7920. \nSo, in 2018, there were 7920 more deaths by firearm than in 2010.',
    );
  });

  it('keeps code with its indentation and blank lines as one output', () => {
    const completion =
      '\nExample 1\nProblem: Reverse a string.\nOutput:\ndef reverse(s):\n    return s[::-1]\n\n\nprint(reverse("abc"))\n\n';
    expect(parseInstances(completion)).toEqual([
      { input: 'Problem: Reverse a string.', output: 'def reverse(s):\n    return s[::-1]\n\n\nprint(reverse("abc"))' },
    ]);
    expect(parseInstances(demonstrations[6]!.completion)[0]!.output).toMatch(
      /^class Solution\(object\):\n {4}def addTwoNumbers\(self, l1, l2\):\n {8}carry = 0\n[\s\S]*\n {8}return root\.next$/,
    );
  });

  it('reads five examples cut by the "Example 6" stop, with the generic and the named input styles mixed', () => {
    const completion = [
      'Example 1',
      'Input: 3, 1, 2',
      'Output: 1, 2, 3',
      'Example 2',
      'Input 2 - List: [9, 8]',
      'Output: [8, 9]',
      'Example 3',
      'List: [5]',
      'Output: [5]',
      'Example 4',
      'Input: 2, 2, 1',
      'Output: 1, 2, 2',
      'Example 5',
      'Input: b, a',
      'Output: a, b',
      '',
    ].join('\n');
    expect(parseInstances(completion)).toEqual([
      { input: '3, 1, 2', output: '1, 2, 3' },
      { input: 'List: [9, 8]', output: '[8, 9]' },
      { input: 'List: [5]', output: '[5]' },
      { input: '2, 2, 1', output: '1, 2, 2' },
      { input: 'b, a', output: 'a, b' },
    ]);
  });
});

// Text that cannot contain a marker: no "output", "input", "example", "task" (no e, i, o, t) and no colon.
const safeWord = fc.stringMatching(/^[abcdfghjklmnpqrsuvwxyz0-9[\],.!?'-]{1,8}$/);
const safeLine = fc.array(safeWord, { minLength: 1, maxLength: 6 }).map((words) => words.join(' '));
const safeText = fc.array(safeLine, { minLength: 1, maxLength: 3 }).map((lines) => lines.join('\n'));
const label = fc.constantFrom('Paragraph', 'List', 'Sentence', 'Question', 'Word list');
const instanceSpec = fc.record({ label: fc.option(label, { nil: undefined }), input: safeText, output: safeText });

function expected(spec: { label: string | undefined; input: string; output: string }): ParsedInstance {
  return { input: spec.label === undefined ? '' : `${spec.label}: ${spec.input}`, output: spec.output };
}

describe('parseInstances properties', () => {
  it('never throws, returns trimmed strings and keeps no line of a next task, on any text', () => {
    const markerish = fc.constantFrom(
      'Output:',
      'Output 2:',
      'Input:',
      'Input 2 - List:',
      'Example 1',
      'Example',
      'Task:',
      '\n',
      ' ',
      '</s>',
      'List:',
    );
    const text = fc.oneof(
      fc.string(),
      fc.array(fc.oneof(fc.string(), markerish)).map((parts) => parts.join('')),
    );
    fc.assert(
      fc.property(text, (t) => {
        for (const instance of parseInstances(t)) {
          expect(instance.input).toBe(instance.input.trim());
          expect(instance.output).toBe(instance.output.trim());
          for (const field of [instance.input, instance.output]) expect(field).not.toMatch(/\n[ \t]*Task[ \t]*\d*[ \t]*:/i);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('recovers every instance written in the prompt example format', () => {
    fc.assert(
      fc.property(fc.array(instanceSpec, { minLength: 1, maxLength: 4 }), safeText, (specs, nextTask) => {
        const text = specs
          .map((s, k) => `Example ${k + 1}\n${s.label === undefined ? '' : `${s.label}: ${s.input}\n`}Output: ${s.output}\n`)
          .join('');
        expect(parseInstances(`\n${text}Task: ${nextTask}\nOutput: ${nextTask}`)).toEqual(specs.map(expected));
      }),
    );
  });

  it('recovers labelled pairs written without Example headers', () => {
    fc.assert(
      fc.property(label, fc.array(fc.record({ input: safeText, output: safeText }), { minLength: 1, maxLength: 4 }), (l, pairs) => {
        const text = pairs.map((p) => `${l}: ${p.input}\nOutput: ${p.output}\n`).join('');
        expect(parseInstances(text)).toEqual(pairs.map((p) => expected({ label: l, ...p })));
      }),
    );
  });
});

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { distributionCsv, ratingsCsv } from '../../ts/eval/human/csv.js';
import { html, visibleText } from '../../ts/eval/human/html.js';
import { loadInstructions, loadRun, parseRunArgument } from '../../ts/eval/human/responses.js';
import { toCsv } from '../../ts/io/csv.js';
import { escapeMarkup } from '../../ts/markup.js';
import { FORMULA_IDS } from './human-eval-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'refine-af-human-data-'));
const write = (name: string, text: string) => {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
};
const instructions = loadInstructions(
  write(
    'instructions.jsonl',
    `${['a', 'b', 'c']
      .map((id) => JSON.stringify({ id, motivation_app: 'x', instruction: `do ${id}`, instances: [{ input: '', output: `out ${id}` }] }))
      .join('\n')}\n`,
  ),
);

describe('user-oriented instructions', () => {
  it('reads the 252 vendored instructions with one instance each', () => {
    const all = loadInstructions();
    expect(all).toHaveLength(252);
    expect(new Set(all.map((i) => i.id)).size).toBe(252);
    expect(all[0]).toMatchObject({ id: 'user_oriented_task_0', motivationApp: 'Grammarly' });
    expect(all.every((i) => i.instruction.length > 0 && typeof i.input === 'string' && i.output.length > 0)).toBe(true);
  });

  it('names the file and line of a duplicate id or a missing field', () => {
    const line = (id: string) => JSON.stringify({ id, motivation_app: 'x', instruction: 'i', instances: [{ input: '', output: 'o' }] });
    expect(() => loadInstructions(write('dup.jsonl', `${line('a')}\n${line('a')}\n`))).toThrow(/dup\.jsonl:2: id "a" appears twice/);
    expect(() =>
      loadInstructions(
        write('noout.jsonl', `${line('a')}\n{"id":"b","motivation_app":"x","instruction":"i","instances":[{"input":""}]}\n`),
      ),
    ).toThrow(/noout\.jsonl:2: instances\.0\.output/);
    expect(() => loadInstructions(join(dir, 'absent.jsonl'))).toThrow(/absent\.jsonl: no such file/);
  });

  it('counts blank lines in the line numbers of its errors (line numbers, not record numbers)', () => {
    const line = (id: string) => JSON.stringify({ id, motivation_app: 'x', instruction: 'i', instances: [{ input: '', output: 'o' }] });
    expect(() => loadInstructions(write('blank-dup.jsonl', `${line('a')}\n\n${line('b')}\n\n${line('a')}\n`))).toThrow(
      /blank-dup\.jsonl:5: id "a" appears twice/,
    );
    expect(() =>
      loadRun('s', write('blank-run.jsonl', '{"id":"a","response":"x"}\n\n\n{"id":"a","response":"y"}\n'), instructions),
    ).toThrow(/blank-run\.jsonl:4: id: "a" already answered/);
  });
});

describe('runs', () => {
  const run = (name: string, lines: string[]) => write(name, `${lines.join('\n')}\n`);

  it('reads one response per instruction, ignoring extra keys', () => {
    const file = run('ok.jsonl', ['{"id":"b","response":"B"}', '{"id":"a","response":"","model":"m"}', '{"id":"c","response":"C"}']);
    const loaded = loadRun('sys', file, instructions);
    expect(Object.fromEntries(loaded.responses)).toEqual({ a: '', b: 'B', c: 'C' });
  });

  it('rejects unknown, repeated, missing and mistyped lines with file:line', () => {
    expect(() => loadRun('s', run('unknown.jsonl', ['{"id":"a","response":"x"}', '{"id":"zz","response":"x"}']), instructions)).toThrow(
      /unknown\.jsonl:2: id: "zz" is not one of the instructions/,
    );
    expect(() =>
      loadRun(
        's',
        run('twice.jsonl', ['{"id":"a","response":"x"}', '{"id":"b","response":"x"}', '{"id":"a","response":"y"}']),
        instructions,
      ),
    ).toThrow(/twice\.jsonl:3: id: "a" already answered/);
    expect(() => loadRun('s', run('short.jsonl', ['{"id":"a","response":"x"}']), instructions)).toThrow(
      /short\.jsonl: run "s" has no response for 2 of 3 instructions: b, c/,
    );
    expect(() => loadRun('s', run('typed.jsonl', ['{"id":"a","response":5}']), instructions)).toThrow(/typed\.jsonl:1: response: /);
    expect(() => loadRun('s', run('broken.jsonl', ['{"id":"a","response":"x"}', '{"id":"b",']), instructions)).toThrow(
      /broken\.jsonl:2: not valid JSON/,
    );
    expect(() => loadRun('s', join(dir, 'none.jsonl'), instructions)).toThrow(/none\.jsonl: no such file/);
  });

  it('parses name=path arguments and refuses bad names', () => {
    expect(parseRunArgument('refine-af=out/a=b.jsonl')).toEqual({ system: 'refine-af', file: 'out/a=b.jsonl' });
    for (const bad of ['nopath', '=file.jsonl', 'name=', 'two words=f', '<b>=f'])
      expect(() => parseRunArgument(bad)).toThrow(/--runs expects name=path/);
  });
});

describe('rendering and export', () => {
  it('escapes interpolated text once and passes fragments through', () => {
    expect(escapeMarkup(`<a href="x" onclick='y'>&</a>`)).toBe('&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;');
    const inner = html`<b>${'<i>'}</b>`;
    expect(html`<p>${inner}${['<', html`<br>`]}${undefined}${false}${3}</p>`.text).toBe('<p><b>&lt;i&gt;</b>&lt;<br>3</p>');
  });

  it('shows invisible and direction-changing characters as marked code points, and keeps tabs and line breaks', () => {
    const mark = (codePoint: string) => `<span class="codepoint">&lt;U+${codePoint}&gt;</span>`;
    expect(visibleText('a\u202Eb<c>\u200B\u2066d\u0000\uFEFF\u{E0041}\u00AD\u3164\te\r\nf é ✓ שלום').text).toBe(
      `a${mark('202E')}b&lt;c&gt;${mark('200B')}${mark('2066')}d${mark('0000')}${mark('FEFF')}${mark('E0041')}${mark('00AD')}${mark('3164')}\te\r\nf é ✓ שלום`,
    );
  });

  it('writes the distribution with counts and shares, and every rating', () => {
    const text = distributionCsv([
      { system: 'a', counts: { A: 3, B: 1, C: 0, D: 0 }, total: 4 },
      { system: 'b', counts: { A: 0, B: 0, C: 0, D: 0 }, total: 0 },
    ]);
    expect(text.split('\r\n')).toEqual([
      'system,count_A,count_B,count_C,count_D,ratings,share_A,share_B,share_C,share_D',
      'a,3,1,0,0,4,0.7500,0.2500,0.0000,0.0000',
      'b,0,0,0,0,0,,,,',
      '',
    ]);
    expect(ratingsCsv([{ rater: 'r', instructionId: 'x,"y"', system: 's', rating: 'B', ratedAt: 't' }])).toBe(
      'rater,instruction_id,system,rating,rated_at\r\nr,"x,""y""",s,B,t\r\n',
    );
  });

  it('writes text cells a spreadsheet would run as formulas as quoted text, and numbers as numbers', () => {
    expect(toCsv(['id'], [['=HYPERLINK("http://x","y")']])).toBe(`id\r\n"'=HYPERLINK(""http://x"",""y"")"\r\n`);
    for (const id of FORMULA_IDS) expect(toCsv(['id'], [[id]])).toBe(`id\r\n"'${id.replaceAll('"', '""')}"\r\n`);
    // Text that merely looks like a negative number is still text (it could be "-2+3+cmd|…"); number cells stay numbers.
    expect(
      toCsv(
        ['reward', 'label'],
        [
          [-0.25, '-1'],
          [-3, 'ok'],
          [0, 'a=b'],
        ],
      ),
    ).toBe(`reward,label\r\n-0.25,"'-1"\r\n-3,ok\r\n0,a=b\r\n`);
  });
});

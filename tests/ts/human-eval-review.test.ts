/**
 * The quality review (Table IV) in the rating app: the sample, the store, the blind page, answering and resuming,
 * Table IV from known answers, and the CLI and its exports.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addRater, importQualityReview, qualityReviewTable, serveHumanEval } from '../../ts/eval/human/commands.js';
import { sampleForReview } from '../../ts/eval/human/review.js';
import type { RatingServer } from '../../ts/eval/human/server.js';
import { RatingStore } from '../../ts/eval/human/store.js';
import { HOSTILE_TEXTS, SERVING } from './human-eval-fixtures.js';

/** System names that must never reach a rater's page. */
const ARMS = ['armname-refine', 'armname-baseline'] as const;

/** What each arm's outputs start with, so that a test can tell the arms apart on a page that does not name them. */
const TAGS: Record<string, string> = { [ARMS[0]]: 'first', [ARMS[1]]: 'second', x: 'x' };
const armOf = (output: string) => ARMS.find((arm) => output.startsWith(`${TAGS[arm]} `))!;

/** An IFT dataset of `instructions` instructions with `perInstruction` instances each, outputs tagged by arm. */
function writeDataset(dir: string, arm: string, instructions: number, perInstruction = 2, prefix = 'Instruction'): string {
  const file = join(dir, `${arm}-${prefix.replaceAll(' ', '-')}.jsonl`);
  const lines = Array.from({ length: instructions }, (_, i) =>
    Array.from({ length: perInstruction }, (_, k) =>
      JSON.stringify({
        instruction: `${prefix} ${i}: ${HOSTILE_TEXTS[i % HOSTILE_TEXTS.length]}`,
        input: `input ${i}.${k}`,
        output: `${TAGS[arm]} output ${i}.${k}`,
      }),
    ),
  ).flat();
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

function reviewFixture(instructions = 30) {
  const dir = mkdtempSync(join(tmpdir(), 'refine-af-review-'));
  const datasets = ARMS.map((arm) => `${arm}=${writeDataset(dir, arm, instructions)}`);
  return { dir, datasets, db: join(dir, 'ratings.sqlite') };
}

describe('quality-review sample', () => {
  it('draws N distinct instructions per dataset, one instance each, the same for the same seed', () => {
    const { dir } = reviewFixture();
    const file = writeDataset(dir, 'x', 30, 3);
    const sample = sampleForReview('x', file, { size: 10, seed: 7 });
    expect(sample).toHaveLength(10);
    expect(new Set(sample.map((item) => item.instruction)).size).toBe(10);
    for (const item of sample) {
      const i = /^Instruction (\d+):/.exec(item.instruction)![1];
      expect(item.output).toMatch(new RegExp(`^x output ${i}\\.[012]$`));
      expect(item.input).toBe(`input ${item.output.split(' output ')[1]}`);
    }
    expect(sampleForReview('x', file, { size: 10, seed: 7 })).toEqual(sample);
    expect(sampleForReview('x', file, { size: 10, seed: 8 })).not.toEqual(sample);
    // Instances are drawn too, not always the first of each instruction.
    expect(new Set(sampleForReview('x', file, { size: 30, seed: 7 }).map((item) => item.output.slice(-1))).size).toBeGreaterThan(1);
    expect(sampleForReview('x', file, { size: 100, seed: 7 })).toHaveLength(30);
  });
});

describe('quality review in the rating store', () => {
  it('imports idempotently, refuses a changed instance, and refuses new items once a rater has an order', () => {
    const { dir, datasets, db } = reviewFixture();
    expect(importQualityReview(db, datasets, { size: 10 })).toEqual({
      added: 20,
      kept: 0,
      sampled: { [ARMS[0]]: 10, [ARMS[1]]: 10 },
    });
    expect(importQualityReview(db, datasets, { size: 10 })).toMatchObject({ added: 0, kept: 20 });
    expect(qualityReviewTable(db).map((row) => [row.system, row.items, row.answers])).toEqual([
      [ARMS[1], 10, 0],
      [ARMS[0], 10, 0],
    ]);
    // Another seed draws other instances of the instructions already stored: refused, answers may refer to them.
    expect(() => importQualityReview(db, datasets, { size: 10, seed: 1 })).toThrow(
      /quality-review instance of system "armname-.*" .* differs/,
    );

    const store = RatingStore.open(db);
    const alice = store.addRater('alice').rater;
    store.startRating(alice.id);
    expect(store.nextAssignment(alice.id, 'review')).toBeDefined();
    store.close();
    const more = [`${ARMS[0]}=${writeDataset(dir, ARMS[0], 5, 1, 'Another instruction')}`];
    expect(() => importQualityReview(db, more, { size: 5 })).toThrow(
      /cannot add quality-review items .* raters alice already have their order/,
    );
  });

  it('adds the review to a rating database of the previous version, keeping what it holds', () => {
    const { datasets, db } = reviewFixture(4);
    const store = RatingStore.open(db);
    store.addRater('alice');
    store.close();
    // Version 1 as it was: no review tables, no rating history.
    const old = new Database(db);
    old.exec('DROP TABLE review_answers; DROP TABLE review_assignments; DROP TABLE review_items');
    old.exec('DROP TRIGGER rating_given; DROP TRIGGER rating_changed; DROP TABLE rating_events; DROP TABLE review_answer_events');
    old.pragma('user_version = 1');
    old.close();
    expect(importQualityReview(db, datasets, { size: 4 })).toMatchObject({ added: 8 });
    const reopened = RatingStore.open(db, { mustExist: true });
    expect(reopened.progress('review')).toEqual([{ name: 'alice', rated: 0, total: 8 }]);
    reopened.close();
  });

  it("interleaves both arms in each rater's own order, and computes Table IV from the answers", () => {
    const { datasets, db } = reviewFixture();
    importQualityReview(db, datasets, { size: 20 });
    const store = RatingStore.open(db);
    const raters = ['alice', 'bob'].map((name) => store.addRater(name).rater);
    for (const rater of raters) store.startRating(rater.id);
    // An order's assignments are inserted in one transaction, position by position, so their ids are consecutive.
    const systemsInOrder = (raterId: number) => {
      const { total, firstId } = store.order(raterId, 'review');
      return Array.from({ length: total }, (_, k) => armOf(store.reviewAssignment(firstId! + k)!.output));
    };
    const order = systemsInOrder(raters[0]!.id);
    expect(order).toHaveLength(40);
    // Both arms appear in the first half of the order: interleaved, not one arm after the other.
    expect(new Set(order.slice(0, 20)).size).toBe(2);
    expect(systemsInOrder(raters[1]!.id)).not.toEqual(order);

    // Known answers: alice says yes to everything of the refine arm and no to its outputs for the baseline; bob answers
    // only his first 4 items, yes / no / yes.
    for (let id = store.nextAssignment(raters[0]!.id, 'review'); id !== undefined; id = store.nextAssignment(raters[0]!.id, 'review')) {
      const refine = armOf(store.reviewAssignment(id)!.output) === ARMS[0];
      expect(store.answerReview(raters[0]!.id, id, { valid_task: true, input_appropriate: true, output_correct: refine })).toBe('rated');
    }
    const bobFirst = store.nextAssignment(raters[1]!.id, 'review')!;
    expect(store.answerReview(raters[0]!.id, bobFirst, { valid_task: true, input_appropriate: true, output_correct: true })).toBe(
      'not-yours',
    );
    const bobSystems: string[] = [];
    for (let k = 0; k < 4; k++) {
      const id = store.nextAssignment(raters[1]!.id, 'review')!;
      bobSystems.push(armOf(store.reviewAssignment(id)!.output));
      store.answerReview(raters[1]!.id, id, { valid_task: true, input_appropriate: false, output_correct: true });
    }
    const bobOf = (arm: string) => bobSystems.filter((s) => s === arm).length;
    expect(store.qualityReview()).toEqual(
      [ARMS[1], ARMS[0]].map((arm) => ({
        system: arm,
        items: 20,
        answers: 20 + bobOf(arm),
        yes: { valid_task: 20 + bobOf(arm), input_appropriate: 20, output_correct: (arm === ARMS[0] ? 20 : 0) + bobOf(arm) },
      })),
    );
    expect(store.progress('review').map((p) => [p.name, p.rated, p.total])).toEqual([
      ['alice', 40, 40],
      ['bob', 4, 40],
    ]);
    store.close();
  });
});

describe('quality-review pages', () => {
  const fixture = reviewFixture(6);
  const tokens: Record<string, string> = {};
  let server: RatingServer;

  beforeAll(async () => {
    importQualityReview(fixture.db, fixture.datasets, { size: 3 });
    tokens.alice = addRater(fixture.db, 'alice').token;
    tokens.bob = addRater(fixture.db, 'bob').token;
    tokens.lead = addRater(fixture.db, 'lead', { admin: true }).token;
    server = await serveHumanEval({ ...SERVING, db: fixture.db });
  });
  afterAll(() => server.close());

  const get = (path: string, cookie: string) => fetch(server.url + path, { redirect: 'manual', headers: { cookie } });
  async function login(name: string) {
    const response = await fetch(`${server.url}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: tokens[name]! }).toString(),
    });
    const cookie = response.headers.get('set-cookie')!.split(';')[0]!;
    // Where the app sends the rater first, and that page's CSRF token.
    const home = await get('/', cookie);
    const location = home.headers.get('location');
    const page = await (location === null ? home : await get(location, cookie)).text();
    return { cookie, csrf: /name="csrf" value="([^"]+)"/.exec(page)![1]!, location };
  }
  const answer = (session: { cookie: string; csrf: string }, location: string, form: Record<string, string>) =>
    fetch(server.url + location, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: session.cookie },
      body: new URLSearchParams({ csrf: session.csrf, ...form }).toString(),
    });

  it('shows each item without its arm, takes the three answers, resumes where the rater stopped, and shows Table IV to admins', async () => {
    const alice = await login('alice');
    // A database with only the quality review sends the rater straight to it.
    expect(alice.location).toMatch(/^\/review\/\d+$/);
    const first = alice.location!;
    const page = await (await get(first, alice.cookie)).text();
    expect(page).not.toContain('armname');
    expect(page).not.toMatch(/<script/i);
    expect(page).toContain('Quality review: item 1 of 6');
    expect(page).toContain('Does the instruction describe a valid task?');
    expect(page.match(/type="radio"/g)).toHaveLength(6);
    expect(page).not.toContain(' checked');

    // All three answers are required, and only yes or no.
    expect((await answer(alice, first, { valid_task: 'yes', input_appropriate: 'no' })).status).toBe(400);
    expect((await answer(alice, first, { valid_task: 'yes', input_appropriate: 'no', output_correct: 'maybe' })).status).toBe(400);
    // Saved, revised, and saved again unchanged: the history keeps the first two.
    expect((await answer(alice, first, { valid_task: 'no', input_appropriate: 'no', output_correct: 'no' })).status).toBe(303);
    const saved = await answer(alice, first, { valid_task: 'yes', input_appropriate: 'no', output_correct: 'yes' });
    expect(saved.status).toBe(303);
    expect((await answer(alice, first, { valid_task: 'yes', input_appropriate: 'no', output_correct: 'yes' })).status).toBe(303);
    expect(saved.headers.get('location')).toBe('/review');
    const next = (await get('/review', alice.cookie)).headers.get('location')!;
    expect(next).not.toBe(first);
    const again = await (await get(first, alice.cookie)).text();
    expect(again).toMatch(/name="valid_task" value="yes" required checked/);
    expect(again).toMatch(/name="input_appropriate" value="no" required checked/);
    expect(again).toContain('1 of 6 answered.');

    // A new session resumes at the first unanswered item.
    const resumed = await login('alice');
    expect(resumed.location).toBe(next);

    const bob = await login('bob');
    // The next unanswered item until there is none: then /review sends the rater home.
    for (let location = bob.location!; location !== '/'; location = (await get('/review', bob.cookie)).headers.get('location')!) {
      expect((await answer(bob, location, { valid_task: 'yes', input_appropriate: 'yes', output_correct: 'no' })).status).toBe(303);
    }
    const done = await (await get('/', bob.cookie)).text();
    expect(done).toContain('You have answered all 6 quality-review items.');
    // The admin, who does not rate, is sent to the results.
    const lead = await login('lead');
    expect(lead.location).toBe('/results');
    const results = await (await get('/results', lead.cookie)).text();
    expect(results).toContain('Quality review of the generated data (Table IV)');
    // Alice answered one item (yes / no / yes), bob all six (yes / yes / no): one arm has 4 answers, the other 3.
    const row = (question: string) => results.slice(results.indexOf(question)).split('</tr>')[0]!;
    expect(row('Does the instruction describe a valid task?')).toMatch(
      /100\.0% \(4 of 4\).*100\.0% \(3 of 3\)|100\.0% \(3 of 3\).*100\.0% \(4 of 4\)/,
    );
    expect(row('Is the input appropriate')).toMatch(/75\.0% \(3 of 4\).*100\.0% \(3 of 3\)|100\.0% \(3 of 3\).*75\.0% \(3 of 4\)/);
    expect(row('Is the output a correct')).toMatch(/25\.0% \(1 of 4\).*0\.0% \(0 of 3\)|0\.0% \(0 of 3\).*25\.0% \(1 of 4\)/);
    expect((await get('/results', alice.cookie)).status).toBe(403);
    expect((await get('/table-iv.csv', alice.cookie)).status).toBe(403);
    const csv = await (await get('/table-iv.csv', lead.cookie)).text();
    expect(csv.split('\r\n')[0]).toBe(
      'system,items,answers,yes_valid_task,yes_input_appropriate,yes_output_correct,share_yes_valid_task,share_yes_input_appropriate,share_yes_output_correct',
    );
    const answersOf = async (path: string) =>
      (await (await get(path, lead.cookie)).text())
        .split('\r\n')
        .filter((line) => line.startsWith('alice,'))
        .map((line) => line.split(',').slice(-4, -1));
    expect(await answersOf('/review-answers.csv')).toEqual([['yes', 'no', 'yes']]);
    expect(await answersOf('/review-answer-history.csv')).toEqual([
      ['no', 'no', 'no'],
      ['yes', 'no', 'yes'],
    ]);
    expect((await get('/review-answer-history.csv', alice.cookie)).status).toBe(403);
  });
});

describe('refine-af human-eval import-review', () => {
  it('samples both datasets, prints Table IV and exports it', async () => {
    const { datasets, db, dir } = reviewFixture(12);
    const cli = (args: string[]) => execa('node', ['bin/refine-af.js', 'human-eval', ...args], { reject: false });
    const imported = await cli(['import-review', '--db', db, '--datasets', ...datasets, '--size', '5']);
    expect(imported.exitCode).toBe(0);
    expect(imported.stdout).toContain(`sampled ${ARMS[0]}: 5, ${ARMS[1]}: 5; 10 quality-review items imported, 0 already in ${db}`);
    expect((await cli(['import-review', '--db', db, '--datasets', datasets[0]!, datasets[0]!])).stderr).toContain('names system');
    expect((await cli(['import-review', '--db', db, '--datasets', ...datasets, '--size', '0'])).stderr).toContain(
      'expected an integer from 1',
    );

    const store = RatingStore.open(db);
    const rater = store.addRater('expert').rater;
    store.startRating(rater.id);
    for (let id = store.nextAssignment(rater.id, 'review'); id !== undefined; id = store.nextAssignment(rater.id, 'review')) {
      const refine = armOf(store.reviewAssignment(id)!.output) === ARMS[0];
      store.answerReview(rater.id, id, { valid_task: true, input_appropriate: refine, output_correct: false });
    }
    store.close();
    const results = await cli(['results', '--db', db]);
    expect(results.stdout).toContain(`${ARMS[0]}\t5\t100.0% (5/5)\t100.0% (5/5)\t0.0% (0/5)`);
    expect(results.stdout).toContain(`${ARMS[1]}\t5\t100.0% (5/5)\t0.0% (0/5)\t0.0% (0/5)`);
    const out = join(dir, 'table-iv.csv');
    expect((await cli(['export', '--db', db, '--out', out, '--table', 'table-iv'])).exitCode).toBe(0);
    expect(readFileSync(out, 'utf8').split('\r\n').slice(1, 3)).toEqual([
      `${ARMS[1]},5,5,5,0,0,1.0000,0.0000,0.0000`,
      `${ARMS[0]},5,5,5,5,0,1.0000,1.0000,0.0000`,
    ]);
    const answersOut = join(dir, 'answers.csv');
    expect((await cli(['export', '--db', db, '--out', answersOut, '--table', 'review-answers'])).exitCode).toBe(0);
    expect(readFileSync(answersOut, 'utf8').split('\r\n')[0]).toBe(
      'rater,system,instruction,valid_task,input_appropriate,output_correct,answered_at',
    );
  });
});

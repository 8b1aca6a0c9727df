import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { loadInstructions, loadRun, parseRunArgument, type SystemRun } from '../../ts/eval/human/responses.js';
import { RatingStore } from '../../ts/eval/human/store.js';
import { type Fixture, ratingFixture } from './human-eval-fixtures.js';

function storeWithRuns(fixture: Fixture, file = join(fixture.dir, 'ratings.sqlite')) {
  const instructions = loadInstructions(fixture.instructionsFile);
  const runs: SystemRun[] = fixture.runs.map((run) => parseRunArgument(run)).map((r) => loadRun(r.system, r.file, instructions));
  const store = RatingStore.open(file);
  return { store, instructions, runs, file };
}

/** A database holding both systems' responses to `count` instructions. */
function importedStore(count: number) {
  const fixture = ratingFixture(count);
  const opened = storeWithRuns(fixture);
  opened.store.importRuns(opened.instructions, opened.runs);
  return { ...opened, fixture };
}

/** Every assignment of a rater, in their order, walking the database directly. */
function order(file: string, rater: string): number[] {
  const db = new Database(file, { readonly: true });
  try {
    return db
      .prepare<[string], { item_id: number }>(
        'SELECT a.item_id FROM assignments a JOIN raters r ON r.id = a.rater_id WHERE r.name = ? ORDER BY a.position',
      )
      .all(rater)
      .map((r) => r.item_id);
  } finally {
    db.close();
  }
}

describe('rating store', () => {
  it('imports runs once and refuses a changed response or instruction', () => {
    const fixture = ratingFixture(3);
    const { store, instructions, runs } = storeWithRuns(fixture);
    expect(store.importRuns(instructions, runs)).toEqual({ added: 6, kept: 0 });
    expect(store.importRuns(instructions, runs)).toEqual({ added: 0, kept: 6 });
    expect(store.systems()).toEqual(['echo', 'markup']);
    const changed = { ...runs[0]!, responses: new Map(runs[0]!.responses).set('task_1', 'edited') };
    expect(() => store.importRuns(instructions, [changed])).toThrow(/response of system "echo" to task_1 differs/);
    const renamed = instructions.map((i) => (i.id === 'task_2' ? { ...i, output: 'other golden output' } : i));
    expect(() => store.importRuns(renamed, [])).toThrow(/instruction task_2 differs/);
    store.close();
  });

  it('refuses files that are not rating databases', () => {
    const fixture = ratingFixture(1);
    const garbage = join(fixture.dir, 'garbage.sqlite');
    writeFileSync(garbage, 'not a database at all, just text '.repeat(200));
    expect(() => RatingStore.open(garbage)).toThrow(/cannot open as a rating database/);
    const foreign = join(fixture.dir, 'foreign.sqlite');
    const db = new Database(foreign);
    db.exec('CREATE TABLE t (x)');
    db.close();
    expect(() => RatingStore.open(foreign)).toThrow(/not a refine-af rating database/);
    expect(() => RatingStore.open(join(fixture.dir, 'absent.sqlite'), { mustExist: true })).toThrow(/no such rating database/);
  });

  it('keeps only hashes of tokens and refuses duplicate or odd rater names', () => {
    const fixture = ratingFixture(1);
    const { store, file } = storeWithRuns(fixture);
    const { token, rater } = store.addRater('alice');
    expect(store.raterByToken(token)).toEqual(rater);
    expect(store.raterByToken(`${token}x`)).toBeUndefined();
    expect(() => store.addRater('alice')).toThrow(/already exists/);
    expect(() => store.addRater('=cmd()')).toThrow(/rater name must be/);
    store.close();
    expect(readFileSync(file).includes(Buffer.from(token))).toBe(false);
  });

  it('gives each rater every item once, in their own random order that survives a restart', () => {
    const { store, file } = importedStore(30);
    const alice = store.addRater('alice').rater;
    const bob = store.addRater('bob').rater;
    store.startRating(alice.id);
    store.startRating(bob.id);
    const first = store.nextAssignment(alice.id);
    const aliceOrder = order(file, 'alice');
    const bobOrder = order(file, 'bob');
    expect([...aliceOrder].sort((a, b) => a - b)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect([...bobOrder].sort((a, b) => a - b)).toEqual([...aliceOrder].sort((a, b) => a - b));
    // Two independent shuffles of 60 items agree with probability 1/60!.
    expect(bobOrder).not.toEqual(aliceOrder);

    expect(store.rate(alice.id, first!, 'B')).toBe('rated');
    const second = store.nextAssignment(alice.id);
    expect(store.assignment(second!)).toMatchObject({ position: 2, rated: 1, total: 60, previousId: first });
    store.close();

    const reopened = RatingStore.open(file);
    expect(reopened.nextAssignment(alice.id)).toBe(second);
    expect(order(file, 'alice')).toEqual(aliceOrder);
    reopened.close();
  });

  it('refuses responses added once a rater has an order, so that no system is rated apart from the others', () => {
    const fixture = ratingFixture(5);
    const { store, instructions, runs, file } = storeWithRuns(fixture);
    const third: SystemRun = { system: 'third', file: 'third.jsonl', responses: new Map(runs[0]!.responses) };
    // Before any rater has begun, a system may still be added: it is shuffled in with the others.
    store.importRuns(instructions, runs.slice(0, 1));
    store.importRuns(instructions, runs);
    const alice = store.addRater('alice').rater;
    store.startRating(alice.id);
    const first = store.nextAssignment(alice.id)!;
    expect(store.rate(alice.id, first, 'A')).toBe('rated');
    const before = order(file, 'alice');
    expect([...before].sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));

    expect(() => store.importRuns(instructions, [...runs, third])).toThrow(
      /cannot add responses \(5 of system "third"\): raters alice already have their order .* Rate all systems together in a new database/,
    );
    // More instructions answered by one system only would be rated apart from the others just the same.
    const more = [...instructions, { ...instructions[0]!, id: 'task_extra' }];
    const echoMore: SystemRun = { ...runs[0]!, responses: new Map(runs[0]!.responses).set('task_extra', 'extra') };
    expect(() => store.importRuns(more, [echoMore])).toThrow(/cannot add responses \(1 of system "echo"\)/);
    expect(store.systems()).toEqual(['echo', 'markup']);
    // The same runs again add nothing and are accepted; the order, the rating and where alice resumes are unchanged.
    expect(store.importRuns(instructions, runs)).toEqual({ added: 0, kept: 10 });
    expect(order(file, 'alice')).toEqual(before);
    expect(store.assignment(store.nextAssignment(alice.id)!)?.position).toBe(2);
    expect(store.ratings()).toHaveLength(1);
    store.close();
  });

  it('holds one rating per rater and item, revisable only by its rater', () => {
    const { store, file } = importedStore(2);
    const alice = store.addRater('alice').rater;
    const bob = store.addRater('bob').rater;
    store.startRating(alice.id);
    store.startRating(bob.id);
    const id = store.nextAssignment(alice.id)!;
    expect(store.rate(alice.id, id, 'C')).toBe('rated');
    expect(store.rate(alice.id, id, 'A')).toBe('rated');
    expect(store.rate(bob.id, id, 'D')).toBe('not-yours');
    expect(store.rate(bob.id, 999_999, 'D')).toBe('unknown');
    expect(store.assignment(id)?.rating).toBe('A');
    expect(store.ratings()).toHaveLength(1);
    store.close();

    // The schema itself refuses a second row for the same rater × item, an unassigned item and a level outside A–D.
    const db = new Database(file);
    db.pragma('foreign_keys = ON');
    const { rater_id, item_id } = db.prepare('SELECT rater_id, item_id FROM ratings').get() as { rater_id: number; item_id: number };
    const insert = db.prepare('INSERT INTO ratings (rater_id, item_id, rating, rated_at) VALUES (?, ?, ?, ?)');
    expect(() => insert.run(rater_id, item_id, 'B', 'now')).toThrow(/UNIQUE constraint failed/);
    db.prepare('DELETE FROM assignments WHERE rater_id = ? AND item_id != ?').run(bob.id, item_id);
    const unassigned = (db.prepare('SELECT id FROM items WHERE id != ?').get(item_id) as { id: number }).id;
    expect(() => insert.run(bob.id, unassigned, 'B', 'now')).toThrow(/FOREIGN KEY constraint failed/);
    expect(() => insert.run(bob.id, item_id, 'E', 'now')).toThrow(/CHECK constraint failed/);
    db.close();
  });

  it('keeps every rating given or changed, in order, and append-only; the results use the latest', () => {
    const { store, file } = importedStore(2);
    const alice = store.addRater('alice').rater;
    store.startRating(alice.id);
    const first = store.nextAssignment(alice.id)!;
    for (const level of ['C', 'A', 'A', 'B'] as const) expect(store.rate(alice.id, first, level)).toBe('rated');
    const second = store.nextAssignment(alice.id)!;
    store.rate(alice.id, second, 'D');
    const history = store.ratingHistory();
    // The same rating posted again (a double click) is no change, so no event.
    expect(history.map((e) => [e.rater, e.from, e.to])).toEqual([
      ['alice', undefined, 'C'],
      ['alice', 'C', 'A'],
      ['alice', 'A', 'B'],
      ['alice', undefined, 'D'],
    ]);
    expect(new Set(history.slice(0, 3).map((e) => `${e.instructionId}|${e.system}`)).size).toBe(1);
    expect(history.map((e) => e.at)).toEqual([...history.map((e) => e.at)].sort());
    expect(store.ratings().map((r) => r.rating)).toEqual(expect.arrayContaining(['B', 'D']));
    expect(store.ratings()).toHaveLength(2);
    expect(store.distribution().reduce((sum, d) => sum + d.counts.B + d.counts.D, 0)).toBe(2);
    expect(store.distribution().reduce((sum, d) => sum + d.counts.A + d.counts.C, 0)).toBe(0);
    store.close();

    const db = new Database(file);
    expect(() => db.prepare("UPDATE rating_events SET new_rating = 'A'").run()).toThrow(/append-only/);
    expect(() => db.prepare('DELETE FROM rating_events').run()).toThrow(/append-only/);
    db.close();
  });

  it('opens a database of the previous version (2) with its ratings, and starts its history from them', () => {
    // Made by refine-af's schema version 2 (commit e5a73f7): items task_0 and task_1 of systems echo and other, two
    // quality-review items; alice rated two responses (C revised to A, and D) and answered one review item; bob and the
    // admin lead never logged in.
    const dir = ratingFixture(1).dir;
    const file = join(dir, 'ratings.sqlite');
    copyFileSync('tests/ts/fixtures/human-eval-v2.sqlite', file);
    const before = new Database(file, { readonly: true });
    expect(before.pragma('user_version', { simple: true })).toBe(2);
    before.close();

    const store = RatingStore.open(file, { mustExist: true });
    // In the order they were given: A (the revision of C) first, then D.
    const ratings = store.ratings().sort((x, y) => x.ratedAt.localeCompare(y.ratedAt));
    expect(ratings.map((r) => [r.rater, r.rating])).toEqual([
      ['alice', 'A'],
      ['alice', 'D'],
    ]);
    // What was overwritten before is gone; the latest of each rating is its first event, at its time.
    expect(store.ratingHistory()).toEqual(
      ratings.map((r) => ({
        rater: r.rater,
        instructionId: r.instructionId,
        system: r.system,
        from: undefined,
        to: r.rating,
        at: r.ratedAt,
      })),
    );
    const answers = store.reviewAnswers();
    expect(answers).toHaveLength(1);
    expect(store.reviewAnswers('history')).toEqual(answers);
    expect(store.progress()).toEqual([
      { name: 'alice', rated: 2, total: 4 },
      { name: 'bob', rated: 0, total: 4 },
    ]);
    // Rating goes on where alice stopped, and from now on every change is kept.
    // Her token is stored only as a hash; she was the first rater added.
    const alice = { id: 1 };
    const next = store.nextAssignment(alice.id)!;
    expect(store.assignment(next)?.position).toBe(3);
    store.rate(alice.id, next, 'B');
    store.rate(alice.id, next, 'C');
    expect(
      store
        .ratingHistory()
        .slice(2)
        .map((e) => [e.from, e.to]),
    ).toEqual([
      [undefined, 'B'],
      ['B', 'C'],
    ]);
    store.answerReview(alice.id, store.nextAssignment(alice.id, 'review')!, {
      valid_task: false,
      input_appropriate: false,
      output_correct: false,
    });
    store.close();
    const reopened = RatingStore.open(file, { mustExist: true });
    expect(reopened.ratingHistory()).toHaveLength(4);
    expect(reopened.reviewAnswers('history')).toHaveLength(2);
    reopened.close();
    const after = new Database(file);
    expect(after.pragma('user_version', { simple: true })).toBe(3);
    expect(() => after.prepare('UPDATE review_answer_events SET valid_task = 1').run()).toThrow(/append-only/);
    expect(() => after.prepare('DELETE FROM review_answer_events').run()).toThrow(/append-only/);
    after.close();
  });

  it('takes concurrent raters in separate processes without losing or duplicating a rating', async () => {
    const { store, file, fixture } = importedStore(40);
    const tokens = Object.fromEntries(['alice', 'bob', 'carol'].map((name) => [name, store.addRater(name).token]));
    store.close();
    const goFile = join(fixture.dir, 'go');
    // alice rates from two processes at once (two browser tabs); bob and carol at the same time.
    const jobs = [
      ['alice', 'A'],
      ['alice', 'B'],
      ['bob', 'C'],
      ['carol', 'D'],
    ].map(([name, level]) => execa('node', ['--import', 'tsx', 'tests/ts/fixtures/rate-all.ts', file, tokens[name!]!, level!, goFile]));
    await Promise.all(jobs.map((job) => new Promise((resolve) => job.stdout.once('data', resolve))));
    writeFileSync(goFile, '');
    const counts = (await Promise.all(jobs)).map((r) => (JSON.parse(r.stdout.split('\n').at(-1)!) as { rated: number }).rated);
    expect(counts[2]).toBe(80);
    expect(counts[3]).toBe(80);
    // The two alice processes raced over the same assignments: together at least all 80, each item stored once.
    expect(counts[0]! + counts[1]!).toBeGreaterThanOrEqual(80);

    const reopened = RatingStore.open(file, { mustExist: true });
    const ratings = reopened.ratings();
    expect(ratings).toHaveLength(240);
    expect(new Set(ratings.map((r) => `${r.rater}|${r.instructionId}|${r.system}`)).size).toBe(240);
    expect(reopened.progress()).toEqual([
      { name: 'alice', rated: 80, total: 80 },
      { name: 'bob', rated: 80, total: 80 },
      { name: 'carol', rated: 80, total: 80 },
    ]);
    expect(reopened.distribution().map((d) => d.counts.C)).toEqual([40, 40]);
    expect(reopened.distribution().map((d) => d.total)).toEqual([120, 120]);
    reopened.close();
  });
});

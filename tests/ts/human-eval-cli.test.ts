import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { RatingStore } from '../../ts/eval/human/store.js';
import { FORMULA_IDS, ratingFixture } from './human-eval-fixtures.js';

const cli = (args: string[]) => execa('node', ['bin/refine-af.js', 'human-eval', ...args], { reject: false });

describe('refine-af human-eval', () => {
  it('mints tokens, serves until SIGINT (with --secure-cookies), refuses bad runs with file:line, and exports', async () => {
    const ids = [FORMULA_IDS[3], FORMULA_IDS[5]];
    const fixture = ratingFixture(2, { id: (i) => ids[i]! });
    const db = join(fixture.dir, 'ratings.sqlite');

    const minted = await cli(['add-rater', '--db', db, '--name', 'lead', '--admin']);
    expect(minted.exitCode).toBe(0);
    const token = /token (\S+)$/.exec(minted.stdout)![1]!;
    const store = RatingStore.open(db, { mustExist: true });
    expect(store.raterByToken(token)).toMatchObject({ name: 'lead', isAdmin: true });
    store.close();

    const bad = join(fixture.dir, 'bad.jsonl');
    writeFileSync(bad, '{"id":"task_0","response":"x"}\n{"id":"task_1"}\n');
    const refused = await cli(['serve', '--db', db, '--instructions', fixture.instructionsFile, '--runs', fixture.runs[0]!, `bad=${bad}`]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain(`${bad}:2: response:`);
    const alone = await cli(['serve', '--db', db, '--instructions', fixture.instructionsFile, '--runs', fixture.runs[0]!, '--port', '0']);
    expect(alone.exitCode).toBe(1);
    expect(alone.stderr).toContain('a blind comparison needs two or more');

    const server = execa('node', [
      'bin/refine-af.js',
      'human-eval',
      'serve',
      '--db',
      db,
      '--instructions',
      fixture.instructionsFile,
      '--runs',
      ...fixture.runs,
      '--port',
      '0',
      '--secure-cookies',
    ]);
    const url = await new Promise<string>((resolve) =>
      server.stdout.on('data', (chunk: Buffer) => {
        const match = /Rating app at (http:\/\/127\.0\.0\.1:\d+)\//.exec(chunk.toString());
        if (match) resolve(match[1]!);
      }),
    );
    expect((await fetch(`${url}/login`)).status).toBe(200);
    const login = await fetch(`${url}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `token=${token}`,
    });
    expect(login.headers.get('set-cookie')).toMatch(/; Secure$/);
    server.kill('SIGINT');
    expect((await server).exitCode).toBe(0);

    const out = join(fixture.dir, 'figure6.csv');
    const svg = join(fixture.dir, 'figure6.svg');
    const exported = await cli(['export', '--db', db, '--out', out, '--svg', svg]);
    expect(exported.exitCode).toBe(0);
    expect(readFileSync(out, 'utf8').split('\r\n').slice(0, 3)).toEqual([
      'system,count_A,count_B,count_C,count_D,ratings,share_A,share_B,share_C,share_D',
      'echo,0,0,0,0,0,,,,',
      'markup,0,0,0,0,0,,,,',
    ]);
    expect(readFileSync(svg, 'utf8')).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^]*<\/svg>\n$/);
    // Every rating, with instruction ids that are formulas written as quoted text.
    const rated = RatingStore.open(db, { mustExist: true });
    const rita = rated.addRater('rita').rater;
    rated.startRating(rita.id);
    for (let id = rated.nextAssignment(rita.id); id !== undefined; id = rated.nextAssignment(rita.id)) rated.rate(rita.id, id, 'A');
    rated.close();
    const ratingsOut = join(fixture.dir, 'ratings.csv');
    expect((await cli(['export', '--db', db, '--out', ratingsOut, '--table', 'ratings'])).exitCode).toBe(0);
    const ratingsText = readFileSync(ratingsOut, 'utf8');
    for (const id of ids) expect(ratingsText.split(`\r\nrita,"'${id}",`)).toHaveLength(3);
    const historyOut = join(fixture.dir, 'history.csv');
    expect((await cli(['export', '--db', db, '--out', historyOut, '--table', 'rating-history'])).exitCode).toBe(0);
    const history = readFileSync(historyOut, 'utf8').split('\r\n');
    expect(history[0]).toBe('rater,instruction_id,system,old_rating,new_rating,at');
    expect(history.slice(1, -1).map((line) => line.split(',').slice(-3, -1))).toEqual(Array.from({ length: 4 }, () => ['', 'A']));
    const missing = await cli(['results', '--db', join(fixture.dir, 'absent.sqlite')]);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toContain('no such rating database');
  });
});

import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addRater, serveHumanEval } from '../../ts/eval/human/commands.js';
import type { RatingServer } from '../../ts/eval/human/server.js';
import { RatingStore } from '../../ts/eval/human/store.js';
import { logger } from '../../ts/log.js';
import { CaptureTransport } from './helpers.js';
import { FORMULA_IDS, HOSTILE_TEXTS, ratingFixture, SERVING, serveFixture } from './human-eval-fixtures.js';

const BODY_LIMIT = 2048;
// Instruction ids that are spreadsheet formulas: the CSV exports must write them as text.
const fixture = ratingFixture(3, { id: (i) => FORMULA_IDS[i]! });
const db = join(fixture.dir, 'ratings.sqlite');
const tokens: Record<string, string> = {};
let server: RatingServer;

beforeAll(async () => {
  for (const name of ['alice', 'bob', 'carol', 'dave']) tokens[name] = addRater(db, name).token;
  tokens.admin = addRater(db, 'admin', { admin: true }).token;
  server = await serveFixture(fixture, db, { bodyLimitBytes: BODY_LIMIT });
});
afterAll(() => server.close());

const get = (path: string, cookie?: string) => fetch(server.url + path, { redirect: 'manual', headers: cookie ? { cookie } : {} });

function post(path: string, body: string | Record<string, string>, headers: Record<string, string> = {}) {
  return fetch(server.url + path, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: typeof body === 'string' ? body : new URLSearchParams(body).toString(),
  });
}

interface Login {
  cookie: string;
  csrf: string;
}

async function login(name: string): Promise<Login> {
  const response = await post('/login', { token: tokens[name]! });
  expect(response.status).toBe(303);
  const cookie = response.headers.get('set-cookie')!.split(';')[0]!;
  // Any page of a session (the next response, or the done page) carries its CSRF token in the logout form.
  const page = await (await fetch(`${server.url}/`, { headers: { cookie } })).text();
  return { cookie, csrf: /name="csrf" value="([^"]+)"/.exec(page)![1]! };
}

/** The assignment a rater is sent to next (undefined when all are rated). */
async function next(session: Login): Promise<number | undefined> {
  const response = await get('/', session.cookie);
  if (response.status === 200) return undefined;
  return Number(/^\/rate\/(\d+)$/.exec(response.headers.get('location')!)![1]);
}

function rate(session: Login, id: number, rating: string, extra: Record<string, string> = {}) {
  return post(`/rate/${id}`, { csrf: session.csrf, rating, ...extra }, { cookie: session.cookie });
}

/** A raw request, for what fetch will not send: a body streamed without a length, another Host header. */
function rawRequest(
  method: string,
  path: string,
  headers: Record<string, string>,
  chunks: Buffer[],
): Promise<{ status: number; body: string }> {
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method, headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

/** Send `text` over a plain socket and return every byte the server sends back before it closes the connection. */
async function socketExchange(text: string): Promise<string> {
  const url = new URL(server.url);
  const socket = connect(Number(url.port), url.hostname);
  const received: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  socket.end(text);
  await once(socket, 'close');
  return Buffer.concat(received).toString('latin1');
}

/** Headers that differ between two responses to the same request for reasons other than the request itself. */
const PER_RESPONSE_HEADERS = new Set(['date', 'connection', 'keep-alive']);

describe('human-eval server: access', () => {
  it('sends the strict security headers on every response', async () => {
    for (const response of [await get('/login'), await get('/'), await get('/app.css'), await get('/nowhere')]) {
      expect(response.headers.get('content-security-policy')).toBe(
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
      );
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('x-frame-options')).toBe('DENY');
      expect(response.headers.get('cache-control')).toBe('no-store');
    }
  });

  it('refuses every page and post without a valid token', async () => {
    for (const path of ['/', '/rate/1', '/results', '/results.csv', '/ratings.csv']) {
      const response = await get(path);
      expect(response.status).toBe(303);
      expect(response.headers.get('location')).toBe('/login');
      expect(await response.text()).toBe('');
    }
    expect((await post('/rate/1', { rating: 'A', csrf: 'x' })).status).toBe(401);
    const forged = `refine_af_session=${'A'.repeat(43)}`;
    expect((await get('/rate/1', forged)).status).toBe(303);
    expect((await post('/rate/1', { rating: 'A', csrf: 'x' }, { cookie: forged })).status).toBe(401);

    const wrong = await post('/login', { token: `${tokens.alice}x` });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();
    expect(await wrong.text()).toContain('That token is not valid.');
  });

  it('answers only requests addressed to a loopback name (no DNS rebinding)', async () => {
    const alice = await login('alice');
    const rebound = await rawRequest('GET', '/', { host: 'evil.example:8787', cookie: alice.cookie }, []);
    expect(rebound.status).toBe(421);
    expect(rebound.body).not.toContain('csrf');
    expect((await rawRequest('GET', '/login', { host: 'localhost' }, [])).status).toBe(200);
  });

  it("refuses a rater's token for another rater's items", async () => {
    const alice = await login('alice');
    const bob = await login('bob');
    const aliceItem = (await next(alice))!;
    const page = await (await get(`/rate/${aliceItem}`, alice.cookie)).text();
    const response = /<section id="response">.*?<div class="text"[^>]*>(.*?)<\/div>/s.exec(page)![1]!;

    const peek = await get(`/rate/${aliceItem}`, bob.cookie);
    expect(peek.status).toBe(403);
    expect(await peek.text()).not.toContain(response);
    expect((await rate(bob, aliceItem, 'D')).status).toBe(403);
    expect((await rate(alice, aliceItem, 'B')).status).toBe(303);
    expect((await rate(bob, aliceItem, 'D')).status).toBe(403);

    const store = RatingStore.open(db, { mustExist: true });
    const ratings = store.ratings().filter((r) => r.rater === 'alice' || r.rater === 'bob');
    store.close();
    expect(ratings.map((r) => [r.rater, r.rating])).toEqual([['alice', 'B']]);

    expect((await get('/results', alice.cookie)).status).toBe(403);
    expect((await get('/ratings.csv', alice.cookie)).status).toBe(403);
    expect((await get('/rate/999999', alice.cookie)).status).toBe(404);
    expect((await get('/rate/abc', alice.cookie)).status).toBe(404);
  });

  it('refuses forged, cross-site and stale-session posts', async () => {
    const carol = await login('carol');
    const dave = await login('dave');
    const id = (await next(carol))!;
    expect((await post(`/rate/${id}`, { rating: 'A' }, { cookie: carol.cookie })).status).toBe(400);
    expect((await rate(carol, id, 'A', {})).status).toBe(303);
    expect((await rate({ cookie: carol.cookie, csrf: dave.csrf }, id, 'C')).status).toBe(403);
    expect((await rate({ cookie: carol.cookie, csrf: 'x'.repeat(43) }, id, 'C')).status).toBe(403);
    expect(
      (await post(`/rate/${id}`, { csrf: carol.csrf, rating: 'C' }, { cookie: carol.cookie, origin: 'http://evil.example' })).status,
    ).toBe(403);
    expect(
      (await post(`/rate/${id}`, { csrf: carol.csrf, rating: 'C' }, { cookie: carol.cookie, 'sec-fetch-site': 'cross-site' })).status,
    ).toBe(403);
    // A sandboxed frame posts with "Origin: null".
    expect((await post(`/rate/${id}`, { csrf: carol.csrf, rating: 'C' }, { cookie: carol.cookie, origin: 'null' })).status).toBe(403);
    expect((await post('/login', { token: tokens.carol! }, { origin: 'http://evil.example' })).status).toBe(403);

    expect((await post('/logout', { csrf: carol.csrf }, { cookie: carol.cookie })).status).toBe(303);
    expect((await rate(carol, id, 'C')).status).toBe(401);
    const store = RatingStore.open(db, { mustExist: true });
    expect(
      store
        .ratings()
        .filter((r) => r.rater === 'carol')
        .map((r) => r.rating),
    ).toEqual(['A']);
    store.close();
  });
});

describe('human-eval server: bodies', () => {
  it('refuses oversized bodies, declared or streamed', async () => {
    const alice = await login('alice');
    const id = (await next(alice))!;
    const padding = 'x'.repeat(BODY_LIMIT);
    const declared = await rate(alice, id, 'A', { padding });
    expect(declared.status).toBe(413);
    const streamed = await rawRequest(
      'POST',
      `/rate/${id}`,
      { 'content-type': 'application/x-www-form-urlencoded', cookie: alice.cookie, 'transfer-encoding': 'chunked' },
      Array.from({ length: 8 }, () => Buffer.from(`csrf=${alice.csrf}&rating=A&pad=${'y'.repeat(BODY_LIMIT / 4)}`)),
    );
    expect(streamed.status).toBe(413);
    expect((await post('/login', `token=${'z'.repeat(10 * BODY_LIMIT)}`)).status).toBe(413);
    expect((await get(`/rate/${id}`, alice.cookie).then((r) => r.text())).includes('current-rating')).toBe(false);
  });

  it('refuses malformed bodies', async () => {
    const alice = await login('alice');
    const id = (await next(alice))!;
    const form = { 'content-type': 'application/x-www-form-urlencoded', cookie: alice.cookie };
    const cases: [string, Record<string, string>, Buffer, number][] = [
      ['json', { ...form, 'content-type': 'application/json' }, Buffer.from(JSON.stringify({ csrf: alice.csrf, rating: 'A' })), 415],
      ['no content type', { cookie: alice.cookie }, Buffer.from(`csrf=${alice.csrf}&rating=A`), 415],
      ['invalid UTF-8', form, Buffer.concat([Buffer.from(`csrf=${alice.csrf}&rating=`), Buffer.from([0xff, 0xfe])]), 400],
      ['level outside the scale', form, Buffer.from(`csrf=${alice.csrf}&rating=E`), 400],
      ['field twice', form, Buffer.from(`csrf=${alice.csrf}&rating=A&rating=D`), 400],
      ['unknown field', form, Buffer.from(`csrf=${alice.csrf}&rating=A&admin=1`), 400],
      ['__proto__ field', form, Buffer.from(`csrf=${alice.csrf}&rating=C&__proto__=1`), 400],
      ['__proto__ field twice', form, Buffer.from(`csrf=${alice.csrf}&rating=C&__proto__=1&__proto__=2`), 400],
      ['empty', form, Buffer.alloc(0), 400],
      ['not a form', form, Buffer.from('%%%\u0000<<>>'), 400],
    ];
    for (const [name, headers, body, status] of cases) {
      const response = await rawRequest('POST', `/rate/${id}`, headers, [body]);
      expect({ name, status: response.status }).toEqual({ name, status });
      expect(response.body).toContain('Error');
    }
    for (const body of [`token=${tokens.alice}&__proto__=1`, `token=${tokens.alice}&__proto__=1&__proto__=2`]) {
      const login = await post('/login', body);
      expect({ body, status: login.status }).toEqual({ body, status: 400 });
      expect(login.headers.get('set-cookie')).toBeNull();
    }
    expect(await rawRequest('GET', 'http://[', { cookie: alice.cookie }, [])).toMatchObject({
      status: 400,
      body: expect.stringContaining('Malformed request target'),
    });
    const put = await fetch(`${server.url}/rate/${id}`, { method: 'PUT', headers: { cookie: alice.cookie } });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, HEAD, POST');
    // Nothing refused was stored: the item is still alice's next unrated one.
    expect(await next(alice)).toBe(id);
  });
});

describe('human-eval server: rating', () => {
  it('renders markup in instructions and responses as inert text', async () => {
    const alice = await login('alice');
    const store = RatingStore.open(db, { mustExist: true });
    const first = store.order(store.raterByToken(tokens.alice!)!.id, 'responses').firstId!;
    store.close();
    let seen = 0;
    for (let id = first; id < first + 6; id++) {
      const page = await (await get(`/rate/${id}`, alice.cookie)).text();
      expect(page).not.toMatch(/<script|<img|<svg/i);
      for (const text of HOSTILE_TEXTS) {
        expect(page).not.toContain(text);
        if (
          page.includes(
            text
              .replaceAll('&', '&amp;')
              .replaceAll('<', '&lt;')
              .replaceAll('>', '&gt;')
              .replaceAll('"', '&quot;')
              .replaceAll("'", '&#39;'),
          )
        )
          seen++;
      }
    }
    // Each page shows some of the markup, escaped.
    expect(seen).toBeGreaterThanOrEqual(6);
  });

  it('shows no system name to raters', async () => {
    const alice = await login('alice');
    const id = (await next(alice))!;
    const page = await (await get(`/rate/${id}`, alice.cookie)).text();
    expect(page).not.toMatch(/echo|markup/);
  });

  it('takes concurrent raters, from one server or two on the same database', async () => {
    const second = await serveHumanEval({ ...SERVING, db, bodyLimitBytes: BODY_LIMIT });
    try {
      const raters = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6'];
      for (const name of raters) tokens[name] = addRater(db, name).token;
      const levels = { echo: 'A', markup: 'D' } as const;
      const responseSystem = (page: string): keyof typeof levels =>
        Object.values(fixture.responses.echo!).some((text) => page.includes(text.replaceAll('&', '&amp;'))) ? 'echo' : 'markup';
      const origins = [server.url, second.url];
      await Promise.all(
        raters.map(async (name, index) => {
          const base = origins[index % 2]!;
          const response = await fetch(`${base}/login`, {
            method: 'POST',
            redirect: 'manual',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: `token=${tokens[name]}`,
          });
          const cookie = response.headers.get('set-cookie')!.split(';')[0]!;
          for (;;) {
            const home = await fetch(`${base}/`, { redirect: 'manual', headers: { cookie } });
            if (home.status === 200) break;
            const path = home.headers.get('location')!;
            const page = await (await fetch(base + path, { headers: { cookie } })).text();
            const csrf = /name="csrf" value="([^"]+)"/.exec(page)![1]!;
            const section = /<section id="response">(.*?)<\/section>/s.exec(page)![1]!;
            const body = new URLSearchParams({ csrf, rating: levels[responseSystem(section)] }).toString();
            // Post the same rating twice at once (a double click): still one rating per rater × item.
            const posts = await Promise.all(
              [0, 1].map(() =>
                fetch(base + path, {
                  method: 'POST',
                  redirect: 'manual',
                  headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
                  body,
                }),
              ),
            );
            expect(posts.map((p) => p.status)).toEqual([303, 303]);
          }
        }),
      );
      const admin = await login('admin');
      const csv = await (await get('/results.csv', admin.cookie)).text();
      const rows = Object.fromEntries(
        csv
          .trim()
          .split('\r\n')
          .slice(1)
          .map((line) => [line.split(',')[0], line.split(',').slice(1, 6)]),
      );
      const store = RatingStore.open(db, { mustExist: true });
      const raterRatings = store.ratings().filter((r) => raters.includes(r.rater));
      expect(raterRatings).toHaveLength(raters.length * 6);
      expect(raterRatings.every((r) => r.rating === levels[r.system as keyof typeof levels])).toBe(true);
      // The CSV counts every rating in the database (the raters of the earlier tests included).
      const all = store.distribution();
      store.close();
      expect(rows.echo).toEqual(['A', 'B', 'C', 'D'].map((l) => String(all[0]!.counts[l as 'A']!)).concat(String(all[0]!.total)));
      expect(Number(rows.echo![0])).toBeGreaterThanOrEqual(raters.length * 3);
      expect(Number(rows.markup![3])).toBeGreaterThanOrEqual(raters.length * 3);
      const results = await (await get('/results', admin.cookie)).text();
      expect(results).toContain('<svg');
      expect(results).toMatch(/<td>echo<\/td><td>\d+ \(/);
    } finally {
      await second.close();
    }
  });

  it('refuses to serve a system added after raters have begun, and keeps serving the others', async () => {
    const third = join(fixture.dir, 'third.jsonl');
    writeFileSync(
      third,
      `${fixture.instructionIds.map((id) => JSON.stringify({ id, response: `third system's answer to ${id}` })).join('\n')}\n`,
    );
    const refused = serveHumanEval({
      ...SERVING,
      db,
      runs: [...fixture.runs, `third=${third}`],
      instructions: fixture.instructionsFile,
      bodyLimitBytes: BODY_LIMIT,
    });
    await expect(refused).rejects.toThrow(/cannot add responses \(3 of system "third"\): raters .*alice.* already have their order/);
    const store = RatingStore.open(db, { mustExist: true });
    expect(store.systems()).toEqual(['echo', 'markup']);
    store.close();
    expect((await get('/login')).status).toBe(200);
  });

  it('exports instruction ids that look like formulas as text in /ratings.csv', async () => {
    tokens.erin = addRater(db, 'erin').token;
    const store = RatingStore.open(db, { mustExist: true });
    const erin = store.raterByToken(tokens.erin)!;
    store.startRating(erin.id);
    for (let id = store.nextAssignment(erin.id); id !== undefined; id = store.nextAssignment(erin.id)) store.rate(erin.id, id, 'B');
    store.close();
    const admin = await login('admin');
    const rows = (await (await get('/ratings.csv', admin.cookie)).text()).split('\r\n').filter((line) => line.startsWith('erin,'));
    expect(rows).toHaveLength(6);
    for (const id of FORMULA_IDS.slice(0, 3)) {
      expect(rows.filter((row) => row.startsWith(`erin,"'${id.replaceAll('"', '""')}",`))).toHaveLength(2);
    }
  });
});

describe('human-eval server: HTTP', () => {
  it('answers HEAD wherever GET works, with the same status and headers and no body', async () => {
    const admin = await login('admin');
    const alice = await login('alice');
    const id = (await next(alice))!;
    const requests: [string, string | undefined][] = [
      ['/login', undefined],
      ['/app.css', undefined],
      ['/', undefined],
      ['/', alice.cookie],
      [`/rate/${id}`, alice.cookie],
      [`/rate/${id}`, admin.cookie],
      ['/results', admin.cookie],
      ['/results.csv', admin.cookie],
      ['/ratings.csv', admin.cookie],
      ['/nowhere', admin.cookie],
    ];
    for (const [path, cookie] of requests) {
      const got = await get(path, cookie);
      const body = Buffer.from(await got.arrayBuffer());
      const raw = await socketExchange(
        `HEAD ${path} HTTP/1.1\r\nHost: ${new URL(server.url).host}\r\n${cookie ? `Cookie: ${cookie}\r\n` : ''}Connection: close\r\n\r\n`,
      );
      const end = raw.indexOf('\r\n\r\n');
      const [statusLine, ...headerLines] = raw.slice(0, end).split('\r\n');
      const headers = Object.fromEntries(
        headerLines
          .map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()])
          .filter(([name]) => !PER_RESPONSE_HEADERS.has(name!)),
      );
      const expected = Object.fromEntries([...got.headers].filter(([name]) => !PER_RESPONSE_HEADERS.has(name)));
      expect({ path, status: Number(statusLine!.split(' ')[1]), headers }).toEqual({ path, status: got.status, headers: expected });
      expect(headers['content-length']).toBe(String(body.length));
      // Nothing after the headers: the connection closed with no body sent.
      expect({ path, after: raw.slice(end + 4) }).toEqual({ path, after: '' });
    }
  });

  it('logs one warning line, without a stack trace, for a client that closes in the middle of a form', async () => {
    const capture = new CaptureTransport();
    logger.add(capture);
    try {
      const url = new URL(server.url);
      const socket = connect(Number(url.port), url.hostname);
      await once(socket, 'connect');
      const head = `POST /login HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 200\r\n\r\n`;
      await new Promise((resolve) => socket.write(`${head}token=${tokens.alice!.slice(0, 10)}`, resolve));
      // Let the server start reading the body, then go away with 190 bytes still owed.
      await sleep(200);
      socket.destroy();
      for (let waited = 0; capture.lines.length === 0 && waited < 5000; waited += 50) await sleep(50);
      await sleep(200);
      expect(capture.lines.map((line) => [line.level, line.message])).toEqual([
        ['warn', 'human-eval: POST /login: the client closed the connection before sending the whole form'],
      ]);
    } finally {
      logger.remove(capture);
    }
    expect((await get('/login')).status).toBe(200);
  });
});

/** The number of assignments (of both studies) a rater has: what drawing an order writes. */
function assignmentsOf(name: string): number {
  const store = RatingStore.open(db, { mustExist: true });
  try {
    const rater = store.raterByToken(tokens[name]!)!;
    return store.order(rater.id, 'responses').total + store.order(rater.id, 'review').total;
  } finally {
    store.close();
  }
}

describe('human-eval server: who rates and who sees results', () => {
  it('sends an admin to the results and refuses them every rating page and post, so nobody who rates sees results', async () => {
    const admin = await login('admin');
    const home = await get('/', admin.cookie);
    expect(home.status).toBe(303);
    expect(home.headers.get('location')).toBe('/results');
    // Logging in drew no order for the admin.
    expect(assignmentsOf('admin')).toBe(0);
    const alice = await login('alice');
    const aliceItem = (await next(alice))!;
    expect((await get(`/rate/${aliceItem}`, admin.cookie)).status).toBe(403);
    expect((await get('/review', admin.cookie)).status).toBe(403);
    expect((await post('/start', { csrf: admin.csrf }, { cookie: admin.cookie })).status).toBe(403);

    // An admin who was given an order by an earlier version (on their first visit) can no longer rate with it.
    const store = RatingStore.open(db, { mustExist: true });
    const adminId = store.raterByToken(tokens.admin!)!.id;
    store.startRating(adminId);
    const own = store.nextAssignment(adminId)!;
    store.close();
    const page = await get(`/rate/${own}`, admin.cookie);
    expect(page.status).toBe(403);
    expect(await page.text()).toContain('Admin accounts see the results and do not rate');
    expect((await rate(admin, own, 'A')).status).toBe(403);
    const after = RatingStore.open(db, { mustExist: true });
    expect(after.ratings().filter((r) => r.rater === 'admin')).toEqual([]);
    after.close();
    // Nor is the admin listed among the raters on the results page.
    const progress = /<table id="progress">.*?<\/table>/s.exec(await (await get('/results', admin.cookie)).text())![0];
    expect(progress).toContain('<td>alice</td>');
    expect(progress).not.toContain('<td>admin</td>');

    // Raters get none of the results.
    for (const path of ['/results', '/results.csv', '/ratings.csv', '/rating-history.csv', '/table-iv.csv', '/review-answers.csv']) {
      expect({ path, status: (await get(path, alice.cookie)).status }).toEqual({ path, status: 403 });
    }
  });

  it('links the results in the header for admins, and nowhere for raters', async () => {
    const admin = await login('admin');
    const alice = await login('alice');
    expect(await (await get('/results', admin.cookie)).text()).toContain(
      '<header><h1>Results</h1><nav><a href="/results" id="results-link">Results</a><form method="post" action="/logout">',
    );
    expect(await (await get(`/rate/${(await next(alice))!}`, alice.cookie)).text()).not.toContain('/results');
  });
});

describe('human-eval server: history of ratings', () => {
  it('keeps every change of a rating for the admin export, while the results count the latest', async () => {
    tokens.hank = addRater(db, 'hank').token;
    const hank = await login('hank');
    const id = (await next(hank))!;
    for (const level of ['C', 'A', 'A']) expect((await rate(hank, id, level)).status).toBe(303);
    const admin = await login('admin');
    const history = (await (await get('/rating-history.csv', admin.cookie)).text()).split('\r\n');
    expect(history[0]).toBe('rater,instruction_id,system,old_rating,new_rating,at');
    const hanks = history.filter((line) => line.startsWith('hank,')).map((line) => line.split(',').slice(-3, -1));
    expect(hanks).toEqual([
      ['', 'C'],
      ['C', 'A'],
    ]);
    const latest = (await (await get('/ratings.csv', admin.cookie)).text()).split('\r\n').filter((line) => line.startsWith('hank,'));
    expect(latest).toHaveLength(1);
    expect(latest[0]!.split(',').at(-2)).toBe('A');
    expect((await get('/rating-history.csv', hank.cookie)).status).toBe(403);
  });
});

describe('human-eval server: safe methods never write', () => {
  it("draws a rater's order at login, or on POST /start for a session without one; GET and HEAD draw nothing", async () => {
    tokens.gina = addRater(db, 'gina').token;
    expect(assignmentsOf('gina')).toBe(0);
    await login('gina');
    expect(assignmentsOf('gina')).toBe(6);

    // A session without an order: one begun before this version, or before the items were imported.
    tokens.ivan = addRater(db, 'ivan').token;
    const store = RatingStore.open(db, { mustExist: true });
    const { sessionId, csrf } = store.createSession(store.raterByToken(tokens.ivan)!.id, 60_000);
    store.close();
    const ivan = { cookie: `refine_af_session=${sessionId}`, csrf };
    for (const method of ['HEAD', 'GET', 'HEAD']) {
      const response = await fetch(`${server.url}/`, { method, redirect: 'manual', headers: { cookie: ivan.cookie } });
      expect(response.status).toBe(200);
      expect(assignmentsOf('ivan')).toBe(0);
    }
    const start = await (await get('/', ivan.cookie)).text();
    expect(start).toContain('<form method="post" action="/start">');
    expect((await post('/start', { csrf: 'x'.repeat(43) }, { cookie: ivan.cookie })).status).toBe(403);
    expect(assignmentsOf('ivan')).toBe(0);
    const started = await post('/start', { csrf }, { cookie: ivan.cookie });
    expect(started.status).toBe(303);
    expect(assignmentsOf('ivan')).toBe(6);
    expect(await next(ivan)).toBeGreaterThan(0);
    // Starting again draws nothing more.
    await post('/start', { csrf }, { cookie: ivan.cookie });
    expect(assignmentsOf('ivan')).toBe(6);
  });
});

describe('human-eval server: keyboard', () => {
  it('gives the rating buttons access keys A to D, shown on them, and the first focus to the current rating (else A)', async () => {
    tokens.jane = addRater(db, 'jane').token;
    const jane = await login('jane');
    const id = (await next(jane))!;
    const buttons = (page: string) => [...page.matchAll(/<button type="submit" name="rating"[^>]*>.*?<\/button>/g)].map((m) => m[0]);
    const fresh = buttons(await (await get(`/rate/${id}`, jane.cookie)).text());
    expect(fresh.map((b) => /accesskey="(\w)"/.exec(b)?.[1])).toEqual(['a', 'b', 'c', 'd']);
    expect(fresh.map((b) => /<kbd>(\w)<\/kbd>/.exec(b)?.[1])).toEqual(['A', 'B', 'C', 'D']);
    expect(fresh.map((b) => b.includes(' autofocus'))).toEqual([true, false, false, false]);
    await rate(jane, id, 'C');
    const page = await (await get(`/rate/${id}`, jane.cookie)).text();
    expect(buttons(page).map((b) => b.includes(' autofocus'))).toEqual([false, false, true, false]);
    // Nothing else on the page takes the focus first.
    expect(page.match(/autofocus/g)).toHaveLength(1);
    expect(page).toContain('id="keys"');
  });
});

describe('human-eval server: session cookie', () => {
  it('is Secure when the app is told it sits behind TLS, and not by default', async () => {
    const plain = await post('/login', { token: tokens.alice! });
    expect(plain.headers.get('set-cookie')).not.toMatch(/Secure/i);
    const secure = await serveHumanEval({ ...SERVING, db, secureCookies: true });
    try {
      const login = await fetch(`${secure.url}/login`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `token=${tokens.alice}`,
      });
      const cookie = login.headers.get('set-cookie')!;
      expect(cookie).toMatch(/; HttpOnly; SameSite=Strict; Max-Age=\d+; Secure$/);
      const page = await (await fetch(`${secure.url}/`, { headers: { cookie: cookie.split(';')[0]! } })).text();
      const csrf = /name="csrf" value="([^"]+)"/.exec(page)![1]!;
      const logout = await fetch(`${secure.url}/logout`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookie.split(';')[0]! },
        body: `csrf=${csrf}`,
      });
      expect(logout.headers.get('set-cookie')).toMatch(/Max-Age=0; Secure$/);
    } finally {
      await secure.close();
    }
  });
});

describe('human-eval server: failed logins', () => {
  /** POST /login from a loopback address of our choosing (all of 127.0.0.0/8 reaches the server). */
  function loginFrom(
    base: string,
    localAddress: string,
    token: string,
  ): Promise<{ status: number; retryAfter?: string; cookie?: string | string[] }> {
    const url = new URL(base);
    const body = `token=${encodeURIComponent(token)}`;
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path: '/login',
          method: 'POST',
          localAddress,
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          res.resume();
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], cookie: res.headers['set-cookie'] }),
          );
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  it('refuses an address with 429 and Retry-After after too many wrong tokens, per address, remembering a bounded number', async () => {
    const limited = await serveHumanEval({ ...SERVING, db, loginThrottle: { failures: 3, windowMs: 2000, addresses: 2 } });
    try {
      const statuses = async (address: string, attempts: string[]) => {
        const out: number[] = [];
        for (const token of attempts) out.push((await loginFrom(limited.url, address, token)).status);
        return out;
      };
      const wrong = `${tokens.alice}x`;
      expect(await statuses('127.0.0.2', [wrong, wrong, wrong])).toEqual([401, 401, 401]);
      // Locked: even the right token is refused, without a session, until the window of the first failure ends.
      const locked = await loginFrom(limited.url, '127.0.0.2', tokens.alice!);
      expect(locked.status).toBe(429);
      expect(Number(locked.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(Number(locked.retryAfter)).toBeLessThanOrEqual(2);
      expect(locked.cookie).toBeUndefined();
      // Another address is not affected; a success clears its failures.
      expect(await statuses('127.0.0.3', [wrong, wrong, tokens.alice!, wrong, wrong, tokens.alice!])).toEqual([
        401, 401, 303, 401, 401, 303,
      ]);
      // Two more addresses fail once each: only two are remembered, so 127.0.0.2, the least recent, is forgotten.
      expect(await statuses('127.0.0.4', [wrong])).toEqual([401]);
      expect(await statuses('127.0.0.5', [wrong])).toEqual([401]);
      expect(await statuses('127.0.0.2', [tokens.alice!])).toEqual([303]);
      // A lockout ends with its window.
      expect(await statuses('127.0.0.6', [wrong, wrong, wrong, tokens.alice!])).toEqual([401, 401, 401, 429]);
      await sleep(2100);
      expect(await statuses('127.0.0.6', [tokens.alice!])).toEqual([303]);
    } finally {
      await limited.close();
    }
  });
});

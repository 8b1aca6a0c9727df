// End to end in a real browser: Debian's chromium driven by playwright-core. A rater logs in with a token, rates every
// response (and revises one), the ratings land in the database, and the admin sees them on the results page; a rater
// rates with the keyboard alone (the first focus, access keys); a very long
// response leaves the rating buttons in view, and direction-changing characters show as marked code points.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addRater } from '../../ts/eval/human/commands.js';
import type { RatingServer } from '../../ts/eval/human/server.js';
import { RatingStore } from '../../ts/eval/human/store.js';
import { ratingFixture, serveFixture } from './human-eval-fixtures.js';

const CHROMIUM = process.env.REFINE_AF_CHROMIUM ?? '/usr/bin/chromium';
const fixture = ratingFixture(3);
const db = join(fixture.dir, 'ratings.sqlite');
let server: RatingServer;
let browser: Browser;
let aliceToken: string;
let adminToken: string;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`chromium not found at ${CHROMIUM}: run \`make chromium\` (apt-get install chromium) or set REFINE_AF_CHROMIUM`);
  }
  aliceToken = addRater(db, 'alice').token;
  adminToken = addRater(db, 'admin', { admin: true }).token;
  server = await serveFixture(fixture, db);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

/** Click a button that submits a form, and wait until the page it leads to has loaded. */
async function submit(page: Page, selector: string): Promise<void> {
  const before = page.url();
  await Promise.all([page.waitForURL((url) => url.toString() !== before), page.click(selector)]);
  await page.waitForLoadState();
}

async function logIn(page: Page, token: string, url = server.url): Promise<void> {
  await page.goto(`${url}/`);
  expect(page.url()).toBe(`${url}/login`);
  await page.fill('input[name="token"]', token);
  await submit(page, 'button[type="submit"]');
}

describe('human-eval in a headless browser', () => {
  it('a rater logs in, rates, and the ratings reach the database and the results page', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const dialogs: string[] = [];
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });

    await logIn(page, aliceToken);
    const cookies = await context.cookies();
    expect(cookies).toEqual([expect.objectContaining({ name: 'refine_af_session', httpOnly: true, sameSite: 'Strict' })]);

    const echoTexts = new Set(Object.values(fixture.responses.echo!));
    const given: { system: string; level: string }[] = [];
    while (/\/rate\/\d+$/.test(page.url())) {
      expect(await page.textContent('h1')).toBe(`Response ${given.length + 1} of 6`);
      const response = (await page.textContent('#response .text'))!;
      const system = echoTexts.has(response) ? 'echo' : 'markup';
      if (system === 'markup') expect(response).toMatch(/<script|<img|<svg|<\/div>/);
      expect(await page.textContent('#golden .text')).toMatch(/^golden output \d & more$/);
      // The markup in the texts stays text: no element was created from it and nothing ran.
      expect(await page.evaluate(() => document.querySelectorAll('script, img, svg').length)).toBe(0);
      expect(await page.title()).toMatch(/^Response \d of 6 · refine-af human evaluation$/);
      const level = system === 'echo' ? 'A' : 'D';
      given.push({ system, level });
      await submit(page, `button[name="rating"][value="${level}"]`);
    }
    expect(await page.textContent('#done')).toBe('You have rated all 6 responses. Thank you.');
    expect(given.map((g) => g.system).sort()).toEqual(['echo', 'echo', 'echo', 'markup', 'markup', 'markup']);

    // Revise the first rating to C.
    await submit(page, 'a:has-text("Review your ratings")');
    expect(await page.textContent('#current-rating')).toBe(given[0]!.level);
    await submit(page, 'button[name="rating"][value="C"]');
    given[0]!.level = 'C';
    expect(dialogs).toEqual([]);

    const expected = (system: string) =>
      Object.fromEntries(
        ['A', 'B', 'C', 'D'].map((level) => [level, given.filter((g) => g.system === system && g.level === level).length]),
      );
    const store = RatingStore.open(db, { mustExist: true });
    const stored = store.ratings();
    const distribution = store.distribution();
    store.close();
    expect(stored).toHaveLength(6);
    expect(stored.every((r) => r.rater === 'alice')).toBe(true);
    expect(Object.fromEntries(distribution.map((d) => [d.system, d.counts]))).toEqual({
      echo: expected('echo'),
      markup: expected('markup'),
    });

    // A rater does not see the results; after logging out, nothing is reachable.
    const refused = await page.goto(`${server.url}/results`);
    expect(refused?.status()).toBe(403);
    await page.goto(`${server.url}/`);
    await submit(page, 'button:has-text("Log out")');
    expect(page.url()).toBe(`${server.url}/login`);
    await page.goto(`${server.url}/`);
    expect(page.url()).toBe(`${server.url}/login`);

    // The admin lands on the results, linked in the header.
    await logIn(page, adminToken);
    expect(page.url()).toBe(`${server.url}/results`);
    expect(await page.isVisible('header #results-link')).toBe(true);
    for (const system of ['echo', 'markup']) {
      const cells = await page.locator('#distribution tbody tr', { hasText: system }).locator('td').allTextContents();
      const counts = expected(system);
      const total = given.filter((g) => g.system === system).length;
      expect(cells).toEqual([
        system,
        ...['A', 'B', 'C', 'D'].map((level) => `${counts[level]} (${((100 * counts[level]!) / total).toFixed(1)}%)`),
        String(total),
      ]);
    }
    expect(await page.locator('svg rect').count()).toBeGreaterThanOrEqual(8);
    expect(await page.locator('#progress tbody tr', { hasText: 'alice' }).locator('td').allTextContents()).toEqual(['alice', '6', '6']);
    await context.close();
  });

  it('rates from the keyboard alone: Enter on the focused level, then each level by its access key', async () => {
    const kimToken = addRater(db, 'kim').token;
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await logIn(page, kimToken);
      const given = new Map<number, string>();
      /** On a rating page, rate `level` by pressing a key, and wait until the next page has loaded. */
      const rateBy = async (press: () => Promise<unknown>, level: string) => {
        const before = page.url();
        given.set(Number(/\/rate\/(\d+)$/.exec(before)![1]), level);
        await Promise.all([page.waitForURL((url) => url.toString() !== before), press()]);
        await page.waitForLoadState();
      };
      // Chromium on Linux triggers an access key by Alt and the key's character. Playwright's keyboard sends no character
      // for a key pressed with Alt, so the key goes through the DevTools protocol as a keyboard would send it.
      const devtools = await context.newCDPSession(page);
      const altKey = async (letter: string) => {
        const key = {
          modifiers: 1,
          key: letter,
          code: `Key${letter.toUpperCase()}`,
          windowsVirtualKeyCode: letter.toUpperCase().charCodeAt(0),
        };
        await devtools.send('Input.dispatchKeyEvent', { ...key, type: 'keyDown', text: letter, unmodifiedText: letter });
        await devtools.send('Input.dispatchKeyEvent', { ...key, type: 'keyUp' });
      };
      // The keys are shown on the buttons, and the first focus is A's, with no click and no Tab.
      expect(await page.locator('button[name="rating"] kbd').allTextContents()).toEqual(['A', 'B', 'C', 'D']);
      expect(await page.isVisible('#keys')).toBe(true);
      // The browser applies autofocus after the page has loaded, at its next rendering update: wait for it.
      const focused = () => page.evaluate(() => (document.activeElement as HTMLButtonElement).value);
      await expect.poll(focused).toBe('A');
      await rateBy(() => page.keyboard.press('Enter'), 'A');
      for (const level of ['C', 'B', 'D']) await rateBy(() => altKey(level.toLowerCase()), level);
      // Tab from the first focus reaches B in one press (a Tab before the autofocus starts from the page's top).
      await expect.poll(focused).toBe('A');
      await page.keyboard.press('Tab');
      expect(await focused()).toBe('B');
      await rateBy(() => page.keyboard.press('Enter'), 'B');

      const store = RatingStore.open(db, { mustExist: true });
      const stored = new Map([...given.keys()].map((id) => [id, store.assignment(id)?.rating]));
      const kim = store.ratings().filter((r) => r.rater === 'kim');
      store.close();
      expect(stored).toEqual(given);
      expect(kim).toHaveLength(5);
    } finally {
      await context.close();
    }
  });

  it('keeps the rating buttons in view beside a 1 MB response, and shows direction-changing characters as code points', async () => {
    const longResponse = 'A long response line that goes on and on.\n'.repeat(25_000);
    // Instruction 0: the "markup" system answers with 1 MB. Instruction 1: every text carries a right-to-left override.
    const hostile = ratingFixture(2, {
      text: (text, i, field) => (i === 0 ? (field === 'markup' ? longResponse : text) : `${text} ${field}:\u202Eright to left`),
    });
    const hostileDb = join(hostile.dir, 'ratings.sqlite');
    const readerToken = addRater(hostileDb, 'reader').token;
    const hostileServer = await serveFixture(hostile, hostileDb);
    const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
    try {
      const page = await context.newPage();
      await logIn(page, readerToken, hostileServer.url);
      let longPages = 0;
      let overridePages = 0;
      while (/\/rate\/\d+$/.test(page.url())) {
        // Every rating button lies within the first screen, without scrolling the page.
        expect(await page.evaluate(() => window.scrollY)).toBe(0);
        for (const level of ['A', 'B', 'C', 'D']) {
          const box = (await page.locator(`button[name="rating"][value="${level}"]`).boundingBox())!;
          expect(box.y).toBeGreaterThanOrEqual(0);
          expect(box.y + box.height).toBeLessThanOrEqual(720);
        }
        const response = (await page.textContent('#response .text'))!;
        if (response.length > 100_000) {
          longPages++;
          expect(response).toBe(longResponse);
          expect(await page.textContent('#response h2')).toContain(`${longResponse.length.toLocaleString('en')} characters`);
          // The response scrolls inside its own box.
          expect(
            await page.evaluate(() => {
              const box = document.querySelector('#response .text')!;
              return box.scrollHeight > 10 * box.clientHeight;
            }),
          ).toBe(true);
        } else if (response.includes('right to left')) {
          overridePages++;
          for (const section of ['instruction', 'input', 'golden', 'response']) {
            const text = (await page.textContent(`#${section} .text`))!;
            expect(text).not.toContain('\u202E');
            expect(text).toMatch(/:<U\+202E>right to left$/);
            expect(await page.locator(`#${section} .codepoint`).allTextContents()).toEqual(['<U+202E>']);
            // Read left to right as written: the "r" that begins "right to left" is left of the "t" that ends it.
            const [first, last] = await page.evaluate((id) => {
              const box = document.querySelector(`#${id} .text`)!;
              const node = [...box.childNodes].find((n) => n.nodeType === Node.TEXT_NODE && n.textContent!.includes('right to left'))!;
              const at = node.textContent!.lastIndexOf('right to left');
              const left = (offset: number) => {
                const range = document.createRange();
                range.setStart(node, offset);
                range.setEnd(node, offset + 1);
                return range.getBoundingClientRect().left;
              };
              return [left(at), left(at + 'right to left'.length - 1)];
            }, section);
            expect(first).toBeLessThan(last!);
          }
        }
        await submit(page, 'button[name="rating"][value="B"]');
      }
      expect({ longPages, overridePages }).toEqual({ longPages: 1, overridePages: 2 });
    } finally {
      await context.close();
      await hostileServer.close();
    }
  });
});

/**
 * The pages of the rating app. Every page is built with the `html` tag, which escapes each interpolated value unless it is
 * already `Html`: text from the database (instructions, responses, names) can only ever render as text.
 * No page carries a script; styles come from one stylesheet (/app.css), so the Content-Security-Policy can forbid the rest.
 */
import { escapeMarkup } from '../../markup.js';
import { groupedBarSvg } from '../../stats/svg.js';
import { REVIEW_QUESTION_TEXTS, REVIEW_QUESTIONS } from './review.js';
import { RATING_MEANINGS, RATINGS, type Rating } from './scale.js';
import type {
  AssignmentView,
  OrderSummary,
  QualityReviewRow,
  RaterProgress,
  ReviewAssignmentView,
  Session,
  SystemDistribution,
} from './store.js';

export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

type Fragment = Html | string | number | readonly Fragment[] | undefined | null | false;

function render(value: Fragment): string {
  if (value === undefined || value === null || value === false) return '';
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeMarkup(String(value));
}

/**
 * Characters that change how text reads without showing themselves: control characters (but tab and line breaks), format
 * characters (bidirectional overrides, embeddings and isolates, zero-width characters, the BOM, tag characters) and the
 * Hangul fillers, which render blank.
 */
const HIDDEN_CHARACTER = /(?![\t\n\r])[\p{Cc}\p{Cf}\u115F\u1160\u3164\uFFA0]/gu;

/**
 * Text to show a rater: escaped, with each hidden character replaced by its marked code point (`<U+202E>`), so that it
 * neither takes effect (a U+202E would reverse what follows) nor goes unnoticed.
 */
export function visibleText(text: string): Html {
  return new Html(
    escapeMarkup(text).replace(HIDDEN_CHARACTER, (c) => {
      const codePoint = `U+${(c.codePointAt(0) as number).toString(16).toUpperCase().padStart(4, '0')}`;
      return html`<span class="codepoint">&lt;${codePoint}&gt;</span>`.text;
    }),
  );
}

/** Tagged template: `html\`<p>${text}</p>\`` escapes `text`; nested `html` fragments and arrays of them pass through. */
export function html(strings: TemplateStringsArray, ...values: Fragment[]): Html {
  return new Html(strings.reduce((out, s, i) => out + s + (i < values.length ? render(values[i] as Fragment) : ''), ''));
}

export const STYLESHEET = `
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 0 auto; padding: 1rem; color: #1d1d1f; background: #fafafa; }
header { display: flex; justify-content: space-between; align-items: center; border-bottom: 1px solid #ddd; margin-bottom: 1rem; }
header form { margin: 0; }
header nav { display: flex; align-items: center; gap: 1rem; }
section { background: #fff; border: 1px solid #e2e2e2; border-radius: 6px; padding: 0.5rem 1rem; margin-bottom: 0.75rem; }
section h2 { font-size: 0.9rem; text-transform: uppercase; letter-spacing: 0.05em; color: #666; margin: 0.5rem 0; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; font-family: ui-monospace, monospace; font-size: 0.95rem; max-height: 30vh; overflow: auto; }
#response { border-color: #4a7bd0; border-width: 2px; }
#response .text { max-height: 45vh; }
.length { text-transform: none; letter-spacing: normal; font-weight: normal; }
.codepoint { font-size: 0.8em; color: #a00; background: #fee; border: 1px solid #d99; border-radius: 3px; padding: 0 0.15em; }
/* The rating buttons stay at the bottom of the window until the page's end scrolls into view, however long the texts. */
.rate { position: sticky; bottom: 0; background: #fafafa; border-top: 1px solid #ddd; padding: 0.5rem 0; }
.ratings { display: grid; grid-template-columns: 1fr 1fr; gap: 0.5rem; }
.ratings button { text-align: left; padding: 0.75rem; font-size: 1rem; border: 1px solid #bbb; border-radius: 6px; background: #fff; cursor: pointer; }
.ratings button:hover, .ratings button:focus { background: #eef3fc; }
.ratings button.current { border: 3px solid #4a7bd0; }
.ratings button:focus { outline: 3px solid #1d4fa3; outline-offset: 2px; }
kbd { font-family: ui-monospace, monospace; font-size: 0.85em; border: 1px solid #999; border-bottom-width: 2px; border-radius: 3px; padding: 0 0.3em; background: #f4f4f4; }
.ratings kbd { float: right; }
.keys { margin: 0.25rem 0 0; font-size: 0.85rem; }
.review fieldset { border: 1px solid #e2e2e2; border-radius: 6px; margin-bottom: 0.5rem; }
.review legend { font-weight: bold; }
.review label { margin-right: 1.5rem; padding: 0.25rem; }
.muted { color: #666; }
.error { color: #a00; font-weight: bold; }
table { border-collapse: collapse; }
td, th { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
`;

function layout(title: string, body: Html, session?: Session): Html {
  return html`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · refine-af human evaluation</title><link rel="stylesheet" href="/app.css"></head>
<body>
<header><h1>${title}</h1>${
    session &&
    html`<nav>${session.rater.isAdmin && html`<a href="/results" id="results-link">Results</a>`}<form method="post" action="/logout"><span class="muted">${session.rater.isAdmin ? 'admin' : 'rating as'} <strong id="rater">${session.rater.name}</strong></span>
<input type="hidden" name="csrf" value="${session.csrf}"> <button type="submit">Log out</button></form></nav>`
  }</header>
${body}
</body>
</html>
`;
}

export function loginPage(message?: string): Html {
  return layout(
    'Log in',
    html`${message && html`<p class="error" role="alert">${message}</p>`}
<p>Enter the rater token you were given.</p>
<form method="post" action="/login">
<label>Token <input type="password" name="token" autocomplete="off" required autofocus></label>
<button type="submit">Log in</button>
</form>`,
  );
}

/** From this many characters on, a text's box may scroll, so its heading says how long the text is. */
const LONG_TEXT = 2000;

/** One text in a box of limited height that scrolls on its own, so the page stays short whatever the text's length. */
function textSection(heading: string, text: string, id: string): Html {
  const length = [...text].length;
  return html`<section id="${id}"><h2>${heading}${
    length >= LONG_TEXT && html` <span class="length">· ${length.toLocaleString('en')} characters, scroll inside the box</span>`
  }</h2><div class="text" tabindex="0">${text === '' ? html`<span class="muted">(empty)</span>` : visibleText(text)}</div></section>`;
}

/**
 * The rating form works from the keyboard without a script: the current rating's button (else A's) has the first focus,
 * so Enter rates with it and Tab moves along the levels, and each button's access key is its level's letter.
 */
export function ratingPage(view: AssignmentView, session: Session): Html {
  const focused = view.rating ?? RATINGS[0];
  const buttons = RATINGS.map(
    (level: Rating) =>
      html`<button type="submit" name="rating" value="${level}" accesskey="${level.toLowerCase()}"${level === focused ? html` autofocus` : ''}${view.rating === level ? html` class="current" aria-pressed="true"` : ''}><kbd>${level}</kbd><strong>${level}</strong> — ${RATING_MEANINGS[level]}</button>`,
  );
  return layout(
    `Response ${view.position} of ${view.total}`,
    html`<p class="muted">${view.rated} of ${view.total} rated.${view.rating && html` Your rating of this response: <strong id="current-rating">${view.rating}</strong>.`}
${view.previousId !== undefined && html` <a href="/rate/${view.previousId}">Previous response</a>`} <a href="/">Next unrated</a></p>
${textSection('Instruction', view.instruction, 'instruction')}
${textSection('Input', view.input, 'input')}
${textSection('Golden output (reference)', view.output, 'golden')}
${textSection('Response to rate', view.response, 'response')}
<form class="rate" method="post" action="/rate/${view.id}">
<input type="hidden" name="csrf" value="${session.csrf}">
<div class="ratings">${buttons}</div>
<p class="keys muted" id="keys">Keyboard: Enter rates with the outlined button, Tab moves to the next; or press a level's letter with the
access-key modifier: <kbd>Alt</kbd> (Chrome, Edge), <kbd>Alt</kbd>+<kbd>Shift</kbd> (Firefox), <kbd>Control</kbd>+<kbd>Option</kbd> (Safari on a Mac).</p>
</form>`,
    session,
  );
}

/**
 * One quality-review item (Table IV): the instruction, its input and output, and the three yes/no questions as radio
 * buttons, all required, so a post always carries the three answers. Nothing on the page names the arm the item came from.
 */
export function reviewPage(view: ReviewAssignmentView, session: Session): Html {
  const questions = REVIEW_QUESTIONS.map(
    (question) =>
      html`<fieldset id="${question}"><legend>${REVIEW_QUESTION_TEXTS[question]}</legend>${(['yes', 'no'] as const).map(
        (choice) =>
          html`<label><input type="radio" name="${question}" value="${choice}" required${view.answers?.[question] === (choice === 'yes') ? html` checked` : ''}> ${choice}</label>`,
      )}</fieldset>`,
  );
  return layout(
    `Quality review: item ${view.position} of ${view.total}`,
    html`<p class="muted">${view.rated} of ${view.total} answered.${view.answers && html` <span id="answered">You have answered this item; saving again revises your answers.</span>`}
${view.previousId !== undefined && html` <a href="/review/${view.previousId}">Previous item</a>`} <a href="/review">Next unanswered</a></p>
${textSection('Instruction', view.instruction, 'instruction')}
${textSection('Input', view.input, 'input')}
${textSection('Output', view.output, 'output')}
<form class="review" method="post" action="/review/${view.id}">
<input type="hidden" name="csrf" value="${session.csrf}">
${questions}
<button type="submit">Save answers</button>
</form>`,
    session,
  );
}

export function donePage(session: Session, responses: OrderSummary, review: OrderSummary): Html {
  return layout(
    'All rated',
    html`${responses.total === 0 && review.total === 0 && html`<p>There is nothing to rate yet.</p>`}
${responses.firstId !== undefined && html`<p id="done">You have rated all ${responses.total} responses. Thank you.</p><p><a href="/rate/${responses.firstId}">Review your ratings from the start</a></p>`}
${review.firstId !== undefined && html`<p id="review-done">You have answered all ${review.total} quality-review items. Thank you.</p><p><a href="/review/${review.firstId}">Go over your answers from the start</a></p>`}`,
    session,
  );
}

/** Items were imported after the rater logged in: their order of them is drawn when they start, by a post (a page load never writes). */
export function startPage(session: Session): Html {
  return layout(
    'New items to rate',
    html`<p>There are items you have not been given yet.</p>
<form method="post" action="/start"><input type="hidden" name="csrf" value="${session.csrf}"><button type="submit" autofocus>Start rating them</button></form>`,
    session,
  );
}

/** Figure 6 as an SVG: for each rating level, one bar per system with its count. */
export function distributionChart(distribution: readonly SystemDistribution[]): Html {
  // groupedBarSvg escapes every text it draws, so its output is markup as it stands.
  return new Html(
    groupedBarSvg(
      'Rating distribution per system (Figure 6)',
      RATINGS.map((level) => `Rating-${level}`),
      distribution.map((d) => ({ label: d.system, values: RATINGS.map((level) => d.counts[level]) })),
      'rating',
      'responses',
    ),
  );
}

const percent = (n: number, total: number) => (total === 0 ? '–' : `${((100 * n) / total).toFixed(1)}%`);

function progressTable(id: string, progress: readonly RaterProgress[]): Html {
  return html`<table id="${id}"><thead><tr><th>rater</th><th>rated</th><th>of</th></tr></thead>
<tbody>${progress.map((p) => html`<tr><td>${p.name}</td><td>${p.rated}</td><td>${p.total}</td></tr>`)}</tbody></table>`;
}

/** Table IV: per system, the share of yes to each question with its count, over every answer given. */
function qualityReviewSection(table: readonly QualityReviewRow[], progress: readonly RaterProgress[]): Html {
  return html`<section><h2>Quality review of the generated data (Table IV)</h2>
<table id="quality-review"><thead><tr><th>question</th>${table.map((row) => html`<th>${row.system}</th>`)}</tr></thead>
<tbody>${REVIEW_QUESTIONS.map(
    (question) =>
      html`<tr><td>${REVIEW_QUESTION_TEXTS[question]}</td>${table.map((row) => html`<td>${percent(row.yes[question], row.answers)} (${row.yes[question]} of ${row.answers})</td>`)}</tr>`,
  )}
<tr><td>items (answers)</td>${table.map((row) => html`<td>${row.items} (${row.answers})</td>`)}</tr></tbody></table>
<p><a href="/table-iv.csv">Table IV as CSV</a> · <a href="/review-answers.csv">Every answer as CSV</a> (the latest of each rater × item) · <a href="/review-answer-history.csv">Every answer saved as CSV</a></p>
<h2>Raters of the quality review</h2>${progressTable('review-progress', progress)}</section>`;
}

export function resultsPage(
  distribution: readonly SystemDistribution[],
  progress: readonly RaterProgress[],
  review: { table: readonly QualityReviewRow[]; progress: readonly RaterProgress[] },
  session: Session,
): Html {
  return layout(
    'Results',
    html`<section><h2>Rating distribution per system (Figure 6)</h2>${distributionChart(distribution)}
<table id="distribution"><thead><tr><th>system</th>${RATINGS.map((level) => html`<th>${level}</th>`)}<th>ratings</th></tr></thead>
<tbody>${distribution.map(
      (d) =>
        html`<tr><td>${d.system}</td>${RATINGS.map((level) => html`<td>${d.counts[level]} (${percent(d.counts[level], d.total)})</td>`)}<td>${d.total}</td></tr>`,
    )}</tbody></table>
<p><a href="/results.csv">Distribution as CSV</a> · <a href="/ratings.csv">Every rating as CSV</a> (the latest of each rater × item) · <a href="/rating-history.csv">Every rating given or changed as CSV</a></p></section>
<section><h2>Raters</h2>${progressTable('progress', progress)}</section>
${review.table.length > 0 && qualityReviewSection(review.table, review.progress)}
<section><h2>Scale (§V-B)</h2><ul>${RATINGS.map((level) => html`<li><strong>${level}</strong>: ${RATING_MEANINGS[level]}</li>`)}</ul></section>`,
    session,
  );
}

/** A refusal; it shows nothing of the session, since the request may not come from the rater's own page. */
export function errorPage(status: number, message: string): Html {
  return layout(`Error ${status}`, html`<p class="error" role="alert">${message}</p><p><a href="/">Home</a></p>`);
}

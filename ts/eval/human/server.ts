/**
 * The rating web app over node:http. Pages are plain HTML forms (no scripts), so the security rests on a few checks made
 * the same way for every request:
 * - a session (cookie set after logging in with a rater token) for every page but the login form and the stylesheet;
 *   an assignment is served and rated only for the rater it belongs to; results and exports only for admins, who do not
 *   rate (an account either rates or sees results, never both, so nobody who rates can tell the systems apart);
 * - failed logins are limited per client address (LoginThrottle), answered 429 with Retry-After beyond the limit;
 * - form posts must come from this origin (Origin / Sec-Fetch-Site), carry the session's CSRF token, be urlencoded,
 *   fit the body limit and match the form's schema exactly; the session cookie is HttpOnly and SameSite=Strict, and
 *   Secure when the app is told it is served over TLS (secureCookies);
 * - GET and HEAD never write: a rater's order is drawn when they log in (or on POST /start);
 * - every response forbids scripts, framing and foreign resources (Content-Security-Policy) and is never cached.
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { logger } from '../../log.js';
import { EXPORT_TABLES, type ExportTable } from './csv.js';
import { donePage, errorPage, type Html, loginPage, ratingPage, resultsPage, reviewPage, STYLESHEET, startPage } from './html.js';
import { LoginThrottle, type LoginThrottleSettings } from './login-throttle.js';
import { REVIEW_QUESTIONS, type ReviewAnswers } from './review.js';
import { RATINGS } from './scale.js';
import type { RatingStore, Session } from './store.js';

export interface RatingServerOptions {
  store: RatingStore;
  host: string;
  port: number;
  bodyLimitBytes: number;
  sessionHours: number;
  /**
   * Mark the session cookie Secure. The app speaks plain HTTP, so it cannot see a TLS proxy in front; a header saying so
   * (X-Forwarded-Proto) could come from any client that reaches the app directly, so this is set, not detected.
   */
  secureCookies: boolean;
  loginThrottle: LoginThrottleSettings;
}

export interface RatingServer {
  /** Base URL, e.g. http://127.0.0.1:8787 */
  url: string;
  close(): Promise<void>;
}

const SESSION_COOKIE = 'refine_af_session';
/** Session ids and CSRF tokens are 32 random bytes in base64url. */
const SECRET_SHAPE = /^[A-Za-z0-9_-]{43}$/;

const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  // same-origin, not no-referrer: under no-referrer browsers send "Origin: null" with form posts, which the origin check refuses.
  'Referrer-Policy': 'same-origin',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cache-Control': 'no-store',
};

const loginForm = z.strictObject({ token: z.string().min(1).max(256) });
const csrfForm = z.strictObject({ csrf: z.string() });
const ratingForm = z.strictObject({ csrf: z.string(), rating: z.enum(RATINGS) });
const yesNo = z.enum(['yes', 'no']);
// One field per question of REVIEW_QUESTIONS: reading the answers below by those keys does not compile if one is missing.
const reviewForm = z.strictObject({ csrf: z.string(), valid_task: yesNo, input_appropriate: yesNo, output_correct: yesNo });

/** The CSV downloads of the results page and the export each is. */
const DOWNLOADS: Record<string, ExportTable> = {
  '/results.csv': 'distribution',
  '/ratings.csv': 'ratings',
  '/rating-history.csv': 'rating-history',
  '/table-iv.csv': 'table-iv',
  '/review-answers.csv': 'review-answers',
  '/review-answer-history.csv': 'review-answer-history',
};

/** A refusal: status, a message for the page, and whether the connection must close (the body was not read). */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly closeConnection = false,
  ) {
    super(message);
  }
}

/** The client closed the connection before its form arrived whole: nothing to answer, and nothing wrong on this side. */
class ClientClosedError extends Error {}

/**
 * Send a response with its length stated: a HEAD request then gets the same headers as a GET (Node leaves the body out
 * for HEAD, but would otherwise leave out Content-Length too).
 */
function send(res: ServerResponse, status: number, headers: Record<string, string>, body = ''): void {
  res.writeHead(status, { ...headers, 'Content-Length': String(Buffer.byteLength(body)) });
  res.end(body);
}

function sendHtml(res: ServerResponse, status: number, page: Html, headers: Record<string, string> = {}): void {
  send(res, status, { ...headers, 'Content-Type': 'text/html; charset=utf-8' }, page.text);
}

function redirect(res: ServerResponse, location: string, headers: Record<string, string> = {}): void {
  send(res, 303, { ...headers, Location: location });
}

function sessionIdFrom(req: IncomingMessage): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const at = part.indexOf('=');
    if (part.slice(0, at).trim() === SESSION_COOKIE) {
      const value = part.slice(at + 1).trim();
      return SECRET_SHAPE.test(value) ? value : undefined;
    }
  }
  return undefined;
}

/** Refuse cross-site posts even before looking at the session: the browser states where a form was submitted from. */
function requireSameOrigin(req: IncomingMessage): void {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') throw new HttpError(403, 'Cross-site form posts are refused.', true);
  const origin = req.headers.origin;
  // Compare hosts, not schemes: behind a TLS proxy the page is https while this server speaks http.
  if (origin !== undefined && (origin === 'null' || URL.parse(origin)?.host !== req.headers.host)) {
    throw new HttpError(403, 'Form posts from another origin are refused.', true);
  }
}

const LOOPBACK_NAMES = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

export function isLoopback(host: string): boolean {
  return LOOPBACK_NAMES.has(host.toLowerCase());
}

/**
 * Bound to loopback, answer only requests addressed to a loopback name: a page whose own domain was re-pointed at
 * 127.0.0.1 (DNS rebinding) then cannot talk to the app as a same-origin site.
 */
function requireLoopbackHost(req: IncomingMessage, boundHost: string): void {
  if (!isLoopback(boundHost)) return;
  if (!isLoopback((req.headers.host ?? '').replace(/:\d+$/, '')))
    throw new HttpError(421, 'This app answers only requests addressed to this machine (127.0.0.1 or localhost).', true);
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Read an urlencoded form of at most `limit` bytes and validate it; anything else is a 4xx, nothing half-read is used. */
function readForm<S extends z.ZodType>(req: IncomingMessage, limit: number, schema: S): Promise<z.output<S>> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    return Promise.reject(new HttpError(415, 'Expected a form post (application/x-www-form-urlencoded).', true));
  }
  if (Number(req.headers['content-length'] ?? 0) > limit) {
    return Promise.reject(new HttpError(413, `Request body larger than ${limit} bytes.`, true));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData).off('end', onEnd);
        req.pause();
        reject(new HttpError(413, `Request body larger than ${limit} bytes.`, true));
      } else chunks.push(chunk);
    };
    const onEnd = () => {
      let text: string;
      try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
      } catch {
        return reject(new HttpError(400, 'The form is not valid UTF-8.'));
      }
      // A Map, not a plain object: a field named "__proto__" would otherwise set the object's prototype and slip past
      // both the duplicate check and the strict schema.
      const fields = new Map<string, string>();
      for (const [key, value] of new URLSearchParams(text)) {
        if (fields.has(key)) return reject(new HttpError(400, `The form field "${key}" appears twice.`));
        fields.set(key, value);
      }
      // Object.fromEntries defines "__proto__" as an own field, which the strict schema then refuses as unknown.
      const parsed = schema.safeParse(Object.fromEntries(fields));
      if (!parsed.success) {
        const problems = parsed.error.issues.map((i) => `${i.path.map(String).join('.') || 'form'}: ${i.message}`).join('; ');
        return reject(new HttpError(400, `Malformed form: ${problems}`));
      }
      resolve(parsed.data);
    };
    // An IncomingMessage errs only when its connection breaks before the body is complete (the client went away).
    req
      .on('data', onData)
      .on('end', onEnd)
      .on('error', () => reject(new ClientClosedError('the client closed the connection before sending the whole form')));
  });
}

export async function startRatingServer(options: RatingServerOptions): Promise<RatingServer> {
  const { store, bodyLimitBytes } = options;
  const sessionLifetimeMs = options.sessionHours * 3_600_000;
  const loginThrottle = new LoginThrottle(options.loginThrottle);

  function sessionCookie(value: string, maxAgeSeconds: number): string {
    return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${options.secureCookies ? '; Secure' : ''}`;
  }

  /** Rating pages and posts are for raters only: an admin sees the results, and so must not rate (see the README). */
  function requireRater(session: Session, method: string): void {
    if (session.rater.isAdmin)
      throw new HttpError(
        403,
        'Admin accounts see the results and do not rate, so that nobody who rates can tell the systems apart; rate with a rater account.',
        method === 'POST',
      );
  }

  /** The session, or: a GET (or HEAD) goes to the login page, a POST is refused. */
  function requireSession(req: IncomingMessage, res: ServerResponse, session: Session | undefined): session is Session {
    if (session) return true;
    if (req.method !== 'POST') redirect(res, '/login');
    else throw new HttpError(401, 'Log in with your rater token first.', true);
    return false;
  }

  /** Read a form that must carry this session's CSRF token. */
  async function readSessionForm<T extends { csrf: string }>(req: IncomingMessage, session: Session, schema: z.ZodType<T>): Promise<T> {
    const form = await readForm(req, bodyLimitBytes, schema);
    if (!sameSecret(form.csrf, session.csrf))
      throw new HttpError(403, 'The form is stale or forged (CSRF token mismatch); reload the page.');
    return form;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    // HEAD is answered as GET: same status and headers; Node sends no body for it.
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? '');
    if (method !== 'GET' && method !== 'POST') {
      res.setHeader('Allow', 'GET, HEAD, POST');
      throw new HttpError(405, `Method ${method} is not allowed.`, true);
    }
    requireLoopbackHost(req, options.host);
    const path = URL.parse(req.url ?? '/', 'http://localhost')?.pathname;
    if (path === undefined) throw new HttpError(400, 'Malformed request target.', method === 'POST');
    const sessionId = sessionIdFrom(req);
    const session = sessionId === undefined ? undefined : store.session(sessionId);
    if (method === 'POST') requireSameOrigin(req);
    const route = `${method} ${path.replace(/^\/(rate|review)\/[^/]+$/, '/$1/:id')}`;

    switch (route) {
      case 'GET /app.css':
        return send(res, 200, { 'Content-Type': 'text/css; charset=utf-8' }, STYLESHEET);
      case 'GET /login':
        if (session) return redirect(res, '/');
        return sendHtml(res, 200, loginPage());
      case 'POST /login': {
        const address = req.socket.remoteAddress ?? '';
        const retryAfter = loginThrottle.retryAfterSeconds(address);
        if (retryAfter !== undefined) {
          res.setHeader('Retry-After', String(retryAfter));
          throw new HttpError(429, `Too many failed logins from this address; try again in ${retryAfter} seconds.`, true);
        }
        const { token } = await readForm(req, bodyLimitBytes, loginForm);
        const rater = store.raterByToken(token);
        if (!rater) {
          loginThrottle.recordFailure(address);
          logger.warn(`human-eval: a failed login from ${address}`);
          return sendHtml(res, 401, loginPage('That token is not valid.'));
        }
        loginThrottle.recordSuccess(address);
        if (sessionId !== undefined) store.endSession(sessionId);
        if (!rater.isAdmin) store.startRating(rater.id);
        const created = store.createSession(rater.id, sessionLifetimeMs);
        logger.info(`human-eval: ${rater.name} logged in`);
        return redirect(res, '/', { 'Set-Cookie': sessionCookie(created.sessionId, Math.floor(sessionLifetimeMs / 1000)) });
      }
      case 'POST /logout':
        if (!requireSession(req, res, session)) return;
        await readSessionForm(req, session, csrfForm);
        store.endSession(sessionId as string);
        return redirect(res, '/login', { 'Set-Cookie': sessionCookie('', 0) });
      case 'POST /start':
        if (!requireSession(req, res, session)) return;
        requireRater(session, method);
        await readSessionForm(req, session, csrfForm);
        store.startRating(session.rater.id);
        return redirect(res, '/');
      // Admins to the results; raters to the responses first, then the quality review, then the page that says all is done.
      case 'GET /': {
        if (!requireSession(req, res, session)) return;
        if (session.rater.isAdmin) return redirect(res, '/results');
        // Items imported after the rater logged in (or a session older than this version): their order is drawn on a post.
        if (store.needsStart(session.rater.id)) return sendHtml(res, 200, startPage(session));
        const next = store.nextAssignment(session.rater.id);
        if (next !== undefined) return redirect(res, `/rate/${next}`);
        const nextReview = store.nextAssignment(session.rater.id, 'review');
        if (nextReview !== undefined) return redirect(res, `/review/${nextReview}`);
        return sendHtml(res, 200, donePage(session, store.order(session.rater.id, 'responses'), store.order(session.rater.id, 'review')));
      }
      case 'GET /review': {
        if (!requireSession(req, res, session)) return;
        requireRater(session, method);
        const next = store.nextAssignment(session.rater.id, 'review');
        return redirect(res, next === undefined ? '/' : `/review/${next}`);
      }
      case 'GET /review/:id':
      case 'POST /review/:id': {
        if (!requireSession(req, res, session)) return;
        requireRater(session, method);
        const id = /^\/review\/([1-9]\d{0,15})$/.exec(path)?.[1];
        const view = id === undefined ? undefined : store.reviewAssignment(Number(id));
        if (!view) throw new HttpError(404, 'No such item.', method === 'POST');
        if (view.raterId !== session.rater.id) throw new HttpError(403, 'This item is assigned to another rater.', method === 'POST');
        if (method === 'GET') return sendHtml(res, 200, reviewPage(view, session));
        const form = await readSessionForm(req, session, reviewForm);
        const answers = Object.fromEntries(REVIEW_QUESTIONS.map((q) => [q, form[q] === 'yes'])) as ReviewAnswers;
        const outcome = store.answerReview(session.rater.id, view.id, answers);
        if (outcome !== 'rated') throw new HttpError(outcome === 'unknown' ? 404 : 403, 'This item cannot be answered by you.');
        return redirect(res, '/review');
      }
      case 'GET /rate/:id':
      case 'POST /rate/:id': {
        if (!requireSession(req, res, session)) return;
        requireRater(session, method);
        const id = /^\/rate\/([1-9]\d{0,15})$/.exec(path)?.[1];
        const view = id === undefined ? undefined : store.assignment(Number(id));
        if (!view) throw new HttpError(404, 'No such response.', method === 'POST');
        if (view.raterId !== session.rater.id) throw new HttpError(403, 'This response is assigned to another rater.', method === 'POST');
        if (method === 'GET') return sendHtml(res, 200, ratingPage(view, session));
        const form = await readSessionForm(req, session, ratingForm);
        const outcome = store.rate(session.rater.id, view.id, form.rating);
        if (outcome !== 'rated') throw new HttpError(outcome === 'unknown' ? 404 : 403, 'This response cannot be rated by you.');
        return redirect(res, '/');
      }
      case 'GET /results':
      case 'GET /results.csv':
      case 'GET /ratings.csv':
      case 'GET /rating-history.csv':
      case 'GET /table-iv.csv':
      case 'GET /review-answers.csv':
      case 'GET /review-answer-history.csv': {
        if (!requireSession(req, res, session)) return;
        if (!session.rater.isAdmin)
          throw new HttpError(403, 'Results are shown to admins only, who do not rate, so that raters stay blind.');
        if (path === '/results') {
          const review = { table: store.qualityReview(), progress: store.progress('review') };
          return sendHtml(res, 200, resultsPage(store.distribution(), store.progress(), review, session));
        }
        return send(
          res,
          200,
          { 'Content-Type': 'text/csv; charset=utf-8', 'Content-Disposition': `attachment; filename="${path.slice(1)}"` },
          EXPORT_TABLES[DOWNLOADS[path] as ExportTable](store),
        );
      }
      default:
        throw new HttpError(404, 'Not found.', method === 'POST');
    }
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (error instanceof ClientClosedError) {
        logger.warn(`human-eval: ${req.method} ${req.url}: ${error.message}`);
        return void res.destroy();
      }
      const known = error instanceof HttpError;
      if (!known) logger.error(`human-eval: ${req.method} ${req.url}: ${(error as Error).stack ?? String(error)}`);
      if (res.headersSent) return void res.destroy();
      const status = known ? error.status : 500;
      const message = known ? error.message : 'Internal error; the server log has the details.';
      // A body left unread (refused early or too large) must not be parsed as the next request: close the connection.
      sendHtml(res, status, errorPage(status, message), known && error.closeConnection ? { Connection: 'close' } : {});
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

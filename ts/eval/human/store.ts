/**
 * The rating database: one SQLite file (WAL mode) that several raters — and several server processes — write at once.
 *
 * - items: one response of one system to one instruction, copied in when a run is imported, so a rating always refers to
 *   the exact text that was shown; importing a different text for the same (instruction, system) is refused.
 * - assignments: each rater's own random order of all items, drawn once (startRating, when they log in) and stored, so
 *   rating resumes where it stopped.
 *   Once any rater has an order, no item can be added (see importRuns), so every order stays one shuffle of all items.
 * - ratings: at most one per rater × item (a second post revises it), and only for an item assigned to that rater.
 * - rating_events: every rating given or changed (who, which item, old → new, when), written by triggers on ratings in
 *   the same transaction, and append-only, so a study can be audited; ratings keeps the latest, which the results use.
 * - review_items, review_assignments, review_answers: the quality review (Table IV) in the same shape — one instance of a
 *   sampled instruction per item, labelled with its arm, each rater's own order, and three yes/no answers per rater × item;
 *   review_answer_events keeps every change of them as rating_events does for ratings.
 * - raters and sessions hold only SHA-256 hashes of the tokens and session ids, never the secrets themselves.
 * Every multi-statement change runs in one IMMEDIATE transaction: concurrent writers wait for each other (busy_timeout)
 * instead of interleaving.
 */
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { RefineAfError } from '../../errors.js';
import type { Instruction, SystemRun } from './responses.js';
import { REVIEW_QUESTIONS, type ReviewAnswers, type ReviewItem, type ReviewQuestion } from './review.js';
import { RATINGS, type Rating } from './scale.js';

const SCHEMA_VERSION = 3;
/** How long a writer waits for another connection's transaction before failing (ms); ratings are tiny, so this is ample. */
const BUSY_TIMEOUT_MS = 10_000;

const SCHEMA = `
CREATE TABLE instructions (
  id TEXT PRIMARY KEY,
  motivation_app TEXT NOT NULL,
  instruction TEXT NOT NULL,
  input TEXT NOT NULL,
  output TEXT NOT NULL
) STRICT;
CREATE TABLE items (
  id INTEGER PRIMARY KEY,
  instruction_id TEXT NOT NULL REFERENCES instructions(id),
  system TEXT NOT NULL,
  response TEXT NOT NULL,
  UNIQUE (instruction_id, system)
) STRICT;
CREATE TABLE raters (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  token_hash TEXT NOT NULL UNIQUE,
  is_admin INTEGER NOT NULL CHECK (is_admin IN (0, 1)),
  created_at TEXT NOT NULL
) STRICT;
CREATE TABLE assignments (
  id INTEGER PRIMARY KEY,
  rater_id INTEGER NOT NULL REFERENCES raters(id),
  position INTEGER NOT NULL,
  item_id INTEGER NOT NULL REFERENCES items(id),
  UNIQUE (rater_id, position),
  UNIQUE (rater_id, item_id)
) STRICT;
CREATE TABLE ratings (
  rater_id INTEGER NOT NULL,
  item_id INTEGER NOT NULL,
  rating TEXT NOT NULL CHECK (rating IN ('A', 'B', 'C', 'D')),
  rated_at TEXT NOT NULL,
  PRIMARY KEY (rater_id, item_id),
  FOREIGN KEY (rater_id, item_id) REFERENCES assignments(rater_id, item_id)
) STRICT;
CREATE TABLE sessions (
  id_hash TEXT PRIMARY KEY,
  rater_id INTEGER NOT NULL REFERENCES raters(id),
  csrf TEXT NOT NULL,
  expires_at INTEGER NOT NULL
) STRICT;
`;

/** Version 2 adds the quality review; a version-1 database gets these tables when it is opened. */
const REVIEW_SCHEMA = `
CREATE TABLE review_items (
  id INTEGER PRIMARY KEY,
  system TEXT NOT NULL,
  instruction TEXT NOT NULL,
  input TEXT NOT NULL,
  output TEXT NOT NULL,
  UNIQUE (system, instruction)
) STRICT;
CREATE TABLE review_assignments (
  id INTEGER PRIMARY KEY,
  rater_id INTEGER NOT NULL REFERENCES raters(id),
  position INTEGER NOT NULL,
  item_id INTEGER NOT NULL REFERENCES review_items(id),
  UNIQUE (rater_id, position),
  UNIQUE (rater_id, item_id)
) STRICT;
CREATE TABLE review_answers (
  rater_id INTEGER NOT NULL,
  item_id INTEGER NOT NULL,
${REVIEW_QUESTIONS.map((q) => `  ${q} INTEGER NOT NULL CHECK (${q} IN (0, 1)),`).join('\n')}
  answered_at TEXT NOT NULL,
  PRIMARY KEY (rater_id, item_id),
  FOREIGN KEY (rater_id, item_id) REFERENCES review_assignments(rater_id, item_id)
) STRICT;
`;

/**
 * Version 3 adds the history of ratings and of quality-review answers: an event per rating given or changed (old → new),
 * and per review answers saved that differ from the ones before (the three answers as saved). A database of an earlier
 * version gets it when opened, with one event per rating or answers it holds (as they stand, at their time): the changes
 * made before were overwritten and cannot be recovered.
 */
const HISTORY_SCHEMA = `
CREATE TABLE rating_events (
  id INTEGER PRIMARY KEY,
  rater_id INTEGER NOT NULL REFERENCES raters(id),
  item_id INTEGER NOT NULL REFERENCES items(id),
  old_rating TEXT CHECK (old_rating IN ('A', 'B', 'C', 'D')),
  new_rating TEXT NOT NULL CHECK (new_rating IN ('A', 'B', 'C', 'D')),
  at TEXT NOT NULL
) STRICT;
INSERT INTO rating_events (rater_id, item_id, old_rating, new_rating, at)
  SELECT rater_id, item_id, NULL, rating, rated_at FROM ratings ORDER BY rated_at;
CREATE TRIGGER rating_given AFTER INSERT ON ratings BEGIN
  INSERT INTO rating_events (rater_id, item_id, old_rating, new_rating, at) VALUES (new.rater_id, new.item_id, NULL, new.rating, new.rated_at);
END;
CREATE TRIGGER rating_changed AFTER UPDATE OF rating ON ratings WHEN old.rating IS NOT new.rating BEGIN
  INSERT INTO rating_events (rater_id, item_id, old_rating, new_rating, at) VALUES (new.rater_id, new.item_id, old.rating, new.rating, new.rated_at);
END;
CREATE TABLE review_answer_events (
  id INTEGER PRIMARY KEY,
  rater_id INTEGER NOT NULL REFERENCES raters(id),
  item_id INTEGER NOT NULL REFERENCES review_items(id),
${REVIEW_QUESTIONS.map((q) => `  ${q} INTEGER NOT NULL CHECK (${q} IN (0, 1)),`).join('\n')}
  at TEXT NOT NULL
) STRICT;
INSERT INTO review_answer_events (rater_id, item_id, ${REVIEW_QUESTIONS.join(', ')}, at)
  SELECT rater_id, item_id, ${REVIEW_QUESTIONS.join(', ')}, answered_at FROM review_answers ORDER BY answered_at;
CREATE TRIGGER review_answers_given AFTER INSERT ON review_answers BEGIN
  INSERT INTO review_answer_events (rater_id, item_id, ${REVIEW_QUESTIONS.join(', ')}, at)
  VALUES (new.rater_id, new.item_id, ${REVIEW_QUESTIONS.map((q) => `new.${q}`).join(', ')}, new.answered_at);
END;
CREATE TRIGGER review_answers_changed AFTER UPDATE ON review_answers
WHEN ${REVIEW_QUESTIONS.map((q) => `old.${q} IS NOT new.${q}`).join(' OR ')} BEGIN
  INSERT INTO review_answer_events (rater_id, item_id, ${REVIEW_QUESTIONS.join(', ')}, at)
  VALUES (new.rater_id, new.item_id, ${REVIEW_QUESTIONS.map((q) => `new.${q}`).join(', ')}, new.answered_at);
END;
${['rating_events', 'review_answer_events']
  .map(
    (
      table,
    ) => `CREATE TRIGGER ${table}_kept BEFORE UPDATE ON ${table} BEGIN SELECT RAISE(ABORT, 'the ${table} history is append-only'); END;
CREATE TRIGGER ${table}_not_deleted BEFORE DELETE ON ${table} BEGIN SELECT RAISE(ABORT, 'the ${table} history is append-only'); END;`,
  )
  .join('\n')}
`;

/**
 * The two studies a database holds, each with its items, each rater's order of them and the raters' answers: the rating of
 * responses (Figure 6) and the quality review (Table IV). Orders, progress and ownership work the same way for both.
 */
const STUDIES = {
  responses: { items: 'items', assignments: 'assignments', answers: 'ratings', noun: 'responses' },
  review: { items: 'review_items', assignments: 'review_assignments', answers: 'review_answers', noun: 'quality-review items' },
} as const;
export type Study = keyof typeof STUDIES;

export class RatingStoreError extends RefineAfError {
  override name = 'RatingStoreError';
  readonly code = 'rating-store';
}

export interface Rater {
  id: number;
  name: string;
  isAdmin: boolean;
}

export interface Session {
  rater: Rater;
  /** The per-session token every form post must carry (CSRF). */
  csrf: string;
}

/** One response as a rater sees it: no system name. */
export interface AssignmentView {
  id: number;
  raterId: number;
  position: number;
  total: number;
  rated: number;
  previousId: number | undefined;
  instruction: string;
  input: string;
  output: string;
  response: string;
  rating: Rating | undefined;
}

/** One quality-review item as a rater sees it: no system name. */
export interface ReviewAssignmentView {
  id: number;
  raterId: number;
  position: number;
  total: number;
  rated: number;
  previousId: number | undefined;
  instruction: string;
  input: string;
  output: string;
  answers: ReviewAnswers | undefined;
}

/** Table IV for one system: its items, the answers given to them (over all raters) and how many said yes to each question. */
export interface QualityReviewRow {
  system: string;
  items: number;
  answers: number;
  yes: Record<ReviewQuestion, number>;
}

export interface ReviewAnswerRecord extends ReviewAnswers {
  rater: string;
  system: string;
  instruction: string;
  answeredAt: string;
}

/** Where a rater stands in one study: how many items their order holds and its first assignment. */
export interface OrderSummary {
  total: number;
  firstId: number | undefined;
}

export interface SystemDistribution {
  system: string;
  counts: Record<Rating, number>;
  total: number;
}

export interface RaterProgress {
  name: string;
  rated: number;
  total: number;
}

export interface RatingRecord {
  rater: string;
  instructionId: string;
  system: string;
  rating: Rating;
  ratedAt: string;
}

/** One rating given (`from` undefined) or changed. */
export interface RatingEvent {
  rater: string;
  instructionId: string;
  system: string;
  from: Rating | undefined;
  to: Rating;
  at: string;
}

const RATER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function sha256(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** A random secret for URLs, cookies and forms (256 bits, base64url). */
export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

function shuffled<T>(values: readonly T[]): T[] {
  const out = [...values];
  for (let i = out.length - 1; i > 0; i--) {
    // crypto randomness: a rater must not be able to predict which system answered an item from its place in the order.
    const j = randomInt(i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** The stored 0/1 columns as answers. */
function answersOf(row: Record<ReviewQuestion, number>): ReviewAnswers {
  return Object.fromEntries(REVIEW_QUESTIONS.map((q) => [q, row[q] === 1])) as ReviewAnswers;
}

export class RatingStore {
  private constructor(private readonly db: Database.Database) {}

  /** Open the rating database at `file`, creating it unless `mustExist` (for commands that only read it). */
  static open(file: string, options: { mustExist?: boolean } = {}): RatingStore {
    if (!existsSync(file)) {
      if (options.mustExist) throw new RatingStoreError(`${file}: no such rating database`);
      mkdirSync(dirname(file), { recursive: true });
    }
    const db = new Database(file);
    try {
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      db.pragma('journal_mode = WAL');
      // FULL: a rating acknowledged to the rater survives a power cut, not only a crash of the process.
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      // The version is read again inside the transaction: two processes opening an old file at once migrate it once.
      db.transaction(() => {
        const version = db.pragma('user_version', { simple: true }) as number;
        if (version === 0) {
          const tables = db.prepare("SELECT count(*) AS n FROM sqlite_schema WHERE type = 'table'").get() as { n: number };
          if (tables.n > 0) throw new RatingStoreError(`${file}: an SQLite database, but not a refine-af rating database`);
          db.exec(SCHEMA + REVIEW_SCHEMA + HISTORY_SCHEMA);
        } else if (version === 1) {
          db.exec(REVIEW_SCHEMA + HISTORY_SCHEMA);
        } else if (version === 2) {
          db.exec(HISTORY_SCHEMA);
        } else if (version === SCHEMA_VERSION) {
          return;
        } else {
          throw new RatingStoreError(`${file}: rating database schema version ${version}, this refine-af reads version ${SCHEMA_VERSION}`);
        }
        db.pragma(`user_version = ${SCHEMA_VERSION}`);
      }).immediate();
    } catch (error) {
      db.close();
      if (error instanceof RatingStoreError) throw error;
      throw new RatingStoreError(`${file}: cannot open as a rating database: ${(error as Error).message}`);
    }
    return new RatingStore(db);
  }

  close(): void {
    this.db.close();
  }

  /**
   * Copy the instructions and each run's responses in. Idempotent: what is already there is kept; a different text for an
   * instruction or an (instruction, system) already stored is an error, because ratings given to the old text would then
   * describe a response nobody rated. Adding responses once a rater has been given an order is an error too: they could
   * only be rated apart from the others (a rater who has rated the rest would be left with the new ones alone), so raters
   * could tell which system they are rating.
   */
  importRuns(instructions: readonly Instruction[], runs: readonly SystemRun[]): { added: number; kept: number } {
    const getInstruction = this.db.prepare<[string], { instruction: string; input: string; output: string }>(
      'SELECT instruction, input, output FROM instructions WHERE id = ?',
    );
    const putInstruction = this.db.prepare(
      'INSERT INTO instructions (id, motivation_app, instruction, input, output) VALUES (?, ?, ?, ?, ?)',
    );
    const getItem = this.db.prepare<[string, string], { response: string }>(
      'SELECT response FROM items WHERE instruction_id = ? AND system = ?',
    );
    const putItem = this.db.prepare('INSERT INTO items (instruction_id, system, response) VALUES (?, ?, ?)');
    return this.db
      .transaction(() => {
        for (const i of instructions) {
          const stored = getInstruction.get(i.id);
          if (!stored) putInstruction.run(i.id, i.motivationApp, i.instruction, i.input, i.output);
          else if (stored.instruction !== i.instruction || stored.input !== i.input || stored.output !== i.output) {
            throw new RatingStoreError(
              `instruction ${i.id} differs from the one already in the database; rate a different set in a new database`,
            );
          }
        }
        const fresh: { system: string; instructionId: string; response: string }[] = [];
        let kept = 0;
        for (const run of runs) {
          for (const [instructionId, response] of run.responses) {
            const stored = getItem.get(instructionId, run.system);
            if (!stored) fresh.push({ system: run.system, instructionId, response });
            else if (stored.response !== response) {
              throw new RatingStoreError(
                `${run.file}: the response of system "${run.system}" to ${instructionId} differs from the one already in the database ` +
                  '(ratings were given to that text); import it under another system name or use a new database',
              );
            } else kept++;
          }
        }
        if (fresh.length > 0)
          this.refuseAfterOrders(
            'responses',
            fresh.map((f) => f.system),
          );
        for (const f of fresh) putItem.run(f.instructionId, f.system, f.response);
        return { added: fresh.length, kept };
      })
      .immediate();
  }

  /**
   * Copy sampled quality-review items in, as importRuns copies responses: idempotent, a different input or output for an
   * (arm, instruction) already stored is an error (answers were given to the old one), and nothing is added once a rater
   * has been given an order of the review.
   */
  importReviewItems(items: readonly ReviewItem[]): { added: number; kept: number } {
    const getItem = this.db.prepare<[string, string], { input: string; output: string }>(
      'SELECT input, output FROM review_items WHERE system = ? AND instruction = ?',
    );
    const putItem = this.db.prepare('INSERT INTO review_items (system, instruction, input, output) VALUES (?, ?, ?, ?)');
    return this.db
      .transaction(() => {
        const fresh: ReviewItem[] = [];
        let kept = 0;
        for (const item of items) {
          const stored = getItem.get(item.system, item.instruction);
          if (!stored) fresh.push(item);
          else if (stored.input !== item.input || stored.output !== item.output) {
            throw new RatingStoreError(
              `the quality-review instance of system "${item.system}" for the instruction ${JSON.stringify(item.instruction.slice(0, 80))} ` +
                'differs from the one already in the database (answers were given to that one); review another sample in a new database',
            );
          } else kept++;
        }
        if (fresh.length > 0)
          this.refuseAfterOrders(
            'review',
            fresh.map((f) => f.system),
          );
        for (const f of fresh) putItem.run(f.system, f.instruction, f.input, f.output);
        return { added: fresh.length, kept };
      })
      .immediate();
  }

  /** Throw, naming the new items and the raters who have begun, if any rater already has an order of the study. */
  private refuseAfterOrders(study: Study, freshSystems: readonly string[]): void {
    const { assignments, noun } = STUDIES[study];
    const started = this.db
      .prepare<[], { name: string }>(`SELECT name FROM raters WHERE id IN (SELECT DISTINCT rater_id FROM ${assignments}) ORDER BY name`)
      .all()
      .map((r) => r.name);
    if (started.length === 0) return;
    const counts = new Map<string, number>();
    for (const system of freshSystems) counts.set(system, (counts.get(system) ?? 0) + 1);
    const what = [...counts].map(([system, n]) => `${n} of system "${system}"`).join(', ');
    const names = started.slice(0, 5).join(', ') + (started.length > 5 ? ` and ${started.length - 5} more` : '');
    throw new RatingStoreError(
      `cannot add ${noun} (${what}): raters ${names} already have their order of the ${noun} in this database; ` +
        `${noun} added now would come after the ones they have rated, so raters could tell them apart. ` +
        'Rate all systems together in a new database (--db).',
    );
  }

  systems(study: Study = 'responses'): string[] {
    return this.db
      .prepare<[], { system: string }>(`SELECT DISTINCT system FROM ${STUDIES[study].items} ORDER BY system`)
      .all()
      .map((r) => r.system);
  }

  /** Register a rater; the returned token is shown once and stored only as a hash. */
  addRater(name: string, options: { admin?: boolean } = {}): { rater: Rater; token: string } {
    if (!RATER_NAME.test(name)) {
      throw new RatingStoreError(`rater name must be letters, digits, ".", "_" or "-" (at most 64), got ${JSON.stringify(name)}`);
    }
    const token = newSecret();
    try {
      const result = this.db
        .prepare('INSERT INTO raters (name, token_hash, is_admin, created_at) VALUES (?, ?, ?, ?)')
        .run(name, sha256(token), options.admin ? 1 : 0, new Date().toISOString());
      return { rater: { id: Number(result.lastInsertRowid), name, isAdmin: Boolean(options.admin) }, token };
    } catch (error) {
      if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE')
        throw new RatingStoreError(`a rater named "${name}" already exists`);
      throw error;
    }
  }

  raterByToken(token: string): Rater | undefined {
    const row = this.db
      .prepare<[string], { id: number; name: string; is_admin: number }>('SELECT id, name, is_admin FROM raters WHERE token_hash = ?')
      .get(sha256(token));
    return row && { id: row.id, name: row.name, isAdmin: row.is_admin === 1 };
  }

  /** Start a session; the returned id goes into the cookie and is stored only as a hash. */
  createSession(raterId: number, lifetimeMs: number): { sessionId: string; csrf: string } {
    const sessionId = newSecret();
    const csrf = newSecret();
    const now = Date.now();
    this.db
      .transaction(() => {
        this.db.prepare('DELETE FROM sessions WHERE expires_at <= ?').run(now);
        this.db
          .prepare('INSERT INTO sessions (id_hash, rater_id, csrf, expires_at) VALUES (?, ?, ?, ?)')
          .run(sha256(sessionId), raterId, csrf, now + lifetimeMs);
      })
      .immediate();
    return { sessionId, csrf };
  }

  session(sessionId: string): Session | undefined {
    const row = this.db
      .prepare<[string, number], { id: number; name: string; is_admin: number; csrf: string }>(
        `SELECT r.id, r.name, r.is_admin, s.csrf FROM sessions s JOIN raters r ON r.id = s.rater_id
         WHERE s.id_hash = ? AND s.expires_at > ?`,
      )
      .get(sha256(sessionId), Date.now());
    return row && { rater: { id: row.id, name: row.name, isAdmin: row.is_admin === 1 }, csrf: row.csrf };
  }

  endSession(sessionId: string): void {
    this.db.prepare('DELETE FROM sessions WHERE id_hash = ?').run(sha256(sessionId));
  }

  /**
   * Draw the rater's random order of all items of each study, once (at login, or on an explicit start, never on a page
   * load): no item is added after that (importRuns, importReviewItems), so it stays complete. The review's items of every
   * arm are shuffled together, so they interleave.
   */
  startRating(raterId: number): void {
    this.db
      .transaction(() => {
        for (const { items, assignments } of Object.values(STUDIES)) {
          if (this.db.prepare(`SELECT 1 FROM ${assignments} WHERE rater_id = ? LIMIT 1`).get(raterId)) continue;
          const ids = this.db
            .prepare<[], { id: number }>(`SELECT id FROM ${items} ORDER BY id`)
            .all()
            .map((r) => r.id);
          const insert = this.db.prepare(`INSERT INTO ${assignments} (rater_id, position, item_id) VALUES (?, ?, ?)`);
          for (const [index, itemId] of shuffled(ids).entries()) insert.run(raterId, index + 1, itemId);
        }
      })
      .immediate();
  }

  /** Whether a study has items the rater has no order of yet (items imported after they logged in): startRating draws it. */
  needsStart(raterId: number): boolean {
    return Object.values(STUDIES).some(
      ({ items, assignments }) =>
        this.db.prepare(`SELECT 1 FROM ${items} LIMIT 1`).get() !== undefined &&
        this.db.prepare(`SELECT 1 FROM ${assignments} WHERE rater_id = ? LIMIT 1`).get(raterId) === undefined,
    );
  }

  /** The rater's first unanswered assignment of the study in their order, or undefined when everything is answered. */
  nextAssignment(raterId: number, study: Study = 'responses'): number | undefined {
    const { assignments, answers } = STUDIES[study];
    const row = this.db
      .prepare<[number], { id: number }>(
        `SELECT a.id FROM ${assignments} a
         LEFT JOIN ${answers} r ON r.rater_id = a.rater_id AND r.item_id = a.item_id
         WHERE a.rater_id = ? AND r.item_id IS NULL ORDER BY a.position LIMIT 1`,
      )
      .get(raterId);
    return row?.id;
  }

  /** The rater's order of the study: how many items it holds, and its first assignment (to go over the answers from the start). */
  order(raterId: number, study: Study): OrderSummary {
    const row = this.db
      .prepare<[number, number], { total: number; firstId: number | null }>(
        `SELECT count(*) AS total, (SELECT id FROM ${STUDIES[study].assignments} WHERE rater_id = ? ORDER BY position LIMIT 1) AS firstId
         FROM ${STUDIES[study].assignments} WHERE rater_id = ?`,
      )
      .get(raterId, raterId) as { total: number; firstId: number | null };
    return { total: row.total, firstId: row.firstId ?? undefined };
  }

  /** An assignment's place in its rater's order of the study: how far the rater is through it, and the assignment before. */
  private placeInOrder(
    study: Study,
    { id, rater_id: raterId, position }: { id: number; rater_id: number; position: number },
  ): { id: number; raterId: number; position: number; total: number; rated: number; previousId: number | undefined } {
    const { assignments, answers } = STUDIES[study];
    const counts = this.db
      .prepare<[number], { total: number; rated: number }>(
        `SELECT count(*) AS total, count(r.item_id) AS rated FROM ${assignments} a
         LEFT JOIN ${answers} r ON r.rater_id = a.rater_id AND r.item_id = a.item_id WHERE a.rater_id = ?`,
      )
      .get(raterId) as { total: number; rated: number };
    const previous = this.db
      .prepare<[number, number], { id: number }>(`SELECT id FROM ${assignments} WHERE rater_id = ? AND position = ?`)
      .get(raterId, position - 1);
    return { id, raterId, position, ...counts, previousId: previous?.id };
  }

  assignment(assignmentId: number): AssignmentView | undefined {
    const row = this.db
      .prepare<
        [number],
        {
          id: number;
          rater_id: number;
          position: number;
          instruction: string;
          input: string;
          output: string;
          response: string;
          rating: Rating | null;
        }
      >(
        `SELECT a.id, a.rater_id, a.position, n.instruction, n.input, n.output, i.response, r.rating
         FROM assignments a JOIN items i ON i.id = a.item_id JOIN instructions n ON n.id = i.instruction_id
         LEFT JOIN ratings r ON r.rater_id = a.rater_id AND r.item_id = a.item_id
         WHERE a.id = ?`,
      )
      .get(assignmentId);
    if (!row) return undefined;
    return {
      ...this.placeInOrder('responses', row),
      instruction: row.instruction,
      input: row.input,
      output: row.output,
      response: row.response,
      rating: row.rating ?? undefined,
    };
  }

  /**
   * Record (or revise) a rater's rating of one of their assignments; the same rating again changes nothing (its time stays
   * the time it was given). The ownership check and the write are one transaction, so a rating can never land on another
   * rater's assignment; the triggers add the event to rating_events in it.
   */
  rate(raterId: number, assignmentId: number, rating: Rating): 'rated' | 'unknown' | 'not-yours' {
    return this.answer('responses', raterId, assignmentId, (itemId) =>
      this.db
        .prepare(
          `INSERT INTO ratings (rater_id, item_id, rating, rated_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (rater_id, item_id) DO UPDATE SET rating = excluded.rating, rated_at = excluded.rated_at
           WHERE ratings.rating IS NOT excluded.rating`,
        )
        .run(raterId, itemId, rating, new Date().toISOString()),
    );
  }

  /**
   * Record (or revise) a rater's three answers to one of their quality-review assignments, checked as `rate` checks; the
   * same answers again change nothing, and the triggers add each change to review_answer_events.
   */
  answerReview(raterId: number, assignmentId: number, answers: ReviewAnswers): 'rated' | 'unknown' | 'not-yours' {
    const columns = REVIEW_QUESTIONS.join(', ');
    const updates = REVIEW_QUESTIONS.map((q) => `${q} = excluded.${q}`).join(', ');
    const changed = REVIEW_QUESTIONS.map((q) => `review_answers.${q} IS NOT excluded.${q}`).join(' OR ');
    return this.answer('review', raterId, assignmentId, (itemId) =>
      this.db
        .prepare(
          `INSERT INTO review_answers (rater_id, item_id, ${columns}, answered_at) VALUES (?, ?, ${REVIEW_QUESTIONS.map(() => '?').join(', ')}, ?)
           ON CONFLICT (rater_id, item_id) DO UPDATE SET ${updates}, answered_at = excluded.answered_at WHERE ${changed}`,
        )
        .run(raterId, itemId, ...REVIEW_QUESTIONS.map((q) => (answers[q] ? 1 : 0)), new Date().toISOString()),
    );
  }

  /** The ownership check and the write in one transaction, so an answer can never land on another rater's assignment. */
  private answer(study: Study, raterId: number, assignmentId: number, write: (itemId: number) => void): 'rated' | 'unknown' | 'not-yours' {
    return this.db
      .transaction(() => {
        const row = this.db
          .prepare<[number], { rater_id: number; item_id: number }>(
            `SELECT rater_id, item_id FROM ${STUDIES[study].assignments} WHERE id = ?`,
          )
          .get(assignmentId);
        if (!row) return 'unknown' as const;
        if (row.rater_id !== raterId) return 'not-yours' as const;
        write(row.item_id);
        return 'rated' as const;
      })
      .immediate();
  }

  reviewAssignment(assignmentId: number): ReviewAssignmentView | undefined {
    const row = this.db
      .prepare<
        [number],
        { id: number; rater_id: number; position: number; instruction: string; input: string; output: string } & Record<
          ReviewQuestion,
          number | null
        >
      >(
        `SELECT a.id, a.rater_id, a.position, i.instruction, i.input, i.output, ${REVIEW_QUESTIONS.map((q) => `r.${q}`).join(', ')}
         FROM review_assignments a JOIN review_items i ON i.id = a.item_id
         LEFT JOIN review_answers r ON r.rater_id = a.rater_id AND r.item_id = a.item_id
         WHERE a.id = ?`,
      )
      .get(assignmentId);
    if (!row) return undefined;
    return {
      ...this.placeInOrder('review', row),
      instruction: row.instruction,
      input: row.input,
      output: row.output,
      answers: row.valid_task === null ? undefined : answersOf(row as Record<ReviewQuestion, number>),
    };
  }

  /** Table IV: per system, its items, the answers given (over all raters) and the yes count of each question. */
  qualityReview(): QualityReviewRow[] {
    return this.db
      .prepare<[], { system: string; items: number; answers: number } & Record<ReviewQuestion, number>>(
        `SELECT i.system, count(DISTINCT i.id) AS items, count(r.item_id) AS answers,
         ${REVIEW_QUESTIONS.map((q) => `coalesce(sum(r.${q}), 0) AS ${q}`).join(', ')}
         FROM review_items i LEFT JOIN review_answers r ON r.item_id = i.id GROUP BY i.system ORDER BY i.system`,
      )
      .all()
      .map((row) => ({
        system: row.system,
        items: row.items,
        answers: row.answers,
        yes: Object.fromEntries(REVIEW_QUESTIONS.map((q) => [q, row[q]])) as Record<ReviewQuestion, number>,
      }));
  }

  /**
   * The quality-review answers: the latest of each rater × item (ordered by rater and item), or, for 'history', every
   * answers saved that changed something, in the order they were saved.
   */
  reviewAnswers(which: 'latest' | 'history' = 'latest'): ReviewAnswerRecord[] {
    const [table, time, order] =
      which === 'latest' ? ['review_answers', 'answered_at', 'w.name, i.id'] : ['review_answer_events', 'at', 'r.id'];
    return this.db
      .prepare<[], { rater: string; system: string; instruction: string; answeredAt: string } & Record<ReviewQuestion, number>>(
        `SELECT w.name AS rater, i.system, i.instruction, ${REVIEW_QUESTIONS.map((q) => `r.${q}`).join(', ')}, r.${time} AS answeredAt
         FROM ${table} r JOIN raters w ON w.id = r.rater_id JOIN review_items i ON i.id = r.item_id
         ORDER BY ${order}`,
      )
      .all()
      .map((row) => ({
        rater: row.rater,
        system: row.system,
        instruction: row.instruction,
        answeredAt: row.answeredAt,
        ...answersOf(row),
      }));
  }

  /** Figure 6: how many ratings of each level each system received (over all raters). */
  distribution(): SystemDistribution[] {
    const rows = this.db
      .prepare<[], { system: string; rating: Rating; n: number }>(
        'SELECT i.system, r.rating, count(*) AS n FROM ratings r JOIN items i ON i.id = r.item_id GROUP BY i.system, r.rating',
      )
      .all();
    return this.systems().map((system) => {
      const counts = Object.fromEntries(RATINGS.map((level) => [level, 0])) as Record<Rating, number>;
      for (const row of rows) if (row.system === system) counts[row.rating] = row.n;
      return { system, counts, total: RATINGS.reduce((sum, level) => sum + counts[level], 0) };
    });
  }

  /** How far each rater is through the study; admins, who do not rate, only if an earlier version let them rate. */
  progress(study: Study = 'responses'): RaterProgress[] {
    const { items, answers } = STUDIES[study];
    return this.db
      .prepare<[], RaterProgress>(
        `SELECT w.name, count(r.item_id) AS rated, (SELECT count(*) FROM ${items}) AS total FROM raters w
         LEFT JOIN ${answers} r ON r.rater_id = w.id GROUP BY w.id HAVING w.is_admin = 0 OR count(r.item_id) > 0 ORDER BY w.name`,
      )
      .all();
  }

  ratings(): RatingRecord[] {
    return this.db
      .prepare<[], RatingRecord>(
        `SELECT w.name AS rater, i.instruction_id AS instructionId, i.system, r.rating, r.rated_at AS ratedAt
         FROM ratings r JOIN raters w ON w.id = r.rater_id JOIN items i ON i.id = r.item_id
         ORDER BY w.name, i.id`,
      )
      .all();
  }

  /** Every rating given or changed, in the order it happened. */
  ratingHistory(): RatingEvent[] {
    return this.db
      .prepare<[], Omit<RatingEvent, 'from'> & { from: Rating | null }>(
        `SELECT w.name AS rater, i.instruction_id AS instructionId, i.system, e.old_rating AS "from", e.new_rating AS "to", e.at
         FROM rating_events e JOIN raters w ON w.id = e.rater_id JOIN items i ON i.id = e.item_id ORDER BY e.id`,
      )
      .all()
      .map((row) => ({ ...row, from: row.from ?? undefined }));
  }
}

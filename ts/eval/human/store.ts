/**
 * The rating database: one SQLite file (WAL mode) that several raters — and several server processes — write at once.
 *
 * - items: one response of one system to one instruction, copied in when a run is imported, so a rating always refers to
 *   the exact text that was shown; importing a different text for the same (instruction, system) is refused.
 * - assignments: each rater's own random order of all items, drawn once and stored, so rating resumes where it stopped.
 *   Once any rater has an order, no item can be added (see importRuns), so every order stays one shuffle of all items.
 * - ratings: at most one per rater × item (a second post revises it), and only for an item assigned to that rater.
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
import { RATINGS, type Rating } from './scale.js';

const SCHEMA_VERSION = 1;
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
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version === 0) {
        const tables = db.prepare("SELECT count(*) AS n FROM sqlite_schema WHERE type = 'table'").get() as { n: number };
        if (tables.n > 0) throw new RatingStoreError(`${file}: an SQLite database, but not a refine-af rating database`);
        db.transaction(() => {
          db.exec(SCHEMA);
          db.pragma(`user_version = ${SCHEMA_VERSION}`);
        }).immediate();
      } else if (version !== SCHEMA_VERSION) {
        throw new RatingStoreError(`${file}: rating database schema version ${version}, this refine-af reads version ${SCHEMA_VERSION}`);
      }
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
        if (fresh.length > 0) this.refuseAfterOrders(fresh.map((f) => f.system));
        for (const f of fresh) putItem.run(f.instructionId, f.system, f.response);
        return { added: fresh.length, kept };
      })
      .immediate();
  }

  /** Throw, naming the new responses and the raters who have begun, if any rater already has an order. */
  private refuseAfterOrders(freshSystems: readonly string[]): void {
    const started = this.db
      .prepare<[], { name: string }>('SELECT name FROM raters WHERE id IN (SELECT DISTINCT rater_id FROM assignments) ORDER BY name')
      .all()
      .map((r) => r.name);
    if (started.length === 0) return;
    const counts = new Map<string, number>();
    for (const system of freshSystems) counts.set(system, (counts.get(system) ?? 0) + 1);
    const what = [...counts].map(([system, n]) => `${n} of system "${system}"`).join(', ');
    const names = started.slice(0, 5).join(', ') + (started.length > 5 ? ` and ${started.length - 5} more` : '');
    throw new RatingStoreError(
      `cannot add responses (${what}): raters ${names} already have their order of the responses in this database; ` +
        'responses added now would come after the ones they have rated, so raters could tell them apart. ' +
        'Rate all systems together in a new database (--db).',
    );
  }

  systems(): string[] {
    return this.db
      .prepare<[], { system: string }>('SELECT DISTINCT system FROM items ORDER BY system')
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

  /** Draw the rater's random order of all items, once: importRuns adds no item after that, so it stays complete. */
  private drawOrder(raterId: number): void {
    this.db
      .transaction(() => {
        if (this.db.prepare('SELECT 1 FROM assignments WHERE rater_id = ? LIMIT 1').get(raterId)) return;
        const items = this.db
          .prepare<[], { id: number }>('SELECT id FROM items ORDER BY id')
          .all()
          .map((r) => r.id);
        const insert = this.db.prepare('INSERT INTO assignments (rater_id, position, item_id) VALUES (?, ?, ?)');
        for (const [index, itemId] of shuffled(items).entries()) insert.run(raterId, index + 1, itemId);
      })
      .immediate();
  }

  /** The rater's first unrated assignment in their order, or undefined when everything is rated. */
  nextAssignment(raterId: number): number | undefined {
    this.drawOrder(raterId);
    const row = this.db
      .prepare<[number], { id: number }>(
        `SELECT a.id FROM assignments a
         LEFT JOIN ratings r ON r.rater_id = a.rater_id AND r.item_id = a.item_id
         WHERE a.rater_id = ? AND r.rating IS NULL ORDER BY a.position LIMIT 1`,
      )
      .get(raterId);
    return row?.id;
  }

  /** The rater's first assignment (to review ratings from the start), or undefined when there are no items. */
  firstAssignment(raterId: number): number | undefined {
    this.drawOrder(raterId);
    return this.db.prepare<[number], { id: number }>('SELECT id FROM assignments WHERE rater_id = ? ORDER BY position LIMIT 1').get(raterId)
      ?.id;
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
    const counts = this.db
      .prepare<[number], { total: number; rated: number }>(
        `SELECT count(*) AS total, count(r.rating) AS rated FROM assignments a
         LEFT JOIN ratings r ON r.rater_id = a.rater_id AND r.item_id = a.item_id WHERE a.rater_id = ?`,
      )
      .get(row.rater_id) as { total: number; rated: number };
    const previous = this.db
      .prepare<[number, number], { id: number }>('SELECT id FROM assignments WHERE rater_id = ? AND position = ?')
      .get(row.rater_id, row.position - 1);
    return {
      id: row.id,
      raterId: row.rater_id,
      position: row.position,
      total: counts.total,
      rated: counts.rated,
      previousId: previous?.id,
      instruction: row.instruction,
      input: row.input,
      output: row.output,
      response: row.response,
      rating: row.rating ?? undefined,
    };
  }

  /**
   * Record (or revise) a rater's rating of one of their assignments. The ownership check and the write are one
   * transaction, so a rating can never land on another rater's assignment.
   */
  rate(raterId: number, assignmentId: number, rating: Rating): 'rated' | 'unknown' | 'not-yours' {
    return this.db
      .transaction(() => {
        const row = this.db
          .prepare<[number], { rater_id: number; item_id: number }>('SELECT rater_id, item_id FROM assignments WHERE id = ?')
          .get(assignmentId);
        if (!row) return 'unknown' as const;
        if (row.rater_id !== raterId) return 'not-yours' as const;
        this.db
          .prepare(
            `INSERT INTO ratings (rater_id, item_id, rating, rated_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (rater_id, item_id) DO UPDATE SET rating = excluded.rating, rated_at = excluded.rated_at`,
          )
          .run(raterId, row.item_id, rating, new Date().toISOString());
        return 'rated' as const;
      })
      .immediate();
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

  progress(): RaterProgress[] {
    return this.db
      .prepare<[], RaterProgress>(
        `SELECT w.name, count(r.rating) AS rated, (SELECT count(*) FROM items) AS total FROM raters w
         LEFT JOIN ratings r ON r.rater_id = w.id GROUP BY w.id ORDER BY w.name`,
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
}

/**
 * The human evaluation as the CLI and the SDK run it: import runs (and the quality-review sample) and serve, mint rater
 * tokens, export the results.
 */

import { existsSync, rmSync } from 'node:fs';
import type { Config } from '../../config/schema.js';
import { writeFileAtomic } from '../../io/files.js';
import { logger } from '../../log.js';
import { EXPORT_TABLES, type ExportTable } from './csv.js';
import { distributionChart } from './html.js';
import type { LoginThrottleSettings } from './login-throttle.js';
import { loadInstructions, loadRun, parseSystemArguments } from './responses.js';
import { QUALITY_REVIEW_SEED, QUALITY_REVIEW_SIZE, sampleForReview } from './review.js';
import { isLoopback, type RatingServer, startRatingServer } from './server.js';
import { type QualityReviewRow, RatingStore, RatingStoreError, type SystemDistribution } from './store.js';

export interface ServeHumanEvalOptions {
  /** The SQLite file holding responses, raters and ratings (created when absent). */
  db: string;
  /** `name=path` per system; may be left out once the database holds the responses. */
  runs?: readonly string[];
  /** The instructions the runs answer (default: the 252 user-oriented instructions shipped in seeds/). */
  instructions?: string;
  host: string;
  port: number;
  bodyLimitBytes: number;
  sessionHours: number;
  /** Mark the session cookie Secure: the app is reached through a TLS proxy (human_eval.secure_cookies). */
  secureCookies: boolean;
  /** Failed logins allowed per client address (human_eval.login_throttle). */
  loginThrottle: LoginThrottleSettings;
}

/** The server's settings as the config's human_eval section gives them (`serve` may override the host and port). */
export function servingSettings(
  settings: Config['human_eval'],
): Pick<ServeHumanEvalOptions, 'host' | 'port' | 'bodyLimitBytes' | 'sessionHours' | 'secureCookies' | 'loginThrottle'> {
  return {
    host: settings.host,
    port: settings.port,
    bodyLimitBytes: settings.body_limit_bytes,
    sessionHours: settings.session_hours,
    secureCookies: settings.secure_cookies,
    loginThrottle: {
      failures: settings.login_throttle.failures,
      windowMs: settings.login_throttle.window_seconds * 1000,
      addresses: settings.login_throttle.addresses,
    },
  };
}

/** Import the runs (if any) into the database and start the rating app; `close()` stops it and closes the database. */
export async function serveHumanEval(options: ServeHumanEvalOptions): Promise<RatingServer> {
  const store = RatingStore.open(options.db);
  try {
    const runArguments = parseSystemArguments(options.runs ?? [], '--runs');
    const systems = [...new Set([...store.systems(), ...runArguments.map((r) => r.system)])];
    const reviewOnly = systems.length === 0 && store.systems('review').length > 0;
    if (systems.length < 2 && !reviewOnly) {
      throw new RatingStoreError(
        `only ${systems.length} system(s) to rate (${systems.join(', ') || 'none'} in ${options.db} and --runs); ` +
          'a blind comparison needs two or more: give --runs name=path for each (or import a quality review: human-eval import-review)',
      );
    }
    if (runArguments.length > 0) importInto(store, options.db, runArguments, options.instructions);
    if (!isLoopback(options.host)) {
      logger.warn(
        `human-eval: listening on ${options.host} over plain HTTP: tokens cross the network unencrypted unless a TLS proxy fronts the app`,
      );
    }
    const server = await startRatingServer({ store, ...options });
    logger.info(
      `human-eval: rating ${systems.length} systems' responses and ${store.systems('review').length} systems' quality-review items at ${server.url} ` +
        '(add raters with `refine-af human-eval add-rater`)',
    );
    return {
      url: server.url,
      close: async () => {
        await server.close();
        store.close();
      },
    };
  } catch (error) {
    store.close();
    throw error;
  }
}

function importInto(store: RatingStore, db: string, runs: readonly { system: string; file: string }[], instructionsFile?: string) {
  const instructions = loadInstructions(instructionsFile);
  const { added, kept } = store.importRuns(
    instructions,
    runs.map((r) => loadRun(r.system, r.file, instructions)),
  );
  logger.info(`human-eval: ${added} responses imported, ${kept} already in ${db}`);
  return { added, kept };
}

/** Put runs into the rating database (created when absent) without serving; idempotent, as `serve --runs` imports. */
export function importHumanEvalRuns(db: string, runs: readonly string[], instructionsFile?: string): { added: number; kept: number } {
  const runArguments = parseSystemArguments(runs, '--runs');
  return withStore(db, { mustExist: false }, (store) => importInto(store, db, runArguments, instructionsFile));
}

export interface QualityReviewImportOptions {
  /** Instructions sampled per dataset (default 100, the paper's). */
  size?: number;
  /** Seed of the sample (default 42): the same seed draws the same items. */
  seed?: number;
}

/**
 * Sample `size` instructions of each IFT dataset (`name=path`, the name never shown to raters), one instance each, into
 * the rating database (created when absent) as quality-review items (Table IV). Idempotent, as importing runs is; a
 * sample whose instance differs from the stored one is refused.
 */
export function importQualityReview(
  db: string,
  datasets: readonly string[],
  options: QualityReviewImportOptions = {},
): { added: number; kept: number; sampled: Record<string, number> } {
  const { size = QUALITY_REVIEW_SIZE, seed = QUALITY_REVIEW_SEED } = options;
  const samples = parseSystemArguments(datasets, '--datasets').map(({ system, file }) => ({
    system,
    items: sampleForReview(system, file, { size, seed }),
  }));
  const sampled = Object.fromEntries(samples.map(({ system, items }) => [system, items.length]));
  const { added, kept } = withStore(db, { mustExist: false }, (store) => store.importReviewItems(samples.flatMap((s) => s.items)));
  logger.info(`human-eval: ${added} quality-review items imported, ${kept} already in ${db}`);
  return { added, kept, sampled };
}

export type { ExportTable };

/** Run `use` on the database; one this call created is removed again when `use` fails, so a failed import leaves no empty file. */
function withStore<T>(db: string, options: { mustExist: boolean }, use: (store: RatingStore) => T): T {
  const created = !existsSync(db);
  const store = RatingStore.open(db, options);
  let failed = true;
  try {
    const result = use(store);
    failed = false;
    return result;
  } finally {
    store.close();
    if (failed && created) for (const file of [db, `${db}-wal`, `${db}-shm`]) rmSync(file, { force: true });
  }
}

/** Register a rater and return their token (shown once; the database keeps only its hash). */
export function addRater(db: string, name: string, options: { admin?: boolean } = {}): { name: string; token: string; admin: boolean } {
  return withStore(db, { mustExist: false }, (store) => {
    const { rater, token } = store.addRater(name, options);
    return { name: rater.name, token, admin: rater.isAdmin };
  });
}

/** Figure 6's numbers: the count of each rating level per system. */
export function ratingDistribution(db: string): SystemDistribution[] {
  return withStore(db, { mustExist: true }, (store) => store.distribution());
}

/** Table IV's numbers: per system, the items reviewed, the answers given and the yes count of each question. */
export function qualityReviewTable(db: string): QualityReviewRow[] {
  return withStore(db, { mustExist: true }, (store) => store.qualityReview());
}

/** Write one table (default: the distribution per system) as CSV, and optionally Figure 6 as SVG. */
export function exportHumanEval(db: string, out: string, options: { table?: ExportTable; svg?: string } = {}): void {
  withStore(db, { mustExist: true }, (store) => {
    writeFileAtomic(out, EXPORT_TABLES[options.table ?? 'distribution'](store));
    if (options.svg) writeFileAtomic(options.svg, `${distributionChart(store.distribution()).text}\n`);
  });
}

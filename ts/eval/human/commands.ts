/** The human evaluation as the CLI and the SDK run it: import runs and serve, mint rater tokens, export the results. */
import { writeFileAtomic } from '../../io/files.js';
import { logger } from '../../log.js';
import { distributionCsv, ratingsCsv } from './csv.js';
import { distributionChart } from './html.js';
import { loadInstructions, loadRun, parseRunArgument } from './responses.js';
import { isLoopback, type RatingServer, startRatingServer } from './server.js';
import { RatingStore, RatingStoreError, type SystemDistribution } from './store.js';

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
}

/** Import the runs (if any) into the database and start the rating app; `close()` stops it and closes the database. */
export async function serveHumanEval(options: ServeHumanEvalOptions): Promise<RatingServer> {
  const store = RatingStore.open(options.db);
  try {
    const runArguments = (options.runs ?? []).map(parseRunArgument);
    const duplicate = runArguments.find((r, i) => runArguments.findIndex((o) => o.system === r.system) !== i);
    if (duplicate) throw new RatingStoreError(`--runs names system "${duplicate.system}" twice`);
    const systems = [...new Set([...store.systems(), ...runArguments.map((r) => r.system)])];
    if (systems.length < 2) {
      throw new RatingStoreError(
        `only ${systems.length} system(s) to rate (${systems.join(', ') || 'none'} in ${options.db} and --runs); ` +
          'a blind comparison needs two or more: give --runs name=path for each',
      );
    }
    if (runArguments.length > 0) importInto(store, options.db, runArguments, options.instructions);
    if (!isLoopback(options.host)) {
      logger.warn(
        `human-eval: listening on ${options.host} over plain HTTP: tokens cross the network unencrypted unless a TLS proxy fronts the app`,
      );
    }
    const server = await startRatingServer({ store, ...options });
    logger.info(`human-eval: rating ${systems.length} systems at ${server.url} (add raters with \`refine-af human-eval add-rater\`)`);
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
  const runArguments = runs.map(parseRunArgument);
  return withStore(db, { mustExist: false }, (store) => importInto(store, db, runArguments, instructionsFile));
}

function withStore<T>(db: string, options: { mustExist: boolean }, use: (store: RatingStore) => T): T {
  const store = RatingStore.open(db, options);
  try {
    return use(store);
  } finally {
    store.close();
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

export type ExportTable = 'distribution' | 'ratings';

/** Write the distribution per system (or every rating) as CSV, and optionally Figure 6 as SVG. */
export function exportHumanEval(db: string, out: string, options: { table?: ExportTable; svg?: string } = {}): void {
  withStore(db, { mustExist: true }, (store) => {
    writeFileAtomic(out, options.table === 'ratings' ? ratingsCsv(store.ratings()) : distributionCsv(store.distribution()));
    if (options.svg) writeFileAtomic(options.svg, `${distributionChart(store.distribution()).text}\n`);
  });
}

/**
 * `refine-af export`: a finished run's IFT dataset as a Hugging Face dataset folder that `datasets.load_dataset(folder)`
 * loads and the hub shows, top to bottom —
 *
 *   the run is finished → the folder holds no other dataset (or --force) → in a scratch folder beside it: each dataset
 *   (the whole one, then each Table II subset) as JSONL and Parquet → the Table V statistics and figures → the run's
 *   config → the dataset card → the scratch folder replaces the target in one rename.
 *
 * Nothing is written before the checks pass, and a failure leaves the target as it was.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { z } from 'zod';
import { withWorker } from '../backends/from-config.js';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { readJsonIfExists, writeFileAtomic, writeJsonAtomic } from '../io/files.js';
import { loadSeedTasks } from '../io/seeds.js';
import { packageRoot, runLedgerFile } from '../paths.js';
import { instanceFiles, readInstanceSummary } from '../stages/instances.js';
import { instructionsOutputPaths, readInstructionsRecord, seedTasksFile } from '../stages/instructions.js';
import { completedSteps, RunConflictError } from '../stages/ledger.js';
import { rlafPaths } from '../stages/rlaf/paths.js';
import { firstInstructions, sftSubsets } from '../stages/sft.js';
import { type IftRecord, loadDataset, readInstructionPool } from '../stats/dataset.js';
import { analyseDataset, FIGURE_CAPTIONS } from '../stats/report.js';
import { type CardSubset, datasetCard } from './dataset-card.js';
import { pipelineStageNames } from './run.js';

export interface ExportOptions {
  /** The run directory (its run.json and config.yaml). */
  runDir: string;
  /** The dataset folder; default <run dir>/dataset. */
  outDir?: string;
  /** Replace a folder that holds another dataset. */
  force?: boolean;
}

export interface ExportResult {
  outDir: string;
  card: string;
  /** The folder's datasets: `default`, then one per Table II subset. */
  subsets: CardSubset[];
}

/** Beside the card: which run's dataset the folder holds, so that exporting the same run again replaces it quietly. */
const EXPORT_RECORD_FILE = 'refine-af-export.json';
const exportRecordSchema = z.strictObject({ run: z.string(), dataset_hash: z.string(), version: z.string() });

const packageVersion = (): string =>
  z.object({ version: z.string() }).parse(JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8'))).version;

export async function exportDataset(options: ExportOptions): Promise<ExportResult> {
  const runDir = resolve(options.runDir);
  const outDir = resolve(options.outDir ?? join(runDir, 'dataset'));
  const configFile = join(runDir, 'config.yaml');
  // The run's own copy of its config, with its files found where the run is now (a copied run directory works too).
  const config = loadConfig(configFile, { run: { dir: runDir } });
  const stages = completedSteps(
    runLedgerFile(runDir),
    'stages',
    pipelineStageNames(config),
    `finish the run first (refine-af run --config ${relative(process.cwd(), configFile)} --resume)`,
  );
  const datasetHash = stages.instances!.hash;
  const version = packageVersion();
  refuseOtherDataset(outDir, datasetHash, options.force ?? false);

  const instances = instanceFiles(join(runDir, 'instances'));
  const datasetFile = instances.dataset;
  const records = loadDataset(datasetFile);
  const scratch = `${outDir}.partial`;
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  try {
    const subsets = await writeSubsets(config, records, scratch);
    const poolFile = instructionsOutputPaths(config).output;
    const figuresDir = join(scratch, 'statistics');
    const stats = analyseDataset(config, {
      dataset: datasetFile,
      outDir: figuresDir,
      pool: poolFile,
      ...(config.pipeline.method === 'refine-af' ? { metrics: rlafPaths(config).metrics } : {}),
    });
    copyFileSync(configFile, join(scratch, 'config.yaml'));
    const stage1 = readInstructionsRecord(config);
    const card = datasetCard({
      config,
      version,
      configSha256: createHash('sha256').update(readFileSync(configFile)).digest('hex'),
      datasetHash,
      seedTasks: loadSeedTasks(seedTasksFile(config.instructions)).length,
      stage1: stage1 && { ...stage1, pool: readInstructionPool(poolFile).length },
      stage3: readInstanceSummary(instances.summary),
      subsets,
      stats,
      figures: stats.figures.map((file) => ({
        file: `statistics/${file}`,
        caption: FIGURE_CAPTIONS[file],
      })),
    });
    writeFileAtomic(join(scratch, 'README.md'), card);
    writeJsonAtomic(join(scratch, EXPORT_RECORD_FILE), { run: runDir, dataset_hash: datasetHash, version });
    rmSync(outDir, { recursive: true, force: true });
    renameSync(scratch, outDir);
    return { outDir, card: join(outDir, 'README.md'), subsets };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** A folder that is not empty and does not hold this run's dataset is another's: refused unless --force. */
function refuseOtherDataset(outDir: string, datasetHash: string, force: boolean): void {
  if (force || !existsSync(outDir) || readdirSync(outDir).length === 0) return;
  const record = readJsonIfExists(join(outDir, EXPORT_RECORD_FILE), exportRecordSchema);
  if (record?.dataset_hash === datasetHash) return;
  throw new RunConflictError(
    `${outDir} already holds ${record === undefined ? 'other files' : `the dataset of ${record.run} (input hash ${record.dataset_hash})`}; ` +
      'choose another --out, or pass --force to replace it',
  );
}

/** The whole dataset (`default`), then each Table II subset (`first-<N>`: the instances of the first N instructions). */
async function writeSubsets(config: Config, records: IftRecord[], folder: string): Promise<CardSubset[]> {
  const wanted = [null, ...sftSubsets(config).filter((n): n is number => n !== null)];
  return withWorker(config, async (worker) => {
    const subsets: CardSubset[] = [];
    for (const max of wanted) {
      const name = max === null ? 'default' : `first-${max}`;
      const kept = firstInstructions(records, max);
      const base = max === null ? 'data/train' : `data/${name}/train`;
      const jsonl = `${base}.jsonl`;
      const parquet = `${base}.parquet`;
      writeFileAtomic(join(folder, jsonl), kept.map((r) => `${JSON.stringify(r)}\n`).join(''));
      const { rows } = await worker.call('write_parquet', { jsonl: join(folder, jsonl), parquet: join(folder, parquet) });
      subsets.push({ name, instructions: new Set(kept.map((r) => r.instruction)).size, rows, jsonl, parquet });
    }
    return subsets;
  });
}

/**
 * `refine-af plan --calibrate`'s prediction against the run that followed it: per stage, the predicted time (plan.json)
 * beside the measured one (run.json: from the stage's started_at to its completion, its models' release included), and
 * their ratio; the bar is a factor of 1.5 either way.
 *
 * Run: `npx tsx bench/plan-vs-run.ts <plan.json> <run dir>`. Prints Markdown.
 */
import { readFileSync } from 'node:fs';
import { runLedgerFile } from '../ts/paths.js';
import { planSchema } from '../ts/pipeline/plan.js';
import { formatDuration } from '../ts/progress.js';
import { readLedger } from '../ts/stages/ledger.js';

const [planFile, runDir] = process.argv.slice(2);
if (planFile === undefined || runDir === undefined) throw new Error('usage: plan-vs-run.ts <plan.json> <run dir>');
const plan = planSchema.parse(JSON.parse(readFileSync(planFile, 'utf8')));
const stages = readLedger(runLedgerFile(runDir), 'stages');

console.log('| stage | predicted | measured | predicted ÷ measured | extrapolated from |');
console.log('| --- | --- | --- | --- | --- |');
for (const { stage, in_run, estimate } of plan.stages) {
  if (!in_run || estimate === null) continue;
  const entry = stages[stage];
  const measured =
    entry?.status === 'complete' && entry.started_at !== undefined
      ? (Date.parse(entry.updated_at) - Date.parse(entry.started_at)) / 1000
      : undefined;
  const ratio = measured === undefined ? 'not run' : (estimate.seconds / measured).toFixed(2);
  console.log(
    `| ${stage} | ${formatDuration(estimate.seconds)} | ${measured === undefined ? '-' : formatDuration(measured)} | ${ratio} | ${estimate.extrapolated_from} |`,
  );
}

import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import { workerFromConfig } from '../ts/backends/from-config.js';
import { FEEDBACK_INDICATORS, type Triplet } from '../ts/bridge/contract.js';
import { loadConfig } from '../ts/config/load.js';
import { FeedbackScorer, type ScoredTriplet } from '../ts/feedback/scorer.js';
import { readJsonl } from '../ts/io/files.js';
import { packageRoot } from '../ts/paths.js';

const BATCH_SIZES = [1, 2, 4, 8, 16];
/** Triplets per timed pass: the first pairs' answers (the 2-core machine is shared, so a pass is kept short). */
const THROUGHPUT_TRIPLETS = 16;
const pairSchema = z.object({ instruction: z.string(), input: z.string(), good: z.string(), bad: z.string(), breakage: z.string() });

const configFile = process.argv[2] ?? join(packageRoot, 'configs/default.yaml');
const config = loadConfig(configFile);
const pairs = readJsonl(join(packageRoot, 'bench/feedback-pairs.jsonl'), pairSchema);
const triplets: Triplet[] = pairs.flatMap((p) => [
  { instruction: p.instruction, input: p.input, output: p.good },
  { instruction: p.instruction, input: p.input, output: p.bad },
]);

const worker = workerFromConfig(config);
const scorer = (batchSize: number) => new FeedbackScorer(worker, { ...config, feedback: { ...config.feedback, batch_size: batchSize } });

// 1. Ordering quality.
const scored = await scorer(config.feedback.batch_size).score(triplets);
const measures: Record<string, (s: ScoredTriplet) => number> = {
  ...Object.fromEntries(FEEDBACK_INDICATORS.map((name) => [name, (s: ScoredTriplet) => s.indicators[name]])),
  'composite (Eq. 1)': (s) => s.reward,
};
console.log(`Judge: ${JSON.stringify(scored[0]!.backends)}; ${pairs.length} pairs; config ${configFile}\n`);
console.log('| indicator | correct answer higher | tie | broken answer higher | mean score, correct | mean score, broken |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const [name, value] of Object.entries(measures)) {
  let higher = 0;
  let tie = 0;
  let good = 0;
  let bad = 0;
  pairs.forEach((_, i) => {
    const g = value(scored[2 * i]!);
    const b = value(scored[2 * i + 1]!);
    good += g;
    bad += b;
    if (Math.abs(g - b) < 1e-9) tie += 1;
    else if (g > b) higher += 1;
  });
  const n = pairs.length;
  console.log(
    `| ${name} | ${higher}/${n} (${Math.round((100 * higher) / n)}%) | ${tie} | ${n - higher - tie} | ${(good / n).toFixed(3)} | ${(bad / n).toFixed(3)} |`,
  );
}
const misordered = pairs.filter((_, i) => scored[2 * i]!.reward <= scored[2 * i + 1]!.reward).map((p) => p.breakage);
console.log(`\nComposite misordered on: ${misordered.join('; ') || 'none'}\n`);

// 2. Throughput, batch size swept (the model is loaded and warm from the ordering pass).
console.log(
  `CPU: ${cpus().length} × ${cpus()[0]?.model ?? '?'}; load average before: ${loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}\n`,
);
console.log('| batch size | triplets | seconds | triplets/s | s/triplet | speed-up vs batch 1 |');
console.log('| --- | --- | --- | --- | --- | --- |');
let reference = 0;
for (const batchSize of BATCH_SIZES) {
  const timed = triplets.slice(0, THROUGHPUT_TRIPLETS);
  const start = performance.now();
  await scorer(batchSize).score(timed);
  const seconds = (performance.now() - start) / 1000;
  const rate = timed.length / seconds;
  if (batchSize === 1) reference = rate;
  console.log(
    `| ${batchSize}${batchSize === 1 ? ' (reference)' : ''} | ${timed.length} | ${seconds.toFixed(1)} | ${rate.toFixed(3)} | ${(seconds / timed.length).toFixed(1)} | ${(rate / reference).toFixed(2)}× |`,
  );
}
console.log(
  `\nload average after: ${loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}`,
);
await worker.close();

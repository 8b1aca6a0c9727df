/**
 * The dataset card (README.md) of an exported IFT dataset: the Hugging Face hub's YAML header — licence, task category,
 * language, size, and one `configs` entry per dataset (the whole one and each Table II subset) so that
 * `datasets.load_dataset(folder[, name])` finds its files and features — then what a reader needs to judge the data:
 * how it was made, what each filter dropped, the Table V statistics and figures, and its known limits.
 */
import { stringify } from 'yaml';
import type { Config } from '../config/schema.js';
import type { DatasetStats } from '../stats/report.js';

/** One loadable dataset of the folder: a hub config with a train split. */
export interface CardSubset {
  /** Hub config name: `default` for the whole dataset, `first-<N>` for a Table II subset. */
  name: string;
  /** Distinct instructions, and instances (rows). */
  instructions: number;
  rows: number;
  /** Paths inside the folder. */
  parquet: string;
  jsonl: string;
}

export interface DatasetCardFacts {
  config: Config;
  version: string;
  /** sha256 of the run's config.yaml, copied beside the card. */
  configSha256: string;
  /** The instances stage's input hash in run.json: equal hashes, equal datasets. */
  datasetHash: string;
  seedTasks: number;
  /** Stage 1's record; undefined when its instructions were copied from another run (pipeline.instructions_from). */
  stage1: { pool: number; requests: number; generated: number; rejected: Record<string, number> } | undefined;
  stage3: { poolSize: number; instancesParsed: number; instructionsWithoutInstance: number; dropped: Record<string, number> };
  subsets: CardSubset[];
  stats: DatasetStats;
  /** Figure file → caption, inside the folder. */
  figures: { file: string; caption: string }[];
}

interface License {
  /** The hub's licence identifier. */
  id: string;
  name: string;
}

const APACHE: License = { id: 'apache-2.0', name: 'Apache License 2.0' };
const LLAMA2: License = { id: 'llama2', name: 'Llama 2 Community License' };

/** Licences of the models the shipped configs name, as their model cards state them; any other model is "unknown". */
const MODEL_LICENSES: [prefix: string, license: License][] = [
  ['embedded:smollm2-', APACHE],
  ['HuggingFaceTB/SmolLM2-', APACHE],
  ['meta-llama/Llama-2-', LLAMA2],
  ['mistralai/Mistral-7B-', APACHE],
  ['Qwen/Qwen3-', APACHE],
];

function modelLicense(model: string): License | undefined {
  return MODEL_LICENSES.find(([prefix]) => model.startsWith(prefix))?.[1];
}

const licenseText = (model: string) => modelLicense(model)?.name ?? 'unknown here: see its model card';

/** The hub's size category for a row count. */
function sizeCategory(rows: number): string {
  const bounds: [number, string][] = [
    [1_000, 'n<1K'],
    [10_000, '1K<n<10K'],
    [100_000, '10K<n<100K'],
    [1_000_000, '100K<n<1M'],
  ];
  return bounds.find(([bound]) => rows < bound)?.[1] ?? '1M<n<10M';
}

/** Which model produced what, as the run's config says: the generator writes every text, the feedback models only score. */
function modelRoles(config: Config): { role: string; model: string }[] {
  const stages = config.pipeline.method === 'refine-af' ? 'stages 1 and 3; the PPO policy of stage 2' : 'stages 1 and 3';
  const roles = [{ role: `generator (${stages})`, model: config.models.generator }];
  if (config.pipeline.method === 'refine-af') {
    const backends = config.feedback.backends;
    const byModel = new Map<string, string[]>();
    for (const [indicator, backend] of Object.entries(backends)) {
      const model = { reward_model: config.feedback.reward_model, unieval: config.feedback.unieval, judge: config.feedback.judge }[backend];
      byModel.set(`${backend}:${model}`, [...(byModel.get(`${backend}:${model}`) ?? []), indicator]);
    }
    for (const [key, indicators] of byModel) {
      const model = key.slice(key.indexOf(':') + 1);
      roles.push({ role: `stage-2 feedback (${key.slice(0, key.indexOf(':'))}: ${indicators.join(', ')})`, model });
    }
  }
  return roles;
}

const table = (header: string[], rows: (string | number)[][]) =>
  [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

const counts = (record: Record<string, number>) =>
  Object.entries(record)
    .map(([reason, n]) => `${reason.replaceAll('_', ' ')} ${n.toLocaleString('en-US')}`)
    .join(', ');

/** The card's text: YAML header, then the body. */
export function datasetCard(facts: DatasetCardFacts): string {
  const { config, stats } = facts;
  const generatorLicense = modelLicense(config.models.generator);
  // The generator writes every instruction, input and output: its licence is the data's (the seeds are Apache-2.0 too).
  const license = generatorLicense ?? { id: 'other', name: 'unknown' };
  const main = facts.subsets[0]!;
  const header = {
    license: license.id,
    task_categories: ['text-generation'],
    language: ['en'],
    size_categories: [sizeCategory(main.rows)],
    tags: [...new Set(['instruction-tuning', 'synthetic', 'refine-af', config.pipeline.method])],
    pretty_name: `${config.pipeline.method === 'refine-af' ? 'REFINE-AF' : 'Self-Instruct'} instructions from ${config.models.generator}`,
    configs: facts.subsets.map((s) => ({
      config_name: s.name,
      ...(s.name === 'default' ? { default: true } : {}),
      data_files: [{ split: 'train', path: s.parquet }],
    })),
    dataset_info: facts.subsets.map((s) => ({
      config_name: s.name,
      features: ['instruction', 'input', 'output'].map((name) => ({ name, dtype: 'string' })),
      splits: [{ name: 'train', num_examples: s.rows }],
    })),
  };
  const stage1 = facts.stage1;
  const tableV = stats.tableV;
  const body = [
    `# ${header.pretty_name}`,
    '',
    `An instruction-tuning dataset of ${main.rows.toLocaleString('en-US')} {instruction, input, output} instances for ` +
      `${main.instructions.toLocaleString('en-US')} instructions, made by refine-af ${facts.version} ` +
      `(${config.pipeline.method === 'refine-af' ? 'REFINE-AF: instructions bootstrapped from seed tasks, the generator improved by PPO from automated feedback, then instances generated by it' : 'the Self-Instruct baseline: instructions bootstrapped from seed tasks, instances generated by the base model, no stage 2'}).`,
    '',
    '```python',
    'import datasets',
    'dataset = datasets.load_dataset("<this folder>")  # the whole dataset',
    ...facts.subsets
      .slice(1)
      .map((s) => `subset = datasets.load_dataset("<this folder>", "${s.name}")  # Table II: the first ${s.instructions} instructions`),
    '```',
    '',
    '## How it was made',
    '',
    table(
      ['role', 'model', 'licence'],
      modelRoles(config).map(({ role, model }) => [role, `\`${model}\``, licenseText(model)]),
    ),
    '',
    `The data's licence is its generator's (${license.name}): the feedback models only score. The ${facts.seedTasks} seed tasks are Self-Instruct's (Wang et al., 2023; Apache-2.0, https://github.com/yizhongw/self-instruct).`,
    '',
    `Reproduce it with \`refine-af run --config config.yaml\` (the run's config, beside this card; sha256 \`${facts.configSha256}\`) and refine-af ${facts.version}; ` +
      `the run recorded the dataset's input hash \`${facts.datasetHash}\` (equal hashes, equal data). Seed ${config.run.seed}.`,
    '',
    '## Counts and filters',
    '',
    stage1 === undefined
      ? `- Stage 1: ${stats.tableV.pool_instructions ?? '?'} instructions copied from the run ${config.pipeline.instructions_from} (pipeline.instructions_from).`
      : `- Stage 1: ${stage1.requests.toLocaleString('en-US')} prompts, ${stage1.generated.toLocaleString('en-US')} instructions parsed, ${stage1.pool.toLocaleString('en-US')} kept; rejected: ${counts(stage1.rejected)}.`,
    `- Stage 3: ${facts.stage3.poolSize.toLocaleString('en-US')} instructions prompted, ${facts.stage3.instancesParsed.toLocaleString('en-US')} instances parsed, ` +
      `${facts.stage3.instructionsWithoutInstance.toLocaleString('en-US')} instructions gave none; dropped: ${counts(facts.stage3.dropped)}.`,
    '',
    table(
      ['config', 'instructions', 'instances', 'files'],
      facts.subsets.map((s) => [`\`${s.name}\``, s.instructions, s.rows, `\`${s.parquet}\`, \`${s.jsonl}\``]),
    ),
    '',
    "## Statistics (the paper's Table V)",
    '',
    table(
      ['', 'value'],
      [
        ['instructions (stage-1 pool)', tableV.pool_instructions ?? '—'],
        ['instructions with ≥ 1 instance', tableV.instructions],
        ['instances', tableV.instances],
        ['instances with an empty input', tableV.instances_with_empty_input],
        ['mean instruction length (words)', tableV.avg_instruction_words.toFixed(2)],
        ['mean non-empty input length (words)', tableV.avg_nonempty_input_words.toFixed(2)],
        ['mean output length (words)', tableV.avg_output_words.toFixed(2)],
        ['distinct verb–noun pairs', stats.diversity.uniqueVerbNounPairs],
        ['mean max ROUGE-L against the seeds', stats.seedOverlap.mean.toFixed(2)],
      ],
    ),
    '',
    ...facts.figures.flatMap(({ file, caption }) => [`![${caption}](${file})`, '', `*${caption}*`, '']),
    '## Known limits',
    '',
    ...knownLimits(config).map((limit) => `- ${limit}`),
    '',
  ];
  return `---\n${stringify(header)}---\n\n${body.join('\n')}`;
}

function knownLimits(config: Config): string[] {
  const limits = [
    'Every text is machine-written and none was read by a person: outputs may be wrong, inputs may not fit their instruction.',
    "The filters (length, form, ROUGE-L novelty, Self-Instruct's instance filters) remove malformed and duplicate data, not wrong data.",
  ];
  if (config.models.generator.startsWith('embedded:')) {
    limits.unshift(
      `The generator, ${config.models.generator}, is a 135M-parameter model chosen so that the pipeline runs on a laptop CPU in minutes: it makes poor data (short, repetitive, often wrong). Use this dataset to try the toolkit, not to train a model you rely on.`,
    );
  }
  if (config.pipeline.method === 'refine-af' && Object.values(config.feedback.backends).includes('judge')) {
    limits.push(
      `Stage 2's feedback came (partly) from the judge ${config.feedback.judge} standing in for the paper's reward model and UniEval; a small judge scores near chance, so PPO may have learnt little.`,
    );
  }
  return limits;
}

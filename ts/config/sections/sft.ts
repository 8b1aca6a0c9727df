/** The `sft` section of the config; ts/config/schema.ts assembles the sections into the one schema. */
import { z } from 'zod';
import { trainingArgumentsSchema } from '../../bridge/contract.js';
import { loraSection, reportTo } from '../fields.js';
import { library, ours, paper } from '../provenance.js';

const training = trainingArgumentsSchema.shape;

export const sftSection = z
  .strictObject({
    training: z
      .strictObject({
        num_train_epochs: training.num_train_epochs
          .default(3)
          .describe('Training epochs over the IFT dataset (§III-A).')
          .meta(paper('§III-A')),
        learning_rate: training.learning_rate
          .default(2e-4)
          .describe(
            "Peak learning rate, for the adapter (sft.lora) trained by default. The paper's 2e-5 (§III-A) is a full fine-tuning " +
              'rate, the one to give with sft.lora: null; an adapter at 2e-5 barely moves the model.',
          )
          .meta(
            ours(
              'QLoRA trains 7B/13B adapters at 2e-4 (artidoro/qlora scripts); on SmolLM2-135M a LoRA adapter at 2e-5 left the ' +
                'held-out loss where it was and one at 2e-4 lowered it (BENCHMARKS.md, "The SFT regime")',
            ),
          ),
        lr_scheduler_type: training.lr_scheduler_type
          .default('cosine')
          .describe('Learning-rate schedule (§III-A: cosine).')
          .meta(paper('§III-A')),
        warmup_ratio: training.warmup_ratio.default(0.3).describe('Fraction of the steps spent warming up (§III-A).').meta(paper('§III-A')),
        per_device_train_batch_size: training.per_device_train_batch_size
          .default(2)
          .describe('Examples per device per step (§III-A: batch size 2).')
          .meta(paper('§III-A')),
        gradient_accumulation_steps: training.gradient_accumulation_steps
          .default(4)
          .describe('Steps accumulated per optimizer update (§III-A).')
          .meta(paper('§III-A')),
        max_steps: training.max_steps
          .default(-1)
          .describe('Stop after this many optimizer updates; -1 trains the full epochs (short runs, the demo).')
          .meta(library('HF TrainingArguments default: the full epochs')),
        logging_steps: training.logging_steps
          .default(10)
          .describe('Report the training loss every this many optimizer updates.')
          .meta(ours('a loss point every 10 updates')),
        save_steps: training.save_steps
          .default(200)
          .describe('Write a resumable checkpoint every this many optimizer updates.')
          .meta(ours('a resumable checkpoint every 200 updates')),
        save_total_limit: training.save_total_limit
          .default(2)
          .describe('Checkpoints kept on disk (older ones are deleted).')
          .meta(ours('two checkpoints bound the disk')),
        report_to: reportTo("The HF Trainer's logs (train/loss, train/learning_rate, …)", 'sft or sft-<N>'),
      })
      .prefault({})
      .describe("The HF Trainer's settings, under the names of transformers' TrainingArguments (passed to it as they are)."),
    max_seq_length: z
      .number()
      .int()
      .positive()
      .default(1024)
      .describe('Prompt + response tokens per example; longer ones are cut from the end of the response.')
      .meta(ours('fits the instances of Table V')),
    max_instructions: z
      .number()
      .int()
      .positive()
      .nullable()
      .default(null)
      .describe(
        'Fine-tune on the instances of the first N instructions of the pool only (Table II: 5,000 / 10,000 / 15,000); null uses all.',
      )
      .meta(paper('Table II: the full 15,000')),
    extra_subsets: z
      .array(z.number().int().positive())
      .default([])
      .describe('Also fine-tune one model per N listed, on the first N instructions (Table II: [5000, 10000] next to the full 15,000).')
      .meta(ours("one model by default; the reproduction configs add Table II's subsets")),
    lora: loraSection(
      { r: 16, lora_alpha: 32, lora_dropout: 0.05 },
      {
        r: ours('a common QLoRA rank; the paper gives none'),
        lora_alpha: ours('2 × rank; the paper gives none'),
        lora_dropout: ours('QLoRA uses 0.05 for its 33B/65B models, 0.1 up to 13B; the paper gives none'),
      },
      'not given in the paper.',
    )
      .nullable()
      .prefault({})
      .describe(
        'The LoRA adapter trained (peft LoraConfig; with models.load_in_4bit on CUDA this is QLoRA); null trains every weight instead.',
      )
      .meta(
        ours(
          'the paper says nothing of adapters for SFT (§III-A: 3 epochs, lr 2e-5, HuggingFace Trainer); an adapter fits one GPU of 24 GB — which regime matches the paper is being measured (issue 21)',
        ),
      ),
    prompt_template: z
      .string()
      .default('sft_alpaca_input.txt')
      .describe(
        "Training prompt for an instance with an input ({{instruction}}, {{input}}); default Alpaca's format. The loss is on the response only.",
      )
      .meta(library('Alpaca')),
    prompt_template_no_input: z
      .string()
      .default('sft_alpaca_no_input.txt')
      .describe("Training prompt for an instance with an empty input ({{instruction}}); default Alpaca's format.")
      .meta(library('Alpaca')),
    merge_weights: z
      .boolean()
      .default(false)
      .describe('Also save the base weights with the adapter merged in (a plain checkpoint for serving).')
      .meta(ours('the adapter alone is enough for evaluation')),
  })
  .describe('Supervised fine-tuning of the base model on the IFT dataset with the HF Trainer (§II-D "Instruction Finetuning", §III-A).');

/** The `server` section of the config; ts/config/schema.ts assembles the sections into the one schema. */
import { z } from 'zod';
import { library, ours } from '../provenance.js';

export const serverSection = z
  .strictObject({
    port: z
      .number()
      .int()
      .min(1)
      .max(65_535)
      .nullable()
      .default(null)
      .describe('Port of a server a stage starts (backend vllm or llama_cpp); null takes a free one.')
      .meta(ours('a free port never collides with another run')),
    startup_timeout_ms: z
      .number()
      .positive()
      .default(1_800_000)
      .describe('How long a started server may take to answer /v1/models (loading the weights) before the stage fails.')
      .meta(ours('vLLM loads a 13B model and captures its CUDA graphs in minutes')),
    vllm: z
      .strictObject({
        command: z
          .array(z.string().min(1))
          .min(1)
          .default(['vllm', 'serve'])
          .describe("Command that starts vLLM's OpenAI-compatible server; the model and the options below follow it.")
          .meta(library('vLLM CLI')),
        tensor_parallel_size: z
          .number()
          .int()
          .positive()
          .default(1)
          .describe('GPUs one model is split over (vllm serve --tensor-parallel-size).')
          .meta(library('vLLM default')),
        max_lora_rank: z
          .number()
          .int()
          .positive()
          .default(16)
          .describe("Largest LoRA rank served (vllm serve --max-lora-rank); at least sft.lora.r and rlaf's adapter rank.")
          .meta(library('vLLM default, equal to sft.lora.r')),
        extra_args: z
          .array(z.string())
          .default([])
          .describe('Further vllm serve arguments, e.g. ["--gpu-memory-utilization", "0.85"].')
          .meta(ours('none')),
      })
      .prefault({})
      .describe(
        "vllm serve, for backend vllm: the model is models.generator (or the model under evaluation), dtype models.dtype, 4-bit (bitsandbytes) the stage's models.load_in_4bit, LoRA adapters as --lora-modules.",
      ),
    llama_cpp: z
      .strictObject({
        n_ctx: z
          .number()
          .int()
          .positive()
          .default(4096)
          .describe('Context window in tokens (llama_cpp.server --n_ctx): prompt plus completion.')
          .meta(ours('room for the longest Super-NI prompt plus its completion')),
        n_threads: z
          .number()
          .int()
          .positive()
          .nullable()
          .default(null)
          .describe(
            'CPU threads for decoding (llama_cpp.server --n_threads); null: every core the process may use, as the torch worker does.',
          )
          .meta(ours("llama-cpp-python's own default, half the cores, ran Super-NI 16% and stage 1 7% slower on 2 cores (BENCHMARKS.md)")),
        extra_args: z.array(z.string()).default([]).describe('Further llama_cpp.server arguments.').meta(ours('none')),
      })
      .prefault({})
      .describe(
        "llama-cpp-python's server, for backend llama_cpp: serves a .gguf model (the embedded default is one) on CPU; it cannot apply a peft adapter.",
      ),
  })
  .describe(
    'A server a stage starts for itself (backend vllm or llama_cpp), waits for, and stops when the stage ends, fails or is interrupted.',
  );

"""The GPU check: the lab configs' model work at the paper's sizes, on one CUDA GPU, in under 10 minutes, no download.

    bash bench/gpu_check.sh wheels             # here: the wheels that travel, into .whl/ (and their size against 64 MiB)
    bash bench/gpu_check.sh                    # on the device machine: $OUT gets gpu-check.json and gpu-check.md
    bash bench/gpu_check.sh --dry-run          # here, on a CPU: the same code on the rehearsal's tiny shapes

It has NEVER RUN ON A GPU (no task so far has had one); `--dry-run` runs on every CPU (tests/py/test_gpu_check.py) and
names, in its output, each check it skipped because it needs CUDA.

What it does, through our own code (fixtures/rehearsal_models.py; py/refine_af: models, ppo, scorers, sft):
  1. makes random-weight models of the paper's shapes on the GPU in bf16 and saves them to local disk (about 19 GB):
     a Llama-2-7B (LlamaConfig with 7B's dimensions and 32000 embedding rows; the rehearsal's sentencepiece tokenizer and
     its scripted head, so that greedy text parses), an oasst-rm-pythia-1.4b-shaped reward model and a
     t5-v1.1-large-shaped UniEval; no hub, no download; initialising 9 billion weights on an H200 takes seconds,
     writing them a minute or so;
  2. loads the Llama as the lab config does (4-bit NF4 through bitsandbytes, `models.load_in_4bit`), counts its
     Linear4bit layers and their quant type, and generates one stage-1 batch (sampled) and one stage-3 batch (greedy);
  3. runs PPO steps with LoRA on the 4-bit policy (rollout → reward model + UniEval scores → TRL step) with the paper's
     PPO settings;
  4. runs QLoRA SFT steps (HF Trainer) with the lab configs' SFT settings (the paper's, at an adapter's learning rate);
and writes seconds per step, tokens per second and, per phase, the peak GPU memory (torch.cuda.max_memory_allocated,
reset at each phase's start) and whether the phase's memory was released after it (memory_allocated back to what it was
before) to <out>/gpu-check.json and gpu-check.md. A phase that fails is recorded with its error and the next one still
runs. bench/gpu_check.sh then runs `refine-af plan --calibrate` on the rehearsal's tiny models where that command exists.

What travels to the device machine and how (/work/.library/device/README.md): the working tree (this repo, without
runs/, .venv and node_modules: about 2.6 MiB) and at most 64 MiB in all with the carried files; nothing can be
downloaded there. Its image has Python 3.12 (itself a virtual environment, /opt/torch/.venv) with torch 2.11 (CUDA 13),
transformers 5.x, accelerate, peft, tokenizers 0.23, tensorboard; it has NO trl and NO bitsandbytes, and its
transformers/tokenizers/huggingface-hub are newer than ours. So the wrapper installs carried wheels of our pins into a
folder first on PYTHONPATH: transformers 4.57.6, tokenizers 0.22.2, huggingface-hub 0.36.2, accelerate 1.15.0,
peft 0.21.2, trl 0.11.4 (312 KiB), bitsandbytes 0.50.2 (42 MiB, CUDA 13 binaries) and trl's needs (datasets, dill,
multiprocess, tyro …): 58.8 MiB of wheels, 61.4 MiB with the working tree, under the limit (measured 2026-12-03 by
`bash bench/gpu_check.sh wheels`, which fails if a new pin pushes it over). Every package those wheels require is either
carried or in the image's package list; their versions against the image's (numpy 2.5, fsspec, pyarrow) are unchecked.
What cannot be done as pinned:
  * if bitsandbytes cannot load there, the check runs the same steps in bf16 and says so in its output
    (`quantization: none`), which still measures the PPO/SFT path but not NF4's speed or memory.
  * the real checkpoints (Llama-2-7b-hf, oasst-rm-2.1-pythia-1.4b, unieval-dialog) cannot travel (GBs, gated): the
    weights are random, so the numbers are speed and memory, never quality.
  * `plan --calibrate` needs Node and the package's node_modules, which do not travel (node_modules is not in the
    working tree, and the image has no Node as far as its package list says): there it is reported as skipped.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import traceback
from pathlib import Path

import torch

from refine_af.models import Decoding, generate, load_causal_lm

# The rehearsal's model builder, shared with the tests from fixtures/ (not part of the worker package).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import rehearsal_models  # noqa: E402

# The paper's shapes: Llama-2-7B (meta-llama/Llama-2-7b-hf config.json), oasst-rm-2.1-pythia-1.4b (Pythia-1.4B),
# UniEval's dialogue model (google/t5-v1_1-large).
PAPER_SHAPES = {
    "llama": {
        "model_vocab_size": 32000,
        "hidden_size": 4096,
        "intermediate_size": 11008,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 32,
        "max_position_embeddings": 4096,
    },
    "oasst_rm": {
        "model_vocab_size": 50288,
        "hidden_size": 2048,
        "intermediate_size": 8192,
        "num_hidden_layers": 24,
        "num_attention_heads": 16,
        "max_position_embeddings": 2048,
    },
    "unieval": {"model_vocab_size": 32128, "d_model": 1024, "d_ff": 2816, "d_kv": 64, "num_layers": 24, "num_heads": 16},
}
# PPO as configs/llama2-7b.yaml gives it: the paper's settings (§III-A) below, and for the rest (KL control, clipping,
# value-loss weight, gamma, lambda; the paper gives no values) TRL's PPOConfig defaults, which the schema's defaults are.
PPO = {"learning_rate": 2e-5, "batch_size": 4, "mini_batch_size": 1, "gradient_accumulation_steps": 4, "ppo_epochs": 4}
LORA = {"r": 16, "lora_alpha": 32, "lora_dropout": 0.0, "target_modules": None}
SFT = {
    "training": {
        "num_train_epochs": 3,
        "learning_rate": 2e-4,
        "lr_scheduler_type": "cosine",
        "warmup_ratio": 0.3,
        "per_device_train_batch_size": 2,
        "gradient_accumulation_steps": 4,
        "save_total_limit": 1,
    },
    "max_seq_length": 1024,
    "lora": {"r": 16, "lora_alpha": 32, "lora_dropout": 0.05, "target_modules": None},
    "merge_weights": False,
    "eval_file": None,
}
ROLLOUT_TOKENS = 128  # rlaf.decoding.max_new_tokens
INSTANCE_TOKENS = 300  # instances.decoding.max_new_tokens
INSTRUCTION_DECODING = {"max_new_tokens": 320, "do_sample": True, "temperature": 0.7, "top_p": 0.5, "stop": ["\n\n", "Task 11:"]}


def seed_tasks() -> list[dict]:
    return [json.loads(line) for line in rehearsal_models.SEED_TASKS.read_text(encoding="utf-8").splitlines()]


def template(name: str) -> str:
    return (rehearsal_models.TEMPLATES / name).read_text(encoding="utf-8")


def instruction_prompt(tasks: list[dict]) -> str:
    """Stage 1's prompt as ts/stages/instructions/prompt.ts renders it: eight in-context tasks, then "Task 9:"."""
    listed = "\n".join(f"Task {i + 1}: {' '.join(t['instruction'].split()).rstrip(':')}" for i, t in enumerate(tasks))
    return (
        template("instruction_generation.txt").replace("{{in_context_tasks}}", listed).replace("{{next_task_number}}", str(len(tasks) + 1))
    )


def instance_prompt(instruction: str) -> str:
    """Stages 2 and 3's default prompt (Self-Instruct's complete input-first one) as ts/stages/instances/prompt.ts fills it."""
    return template("instance_generation_input_first.txt").replace("{{instruction}}", instruction.strip())


# What a phase holds on the GPU once it is over, above what was there before it, that still counts as released: the CUDA
# context and cuBLAS workspaces are not PyTorch allocations, so this is slack for allocator rounding only.
RELEASE_SLACK_GIB = 0.05


def gib(size: int) -> float:
    return round(size / 2**30, 3)


class Report:
    def __init__(self, device: str):
        self.device = device
        self.phases: dict[str, dict] = {}
        # What the dry run could not check, each with why; the device run leaves it empty.
        self.skipped: list[str] = []

    def skip(self, what: str) -> None:
        self.skipped.append(what)
        print(f"[gpu-check] SKIPPED (needs CUDA): {what}", flush=True)

    def phase(self, name: str, run) -> None:
        """Run one phase; record its numbers, its wall time, or its error, and on a GPU its peak memory (the peak is
        reset at the start of each phase) and whether its memory was released once its models were dropped."""
        if self.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
            held_before = torch.cuda.memory_allocated()
        started = time.perf_counter()
        try:
            result = {"ok": True, **run()}
        except Exception as error:  # one failing phase must not hide the others' numbers
            result = {"ok": False, "error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc(limit=8)}
        result["seconds"] = round(time.perf_counter() - started, 2)
        # The phase's models go before the next phase loads its own, as the pipeline's stages release theirs.
        gc.collect()
        if self.device == "cuda":
            torch.cuda.empty_cache()
            held_after = torch.cuda.memory_allocated()
            result["peak_gpu_memory_gib"] = gib(torch.cuda.max_memory_allocated())
            result["gpu_memory_before_gib"] = gib(held_before)
            result["gpu_memory_after_gib"] = gib(held_after)
            result["gpu_memory_released"] = held_after - held_before <= RELEASE_SLACK_GIB * 2**30
        self.phases[name] = result
        print(f"[gpu-check] {name}: {json.dumps({k: v for k, v in result.items() if k != 'traceback'})}", flush=True)


def generation_numbers(loaded, prompts: list[str], **decoding) -> dict:
    started = time.perf_counter()
    completions = generate(loaded, prompts, Decoding(**decoding, prompt_format="raw"), seed=0, batch_size=len(prompts))
    seconds = time.perf_counter() - started
    new_tokens = sum(c["new_tokens"] for c in completions)
    return {
        "prompts": len(prompts),
        "new_tokens": new_tokens,
        "seconds_per_batch": round(seconds, 2),
        "new_tokens_per_second": round(new_tokens / seconds, 1),
        "sample": completions[0]["text"][:120],
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="The GPU check (bench/gpu_check.py's docstring says what and how).")
    parser.add_argument("--out", type=Path, required=True, help="where gpu-check.json and gpu-check.md go ($OUT)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/refine-af-gpu-check"), help="where the models are saved")
    parser.add_argument("--dry-run", action="store_true", help="the rehearsal's tiny shapes on the CPU, one step each")
    parser.add_argument("--ppo-steps", type=int, default=3)
    parser.add_argument("--sft-steps", type=int, default=3)
    args = parser.parse_args(argv)

    device = "cpu" if args.dry_run else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        parser.error("no CUDA GPU here; --dry-run runs the same code on the CPU")
    ppo_steps, sft_steps = (1, 1) if args.dry_run else (args.ppo_steps, args.sft_steps)
    tokens = (lambda n: min(n, 16)) if args.dry_run else (lambda n: n)  # the dry run checks the code path, not the speed
    spec = (
        rehearsal_models.SPEC
        if args.dry_run
        else {**rehearsal_models.SPEC, **{name: {**rehearsal_models.SPEC[name], **shape} for name, shape in PAPER_SHAPES.items()}}
    )
    dtype = "float32" if args.dry_run else "bfloat16"
    try:
        import bitsandbytes  # noqa: F401

        load_in_4bit = not args.dry_run
        quantization_note = "nf4" if load_in_4bit else "none (CPU dry run)"
    except Exception as error:  # not installed, or its binaries do not fit this CUDA
        load_in_4bit = False
        quantization_note = f"none: bitsandbytes unavailable ({type(error).__name__}: {error})"
    report = Report(device)
    if args.dry_run:
        report.skip("4-bit NF4 loading, PPO with LoRA on a 4-bit policy, QLoRA SFT (bitsandbytes' 4-bit needs CUDA): they ran in float32")
        report.skip("peak GPU memory per phase and its release between phases (torch.cuda)")
        report.skip("the paper's shapes (7B Llama, 1.4B reward model, 0.8B UniEval): the rehearsal's tiny shapes ran")
    models = args.work / "models"
    tasks = seed_tasks()

    report.phase(
        "make_models",
        lambda: {
            "built": rehearsal_models.make(models, spec, device, getattr(torch, dtype)),
            "shapes": {name: spec[name] for name in ("llama", "oasst_rm", "unieval")},
        },
    )
    llama = str(models / "llama")

    def generation() -> dict:
        loaded = load_causal_lm(llama, dtype, load_in_4bit, device)
        stage1 = generation_numbers(
            loaded,
            [instruction_prompt(tasks[i : i + 8]) for i in range(0, 40, 8)],
            **{**INSTRUCTION_DECODING, "max_new_tokens": tokens(INSTRUCTION_DECODING["max_new_tokens"])},
        )
        stage3 = generation_numbers(
            loaded,
            [instance_prompt(t["instruction"]) for t in tasks[:16]],
            max_new_tokens=tokens(INSTANCE_TOKENS),
            do_sample=False,
            temperature=1.0,
            top_p=1.0,
            stop=["\nTask:"],
        )
        info = loaded.info()
        # The layers bitsandbytes quantised: the proof that the Llama ran in NF4, not only the flag that asked for it.
        four_bit = [m.weight.quant_type for m in loaded.model.modules() if type(m).__name__ == "Linear4bit"]
        del loaded
        return {
            "model": info,
            "linear4bit_layers": len(four_bit),
            "quant_types": sorted(set(four_bit)),
            "stage1_batch": stage1,
            "stage3_batch": stage3,
        }

    report.phase("generation", generation)

    def ppo() -> dict:
        from refine_af.ppo import PpoPolicy
        from refine_af.rl import PolicySource
        from refine_af.scorers import FeedbackScorers, FeedbackSpec

        scorers = FeedbackScorers(
            FeedbackSpec(
                backends={
                    "reward": "reward_model",
                    "naturalness": "unieval",
                    "coherence": "unieval",
                    "understandability": "unieval",
                },
                reward_model=str(models / "oasst-rm"),
                unieval=str(models / "unieval"),
                judge="unused",
                device=device,
                dtype=dtype,
                reward_model_max_tokens=2048,
                unieval_max_tokens=1024,
                judge_max_field_tokens=512,
            )
        )
        source = PolicySource(llama, dtype, load_in_4bit, device, LORA, seed=42, logging_dir=str(args.work / "tensorboard" / "rlaf"))
        policy = PpoPolicy.open(source, PPO)
        steps = []
        for step in range(ppo_steps):
            instructions = [t["instruction"] for t in tasks[4 * step : 4 * step + PPO["batch_size"]]]
            started = time.perf_counter()
            responses = policy.generate(
                [instance_prompt(i) for i in instructions],
                {"max_new_tokens": tokens(ROLLOUT_TOKENS), "stop": ["Task:"], "prompt_format": "raw"},
                seed=step,
            )
            rollout_s = time.perf_counter() - started
            started = time.perf_counter()
            scored = scorers.score(
                [{"instruction": i, "input": "", "output": r["text"]} for i, r in zip(instructions, responses, strict=False)], 8
            )
            scoring_s = time.perf_counter() - started
            # Eq. 1 is composed in TS (ts/feedback/compose.ts); its arithmetic costs nothing, so the reward model's logit stands in.
            stats = policy.step([s["reward"] for s in scored["scores"]], seed=1000 + step)
            steps.append(
                {
                    "rollout_s": round(rollout_s, 2),
                    "new_tokens": sum(r["new_tokens"] for r in responses),
                    "scoring_s": round(scoring_s, 2),
                    "ppo_step_s": round(stats["seconds"], 2),
                }
            )
        policy.close()
        timed = steps[1:] or steps  # the first step also warms up kernels and allocators
        mean = lambda key: round(sum(s[key] for s in timed) / len(timed), 2)  # noqa: E731
        seconds_per_step = round(mean("rollout_s") + mean("scoring_s") + mean("ppo_step_s"), 2)
        return {
            "steps": steps,
            "seconds_per_step": seconds_per_step,
            "rollout_new_tokens_per_second": round(sum(s["new_tokens"] for s in timed) / sum(s["rollout_s"] for s in timed), 1),
            "paper_200_steps_hours": round(200 * seconds_per_step / 3600, 2),
            "model": policy.info()["model"],
        }

    report.phase("ppo", ppo)

    def sft() -> dict:
        from refine_af.sft import train

        pairs = []
        for task in tasks:
            for instance in task["instances"]:
                name = "sft_alpaca_input.txt" if instance["input"].strip() else "sft_alpaca_no_input.txt"
                prompt = template(name).replace("{{instruction}}", task["instruction"]).replace("{{input}}", instance["input"])
                pairs.append({"prompt": prompt, "response": instance["output"]})
        train_file = args.work / "sft-train.jsonl"
        train_file.write_text("".join(json.dumps(p) + "\n" for p in pairs))
        training = {
            **SFT["training"],
            "max_steps": sft_steps,
            "logging_steps": 1,
            "save_steps": sft_steps + 1,
            "report_to": ["tensorboard"],
        }
        params = {
            **SFT,
            "training": training,
            "model": llama,
            "dtype": dtype,
            "load_in_4bit": load_in_4bit,
            "device": device,
            "train_file": str(train_file),
            "output_dir": str(args.work / "sft"),
            "seed": 42,
            "logging_dir": str(args.work / "tensorboard" / "sft"),
        }
        step_times: list[float] = []
        last = [time.perf_counter()]

        def on_event(event: dict) -> None:
            if event["type"] == "progress":
                now = time.perf_counter()
                step_times.append(now - last[0])
                last[0] = now

        result = train(params, on_event)
        timed = step_times[1:] or step_times
        examples_per_step = SFT["training"]["per_device_train_batch_size"] * SFT["training"]["gradient_accumulation_steps"]
        seconds_per_step = sum(timed) / len(timed)
        return {
            "steps": result["steps"],
            "seconds_per_update": round(seconds_per_step, 2),
            "quantization": result["quantization"],
            "examples_per_second": round(examples_per_step / seconds_per_step, 2),
            "paper_15000_instructions_3_epochs_hours": round(3 * 15000 / examples_per_step * seconds_per_step / 3600, 1),
        }

    report.phase("sft", sft)

    summary = {
        "dry_run": args.dry_run,
        "skipped_without_cuda": report.skipped,
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "torch": torch.__version__,
        "quantization": quantization_note,
        "phases": report.phases,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu-check.json").write_text(json.dumps(summary, indent=2) + "\n")
    (args.out / "gpu-check.md").write_text(markdown(summary))
    return summary


def markdown(summary: dict) -> str:
    phases = summary["phases"]
    lines = [
        f"# GPU check{' (CPU dry run, tiny shapes)' if summary['dry_run'] else ''}",
        "",
        f"Device: {summary['device']}; torch {summary['torch']}; Llama quantization: {summary['quantization']}.",
        "Random weights of the paper's shapes: speed and memory only.",
        "",
        *(f"- skipped (needs CUDA): {what}" for what in summary["skipped_without_cuda"]),
        "",
        "| phase | ok | seconds | peak GPU GiB | numbers |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, phase in phases.items():
        numbers = {
            k: v for k, v in phase.items() if k not in ("ok", "seconds", "peak_gpu_memory_gib", "traceback", "shapes", "model", "steps")
        }
        lines.append(
            f"| {name} | {'yes' if phase['ok'] else 'NO'} | {phase['seconds']} | {phase.get('peak_gpu_memory_gib', '-')} | "
            f"`{json.dumps(numbers)}` |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

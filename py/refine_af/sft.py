"""Supervised fine-tuning on the IFT dataset (§II-D "Instruction Finetuning", §III-A) with the Hugging Face Trainer.

The TS side renders every example into a prompt and a response (the prompt format is configuration, Alpaca's by default)
and writes them as JSON lines; here they are tokenised with the loss on the response tokens only, a LoRA adapter is
trained (a full fine-tuning without one; QLoRA when the base is loaded in 4 bits on CUDA), progress and the loss curve go
back as job events, and the adapter is saved with the parameters that made it. With an eval_file (held-out pairs in the
same format), its loss is measured before and after training, so that runs of other settings compare on data they did not
see. Trainer checkpoints make a killed run resume where it stopped. The same code runs under `accelerate launch` (the
Trainer reads the distributed environment; only rank 0 emits and saves).
"""

from __future__ import annotations

import functools
import json
import math
import os
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import torch

from .compat import lora_target_modules
from .models import device_for, load_pretrained_kwargs, load_tokenizer, prompt_ids, resolve_model

IGNORE_INDEX = -100  # label value the causal-LM loss skips: prompt tokens and padding
CHECKPOINTS = "checkpoints"
ADAPTER = "adapter"
FULL_MODEL = "model"
MERGED = "merged"
PARAMS_FILE = "refine-af-sft.json"

Emit = Callable[[dict], None]


def read_examples(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def tokenize_example(tokenizer, prompt: str, response: str, max_length: int) -> dict | None:
    """Prompt then response then EOS; labels mask the prompt. None when the prompt leaves no room for the response.

    The prompt's ids are exactly those generation feeds the fine-tuned model for the same prompt (raw format, which is
    how evaluation prompts an SFT adapter), so training and inference see the same prefix, BOS included."""
    prompt_tokens = prompt_ids(tokenizer, prompt, "raw")
    response_ids = tokenizer(response, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    if len(prompt_tokens) >= max_length:
        return None
    input_ids = (prompt_tokens + response_ids)[:max_length]
    labels = ([IGNORE_INDEX] * len(prompt_tokens) + response_ids)[:max_length]
    return {"input_ids": input_ids, "labels": labels}


def tokenize_file(tokenizer, path: str, max_length: int) -> tuple[list[dict], int]:
    """The tokenised pairs of a prompt/response JSONL file, and how many of its pairs did not fit in max_length."""
    tokenized = [tokenize_example(tokenizer, e["prompt"], e["response"], max_length) for e in read_examples(path)]
    examples = [t for t in tokenized if t is not None]
    if not examples:
        raise ValueError(f"{path}: no example fits in max_seq_length={max_length} tokens (or the file is empty)")
    return examples, len(tokenized) - len(examples)


class PadCollator:
    """Right-pads a batch: pad id for inputs, IGNORE_INDEX for labels, zeros in the attention mask."""

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id

    def __call__(self, features: list[dict]) -> dict:
        width = max(len(f["input_ids"]) for f in features)

        def pad(values: list[int], fill: int) -> list[int]:
            return values + [fill] * (width - len(values))

        return {
            "input_ids": torch.tensor([pad(f["input_ids"], self.pad_token_id) for f in features]),
            "labels": torch.tensor([pad(f["labels"], IGNORE_INDEX) for f in features]),
            "attention_mask": torch.tensor([pad([1] * len(f["input_ids"]), 0) for f in features]),
        }


def _event_callback(emit: Emit):
    from transformers import TrainerCallback

    class EventCallback(TrainerCallback):
        """Streams progress after every optimizer update and each logged loss (the loss curve) as job events."""

        def on_step_end(self, args, state, control, **kwargs):
            emit({"type": "progress", "step": state.global_step, "total_steps": state.max_steps, "epoch": state.epoch or 0.0})

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                emit(
                    {
                        "type": "loss",
                        "step": state.global_step,
                        "epoch": state.epoch or 0.0,
                        "loss": logs["loss"],
                        "learning_rate": logs.get("learning_rate", 0.0),
                    }
                )

    return EventCallback()


def _pin_local_device(device: str) -> None:
    """Under `accelerate launch`, every process takes its own GPU before loading (4-bit weights are placed on the current one)."""
    if device == "cuda" and "LOCAL_RANK" in os.environ:
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))


def load_model_for_training(params: dict):
    from transformers import AutoModelForCausalLM

    resolved = resolve_model(params["model"])
    device = device_for(params["device"])
    _pin_local_device(device)
    kwargs = load_pretrained_kwargs(resolved, params["dtype"], params["load_in_4bit"], device)
    model = AutoModelForCausalLM.from_pretrained(resolved.path, **kwargs)
    model.tie_weights()
    quantized = "quantization_config" in kwargs
    if params["lora"] is not None:
        from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

        if quantized:
            model = prepare_model_for_kbit_training(model)
        lora = params["lora"]
        target_modules = lora_target_modules(model.config.model_type, lora["target_modules"])
        model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", **{**lora, "target_modules": target_modules}))
    elif quantized:
        raise ValueError(
            "full fine-tuning of 4-bit weights is not possible: give sft.lora (an adapter) or set models.load_in_4bit.sft: false"
        )
    return resolved, model, load_tokenizer(resolved, padding_side="right"), device, quantized


def _save_merged(params: dict, adapter_dir: Path, target: Path, quantized: bool, model) -> None:
    """Base weights with the adapter folded in. 4-bit weights cannot be merged in place: the base is reloaded unquantised."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    if quantized:
        resolved = resolve_model(params["model"])
        kwargs = load_pretrained_kwargs(resolved, params["dtype"], load_in_4bit=False, device="cpu")
        base = AutoModelForCausalLM.from_pretrained(resolved.path, **kwargs)
        model = PeftModel.from_pretrained(base, str(adapter_dir))
    model.merge_and_unload().save_pretrained(target)


def _trusting_own_checkpoints():
    """transformers 4.46 loads a checkpoint's RNG state (numpy arrays) with torch.load's default, weights_only=True since
    torch 2.6, which refuses numpy types. These files are the Trainer's own checkpoints of this run: allow exactly those types."""
    import numpy as np

    return torch.serialization.safe_globals(
        [np._core.multiarray._reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32)), type(np.dtype(np.float64))]
    )


@functools.cache
def _cpu_rank_locations_are_the_cpu() -> None:
    """Under a launcher, transformers 4.57 loads a resumed optimizer with map_location=args.device, which on CPUs is
    'cpu:<rank>', a location torch.load does not know ("don't know how to restore data location … cpu:0"): the resume of
    a several-process CPU run failed. Such a location is the CPU (a GPU's 'cuda:<rank>' needs nothing)."""

    def on_the_cpu(storage, location: str):
        return storage if location.startswith("cpu:") else None

    torch.serialization.register_package(30, lambda storage: None, on_the_cpu)


def last_complete_checkpoint(checkpoints_dir: Path) -> str | None:
    """The newest Trainer checkpoint that was saved to the end. The Trainer writes checkpoint-N in place and
    trainer_state.json last, so a process killed mid-save leaves a checkpoint-N without a readable state (or, under a
    launcher, with another rank's RNG state cut short), which transformers' get_last_checkpoint would pick and then fail
    to load (or load half of)."""
    if not checkpoints_dir.is_dir():
        return None
    steps = []
    for entry in checkpoints_dir.iterdir():
        name, _, number = entry.name.partition("-")
        if name != "checkpoint" or not number.isdigit():
            continue
        try:
            json.loads((entry / "trainer_state.json").read_text())
        except (OSError, ValueError):
            continue
        # Under a launcher every rank saves its RNG state, in no order with rank 0's files: a kill can cut another rank's
        # file short after the state was written. torch.save writes a zip, whose directory comes last.
        if not all(zipfile.is_zipfile(rng_state) for rng_state in entry.glob("rng_state*.pth")):
            continue
        steps.append((int(number), str(entry)))
    return max(steps)[1] if steps else None


def _checkpoint_step(checkpoint: str) -> int:
    return int(Path(checkpoint).name.partition("-")[2])


def train(params: dict, emit: Emit) -> dict:
    from transformers import PrinterCallback, Trainer, TrainerState, TrainingArguments, set_seed

    started = time.monotonic()
    output_dir = Path(params["output_dir"])
    checkpoints_dir = output_dir / CHECKPOINTS
    # The Trainer seeds only when it is built; the LoRA matrices are initialised before that, when the model is loaded.
    set_seed(params["seed"])
    resolved, model, tokenizer, device, quantized = load_model_for_training(params)

    examples, examples_too_long = tokenize_file(tokenizer, params["train_file"], params["max_seq_length"])
    eval_examples = None if params["eval_file"] is None else tokenize_file(tokenizer, params["eval_file"], params["max_seq_length"])[0]

    # The config's training settings under TrainingArguments' own names (contract.ts), and what the job sets itself.
    args = TrainingArguments(
        **params["training"],
        output_dir=str(checkpoints_dir),
        save_strategy="steps",
        seed=params["seed"],
        data_seed=params["seed"],
        bf16=device == "cuda" and torch.cuda.is_bf16_supported(),
        use_cpu=device == "cpu",
        remove_unused_columns=False,
        # Under DDP (accelerate launch), frozen base weights are "unused"; searching for them every step only costs time.
        ddp_find_unused_parameters=False if params["lora"] is not None else None,
        logging_dir=params["logging_dir"],
        disable_tqdm=True,
        # Evaluation needs the loss only; the logits of a whole eval set over the vocabulary would be gigabytes.
        prediction_loss_only=True,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=examples,
        eval_dataset=eval_examples,
        data_collator=PadCollator(tokenizer.pad_token_id),
        callbacks=[_event_callback(emit)],
    )
    trainer.remove_callback(PrinterCallback)  # the event callback reports the logs; no second copy on stderr
    resume_from = last_complete_checkpoint(checkpoints_dir)
    if device == "cpu":
        _cpu_rank_locations_are_the_cpu()
    if "tensorboard" in args.report_to:
        # TensorBoard's purge marker: the steps an earlier (interrupted) run logged after this run's starting point are
        # dropped from the curves, so this run's steps replace them instead of showing twice.
        from torch.utils.tensorboard import SummaryWriter

        start = _checkpoint_step(resume_from) if resume_from is not None else 0
        SummaryWriter(params["logging_dir"], purge_step=start + 1).close()
    # Before any step, and before a checkpoint is loaded: the model as loaded (an adapter starts as the identity).
    eval_loss_before = trainer.evaluate()["eval_loss"] if eval_examples is not None else None
    with _trusting_own_checkpoints():
        if resume_from is not None and args.max_steps > 0 and _checkpoint_step(resume_from) >= args.max_steps:
            # Killed after the last step was checkpointed but before the model was saved. Resuming through train() would
            # run one step past max_steps (transformers 4.46 checks the limit only after a step): load it instead.
            trainer._load_from_checkpoint(resume_from)
            trainer.state = TrainerState.load_from_json(str(Path(resume_from) / "trainer_state.json"))
            training_loss = math.nan
        else:
            training_loss = trainer.train(resume_from_checkpoint=resume_from).training_loss

    eval_loss_after = trainer.evaluate()["eval_loss"] if eval_examples is not None else None

    adapter = params["lora"] is not None
    model_dir = output_dir / (ADAPTER if adapter else FULL_MODEL)
    merged_dir = output_dir / MERGED if adapter and params["merge_weights"] else None
    trainer.save_model(str(model_dir))  # every rank calls it; the Trainer writes from the main process only
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(model_dir)
        (model_dir / PARAMS_FILE).write_text(json.dumps({"base_model": resolved.as_dict(), **params}, indent=2) + "\n")
        if merged_dir is not None:
            _save_merged(params, model_dir, merged_dir, quantized, trainer.model)
            tokenizer.save_pretrained(merged_dir)
    losses = [{"step": e["step"], "loss": e["loss"]} for e in trainer.state.log_history if "loss" in e]
    return {
        "model_dir": str(model_dir),
        "adapter": adapter,
        "merged_dir": str(merged_dir) if merged_dir else None,
        "examples": len(examples),
        "examples_too_long": examples_too_long,
        "steps": trainer.state.global_step,
        "resumed_from": resume_from,
        "train_loss": training_loss if math.isfinite(training_loss) else None,
        "loss_curve": losses,
        "eval_loss_before": eval_loss_before,
        "eval_loss_after": eval_loss_after,
        "quantization": "nf4" if quantized else "none",
        "runtime_s": time.monotonic() - started,
    }

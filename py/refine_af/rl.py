"""What the stage-2 policies share (ppo.py: PPO; critic_free.py: GRPO and RLOO): seeded rollouts, crash-safe
checkpoints, TensorBoard scalars.

Randomness is a function of (seed, step): TS passes the seed of each rollout and each step, and both reseed
torch/numpy/random before they draw. A resumed run therefore needs only the step counter and the optimizer state from a
checkpoint to draw exactly what an uninterrupted run would have drawn; no generator state has to be carried over.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .compat import lora_target_modules
from .models import Decoding, LoadedModel, prompt_batch

COMPLETE_MARKER = "checkpoint-complete.json"
ADAPTER_DIR = "adapter"
OPTIMIZER_FILE = "optimizer.pt"
TRAINER_STATE_FILE = "trainer_state.json"


class CheckpointError(Exception):
    """A checkpoint directory that is missing, incomplete, or was written for a different model, adapter or algorithm."""


def reseed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _cut_at_stop(tokenizer, ids: list[int], stop: list[str]) -> tuple[list[int], str, bool]:
    """Shortest prefix of `ids` whose text contains a stop sequence: the tokens trained on are the ones that made the text."""
    text = tokenizer.decode(ids, skip_special_tokens=True)
    if not any(s in text for s in stop):
        return ids, text, False
    for end in range(1, len(ids) + 1):
        prefix = tokenizer.decode(ids[:end], skip_special_tokens=True)
        cut = min((i for i in (prefix.find(s) for s in stop) if i >= 0), default=-1)
        if cut >= 0:
            return ids[:end], prefix[:cut], True
    raise AssertionError("unreachable: the full text contains a stop sequence")


@dataclass(frozen=True)
class PolicySource:
    """What every stage-2 policy opens from: the base model and how it is loaded (models.load_causal_lm), the LoRA adapter
    (peft's LoraConfig fields, contract.ts), the run's seed, the checkpoint to resume from, the TensorBoard directory."""

    ref: str
    dtype: str
    load_in_4bit: bool
    device: str
    lora: dict
    seed: int
    resume_from: str | None = None
    logging_dir: str | None = None

    def lora_config(self, model_type: str):
        """peft's LoraConfig, its target modules resolved for this architecture (compat.lora_target_modules)."""
        from peft import LoraConfig

        target_modules = lora_target_modules(model_type, self.lora["target_modules"])
        return LoraConfig(**{**self.lora, "target_modules": target_modules}, bias="none", task_type="CAUSAL_LM")


@dataclass
class Rollout:
    queries: list[torch.Tensor]
    responses: list[torch.Tensor]


class StagePolicy:
    """What PpoPolicy and GroupPolicy share: the loaded base, the step counter, the rollout of the next step, the
    TensorBoard writer. Subclasses give `model` (the trained module, adapter included)."""

    model: torch.nn.Module

    def __init__(self, loaded: LoadedModel):
        self.loaded = loaded
        self.restored_adapter: str | None = None  # the adapter of the checkpoint it resumed from
        self.step_count = 0
        self.rollout: Rollout | None = None
        self.writer = None  # a TensorBoard SummaryWriter when metrics are logged

    @property
    def tokenizer(self):
        return self.loaded.tokenizer

    def info(self) -> dict:
        parameters = sum(p.numel() for p in self.model.parameters())
        trainable = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        return {
            "model": self.loaded.info(),
            "parameters": parameters,
            "trainable_parameters": trainable,
            "step": self.step_count,
            "adapter": self.restored_adapter,
        }

    def _resume_and_log(self, source: PolicySource) -> None:
        """The end of every open: continue from the checkpoint, if any, then log from its step on."""
        if source.resume_from is not None:
            self._restore(source.resume_from)
        self.writer = open_writer(source.logging_dir, self.step_count)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


@torch.no_grad()
def sample_rollout(model, tokenizer, device, prompts: list[str], decoding: dict, *, seed: int) -> tuple[Rollout, list[dict]]:
    """Sample one response per prompt with plain sampling; `decoding` is the rest of the decoding object (contract.ts
    policy_generate: max_new_tokens, stop, prompt_format).

    Plain means temperature 1, no top-k, no top-p, no minimum length: the KL estimates and probability ratios of all
    three algorithms assume the tokens were drawn from the policy's own distribution, and their forward passes do not
    rescale logits.
    """
    rollout_decoding = Decoding(**decoding, do_sample=True, temperature=1.0, top_p=1.0)
    encoded = prompt_batch(tokenizer, prompts, rollout_decoding.prompt_format).to(device)
    prompt_length = encoded["input_ids"].shape[1]
    reseed(seed)
    output = model.generate(**encoded, **rollout_decoding.generate_kwargs(tokenizer, prompt_length), top_k=0, min_length=-1)
    queries, responses, results = [], [], []
    for row, mask in zip(output, encoded["attention_mask"], strict=False):
        queries.append(row[:prompt_length][mask.bool()].clone())
        ids = row[prompt_length:].tolist()
        finish = "length"
        if tokenizer.eos_token_id in ids:
            # Keep the EOS token: ending the response is an action the policy is trained on.
            ids = ids[: ids.index(tokenizer.eos_token_id) + 1]
            finish = "eos"
        ids, text, stopped = _cut_at_stop(tokenizer, ids, rollout_decoding.stop)
        if stopped:
            finish = "stop"
        responses.append(torch.tensor(ids, dtype=torch.long, device=row.device))
        results.append({"text": text, "finish_reason": finish, "new_tokens": len(ids)})
    return Rollout(queries, responses), results


def open_writer(logging_dir: str | None, step: int):
    """TensorBoard's writer for a run that continues after `step`: the purge marker at the first step it will write drops
    the steps an interrupted process logged after its checkpoint, so no step shows twice."""
    if logging_dir is None:
        return None
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(logging_dir, purge_step=step + 1)


def log_step(writer, step: int, stats: dict, scores: list[float], scalars: dict[str, float]) -> None:
    """The env/reward_* tags as TRL 0.11's PPOTrainer.log_stats writes them (std with Bessel's correction, as torch.std),
    the caller's scalars, and every scalar of the trainer's step stats."""
    rewards = np.asarray(scores, dtype=np.float64)
    std = rewards.std(ddof=1) if rewards.size > 1 else 0.0
    logs = {"env/reward_mean": rewards.mean(), "env/reward_std": std, **scalars}
    logs.update({tag: value for tag, value in stats.items() if np.ndim(value) == 0})
    for tag, value in logs.items():
        writer.add_scalar(tag, float(value), step)
    writer.add_histogram("env/reward_dist", rewards, step)
    writer.flush()  # visible to a running TensorBoard now, not after flush_secs


def save_checkpoint(directory: str, step: int, write: Callable[[Path], None]) -> dict:
    """A checkpoint written by `write(temp_dir)` (adapter in ADAPTER_DIR, optimizer, trainer state), made atomic.

    Everything goes to a temporary sibling first; the completion marker is written last, and the directory is renamed
    into place, so a directory with the marker is always a whole checkpoint and a crash leaves at most a temporary
    directory behind.
    """
    target = Path(directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.parent / f".{target.name}.tmp-{os.getpid()}"
    shutil.rmtree(temp, ignore_errors=True)
    temp.mkdir()
    write(temp)
    _fsync_tree(temp)
    (temp / COMPLETE_MARKER).write_text(json.dumps({"step": step}))
    _fsync_tree(temp)
    if target.exists():
        # Only ever replaced by a newer save of the same step (the final save after a checkpoint at the last step).
        old = target.parent / f".{target.name}.old-{os.getpid()}"
        target.rename(old)
        temp.rename(target)
        shutil.rmtree(old)
    else:
        temp.rename(target)
    _fsync_dir(target.parent)
    return {"dir": str(target), "step": step, "adapter": str(target / ADAPTER_DIR)}


def restore_adapter(directory: str, peft_model, device) -> tuple[Path, dict]:
    """Load a complete checkpoint's adapter weights into `peft_model`; returns the directory and its trainer state."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    source = Path(directory)
    if not (source / COMPLETE_MARKER).is_file():
        raise CheckpointError(f"{source} is not a complete checkpoint (no {COMPLETE_MARKER}); resume from an earlier one")
    state = json.loads((source / TRAINER_STATE_FILE).read_text())
    adapter_file = source / ADAPTER_DIR / "adapter_model.safetensors"
    result = set_peft_model_state_dict(peft_model, load_file(str(adapter_file), device=str(device)))
    if result.unexpected_keys:
        raise CheckpointError(f"{adapter_file} does not fit this adapter: unexpected keys {result.unexpected_keys[:5]}")
    return source, state


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    for path in sorted(root.rglob("*"), reverse=True):
        if path.is_file():
            with open(path, "rb+") as f:
                os.fsync(f.fileno())
        else:
            _fsync_dir(path)
    _fsync_dir(root)

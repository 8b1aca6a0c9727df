"""The PPO policy of stage 2: a causal LM with a value head and LoRA adapters, trained with TRL's classic PPOTrainer.

TypeScript owns the loop; this module owns one step at a time:
  `PpoPolicy.generate(prompts)` samples responses and keeps their token ids here (the rollout), so that
  `PpoPolicy.step(scores)` trains on exactly the tokens that were scored; `save(dir)` writes a checkpoint
  that `PpoPolicy.open(..., resume_from=dir)` continues from.

Metrics of every step also go to TensorBoard event files when a logging directory is given (TRL's tags, so that the
curves read as any TRL run's: env/reward_mean is the mean of the scores as given, i.e. the composite reward). A resumed
run starts its event file with TensorBoard's purge marker at the first step it will write, so the steps logged after the
checkpoint by the interrupted process are dropped from the curves and no step shows twice.

The reference policy of the KL term is the frozen base with the adapter disabled (TRL does this when ref_model is
None and the model is a PEFT model): no second copy of the weights.

Randomness is a function of (seed, step): TS passes the seed of each rollout and each step, and both reseed
torch/numpy/random before they draw. A resumed run therefore needs only the step counter from a checkpoint to draw
exactly what an uninterrupted run would have drawn; no generator state has to be carried over.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .compat import drop_whole_cpu_device_map, keep_cpu_nf4_weights_trainable, lora_target_modules
from .models import Decoding, LoadedModel, load_causal_lm, prompt_batch

COMPLETE_MARKER = "checkpoint-complete.json"
ADAPTER_DIR = "adapter"
VALUE_HEAD_FILE = "value_head.pt"
OPTIMIZER_FILE = "optimizer.pt"
TRAINER_STATE_FILE = "trainer_state.json"


class CheckpointError(Exception):
    """A checkpoint directory that is missing, incomplete, or was written for a different model or adapter shape."""


def reseed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _cut_at_stop(tokenizer, ids: list[int], stop: list[str]) -> tuple[list[int], str, bool]:
    """Shortest prefix of `ids` whose text contains a stop sequence: the tokens kept for PPO are the ones that made the text."""
    text = tokenizer.decode(ids, skip_special_tokens=True)
    if not any(s in text for s in stop):
        return ids, text, False
    for end in range(1, len(ids) + 1):
        prefix = tokenizer.decode(ids[:end], skip_special_tokens=True)
        cut = min((i for i in (prefix.find(s) for s in stop) if i >= 0), default=-1)
        if cut >= 0:
            return ids[:end], prefix[:cut], True
    raise AssertionError("unreachable: the full text contains a stop sequence")


@dataclass
class Rollout:
    queries: list[torch.Tensor]
    responses: list[torch.Tensor]


class PpoPolicy:
    """One policy under PPO training: load once, then generate → step, generate → step, …, save now and then."""

    def __init__(self, loaded: LoadedModel, trainer, step: int):
        self.loaded = loaded
        self.trainer = trainer
        self.restored_adapter: str | None = None  # the adapter of the checkpoint it resumed from
        self.step_count = step
        self.rollout: Rollout | None = None
        self.writer = None  # a TensorBoard SummaryWriter when metrics are logged

    @property
    def model(self):
        return self.trainer.model

    @property
    def tokenizer(self):
        return self.loaded.tokenizer

    @classmethod
    def open(
        cls,
        ref: str,
        dtype: str,
        load_in_4bit: bool,
        device: str,
        lora: dict,
        ppo: dict,
        seed: int,
        resume_from: str | None,
        logging_dir: str | None = None,
    ) -> PpoPolicy:
        """`lora` and `ppo` are peft's LoraConfig and TRL's PPOConfig fields under their own names (contract.ts)."""
        from peft import LoraConfig
        from trl import AutoModelForCausalLMWithValueHead, PPOConfig, PPOTrainer

        reseed(seed)
        # The base is loaded by the shared loader (embedded GGUF, local dir or hub id; NF4 on CUDA when asked) and handed
        # to TRL as a model object: TRL then adds the LoRA adapter (after prepare_model_for_kbit_training when 4-bit)
        # and the value head, without probing the hub for adapter or value-head files under a local path.
        loaded = load_causal_lm(ref, dtype, load_in_4bit, device)
        drop_whole_cpu_device_map(loaded.model)
        # The config requires lora_dropout 0: PPO's probability ratios compare forward passes, which must be deterministic.
        target_modules = lora_target_modules(loaded.model.config.model_type, lora["target_modules"])
        peft_config = LoraConfig(**{**lora, "target_modules": target_modules}, bias="none", task_type="CAUSAL_LM")
        model = AutoModelForCausalLMWithValueHead.from_pretrained(loaded.model, peft_config=peft_config)
        if loaded.quantization == "none":
            model.to(loaded.device)
        else:
            keep_cpu_nf4_weights_trainable(model)
        config = PPOConfig(**ppo, seed=seed, log_with=None)
        trainer = PPOTrainer(config=config, model=model, ref_model=None, tokenizer=loaded.tokenizer)
        policy = cls(loaded, trainer, step=0)
        if resume_from is not None:
            policy._restore(resume_from)
        if logging_dir is not None:
            from torch.utils.tensorboard import SummaryWriter

            policy.writer = SummaryWriter(logging_dir, purge_step=policy.step_count + 1)
        return policy

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

    # ------------------------------------------------------------------ rollouts

    @torch.no_grad()
    def generate(self, prompts: list[str], decoding: dict, *, seed: int) -> list[dict]:
        """Sample one response per prompt from the current policy with plain sampling; `decoding` is the rest of the
        decoding object (contract.ts ppo_generate: max_new_tokens, stop, prompt_format).

        Plain means temperature 1, no top-k, no top-p, no minimum length: PPO's KL estimate and probability ratios assume
        the tokens were drawn from the policy's own distribution, and TRL's forward pass does not rescale logits.
        """
        if len(prompts) != self.trainer.config.batch_size:
            raise ValueError(f"a PPO rollout needs batch_size={self.trainer.config.batch_size} prompts, got {len(prompts)}")
        tokenizer = self.tokenizer
        rollout_decoding = Decoding(**decoding, do_sample=True, temperature=1.0, top_p=1.0)
        encoded = prompt_batch(tokenizer, prompts, rollout_decoding.prompt_format).to(self.loaded.device)
        prompt_length = encoded["input_ids"].shape[1]
        reseed(seed)
        output = self.trainer.accelerator.unwrap_model(self.model).generate(
            **encoded, **rollout_decoding.generate_kwargs(tokenizer, prompt_length), top_k=0, min_length=-1
        )
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
        self.rollout = Rollout(queries, responses)
        return results

    def step(self, scores: list[float], seed: int, scalars: dict[str, float] | None = None) -> dict:
        """One PPO optimisation step on the last rollout with one score per response, exactly as given.

        `scalars`: more metrics of this step for TensorBoard (the caller's, e.g. each feedback indicator's mean)."""
        if self.rollout is None:
            raise RuntimeError("ppo_step needs a rollout: call ppo_generate first (each rollout is used by one step)")
        if len(scores) != len(self.rollout.responses):
            raise ValueError(f"got {len(scores)} scores for {len(self.rollout.responses)} responses")
        rollout, self.rollout = self.rollout, None
        reseed(seed)
        started = time.perf_counter()
        score_tensors = [torch.tensor(float(s), dtype=torch.float32) for s in scores]
        stats = self.trainer.step(rollout.queries, rollout.responses, score_tensors)
        self.step_count += 1
        if self.writer is not None:
            self._log(stats, scores, scalars or {})
        return {
            "step": self.step_count,
            "mean_score": float(stats["ppo/mean_scores"]),
            "kl": float(stats["objective/kl"]),
            "kl_coef": float(stats["objective/kl_coef"]),
            "entropy": float(stats["objective/entropy"]),
            "policy_loss": float(stats["ppo/loss/policy"]),
            "value_loss": float(stats["ppo/loss/value"]),
            "total_loss": float(stats["ppo/loss/total"]),
            "response_tokens_mean": float(stats["tokens/responses_len_mean"]),
            "seconds": time.perf_counter() - started,
        }

    def _log(self, stats: dict, scores: list[float], scalars: dict[str, float]) -> None:
        """The env/reward_* tags as PPOTrainer.log_stats writes them (std with Bessel's correction, as torch.std), the
        caller's scalars, and every scalar of TRL's step stats."""
        rewards = np.asarray(scores, dtype=np.float64)
        std = rewards.std(ddof=1) if rewards.size > 1 else 0.0
        logs = {"env/reward_mean": rewards.mean(), "env/reward_std": std, **scalars}
        logs.update({tag: value for tag, value in stats.items() if np.ndim(value) == 0})
        for tag, value in logs.items():
            self.writer.add_scalar(tag, float(value), self.step_count)
        self.writer.add_histogram("env/reward_dist", rewards, self.step_count)
        self.writer.flush()  # visible to a running TensorBoard now, not after flush_secs

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    # ------------------------------------------------------------------ checkpoints

    def _value_head(self):
        return self.trainer.accelerator.unwrap_model(self.model).v_head

    def _peft_model(self):
        return self.trainer.accelerator.unwrap_model(self.model).pretrained_model

    def save(self, directory: str) -> dict:
        """Write adapter, value head, optimizer and trainer state to `directory`, atomically.

        Everything goes to a temporary sibling first; the completion marker is written last, and the directory is
        renamed into place, so a directory with the marker is always a whole checkpoint and a crash leaves at most a
        temporary directory behind.
        """
        target = Path(directory)
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.parent / f".{target.name}.tmp-{os.getpid()}"
        shutil.rmtree(temp, ignore_errors=True)
        temp.mkdir()
        self._peft_model().save_pretrained(temp / ADAPTER_DIR)
        torch.save(self._value_head().state_dict(), temp / VALUE_HEAD_FILE)
        torch.save(self.trainer.optimizer.state_dict(), temp / OPTIMIZER_FILE)
        state = {
            "step": self.step_count,
            "kl_coef": float(self.trainer.kl_ctl.value),
            "base_model": self.loaded.resolved.as_dict(),
        }
        (temp / TRAINER_STATE_FILE).write_text(json.dumps(state, indent=2))
        _fsync_tree(temp)
        (temp / COMPLETE_MARKER).write_text(json.dumps({"step": self.step_count}))
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
        return {"dir": str(target), "step": self.step_count, "adapter": str(target / ADAPTER_DIR)}

    def _restore(self, directory: str) -> None:
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        source = Path(directory)
        if not (source / COMPLETE_MARKER).is_file():
            raise CheckpointError(f"{source} is not a complete checkpoint (no {COMPLETE_MARKER}); resume from an earlier one")
        state = json.loads((source / TRAINER_STATE_FILE).read_text())
        adapter_file = source / ADAPTER_DIR / "adapter_model.safetensors"
        result = set_peft_model_state_dict(self._peft_model(), load_file(str(adapter_file), device=str(self.loaded.device)))
        if result.unexpected_keys:
            raise CheckpointError(f"{adapter_file} does not fit this adapter: unexpected keys {result.unexpected_keys[:5]}")
        self._value_head().load_state_dict(torch.load(source / VALUE_HEAD_FILE, map_location=self.loaded.device))
        self.trainer.optimizer.load_state_dict(torch.load(source / OPTIMIZER_FILE, map_location=self.loaded.device))
        self.trainer.kl_ctl.value = state["kl_coef"]
        self.restored_adapter = str(source / ADAPTER_DIR)
        self.step_count = int(state["step"])


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

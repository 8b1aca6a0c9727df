"""The PPO policy of stage 2: a causal LM with a value head and LoRA adapters, trained with TRL's classic PPOTrainer.

TypeScript owns the loop; this module owns one step at a time:
  `PpoPolicy.generate(prompts)` samples responses and keeps their token ids here (the rollout), so that
  `PpoPolicy.step(scores)` trains on exactly the tokens that were scored; `save(dir)` writes a checkpoint
  that `PpoPolicy.open(..., resume_from=dir)` continues from.

Metrics of every step also go to TensorBoard event files when a logging directory is given (TRL's tags, so that the
curves read as any TRL run's: env/reward_mean is the mean of the scores as given, i.e. the composite reward).
Rollouts, checkpoints and seeding are shared with GRPO and RLOO (rl.py).

The reference policy of the KL term is the frozen base with the adapter disabled (TRL does this when ref_model is
None and the model is a PEFT model): no second copy of the weights.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from .compat import drop_whole_cpu_device_map, keep_cpu_nf4_weights_trainable
from .models import LoadedModel, load_causal_lm
from .rl import (
    ADAPTER_DIR,
    OPTIMIZER_FILE,
    TRAINER_STATE_FILE,
    PolicySource,
    StagePolicy,
    log_step,
    reseed,
    restore_adapter,
    sample_rollout,
    save_checkpoint,
)

VALUE_HEAD_FILE = "value_head.pt"


class PpoPolicy(StagePolicy):
    """One policy under PPO training: load once, then generate → step, generate → step, …, save now and then."""

    def __init__(self, loaded: LoadedModel, trainer):
        super().__init__(loaded)
        self.trainer = trainer

    @property
    def model(self):
        return self.trainer.model

    @classmethod
    def open(cls, source: PolicySource, ppo: dict) -> PpoPolicy:
        """`ppo`: TRL's PPOConfig fields under their own names (contract.ts)."""
        from trl import AutoModelForCausalLMWithValueHead, PPOConfig, PPOTrainer

        reseed(source.seed)
        # The base is loaded by the shared loader (embedded GGUF, local dir or hub id; NF4 on CUDA when asked) and handed
        # to TRL as a model object: TRL then adds the LoRA adapter (after prepare_model_for_kbit_training when 4-bit)
        # and the value head, without probing the hub for adapter or value-head files under a local path.
        loaded = load_causal_lm(source.ref, source.dtype, source.load_in_4bit, source.device)
        drop_whole_cpu_device_map(loaded.model)
        # The config requires lora_dropout 0: PPO's probability ratios compare forward passes, which must be deterministic.
        peft_config = source.lora_config(loaded.model.config.model_type)
        model = AutoModelForCausalLMWithValueHead.from_pretrained(loaded.model, peft_config=peft_config)
        if loaded.quantization == "none":
            model.to(loaded.device)
        else:
            keep_cpu_nf4_weights_trainable(model)
        config = PPOConfig(**ppo, seed=source.seed, log_with=None)
        trainer = PPOTrainer(config=config, model=model, ref_model=None, tokenizer=loaded.tokenizer)
        policy = cls(loaded, trainer)
        policy._resume_and_log(source)
        return policy

    # ------------------------------------------------------------------ rollouts

    def generate(self, prompts: list[str], decoding: dict, *, seed: int) -> list[dict]:
        """Sample one response per prompt (rl.sample_rollout) and keep its token ids for the next step."""
        if len(prompts) != self.trainer.config.batch_size:
            raise ValueError(f"a PPO rollout needs batch_size={self.trainer.config.batch_size} prompts, got {len(prompts)}")
        model = self.trainer.accelerator.unwrap_model(self.model)
        self.rollout, results = sample_rollout(model, self.tokenizer, self.loaded.device, prompts, decoding, seed=seed)
        return results

    def step(self, scores: list[float], seed: int, scalars: dict[str, float] | None = None) -> dict:
        """One PPO optimisation step on the last rollout with one score per response, exactly as given.

        `scalars`: more metrics of this step for TensorBoard (the caller's, e.g. each feedback indicator's mean)."""
        if self.rollout is None:
            raise RuntimeError("policy_step needs a rollout: call policy_generate first (each rollout is used by one step)")
        if len(scores) != len(self.rollout.responses):
            raise ValueError(f"got {len(scores)} scores for {len(self.rollout.responses)} responses")
        rollout, self.rollout = self.rollout, None
        reseed(seed)
        started = time.perf_counter()
        score_tensors = [torch.tensor(float(s), dtype=torch.float32) for s in scores]
        stats = self.trainer.step(rollout.queries, rollout.responses, score_tensors)
        self.step_count += 1
        if self.writer is not None:
            log_step(self.writer, self.step_count, stats, scores, scalars or {})
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

    # ------------------------------------------------------------------ checkpoints

    def _value_head(self):
        return self.trainer.accelerator.unwrap_model(self.model).v_head

    def _peft_model(self):
        return self.trainer.accelerator.unwrap_model(self.model).pretrained_model

    def save(self, directory: str) -> dict:
        """Write adapter, value head, optimizer and trainer state to `directory`, atomically (rl.save_checkpoint)."""

        def write(temp: Path) -> None:
            self._peft_model().save_pretrained(temp / ADAPTER_DIR)
            torch.save(self._value_head().state_dict(), temp / VALUE_HEAD_FILE)
            torch.save(self.trainer.optimizer.state_dict(), temp / OPTIMIZER_FILE)
            state = {
                "step": self.step_count,
                "kl_coef": float(self.trainer.kl_ctl.value),
                "base_model": self.loaded.resolved.as_dict(),
            }
            (temp / TRAINER_STATE_FILE).write_text(json.dumps(state, indent=2))

        return save_checkpoint(directory, self.step_count, write)

    def _restore(self, directory: str) -> None:
        source, state = restore_adapter(directory, self._peft_model(), self.loaded.device)
        self._value_head().load_state_dict(torch.load(source / VALUE_HEAD_FILE, map_location=self.loaded.device))
        self.trainer.optimizer.load_state_dict(torch.load(source / OPTIMIZER_FILE, map_location=self.loaded.device))
        self.trainer.kl_ctl.value = state["kl_coef"]
        self.restored_adapter = str(source / ADAPTER_DIR)
        self.step_count = int(state["step"])

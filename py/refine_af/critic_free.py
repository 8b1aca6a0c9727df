"""GRPO and RLOO for stage 2: critic-free policy-gradient steps on groups of completions of the same prompt.

TRL 0.11.4 (pinned for the step-level PPO, docs/stack.md) has no GRPOTrainer, and the current TRL's GRPOTrainer and
RLOOTrainer own their loop and call reward functions from inside it, where stage 2's composite reward (Eq. 1 over other
models, scored by TypeScript) cannot be. So the two updates are written here on the same seam as PPO: TS samples
prompts, `generate` draws `num_generations` completions of each, TS scores them, `step` trains on exactly those tokens.

The losses are the current TRL's (trl/trainer/grpo_trainer.py `_compute_loss`, rloo_trainer.py `compute_loss`, read at
commit f2cd577), for one process whose generation batch is one optimizer step per iteration (steps_per_generation =
gradient_accumulation_steps, TRL's default):
  GRPO: advantage = (r − group mean) / (group std + 1e-4) ("group" scaling); per-token clipped ratio; β · k3-KL per token
        added to the loss; tokens aggregated by loss_type (grpo: per sequence then mean; bnpo: per micro-batch; dapo:
        over the whole generation batch).
  RLOO: reward − β · Σ_t(log π_old − log π_ref) (KL in the reward); advantage = r − mean of the other k − 1 of the group;
        clipped sequence-level ratio; mean over completions.
AdamW with the HF Trainer's defaults (betas 0.9/0.999, eps 1e-8, no weight decay) at a constant learning rate: TRL's
Trainer decays it linearly over max_steps, which a run resumed or extended step by step has no single value for.

The policy is the one PPO trains minus the value head: the loaded base (NF4 on CUDA when asked, prepared for k-bit
training as TRL does) with the LoRA adapter; the reference is the base with the adapter disabled. Every step computes
the old and the reference log-probabilities in a no-gradient pass, so the logged KL is the same quantity PPO logs
(TRL 0.11's objective/kl: Σ_t(log π − log π_ref), mean over completions), whatever β is.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal

import torch

from .compat import keep_cpu_nf4_weights_trainable
from .models import LoadedModel, load_causal_lm
from .rl import (
    ADAPTER_DIR,
    OPTIMIZER_FILE,
    TRAINER_STATE_FILE,
    CheckpointError,
    PolicySource,
    Rollout,
    StagePolicy,
    log_step,
    reseed,
    restore_adapter,
    sample_rollout,
    save_checkpoint,
)


@dataclass(frozen=True)
class GroupSettings:
    """The fields GRPOConfig and RLOOConfig share, under their names (contract.ts grpoConfigSchema, rlooConfigSchema)."""

    learning_rate: float
    num_generations: int
    per_device_train_batch_size: int
    gradient_accumulation_steps: int
    num_iterations: int
    beta: float
    epsilon: float
    epsilon_high: float | None
    max_grad_norm: float | None

    @property
    def completions(self) -> int:
        """The generation batch: one optimizer step per iteration over it."""
        return self.per_device_train_batch_size * self.gradient_accumulation_steps


@dataclass(frozen=True)
class GrpoSettings(GroupSettings):
    loss_type: Literal["grpo", "bnpo", "dapo"]
    scale_rewards: Literal["group", "batch", "none"]


@dataclass(frozen=True)
class RlooSettings(GroupSettings):
    normalize_advantages: bool


SETTINGS = {"grpo": GrpoSettings, "rloo": RlooSettings}


def _settings(algorithm: str, settings: dict) -> GrpoSettings | RlooSettings:
    kind = SETTINGS[algorithm]
    names = {f.name for f in fields(kind)}
    if set(settings) != names:
        raise ValueError(f"{algorithm} settings: unknown {sorted(set(settings) - names)}, missing {sorted(names - set(settings))}")
    parsed = kind(**settings)
    if parsed.completions % parsed.num_generations != 0 or parsed.num_generations < 2:
        raise ValueError(
            f"{algorithm}: per_device_train_batch_size × gradient_accumulation_steps = {parsed.completions} must be a multiple of"
            f" num_generations = {parsed.num_generations} (≥ 2: a group needs a baseline)"
        )
    return parsed


def group_advantages(algorithm: str, settings, rewards: torch.Tensor) -> torch.Tensor:
    """Advantages of one generation batch whose groups are consecutive runs of num_generations completions."""
    groups = rewards.view(-1, settings.num_generations)
    if algorithm == "rloo":
        baseline = (groups.sum(1, keepdim=True) - groups) / (settings.num_generations - 1)
        advantages = (groups - baseline).view(-1)
        if settings.normalize_advantages:
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-4)
        return advantages
    advantages = (groups - groups.mean(1, keepdim=True)).view(-1)
    if settings.scale_rewards == "group":
        advantages = advantages / (groups.std(1).repeat_interleave(settings.num_generations) + 1e-4)
    elif settings.scale_rewards == "batch":
        advantages = advantages / (rewards.std() + 1e-4)
    return advantages


class GroupPolicy(StagePolicy):
    """One policy under GRPO or RLOO: load once, then generate → step, …, save now and then (as PpoPolicy)."""

    def __init__(self, loaded: LoadedModel, model, algorithm: str, settings, optimizer):
        super().__init__(loaded)
        self.model = model
        self.algorithm = algorithm
        self.settings = settings
        self.optimizer = optimizer

    @classmethod
    def open(cls, source: PolicySource, algorithm: str, settings: dict) -> GroupPolicy:
        """`settings`: TRL's GRPOConfig or RLOOConfig fields (contract.ts)."""
        from peft import get_peft_model, prepare_model_for_kbit_training

        parsed = _settings(algorithm, settings)
        reseed(source.seed)
        loaded = load_causal_lm(source.ref, source.dtype, source.load_in_4bit, source.device)
        base = loaded.model
        if loaded.quantization != "none":
            base = prepare_model_for_kbit_training(base)  # as TRL 0.11's value-head model does for PPO
        model = get_peft_model(base, source.lora_config(base.config.model_type))
        if loaded.quantization != "none":
            keep_cpu_nf4_weights_trainable(model)
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(trainable, lr=parsed.learning_rate, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
        policy = cls(loaded, model, algorithm, parsed, optimizer)
        policy._resume_and_log(source)
        return policy

    def generate(self, prompts: list[str], decoding: dict, *, seed: int) -> list[dict]:
        """One completion per prompt; the prompts come as consecutive groups of num_generations copies of each."""
        k = self.settings.num_generations
        if len(prompts) != self.settings.completions:
            raise ValueError(f"a {self.algorithm} rollout needs {self.settings.completions} prompts, got {len(prompts)}")
        if any(len(set(prompts[i : i + k])) != 1 for i in range(0, len(prompts), k)):
            raise ValueError(f"a {self.algorithm} rollout takes each prompt {k} times in a row (num_generations)")
        self.model.eval()
        self.rollout, results = sample_rollout(self.model, self.tokenizer, self.loaded.device, prompts, decoding, seed=seed)
        return results

    def _micro_batches(self) -> list[list[int]]:
        size = self.settings.per_device_train_batch_size
        return [list(range(i, i + size)) for i in range(0, self.settings.completions, size)]

    def _forward(self, rollout: Rollout, rows: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-token log-probabilities and entropies of the responses of `rows`, with their mask ([rows, tokens])."""
        sequences = [torch.cat([rollout.queries[i], rollout.responses[i]]) for i in rows]
        width = max(len(s) for s in sequences)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids = torch.full((len(rows), width), pad, dtype=torch.long, device=self.loaded.device)
        attention = torch.zeros_like(ids)
        response_mask = torch.zeros((len(rows), width - 1), device=self.loaded.device)
        for j, (i, sequence) in enumerate(zip(rows, sequences, strict=True)):
            ids[j, : len(sequence)] = sequence
            attention[j, : len(sequence)] = 1
            start = len(rollout.queries[i]) - 1  # the logits at position t predict token t + 1
            response_mask[j, start : start + len(rollout.responses[i])] = 1
        logits = self.model(input_ids=ids, attention_mask=attention).logits[:, :-1].float()
        log_probs = torch.log_softmax(logits, dim=-1)
        token_logps = log_probs.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
        entropy = -(log_probs.exp() * log_probs).sum(-1).detach()
        return token_logps, entropy, response_mask

    @torch.no_grad()
    def _frozen_logps(self, rollout: Rollout) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
        """Per micro-batch: the log-probabilities under the policy before this step and under the reference; and the
        KL estimate of each completion, Σ_t(log π_old − log π_ref)."""
        self.model.eval()
        old, reference, kl = [], [], []
        for rows in self._micro_batches():
            logps, _, mask = self._forward(rollout, rows)
            with self.model.disable_adapter():
                ref_logps = self._forward(rollout, rows)[0]
            old.append(logps)
            reference.append(ref_logps)
            kl.append(((logps - ref_logps) * mask).sum(-1))
        return old, reference, torch.cat(kl)

    def step(self, scores: list[float], seed: int, scalars: dict[str, float] | None = None) -> dict:
        """One optimizer step per iteration on the last rollout, with one score per completion, as given."""
        if self.rollout is None:
            raise RuntimeError("policy_step needs a rollout: call policy_generate first (each rollout is used by one step)")
        if len(scores) != len(self.rollout.responses):
            raise ValueError(f"got {len(scores)} scores for {len(self.rollout.responses)} responses")
        rollout, self.rollout = self.rollout, None
        settings = self.settings
        reseed(seed)
        started = time.perf_counter()
        batches = self._micro_batches()
        old, reference, sequence_kl = self._frozen_logps(rollout)
        rewards = torch.tensor(scores, dtype=torch.float32, device=self.loaded.device)
        if self.algorithm == "rloo" and settings.beta != 0:
            rewards = rewards - settings.beta * sequence_kl
        advantages = group_advantages(self.algorithm, settings, rewards)
        total_tokens = float(sum(len(r) for r in rollout.responses))
        epsilon_high = settings.epsilon if settings.epsilon_high is None else settings.epsilon_high
        trainable = [p for p in self.model.parameters() if p.requires_grad]

        self.model.train()
        losses, clipped, entropy_sum = [], [], 0.0
        for iteration in range(settings.num_iterations):
            step_loss = 0.0
            for rows, old_logps, ref_logps in zip(batches, old, reference, strict=True):
                logps, entropy, mask = self._forward(rollout, rows)
                advantage = advantages[rows]
                if iteration == 0:
                    entropy_sum += float((entropy * mask).sum())
                if self.algorithm == "rloo":
                    ratio = torch.exp((logps * mask).sum(-1) - (old_logps * mask).sum(-1))
                    bounded = torch.clamp(ratio, 1 - settings.epsilon, 1 + epsilon_high)
                    loss = -torch.min(ratio * advantage, bounded * advantage).mean() / settings.gradient_accumulation_steps
                    clipped.append(float((ratio != bounded).float().mean()))
                else:
                    ratio = torch.exp(logps - old_logps)
                    bounded = torch.clamp(ratio, 1 - settings.epsilon, 1 + epsilon_high)
                    per_token = -torch.min(ratio * advantage[:, None], bounded * advantage[:, None])
                    if settings.beta != 0:
                        per_token = per_token + settings.beta * (torch.exp(ref_logps - logps) - (ref_logps - logps) - 1)
                    loss = self._aggregate(per_token, mask, total_tokens)
                    clipped.append(float(((ratio != bounded).float() * mask).sum() / mask.sum().clamp(min=1)))
                loss.backward()
                step_loss += float(loss.detach())
            if settings.max_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(trainable, settings.max_grad_norm)
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            losses.append(step_loss)
        self.step_count += 1

        response_tokens = torch.tensor([float(len(r)) for r in rollout.responses])
        stats = {
            "objective/kl": float(sequence_kl.mean()),
            "objective/kl_coef": settings.beta,
            "objective/entropy": entropy_sum / max(total_tokens, 1.0),
            f"{self.algorithm}/loss/policy": sum(losses) / len(losses),
            f"{self.algorithm}/clip_ratio": sum(clipped) / len(clipped),
            f"{self.algorithm}/advantages_std": float(advantages.std()) if advantages.numel() > 1 else 0.0,
            "tokens/responses_len_mean": float(response_tokens.mean()),
        }
        if self.writer is not None:
            log_step(self.writer, self.step_count, stats, scores, scalars or {})
        return {
            "step": self.step_count,
            "mean_score": float(sum(scores) / len(scores)),
            "kl": stats["objective/kl"],
            "kl_coef": settings.beta,
            "entropy": stats["objective/entropy"],
            "policy_loss": stats[f"{self.algorithm}/loss/policy"],
            "value_loss": None,
            "total_loss": stats[f"{self.algorithm}/loss/policy"],
            "response_tokens_mean": stats["tokens/responses_len_mean"],
            "seconds": time.perf_counter() - started,
        }

    def _aggregate(self, per_token: torch.Tensor, mask: torch.Tensor, total_tokens: float) -> torch.Tensor:
        """GRPO's loss_type: how token losses become the micro-batch's share of the step's loss."""
        accumulation = self.settings.gradient_accumulation_steps
        if self.settings.loss_type == "grpo":
            return ((per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean() / accumulation
        if self.settings.loss_type == "bnpo":
            return (per_token * mask).sum() / mask.sum().clamp(min=1.0) / accumulation
        return (per_token * mask).sum() / max(total_tokens, 1.0)  # dapo: over the whole generation batch

    def save(self, directory: str) -> dict:
        """Write adapter, optimizer and trainer state to `directory`, atomically (rl.save_checkpoint)."""

        def write(temp: Path) -> None:
            self.model.save_pretrained(temp / ADAPTER_DIR)
            torch.save(self.optimizer.state_dict(), temp / OPTIMIZER_FILE)
            state = {"step": self.step_count, "algorithm": self.algorithm, "base_model": self.loaded.resolved.as_dict()}
            (temp / TRAINER_STATE_FILE).write_text(json.dumps(state, indent=2))

        return save_checkpoint(directory, self.step_count, write)

    def _restore(self, directory: str) -> None:
        source, state = restore_adapter(directory, self.model, self.loaded.device)
        if state.get("algorithm") != self.algorithm:
            raise CheckpointError(
                f"{source} was written by {state.get('algorithm', 'ppo')}, not {self.algorithm}: resume with that algorithm"
            )
        self.optimizer.load_state_dict(torch.load(source / OPTIMIZER_FILE, map_location=self.loaded.device))
        self.restored_adapter = str(source / ADAPTER_DIR)
        self.step_count = int(state["step"])

"""Real PPO steps (TRL 0.11.4 PPOTrainer with a LoRA value-head policy) on the tiny random Llama: what trains, what
stays frozen, what reaches the trainer, and that a resumed run continues exactly where it stopped."""

import json

import pytest
import torch
from tiny_models import TINY_LORA, tiny_ppo_settings

from refine_af.ppo import PpoPolicy
from refine_af.rl import COMPLETE_MARKER, CheckpointError, PolicySource

LORA = TINY_LORA
SETTINGS = tiny_ppo_settings()
PROMPTS = ["Task: Name a colour.", "Task: Add 2 and 3.", "Task: Say hello politely.", "Task: Sort [3, 1, 2]."]
SCORES = [[1.0, -0.5, 0.25, 2.0], [-1.0, 0.5, 0.75, 0.0], [0.3, 0.3, -0.2, 1.1], [2.0, -2.0, 0.0, 0.5]]


def open_policy(model_dir, resume_from=None) -> PpoPolicy:
    return PpoPolicy.open(PolicySource(str(model_dir), "float32", True, "cpu", LORA, seed=7, resume_from=resume_from), SETTINGS)


def run_steps(policy: PpoPolicy, steps: range) -> list[dict]:
    stats = []
    for step in steps:
        policy.generate(PROMPTS, {"max_new_tokens": 8, "stop": ["Task:"], "prompt_format": "raw"}, seed=100 + step)
        stats.append(policy.step(SCORES[step], seed=200 + step))
    return stats


def split_weights(policy: PpoPolicy) -> tuple[dict, dict]:
    adapter, base = {}, {}
    for name, tensor in policy.model.named_parameters():
        (adapter if "lora_" in name or "v_head" in name else base)[name] = tensor.detach().clone()
    return adapter, base


def test_ppo_steps_train_the_adapter_and_leave_the_base_untouched(tiny_llama_dir):
    policy = open_policy(tiny_llama_dir)
    adapter_before, base_before = split_weights(policy)
    assert any("lora_B" in n for n in adapter_before) and any("v_head" in n for n in adapter_before)
    stats = run_steps(policy, range(2))
    adapter_after, base_after = split_weights(policy)

    assert [s["step"] for s in stats] == [1, 2]
    changed = [n for n in adapter_before if not torch.equal(adapter_before[n], adapter_after[n])]
    assert any("lora_B" in n for n in changed) and any("v_head" in n for n in changed)
    assert base_before.keys() == base_after.keys()
    assert all(torch.equal(base_before[n], base_after[n]) for n in base_before)
    # Only the adapter and the value head are trainable: the reference (adapter disabled) is the frozen base.
    trainable = {n for n, p in policy.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or "v_head" in n for n in trainable)


def test_reference_policy_is_the_base_model_with_the_adapter_disabled(tiny_llama_dir):
    from transformers import AutoModelForCausalLM

    policy = open_policy(tiny_llama_dir)
    run_steps(policy, range(2))
    base = AutoModelForCausalLM.from_pretrained(str(tiny_llama_dir), torch_dtype=torch.float32)
    ids = policy.tokenizer("Task: Name a colour.", return_tensors="pt")["input_ids"]
    peft_model = policy.model.pretrained_model
    with torch.no_grad():
        trained = peft_model(ids).logits
        with policy.trainer.optional_peft_ctx():
            reference = peft_model(ids).logits
        original = base(ids).logits
    assert torch.allclose(reference, original, atol=1e-5)
    assert not torch.allclose(trained, original, atol=1e-5)


def test_scores_reach_the_trainer_unchanged(tiny_llama_dir):
    policy = open_policy(tiny_llama_dir)
    seen = []
    compute_rewards = policy.trainer.compute_rewards

    def spy(scores, *args, **kwargs):
        seen.append(scores.tolist())
        return compute_rewards(scores, *args, **kwargs)

    policy.trainer.compute_rewards = spy
    stats = run_steps(policy, range(2))
    assert seen == [SCORES[0], SCORES[1]]
    assert [s["mean_score"] for s in stats] == pytest.approx([sum(s) / 4 for s in SCORES[:2]])


def test_responses_end_at_eos_or_the_stop_sequence_and_a_step_needs_a_rollout(tiny_llama_dir):
    policy = open_policy(tiny_llama_dir)
    with pytest.raises(RuntimeError, match="policy_generate first"):
        policy.step([0.0] * 4, seed=0)
    responses = policy.generate(PROMPTS, {"max_new_tokens": 8, "stop": [" "], "prompt_format": "raw"}, seed=0)
    for response, ids in zip(responses, policy.rollout.responses, strict=False):
        assert " " not in response["text"]
        assert response["new_tokens"] == len(ids) >= 1
    with pytest.raises(ValueError, match="4 responses"):
        policy.step([0.0] * 3, seed=0)


def test_resume_from_a_checkpoint_continues_exactly(tiny_llama_dir, tmp_path):
    uninterrupted = open_policy(tiny_llama_dir)
    expected = run_steps(uninterrupted, range(4))
    expected_adapter, _ = split_weights(uninterrupted)

    first = open_policy(tiny_llama_dir)
    run_steps(first, range(2))
    saved = first.save(str(tmp_path / "step-2"))
    assert saved["step"] == 2 and json.loads((tmp_path / "step-2" / COMPLETE_MARKER).read_text()) == {"step": 2}
    assert saved["adapter"] == str(tmp_path / "step-2" / "adapter") and (tmp_path / "step-2" / "adapter" / "adapter_config.json").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary directory left behind

    resumed = open_policy(tiny_llama_dir, resume_from=str(tmp_path / "step-2"))
    assert resumed.step_count == 2 and resumed.info()["adapter"] == saved["adapter"]
    continued = run_steps(resumed, range(2, 4))
    assert [s["step"] for s in continued] == [3, 4]
    for got, want in zip(continued, expected[2:], strict=False):
        for key in ("mean_score", "kl", "kl_coef", "policy_loss", "value_loss", "entropy"):
            assert got[key] == pytest.approx(want[key], rel=1e-4, abs=1e-6), key
    resumed_adapter, _ = split_weights(resumed)
    assert all(torch.allclose(resumed_adapter[n], expected_adapter[n], atol=1e-6) for n in expected_adapter)


def test_an_incomplete_checkpoint_is_refused(tiny_llama_dir, tmp_path):
    policy = open_policy(tiny_llama_dir)
    policy.save(str(tmp_path / "step-0"))
    (tmp_path / "step-0" / COMPLETE_MARKER).unlink()
    with pytest.raises(CheckpointError, match="not a complete checkpoint"):
        open_policy(tiny_llama_dir, resume_from=str(tmp_path / "step-0"))


def test_metrics_go_to_tensorboard_and_a_resumed_run_replaces_the_steps_after_its_checkpoint(tiny_llama_dir, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logs = tmp_path / "tensorboard"

    def steps(policy, numbers, run):
        for step in numbers:
            policy.generate(PROMPTS, {"max_new_tokens": 8, "stop": ["Task:"], "prompt_format": "raw"}, seed=100 + step)
            policy.step(SCORES[step], seed=200 + step, scalars={"feedback/run": run})

    first = PpoPolicy.open(PolicySource(str(tiny_llama_dir), "float32", True, "cpu", LORA, seed=7, logging_dir=str(logs)), SETTINGS)
    steps(first, range(2), run=0.0)
    first.save(str(tmp_path / "step-2"))
    steps(first, range(2, 3), run=0.0)  # step 3 is logged, then the process dies before the next checkpoint
    checkpoint = str(tmp_path / "step-2")
    source = PolicySource(str(tiny_llama_dir), "float32", True, "cpu", LORA, seed=7, resume_from=checkpoint, logging_dir=str(logs))
    resumed = PpoPolicy.open(source, SETTINGS)
    steps(resumed, range(2, 4), run=1.0)
    resumed.close()

    events = EventAccumulator(str(logs))
    events.Reload()
    assert {
        "env/reward_mean",
        "env/reward_std",
        "objective/kl",
        "objective/kl_coef",
        "ppo/loss/policy",
        "ppo/mean_scores",
    } <= set(events.Tags()["scalars"])
    reward = events.Scalars("env/reward_mean")
    assert [e.step for e in reward] == [1, 2, 3, 4]  # each step once: the resumed run's step 3 replaced the first's
    assert [e.value for e in reward] == pytest.approx([sum(s) / len(s) for s in SCORES])  # the scores as given
    assert [e.value for e in events.Scalars("feedback/run")] == [0.0, 0.0, 1.0, 1.0]

"""Real GRPO and RLOO steps (py/refine_af/critic_free.py) on the tiny random Llama: the advantages each algorithm
defines, what trains, exact resume from a checkpoint, and that each learns a reward a tiny model can learn."""

import json

import pytest
import torch
from tiny_models import TINY_LORA, tiny_group_settings, tiny_ppo_settings

from refine_af.critic_free import GroupPolicy, GrpoSettings, RlooSettings, group_advantages
from refine_af.ppo import PpoPolicy
from refine_af.rl import COMPLETE_MARKER, CheckpointError, PolicySource

ALGORITHMS = ["grpo", "rloo"]
PROMPTS = ["Task: Name a colour."] * 2 + ["Task: Add 2 and 3."] * 2
SCORES = [[1.0, -0.5, 0.25, 2.0], [-1.0, 0.5, 0.75, 0.0], [0.3, 0.3, -0.2, 1.1], [2.0, -2.0, 0.0, 0.5]]
DECODING = {"max_new_tokens": 8, "stop": ["Task:"], "prompt_format": "raw"}


def open_policy(model_dir, algorithm, resume_from=None, **overrides) -> GroupPolicy:
    settings = tiny_group_settings(algorithm, **overrides)
    source = PolicySource(str(model_dir), "float32", True, "cpu", TINY_LORA, seed=7, resume_from=resume_from)
    return GroupPolicy.open(source, algorithm, settings)


def run_steps(policy: GroupPolicy, steps: range) -> list[dict]:
    stats = []
    for step in steps:
        policy.generate(PROMPTS, DECODING, seed=100 + step)
        stats.append(policy.step(SCORES[step], seed=200 + step))
    return stats


def adapter_weights(policy) -> dict:
    return {n: p.detach().clone() for n, p in policy.model.named_parameters() if p.requires_grad}


def test_grpo_advantages_are_group_standardised_and_rloo_leave_one_out():
    rewards = torch.tensor([1.0, 3.0, 0.0, 0.0, 2.0, 2.0])  # two groups of three: means 4/3, stds 1.5275 and 1.1547
    deviations = [-1 / 3, 5 / 3, -4 / 3, -4 / 3, 2 / 3, 2 / 3]
    stds = [1.5275] * 3 + [1.1547] * 3
    grpo = GrpoSettings(**tiny_group_settings("grpo", num_generations=3))
    want = [d / (s + 1e-4) for d, s in zip(deviations, stds, strict=True)]
    assert group_advantages("grpo", grpo, rewards).tolist() == pytest.approx(want, rel=1e-4)
    unscaled = GrpoSettings(**tiny_group_settings("grpo", num_generations=3, scale_rewards="none"))
    assert group_advantages("grpo", unscaled, rewards).tolist() == pytest.approx(deviations)
    # RLOO: each completion against the mean of the other two of its group.
    rloo = RlooSettings(**tiny_group_settings("rloo", num_generations=3))
    assert group_advantages("rloo", rloo, rewards).tolist() == pytest.approx([1 - 1.5, 3 - 0.5, 0 - 2, 0 - 2, 2 - 1, 2 - 1])


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_steps_train_the_adapter_only_and_rollouts_come_in_groups(tiny_llama_dir, algorithm):
    policy = open_policy(tiny_llama_dir, algorithm)
    before = adapter_weights(policy)
    assert before and all("lora_" in n for n in before)
    frozen = {n: p.detach().clone() for n, p in policy.model.named_parameters() if not p.requires_grad}
    stats = run_steps(policy, range(2))
    after = adapter_weights(policy)
    assert [s["step"] for s in stats] == [1, 2]
    assert any("lora_B" in n and not torch.equal(before[n], after[n]) for n in before)
    assert all(torch.equal(p.detach(), frozen[n]) for n, p in policy.model.named_parameters() if not p.requires_grad)
    assert stats[0]["value_loss"] is None and stats[0]["mean_score"] == pytest.approx(sum(SCORES[0]) / 4)
    assert stats[0]["kl"] == pytest.approx(0.0, abs=1e-5)  # the first rollout is the reference's own
    assert stats[1]["kl"] != pytest.approx(0.0, abs=1e-5)
    with pytest.raises(ValueError, match="2 times in a row"):
        policy.generate(["a", "b", "a", "b"], DECODING, seed=0)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_resume_from_a_checkpoint_continues_exactly(tiny_llama_dir, tmp_path, algorithm):
    uninterrupted = open_policy(tiny_llama_dir, algorithm)
    expected = run_steps(uninterrupted, range(4))

    first = open_policy(tiny_llama_dir, algorithm)
    run_steps(first, range(2))
    saved = first.save(str(tmp_path / "step-2"))
    assert json.loads((tmp_path / "step-2" / COMPLETE_MARKER).read_text()) == {"step": 2}
    assert (tmp_path / "step-2" / "adapter" / "adapter_config.json").is_file()

    resumed = open_policy(tiny_llama_dir, algorithm, resume_from=str(tmp_path / "step-2"))
    assert resumed.step_count == 2 and resumed.info()["adapter"] == saved["adapter"]
    continued = run_steps(resumed, range(2, 4))
    for got, want in zip(continued, expected[2:], strict=True):
        for key in ("step", "mean_score", "kl", "policy_loss", "entropy", "response_tokens_mean"):
            assert got[key] == pytest.approx(want[key], rel=1e-5, abs=1e-7), key
    want_adapter = adapter_weights(uninterrupted)
    assert all(torch.allclose(p, want_adapter[n], atol=1e-6) for n, p in adapter_weights(resumed).items())


def test_a_checkpoint_of_another_algorithm_is_refused(tiny_llama_dir, tmp_path):
    open_policy(tiny_llama_dir, "grpo").save(str(tmp_path / "step-0"))
    with pytest.raises(CheckpointError, match="written by grpo, not rloo"):
        open_policy(tiny_llama_dir, "rloo", resume_from=str(tmp_path / "step-0"))


# ------------------------------------------------------------------ the learning proof, for each algorithm

LEARNING_STEPS = 20
LEARNING_PROMPTS = ["Task: one"] * 4 + ["Task: two"] * 4


@pytest.fixture(scope="module")
def peaked_llama_dir(tmp_path_factory, embedded_tokenizer):
    """The tiny Llama with weights drawn 50× wider than the default: each prompt's next-token distribution is peaked on
    a few tokens (the default's is near-uniform over 49k tokens, where no reward on token identity gives a gradient
    that generalises within a few steps)."""
    from tiny_models import tiny_llama_config
    from transformers import LlamaForCausalLM

    torch.manual_seed(0)
    config = tiny_llama_config(embedded_tokenizer)
    config.initializer_range = 1.0
    directory = tmp_path_factory.mktemp("peaked-llama")
    LlamaForCausalLM(config).save_pretrained(directory)
    embedded_tokenizer.save_pretrained(directory)
    return directory


def spearman(xs: list[float], ys: list[float]) -> float:
    """Spearman's ρ with average ranks for ties (ts/stats/correlation.ts computes the loop's)."""

    def ranks(values):
        order = sorted(range(len(values)), key=lambda i: values[i])
        result = [0.0] * len(values)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
                j += 1
            for k in range(i, j + 1):
                result[order[k]] = (i + j) / 2
            i = j + 1
        return result

    rx, ry = ranks(xs), ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    return cov / (sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry)) ** 0.5


@pytest.mark.parametrize("algorithm", ["ppo", *ALGORITHMS])
def test_each_algorithm_learns_a_synthetic_reward(peaked_llama_dir, algorithm):
    """A one-token bandit: reward 1 when the sampled token is in the half of the vocabulary the initial policy samples
    less often, else 0. Eight completions a step (two prompts, four of each for GRPO and RLOO), the same for each
    algorithm. Success = Spearman ρ(step, mean reward) > 0.5 over the run, as bench/rlaf-learning.bench.ts asks of the
    real loop on SmolLM2."""
    decoding = {"max_new_tokens": 1, "stop": [], "prompt_format": "raw"}
    if algorithm == "ppo":
        settings = tiny_ppo_settings(learning_rate=5e-3, batch_size=8, gradient_accumulation_steps=8, ppo_epochs=1)
        policy = PpoPolicy.open(PolicySource(str(peaked_llama_dir), "float32", False, "cpu", TINY_LORA, seed=3), settings)
    else:
        settings = tiny_group_settings(algorithm, learning_rate=5e-3, num_generations=4, gradient_accumulation_steps=8)
        policy = GroupPolicy.open(PolicySource(str(peaked_llama_dir), "float32", False, "cpu", TINY_LORA, seed=3), algorithm, settings)
    half = len(policy.tokenizer) // 2
    policy.generate(LEARNING_PROMPTS, decoding, seed=999)
    lower_is_rare = sum(int(r[0]) < half for r in policy.rollout.responses) <= len(LEARNING_PROMPTS) / 2
    policy.rollout = None
    means = []
    for step in range(LEARNING_STEPS):
        policy.generate(LEARNING_PROMPTS, decoding, seed=1000 + step)
        scores = [float((int(r[0]) < half) == lower_is_rare) for r in policy.rollout.responses]
        means.append(sum(scores) / len(scores))
        policy.step(scores, seed=2000 + step)
    rho = spearman(list(range(LEARNING_STEPS)), means)
    print(f"{algorithm}: rho {rho:.3f}, mean reward per step {means}")  # the figures BENCHMARKS.md quotes
    assert rho > 0.5, (rho, means)

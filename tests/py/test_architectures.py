"""Every supported architecture through every stage, on a tiny random model with its family's tokenizer kind.

One row of ARCHITECTURES per family (tiny_architectures.py); each goes through the worker functions the bridge calls:
stage-1 generation (base model, sampled, raw prompt, stop sequence), a PPO step with LoRA and value head (what trains,
what stays frozen, the scores as given, exact resume), stage-3 generation from the saved policy adapter, an SFT step,
and Super-NI prediction (greedy, raw) from the SFT adapter."""

import json

import pytest
import torch
from tiny_architectures import ARCHITECTURES, TINY_PPO, save_tiny_architecture, sft_step_params
from tiny_models import TINY_LORA

from refine_af import service
from refine_af.models import load_causal_lm, prompt_ids
from refine_af.ppo import PpoPolicy
from refine_af.rl import PolicySource
from refine_af.sft import train

LORA = TINY_LORA
PPO = TINY_PPO
PROMPTS = ["Name a colour.", "Say hello."]
SCORES = [[1.5, -0.5], [-1.0, 0.25], [0.75, 2.0]]
SUPERNI_PROMPT = "Definition: Name a fruit.\n\nNow complete the following example -\nInput: red\nOutput:"


@pytest.fixture(scope="module", params=ARCHITECTURES, ids=[a.name for a in ARCHITECTURES])
def arch(request, tmp_path_factory):
    spec = request.param
    return spec, save_tiny_architecture(tmp_path_factory.mktemp(spec.name), spec)


def worker(method: str, **params):
    reply = json.loads(service.call(method, json.dumps(params)))
    assert reply["ok"], reply
    return reply["value"]


def loading(model_dir) -> dict:
    return {"ref": str(model_dir), "dtype": "float32", "load_in_4bit": False, "device": "cpu"}


def worker_generate(handle: str, prompts, *, do_sample: bool, prompt_format: str, stop=(), seed=0) -> list[dict]:
    return worker(
        "generate",
        handle=handle,
        prompts=prompts,
        decoding={
            "max_new_tokens": 6,
            "do_sample": do_sample,
            "temperature": 1.0,
            "top_p": 1.0,
            "stop": list(stop),
            "prompt_format": prompt_format,
        },
        seed=seed,
        batch_size=2,
    )["completions"]


def test_the_tokenizer_has_its_family_special_tokens(arch):
    spec, model_dir = arch
    tokenizer = load_causal_lm(str(model_dir), "float32", False, "cpu").tokenizer
    assert tokenizer.eos_token == spec.eos
    raw = prompt_ids(tokenizer, "Name a colour.", "raw")
    chat = prompt_ids(tokenizer, "Name a colour.", "chat")
    if spec.adds_bos:
        bos = tokenizer.convert_tokens_to_ids(spec.adds_bos)
        assert raw[0] == bos and chat[0] == bos and chat.count(bos) == 1
    else:
        assert tokenizer.bos_token_id is None or tokenizer.bos_token_id not in raw + chat
    assert tokenizer.decode(raw, skip_special_tokens=True).strip() == "Name a colour."
    assert len(chat) > len(raw)  # the template's turn markers


def test_stage_one_generation_through_the_worker(arch):
    spec, model_dir = arch
    worker("load_model", **loading(model_dir), handle=f"gen-{spec.name}", adapter=None)
    first = worker_generate(f"gen-{spec.name}", PROMPTS, do_sample=True, prompt_format="raw", stop=["."], seed=3)
    again = worker_generate(f"gen-{spec.name}", PROMPTS, do_sample=True, prompt_format="raw", stop=["."], seed=3)
    chat = worker_generate(f"gen-{spec.name}", PROMPTS, do_sample=False, prompt_format="chat")
    worker("unload_model", handle=f"gen-{spec.name}")
    assert first == again  # seeded: a resumed stage draws the same text
    for completion in first + chat:
        assert completion["finish_reason"] in {"eos", "stop", "length"} and 0 < completion["new_tokens"] <= 6
    assert all("." not in c["text"] for c in first)


def adapter_and_base(policy: PpoPolicy) -> tuple[dict, dict]:
    adapter, base = {}, {}
    for name, tensor in policy.model.named_parameters():
        (adapter if "lora_" in name or "v_head" in name else base)[name] = tensor.detach().clone()
    return adapter, base


def ppo_steps(policy: PpoPolicy, steps: range) -> list[dict]:
    stats = []
    for step in steps:
        policy.generate(PROMPTS, {"max_new_tokens": 6, "stop": [], "prompt_format": "chat"}, seed=100 + step)
        stats.append(policy.step(SCORES[step], seed=200 + step))
    return stats


def test_ppo_step_then_stage_three_generation_from_the_saved_adapter(arch, tmp_path):
    spec, model_dir = arch
    policy = PpoPolicy.open(PolicySource(str(model_dir), "float32", False, "cpu", LORA, seed=7), PPO)
    seen = []
    compute_rewards = policy.trainer.compute_rewards
    policy.trainer.compute_rewards = lambda scores, *a, **k: seen.append(scores.tolist()) or compute_rewards(scores, *a, **k)
    adapter_before, base_before = adapter_and_base(policy)
    ppo_steps(policy, range(1))
    checkpoint = policy.save(str(tmp_path / "step-1"))["dir"]
    expected = ppo_steps(policy, range(1, 3))
    adapter_after, base_after = adapter_and_base(policy)

    assert seen == SCORES  # the composite reward reaches TRL unchanged
    changed = [n for n in adapter_before if not torch.equal(adapter_before[n], adapter_after[n])]
    assert any("lora_B" in n for n in changed) and any("v_head" in n for n in changed)
    assert all(torch.equal(base_before[n], base_after[n]) for n in base_before)

    resumed = PpoPolicy.open(PolicySource(str(model_dir), "float32", False, "cpu", LORA, seed=7, resume_from=checkpoint), PPO)
    continued = ppo_steps(resumed, range(1, 3))
    for got, want in zip(continued, expected, strict=False):
        for key in ("mean_score", "kl", "policy_loss", "value_loss"):
            assert got[key] == pytest.approx(want[key], rel=1e-4, abs=1e-6), key

    # Stage 3: the worker loads the policy's adapter onto the base; its logits are the policy's.
    final = policy.save(str(tmp_path / "final"))["dir"]
    loaded = load_causal_lm(str(model_dir), "float32", False, "cpu", adapter=f"{final}/adapter")
    ids = torch.tensor([prompt_ids(loaded.tokenizer, PROMPTS[0], "chat")])
    with torch.no_grad():
        assert torch.allclose(loaded.model(ids).logits, policy.model.pretrained_model(ids).logits, atol=1e-5)
    worker("load_model", **loading(model_dir), handle=f"stage3-{spec.name}", adapter=f"{final}/adapter")
    completions = worker_generate(f"stage3-{spec.name}", PROMPTS, do_sample=True, prompt_format="chat", seed=5)
    worker("unload_model", handle=f"stage3-{spec.name}")
    assert len(completions) == 2 and all(c["new_tokens"] > 0 for c in completions)


def test_sft_step_then_super_ni_prediction_from_the_adapter(arch, tmp_path):
    spec, model_dir = arch
    result = train(sft_step_params(model_dir, tmp_path), lambda event: None)
    assert result["steps"] == 2

    base = load_causal_lm(str(model_dir), "float32", False, "cpu")
    tuned = load_causal_lm(str(model_dir), "float32", False, "cpu", adapter=result["model_dir"])
    ids = torch.tensor([prompt_ids(base.tokenizer, SUPERNI_PROMPT, "raw")])
    with torch.no_grad():
        assert not torch.allclose(base.model(ids).logits, tuned.model(ids).logits)
    worker("load_model", **loading(model_dir), handle=f"superni-{spec.name}", adapter=result["model_dir"])
    predictions = worker_generate(f"superni-{spec.name}", [SUPERNI_PROMPT], do_sample=False, prompt_format="raw", stop=["\n"])
    worker("unload_model", handle=f"superni-{spec.name}")
    assert predictions == generate_outside_the_worker(tuned, SUPERNI_PROMPT)


def generate_outside_the_worker(loaded, prompt: str) -> list[dict]:
    """The same greedy prediction through models.generate directly, on the adapter loaded outside the worker."""
    from refine_af.models import Decoding, generate

    greedy = Decoding(max_new_tokens=6, do_sample=False, temperature=1.0, top_p=1.0, stop=["\n"], prompt_format="raw")
    return generate(loaded, [prompt], greedy, seed=0, batch_size=2)

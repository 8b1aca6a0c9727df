"""The 4-bit paths on a CPU (bitsandbytes' CPU NF4): a 4-bit model generating through the worker, the PPO policy in
4-bit with LoRA and value head, and QLoRA SFT whose adapter runs on the 4-bit base. On a lab machine the same code runs
on CUDA; here NF4_DEVICES gains "cpu" for the test (the pipeline keeps CPU runs in full precision)."""

import json

import pytest
import torch
from tiny_architectures import ARCHITECTURES, TINY_PPO, save_tiny_architecture, sft_step_params
from tiny_models import TINY_LORA, TINY_SHAPE

from refine_af import models, service
from refine_af.models import load_causal_lm, prompt_ids
from refine_af.ppo import PpoPolicy
from refine_af.rl import PolicySource
from refine_af.sft import train

# bitsandbytes quantises in blocks of 64 weights along the input dimension on a CPU: the model is 64 wide.
WIDE = {**TINY_SHAPE, "hidden_size": 64, "intermediate_size": 128}
PPO = TINY_PPO
PROMPTS = ["Name a colour.", "Say hello."]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_architecture(tmp_path_factory.mktemp("llama-4bit"), ARCHITECTURES[0], WIDE)


@pytest.fixture(autouse=True)
def nf4_on_cpu(monkeypatch):
    monkeypatch.setattr(models, "NF4_DEVICES", {"cuda", "cpu"})


def is_nf4(model) -> bool:
    import bitsandbytes as bnb

    return any(isinstance(m, bnb.nn.Linear4bit) for m in model.modules())


def test_a_four_bit_model_generates_through_the_worker(model_dir):
    params = {"ref": str(model_dir), "dtype": "float32", "load_in_4bit": True, "device": "cpu", "handle": "nf4", "adapter": None}
    info = json.loads(service.call("load_model", json.dumps(params)))["value"]
    assert info["quantization"] == "nf4" and is_nf4(service._models["nf4"].model)
    reply = json.loads(
        service.call(
            "generate",
            json.dumps(
                {
                    "handle": "nf4",
                    "prompts": PROMPTS,
                    "decoding": {
                        "max_new_tokens": 5,
                        "do_sample": False,
                        "temperature": 1.0,
                        "top_p": 1.0,
                        "stop": [],
                        "prompt_format": "raw",
                    },
                    "seed": 0,
                    "batch_size": 2,
                }
            ),
        )
    )
    service.call("unload_model", json.dumps({"handle": "nf4"}))
    assert reply["ok"] and [c["new_tokens"] for c in reply["value"]["completions"]] == [5, 5]

    # Quantised: close to the float32 weights' logits, not equal to them.
    full = load_causal_lm(str(model_dir), "float32", False, "cpu")
    nf4 = load_causal_lm(str(model_dir), "float32", True, "cpu")
    ids = torch.tensor([prompt_ids(full.tokenizer, PROMPTS[0], "raw")])
    with torch.no_grad():
        full_logits, nf4_logits = full.model(ids).logits, nf4.model(ids).logits
    assert not torch.equal(full_logits, nf4_logits)
    assert torch.nn.functional.cosine_similarity(full_logits.flatten(), nf4_logits.flatten(), dim=0) > 0.9


def test_the_ppo_policy_in_four_bit_trains_its_adapter_and_value_head_only(model_dir):
    policy = PpoPolicy.open(PolicySource(str(model_dir), "float32", True, "cpu", TINY_LORA, seed=7), PPO)
    assert policy.info()["model"]["quantization"] == "nf4" and is_nf4(policy.model)

    def weights() -> dict:  # the peft model's whole state (4-bit weights with their quantisation state) and the value head
        state = {
            **policy.model.pretrained_model.state_dict(),
            **{f"v_head.{n}": t for n, t in policy.model.v_head.state_dict().items()},
        }
        return {n: t.detach().clone() for n, t in state.items()}

    before = weights()
    seen = []
    compute_rewards = policy.trainer.compute_rewards
    policy.trainer.compute_rewards = lambda scores, *a, **k: seen.append(scores.tolist()) or compute_rewards(scores, *a, **k)
    for step, scores in enumerate([[1.5, -0.5], [-1.0, 0.25]]):
        policy.generate(PROMPTS, {"max_new_tokens": 6, "stop": [], "prompt_format": "raw"}, seed=100 + step)
        policy.step(scores, seed=200 + step)
    after = weights()

    assert seen == [[1.5, -0.5], [-1.0, 0.25]]
    changed = {n for n in before if not torch.equal(before[n], after[n])}
    assert any("lora_B" in n for n in changed) and any("v_head" in n for n in changed)
    assert all("lora_" in n or "v_head" in n for n in changed)  # the 4-bit base and its quantisation state are untouched
    assert any(n.endswith("q_proj.base_layer.weight") and t.dtype == torch.uint8 for n, t in before.items())


def test_qlora_sft_trains_an_adapter_that_runs_on_the_four_bit_base(model_dir, tmp_path):
    result = train(
        sft_step_params(model_dir, tmp_path, training={"max_steps": 3}, load_in_4bit=True, merge_weights=True), lambda event: None
    )
    assert result["quantization"] == "nf4" and result["steps"] == 3

    base = load_causal_lm(str(model_dir), "float32", True, "cpu")
    tuned = load_causal_lm(str(model_dir), "float32", True, "cpu", adapter=result["model_dir"])
    assert tuned.quantization == "nf4" and is_nf4(tuned.model)  # the adapter stays unmerged on 4-bit weights
    ids = torch.tensor([prompt_ids(base.tokenizer, "Name a fruit.\n", "raw")])
    with torch.no_grad():
        assert not torch.allclose(base.model(ids).logits, tuned.model(ids).logits)
    # The merged copy folds the adapter into unquantised weights (the base reloaded in full precision).
    from transformers import AutoModelForCausalLM

    assert not is_nf4(AutoModelForCausalLM.from_pretrained(result["merged_dir"]))

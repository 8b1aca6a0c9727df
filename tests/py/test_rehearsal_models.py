"""The rehearsal's tiny models (fixtures/rehearsal_models.py) load through the same code as the paper's, and are made once."""

import pytest
import torch
from rehearsal_models import SPEC, make

from refine_af.models import load_causal_lm
from refine_af.scorers import FeedbackScorers, FeedbackSpec

TRIPLETS = [
    {"instruction": "Name three primary colors.", "input": "", "output": "Red, blue and yellow."},
    {"instruction": "Translate to French.", "input": "Good morning.", "output": "Bonjour."},
]


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("rehearsal") / "models"
    assert make(directory) is True
    return directory


def test_a_second_make_with_the_same_spec_does_nothing(models_dir):
    before = (models_dir / "llama" / "model.safetensors").stat().st_mtime_ns
    assert make(models_dir) is False
    assert (models_dir / "llama" / "model.safetensors").stat().st_mtime_ns == before


def test_the_llama_has_a_sentencepiece_tokenizer_with_bos_and_eos_and_writes_one_instance_greedily(models_dir):
    loaded = load_causal_lm(str(models_dir / "llama"), "float32", True, "cpu")
    tokenizer = loaded.tokenizer
    assert type(loaded.model).__name__ == "LlamaForCausalLM" and type(tokenizer).__name__ == "LlamaTokenizerFast"
    assert (models_dir / "llama" / "tokenizer.model").is_file()
    assert (tokenizer.bos_token, tokenizer.eos_token) == ("<s>", "</s>") and (tokenizer.bos_token_id, tokenizer.eos_token_id) == (
        1,
        2,
    )
    ids = tokenizer("Name three colors.").input_ids
    assert ids[0] == tokenizer.bos_token_id and tokenizer.unk_token_id not in ids
    encoded = tokenizer(["Task: Name three primary colors.\n"], return_tensors="pt")
    output = loaded.model.generate(**encoded, max_new_tokens=12, do_sample=False, pad_token_id=tokenizer.eos_token_id)
    new = output[0, encoded.input_ids.shape[1] :].tolist()
    assert new[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(new, skip_special_tokens=True) == SPEC["llama"]["script"]
    torch.manual_seed(0)
    sampled = loaded.model.generate(**encoded, max_new_tokens=12, do_sample=True, top_k=0, pad_token_id=tokenizer.eos_token_id)
    assert len(tokenizer.decode(sampled[0, encoded.input_ids.shape[1] :], skip_special_tokens=True).split()) > 3  # words


def test_the_feedback_models_load_as_the_paper_configs_load_theirs(models_dir):
    spec = FeedbackSpec(
        backends={"reward": "reward_model", "naturalness": "unieval", "coherence": "unieval", "understandability": "unieval"},
        reward_model=str(models_dir / "oasst-rm"),
        unieval=str(models_dir / "unieval"),
        judge="unused",
        device="cpu",
        dtype="float32",
        reward_model_max_tokens=2048,
        unieval_max_tokens=1024,
        judge_max_field_tokens=512,
    )
    scorers = FeedbackScorers(spec)
    reward = scorers.scorers["reward"]
    assert reward.model.config.model_type == "gpt_neox_reward_model"
    assert reward.tokenizer.eos_token == "<|endoftext|>"
    specials = reward.tokenizer.convert_tokens_to_ids(["<|prompter|>", "<|endoftext|>", "<|assistant|>"])
    ids = reward.tokenizer("<|prompter|>Hi<|endoftext|><|assistant|>", add_special_tokens=False).input_ids
    assert [i for i in ids if i in specials] == specials  # oasst's turn markers are single tokens
    unieval = scorers.scorers["coherence"].unieval
    assert type(unieval.model).__name__ == "T5ForConditionalGeneration" and unieval.yes_id != unieval.no_id
    result = scorers.score(TRIPLETS, batch_size=2)
    assert all(0.0 <= s[i] <= 1.0 for s in result["scores"] for i in ("naturalness", "coherence", "understandability"))

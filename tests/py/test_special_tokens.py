"""One rule for special tokens: with a Llama-style tokenizer that prepends BOS (as Llama-2 and Mistral do), every path that
feeds a causal LM gives it the prompt with BOS exactly once, and SFT trains on the very ids inference feeds.

The ids are captured where the model receives them (a forward pre-hook on the input embeddings), not recomputed."""

import pytest
import torch
from tiny_models import TINY_LORA, save_tiny_lora, save_tiny_sentencepiece_llama, save_tiny_sentencepiece_tokenizer, tiny_ppo_settings

from refine_af.models import Decoding, generate, load_causal_lm, load_tokenizer, resolve_model
from refine_af.ppo import PpoPolicy
from refine_af.rl import PolicySource
from refine_af.scorers import (
    GPTNeoXRewardModel,
    GPTNeoXRewardModelConfig,
    JudgeModel,
    JudgeScorer,
    RewardModelScorer,
    openassistant_input,
)
from refine_af.sft import tokenize_example

PROMPT = "### Instruction:\nName a colour.\n\n### Response:\n"
# Mistral-instruct and Llama-2-chat templates write the BOS text themselves.
CHAT_TEMPLATE = "{{ bos_token }}[INST] {{ messages[0]['content'] }} [/INST]"


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory):
    return save_tiny_sentencepiece_llama(tmp_path_factory.mktemp("sp-llama"))


@pytest.fixture(scope="module")
def chat_llama_dir(tmp_path_factory):
    return save_tiny_sentencepiece_llama(tmp_path_factory.mktemp("sp-llama-chat"), chat_template=CHAT_TEMPLATE)


def expected_raw_ids(tokenizer, prompt: str) -> list[int]:
    """BOS, then the prompt's own pieces: what Llama-2's reference tokenisation gives."""
    return [tokenizer.bos_token_id] + tokenizer(prompt, add_special_tokens=False).input_ids


class ReceivedIds:
    """The input ids of every forward pass of a model (first entry: the whole prompt of a generate call)."""

    def __init__(self, model):
        self.calls: list[torch.Tensor] = []
        self.handle = model.get_input_embeddings().register_forward_pre_hook(lambda _, args: self.calls.append(args[0].clone()))

    def prompt(self) -> list[int]:
        assert self.calls, "the model received nothing"
        (row,) = self.calls[0].tolist()  # one prompt per call: no padding to strip
        return row


def generate_one(loaded, prompt: str, prompt_format: str) -> list[int]:
    received = ReceivedIds(loaded.model)
    try:
        greedy = Decoding(max_new_tokens=2, do_sample=False, temperature=1.0, top_p=1.0, stop=[], prompt_format=prompt_format)
        generate(loaded, [prompt], greedy, seed=0, batch_size=1)
    finally:
        received.handle.remove()
    return received.prompt()


def test_the_tokenizer_is_llama_style(llama_dir):
    tokenizer = load_tokenizer(resolve_model(str(llama_dir)))
    assert tokenizer.bos_token == "<s>" and tokenizer.eos_token == "</s>"
    assert tokenizer(PROMPT).input_ids == expected_raw_ids(tokenizer, PROMPT)


def test_stage_1_and_evaluation_prompts_start_with_bos_once(llama_dir):
    loaded = load_causal_lm(str(llama_dir), "float32", False, "cpu")
    assert generate_one(loaded, PROMPT, "raw") == expected_raw_ids(loaded.tokenizer, PROMPT)


def test_stage_3_prompts_through_an_adapter_start_with_bos_once(llama_dir, tmp_path):
    adapter = save_tiny_lora(tmp_path / "adapter", llama_dir)
    loaded = load_causal_lm(str(llama_dir), "float32", False, "cpu", adapter=str(adapter))
    assert generate_one(loaded, PROMPT, "raw") == expected_raw_ids(loaded.tokenizer, PROMPT)


def test_ppo_rollout_queries_are_the_ids_the_policy_received(llama_dir):
    settings = tiny_ppo_settings(learning_rate=1e-5, batch_size=1, gradient_accumulation_steps=1, ppo_epochs=1)
    lora = TINY_LORA
    policy = PpoPolicy.open(PolicySource(str(llama_dir), "float32", False, "cpu", lora, seed=0), settings)
    received = ReceivedIds(policy.model.pretrained_model)
    policy.generate([PROMPT], {"max_new_tokens": 2, "stop": [], "prompt_format": "raw"}, seed=1)
    received.handle.remove()
    expected = expected_raw_ids(policy.tokenizer, PROMPT)
    assert received.prompt() == expected
    assert policy.rollout.queries[0].tolist() == expected  # what PPO's step trains on


def test_sft_trains_on_the_prompt_ids_inference_feeds(llama_dir):
    loaded = load_causal_lm(str(llama_dir), "float32", False, "cpu")
    inference_ids = generate_one(loaded, PROMPT, "raw")
    training_tokenizer = load_tokenizer(resolve_model(str(llama_dir)), padding_side="right")  # as sft.train loads it
    example = tokenize_example(training_tokenizer, PROMPT, "red", max_length=64)
    assert example["input_ids"][: len(inference_ids)] == inference_ids
    assert example["input_ids"].count(training_tokenizer.bos_token_id) == 1
    assert example["input_ids"][len(inference_ids) :] == training_tokenizer("red", add_special_tokens=False).input_ids + [2]


def test_a_chat_template_that_writes_bos_does_not_get_a_second_one(chat_llama_dir):
    loaded = load_causal_lm(str(chat_llama_dir), "float32", False, "cpu")
    tokenizer = loaded.tokenizer
    rendered = tokenizer.apply_chat_template([{"role": "user", "content": PROMPT}], tokenize=False, add_generation_prompt=True)
    assert rendered.startswith("<s>[INST]")
    received = generate_one(loaded, PROMPT, "chat")
    assert received == [tokenizer.bos_token_id] + tokenizer(rendered.removeprefix("<s>"), add_special_tokens=False).input_ids
    assert received.count(tokenizer.bos_token_id) == 1


def test_the_judge_asks_through_the_chat_template_with_one_bos(chat_llama_dir):
    judge = JudgeModel(str(chat_llama_dir), "cpu", "float32")
    received = ReceivedIds(judge.loaded.model)
    JudgeScorer(judge, "naturalness", max_field_tokens=64).score([{"instruction": "Name a colour.", "input": "", "output": "red"}], 1)
    received.handle.remove()
    ids = received.prompt()
    assert ids[0] == judge.loaded.tokenizer.bos_token_id and ids.count(judge.loaded.tokenizer.bos_token_id) == 1


def test_the_reward_model_gets_its_tokenizer_defaults_as_its_reference_calls_it(tmp_path):
    tokenizer = save_tiny_sentencepiece_tokenizer(tmp_path)
    config = GPTNeoXRewardModelConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=256,
        eos_token_id=tokenizer.eos_token_id,
    )
    GPTNeoXRewardModel(config).save_pretrained(tmp_path)
    scorer = RewardModelScorer(str(tmp_path), "cpu", "float32", max_tokens=256)
    received = ReceivedIds(scorer.model)
    scorer.score([{"instruction": "Name a colour.", "input": "", "output": "red"}], 1)
    received.handle.remove()
    assert received.prompt() == tokenizer(openassistant_input("Name a colour.", "red", tokenizer.eos_token)).input_ids


def test_the_embedded_gguf_tokenizer_adds_no_bos_as_its_file_says(embedded_tokenizer, tiny_llama_dir):
    # transformers' GGUF conversion would prepend <|im_start|> to every raw prompt; SmolLM2's file and original tokenizer do not.
    assert embedded_tokenizer("Name a colour.").input_ids == embedded_tokenizer("Name a colour.", add_special_tokens=False).input_ids
    loaded = load_causal_lm(str(tiny_llama_dir), "float32", False, "cpu")  # saved with the embedded tokenizer
    assert generate_one(loaded, PROMPT, "raw") == embedded_tokenizer(PROMPT, add_special_tokens=False).input_ids

"""Shared fixtures: tiny randomly initialised models built from configs (no downloaded weights), saved as real checkpoints."""
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "py"))

from refine_af.models import load_tokenizer, resolve_model  # noqa: E402

EMBEDDED = "embedded:smollm2-135m-instruct"


@pytest.fixture(scope="session")
def embedded_tokenizer():
    """The embedded model's real tokenizer (from its GGUF file), reused by tiny models so their text is real text."""
    return load_tokenizer(resolve_model(EMBEDDED))


def build_tiny_llama(directory, tokenizer) -> None:
    """A 2-layer random Llama with `tokenizer`, saved with save_pretrained (also called by the TS tests through python -c)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory, embedded_tokenizer) -> Path:
    """A 2-layer Llama with the embedded tokenizer, saved with save_pretrained: loads through the same path as a real checkpoint."""
    directory = tmp_path_factory.mktemp("tiny-llama")
    build_tiny_llama(directory, embedded_tokenizer)
    return directory

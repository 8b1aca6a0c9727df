"""Tiny randomly initialised models built from configs (no downloaded weights), saved as real checkpoints.

Used by the pytest fixtures in conftest.py and, through tests/ts/fixtures/tiny_llama.py, by TypeScript tests."""
from pathlib import Path

import torch


def save_tiny_llama(directory: Path, tokenizer) -> Path:
    """A 2-layer Llama with the given tokenizer, saved with save_pretrained: loads through the same path as a real checkpoint."""
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
    return directory


def save_tiny_lora(directory: Path, model_dir: Path) -> Path:
    """A LoRA adapter for the model in `model_dir` with random A and B (init_lora_weights=False), so it changes the outputs."""
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaForCausalLM

    torch.manual_seed(1)
    lora = LoraConfig(task_type="CAUSAL_LM", r=4, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(LlamaForCausalLM.from_pretrained(model_dir), lora).save_pretrained(directory)
    return directory

"""Tiny randomly initialised models built from configs (no downloaded weights), saved as real checkpoints.

Used by the pytest fixtures in conftest.py and, run as a script, by TypeScript tests:
`python tests/py/tiny_models.py MODEL_DIR [ADAPTER_DIR]` saves the tiny Llama (embedded tokenizer) and optionally a
random LoRA adapter for it."""

import sys
from pathlib import Path

import torch

# LoRA and PPO settings for tiny models, under peft's LoraConfig and TRL's PPOConfig names (contract.ts): a learning rate
# far above the paper's 2e-5 so that a step or two moves the tiny adapter measurably. Tests override what they vary.
TINY_LORA = {"r": 4, "lora_alpha": 8, "lora_dropout": 0.0, "target_modules": None}  # None: peft's default modules


def tiny_ppo_settings(**overrides) -> dict:
    """The fields a tiny run changes; every other PPOConfig field keeps TRL's default, as the schema's defaults do."""
    return {"learning_rate": 1e-2, "batch_size": 4, "mini_batch_size": 1, "gradient_accumulation_steps": 4, "ppo_epochs": 2, **overrides}


def tiny_group_settings(algorithm: str, **overrides) -> dict:
    """GRPOConfig or RLOOConfig fields for a tiny run: two groups of two completions per step, one optimizer step; the
    rest are the schema's defaults (TRL's), β made non-zero for GRPO so that its KL term is exercised."""
    shared = {
        "learning_rate": 1e-2,
        "num_generations": 2,
        "per_device_train_batch_size": 1,
        "gradient_accumulation_steps": 4,
        "num_iterations": 1,
        "beta": 0.05,
        "epsilon": 0.2,
        "epsilon_high": None,
        "max_grad_norm": 1.0,
    }
    extra = {"loss_type": "dapo", "scale_rewards": "group"} if algorithm == "grpo" else {"normalize_advantages": False}
    return {**shared, **extra, **overrides}


# The shape of every tiny model: 2 layers, 4 query heads over 2 key/value heads of width 8.
TINY_SHAPE = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 512,
}


def tiny_llama_config(tokenizer, tie_word_embeddings: bool = True):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tokenizer),
        **TINY_SHAPE,
        tie_word_embeddings=tie_word_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def save_tiny_llama(directory: Path, tokenizer) -> Path:
    """A 2-layer Llama with the given tokenizer, saved with save_pretrained: loads through the same path as a real checkpoint."""
    from transformers import LlamaForCausalLM

    torch.manual_seed(0)
    config = tiny_llama_config(tokenizer)
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


# Text the tiny sentencepiece model is trained on: English plus the words of the project's prompts, so they tokenise to
# real pieces rather than <unk>.
SENTENCEPIECE_TEXT = [
    "Below is an instruction that describes a task, paired with an input that provides further context.",
    "Write a response that appropriately completes the request.",
    "### Instruction: ### Input: ### Response: Definition: Now complete the following example - Input: Output:",
    "Name a colour. Name a fruit. Count to three. Say hello. red apple one, two, three hello there",
    "Give three tips for staying healthy. Eat well, sleep enough and move every day.",
    "Is this a natural, coherent and understandable response in the dialogue history? Answer Yes or No.",
    "The quick brown fox jumps over the lazy dog while the cat sleeps in the sun. [INST] [/INST]",
]


def save_tiny_sentencepiece_tokenizer(directory: Path, chat_template: str | None = None):
    """A Llama-style sentencepiece tokenizer that prepends BOS `<s>` (id 1) to raw text, EOS `</s>` (id 2), as Llama-2 and
    Mistral do: trained here on a few sentences (no download) and saved to `directory`; returned loaded (fast)."""
    from rehearsal_models import train_sentencepiece
    from transformers import LlamaTokenizerFast

    model = train_sentencepiece(
        SENTENCEPIECE_TEXT * 4,
        vocab_size=160,
        model_type="bpe",
        character_coverage=1.0,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
    )
    directory.mkdir(parents=True, exist_ok=True)
    vocab_file = directory / "tokenizer.model"
    vocab_file.write_bytes(model)
    tokenizer = LlamaTokenizerFast(vocab_file=str(vocab_file), from_slow=True, legacy=True)
    tokenizer.chat_template = chat_template
    tokenizer.save_pretrained(directory)
    return LlamaTokenizerFast.from_pretrained(directory)


def save_tiny_sentencepiece_llama(directory: Path, chat_template: str | None = None) -> Path:
    """A 2-layer Llama with a BOS-adding sentencepiece tokenizer (save_tiny_sentencepiece_tokenizer): a stand-in for a
    Llama-2 or Mistral base checkpoint, with its special-token behaviour."""
    return save_tiny_llama(directory, save_tiny_sentencepiece_tokenizer(directory, chat_template))


if __name__ == "__main__":
    from refine_af.models import load_tokenizer, resolve_model

    save_tiny_llama(Path(sys.argv[1]), load_tokenizer(resolve_model("embedded:smollm2-135m-instruct")))
    if len(sys.argv) > 2:
        save_tiny_lora(Path(sys.argv[2]), Path(sys.argv[1]))

"""Tiny randomly initialised models of each supported architecture, each with a tokenizer of its family's kind.

No download: the sentencepiece tokenizers (Llama-2, Mistral, Gemma-3) are trained here with the rehearsal's
`train_sentencepiece`, the byte-level BPE ones (Llama-3.x, Qwen2.5, Qwen3, SmolLM3) with the `tokenizers` library, on the
same few sentences as tiny_models.py. Special tokens, BOS behaviour and chat templates follow each family's released
tokenizer (the templates are cut down to single-turn user/assistant, which is what the pipeline renders)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from tiny_models import SENTENCEPIECE_TEXT, TINY_LORA, TINY_SHAPE, tiny_ppo_settings

LLAMA2_CHAT = (
    "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}[INST] {{ m['content'] }} [/INST]"
    "{% else %} {{ m['content'] }} {{ eos_token }}{% endif %}{% endfor %}"
)
MISTRAL_CHAT = (
    "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}[INST] {{ m['content'] }}[/INST]"
    "{% else %}{{ m['content'] }}{{ eos_token }}{% endif %}{% endfor %}"
)
LLAMA3_CHAT = (
    "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
    "{{ m['content'] }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
GEMMA_CHAT = (
    "{{ bos_token }}{% for m in messages %}<start_of_turn>{{ 'model' if m['role'] == 'assistant' else m['role'] }}\n"
    "{{ m['content'] }}<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


@dataclass(frozen=True)
class Architecture:
    name: str
    config_class: str  # transformers class name
    model_class: str
    tokenizer_kind: str  # "sentencepiece" | "byte-level-bpe"
    adds_bos: str | None  # the BOS token a raw prompt starts with, None when the family adds none
    bos: str | None
    eos: str
    pad: str
    chat_template: str
    specials: tuple[str, ...] = ()
    config: dict = field(default_factory=dict)


QWEN2_5 = Architecture(
    "qwen2.5",
    "Qwen2Config",
    "Qwen2ForCausalLM",
    "byte-level-bpe",
    None,
    None,
    "<|im_end|>",
    "<|endoftext|>",
    CHATML,
    specials=("<|endoftext|>", "<|im_start|>", "<|im_end|>"),
)
ARCHITECTURES = [
    Architecture("llama-2", "LlamaConfig", "LlamaForCausalLM", "sentencepiece", "<s>", "<s>", "</s>", "</s>", LLAMA2_CHAT),
    Architecture(
        "mistral",
        "MistralConfig",
        "MistralForCausalLM",
        "sentencepiece",
        "<s>",
        "<s>",
        "</s>",
        "</s>",
        MISTRAL_CHAT,
        config=dict(sliding_window=4096),
    ),
    Architecture(
        "llama-3.x",
        "LlamaConfig",
        "LlamaForCausalLM",
        "byte-level-bpe",
        "<|begin_of_text|>",
        "<|begin_of_text|>",
        "<|eot_id|>",
        "<|finetune_right_pad_id|>",
        LLAMA3_CHAT,
        specials=(
            "<|begin_of_text|>",
            "<|end_of_text|>",
            "<|start_header_id|>",
            "<|end_header_id|>",
            "<|eot_id|>",
            "<|finetune_right_pad_id|>",
        ),
        config=dict(
            rope_theta=500000.0,
            rope_scaling={
                "rope_type": "llama3",
                "factor": 32.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": 256,
            },
        ),
    ),
    QWEN2_5,
    # Qwen3 keeps Qwen2.5's tokenizer and chat format; its config takes the head width apart.
    replace(QWEN2_5, name="qwen3", config_class="Qwen3Config", model_class="Qwen3ForCausalLM", config=dict(head_dim=8)),
    Architecture(
        "gemma-3",
        "Gemma3TextConfig",
        "Gemma3ForCausalLM",
        "sentencepiece",
        "<bos>",
        "<bos>",
        "<eos>",
        "<pad>",
        GEMMA_CHAT,
        specials=("<start_of_turn>", "<end_of_turn>"),
        config=dict(head_dim=8, query_pre_attn_scalar=8, sliding_window=16),
    ),
    # SmolLM3 chats in ChatML with <|im_end|> ending a turn and no BOS, as Qwen2.5 does: only its classes differ here.
    replace(QWEN2_5, name="smollm3", config_class="SmolLM3Config", model_class="SmolLM3ForCausalLM"),
]


def _sentencepiece_tokenizer(directory: Path, arch: Architecture):
    from rehearsal_models import train_sentencepiece
    from transformers import GemmaTokenizerFast, LlamaTokenizerFast

    if arch.name == "gemma-3":  # Gemma's ids: <pad> 0, <eos> 1, <bos> 2, <unk> 3
        fast_class = GemmaTokenizerFast
        ids = dict(pad_id=0, eos_id=1, bos_id=2, unk_id=3, pad_piece="<pad>", eos_piece="<eos>", bos_piece="<bos>")
    else:  # Llama-2's and Mistral's: <unk> 0, <s> 1, </s> 2, no pad
        fast_class = LlamaTokenizerFast
        ids = dict(unk_id=0, bos_id=1, eos_id=2, pad_id=-1)
    # Byte fallback, as the three families' tokenizers have: any character (a stop sequence's "\n") has a token.
    model = train_sentencepiece(
        SENTENCEPIECE_TEXT * 4,
        vocab_size=400,
        model_type="bpe",
        character_coverage=1.0,
        byte_fallback=True,
        user_defined_symbols=list(arch.specials),
        **ids,
    )
    vocab_file = directory / "tokenizer.model"
    vocab_file.write_bytes(model)
    extra = {} if arch.name == "gemma-3" else {"legacy": True}
    return fast_class(vocab_file=str(vocab_file), from_slow=True, **extra)


def _byte_level_bpe_tokenizer(arch: Architecture):
    from rehearsal_models import train_byte_level_bpe
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast

    tokenizer = train_byte_level_bpe(SENTENCEPIECE_TEXT * 4, 400, list(arch.specials))
    if arch.adds_bos:  # Llama-3's post-processor writes BOS before every text
        bos_id = tokenizer.token_to_id(arch.adds_bos)
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{arch.adds_bos} $A", pair=f"{arch.adds_bos} $A {arch.adds_bos} $B", special_tokens=[(arch.adds_bos, bos_id)]
        )
    else:
        tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token=arch.bos, eos_token=arch.eos, pad_token=arch.pad)


def save_tiny_architecture(directory: Path, arch: Architecture, shape: dict = TINY_SHAPE) -> Path:
    """A 2-layer model of `arch` with its tokenizer, saved with save_pretrained (loads as a real checkpoint would)."""
    import transformers

    directory.mkdir(parents=True, exist_ok=True)
    if arch.tokenizer_kind == "sentencepiece":
        tokenizer = _sentencepiece_tokenizer(directory, arch)
    else:
        tokenizer = _byte_level_bpe_tokenizer(arch)
    tokenizer.chat_template = arch.chat_template
    tokenizer.save_pretrained(directory)

    torch.manual_seed(0)
    config = getattr(transformers, arch.config_class)(
        vocab_size=len(tokenizer),
        tie_word_embeddings=True,
        **shape,
        **arch.config,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    getattr(transformers, arch.model_class)(config).save_pretrained(directory)
    return directory


# One PPO step per update for a tiny model of each architecture.
TINY_PPO = tiny_ppo_settings(batch_size=2, gradient_accumulation_steps=2, ppo_epochs=1)


def sft_step_params(model_dir: Path, tmp_path: Path, training: dict | None = None, **overrides) -> dict:
    """`sft.train` parameters for a few LoRA updates on one example, with peft's default target modules."""
    import json

    train_file = tmp_path / "train.jsonl"
    train_file.write_text(json.dumps({"prompt": "Name a fruit.\n", "response": "apple"}) + "\n")
    return {
        "model": str(model_dir),
        "dtype": "float32",
        "load_in_4bit": False,
        "device": "cpu",
        "train_file": str(train_file),
        "output_dir": str(tmp_path / "sft"),
        "max_seq_length": 32,
        "training": {
            "num_train_epochs": 1,
            "max_steps": 2,
            "learning_rate": 5e-2,
            "lr_scheduler_type": "constant",
            "warmup_ratio": 0.0,
            "per_device_train_batch_size": 1,
            "gradient_accumulation_steps": 1,
            "logging_steps": 1,
            "save_steps": 10,
            "save_total_limit": 1,
            "report_to": [],
            **(training or {}),
        },
        "lora": TINY_LORA,
        "merge_weights": False,
        "eval_file": None,
        "seed": 0,
        "logging_dir": str(tmp_path / "tensorboard"),
        **overrides,
    }

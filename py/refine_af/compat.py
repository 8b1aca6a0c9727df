"""Small adjustments between the libraries of the pinned stack (docs/stack.md), each tested by tests/py/test_architectures.py."""
from __future__ import annotations

# Architectures that transformers loads but peft has no default LoRA target modules for (peft 0.21.2): the attention
# projections peft uses for their parent architecture (SmolLM3 is a Llama with some layers' RoPE turned off).
LORA_DEFAULT_TARGETS = {"smollm3": ["q_proj", "v_proj"]}


def lora_target_modules(model_type: str, requested: list[str] | None) -> list[str] | None:
    """The LoRA target modules for a model: the configured ones, else None when peft has a default for the
    architecture, else the parent architecture's default. An architecture unknown to both is a clear error."""
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING

    if requested is not None or model_type in TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING:
        return requested
    if model_type in LORA_DEFAULT_TARGETS:
        return LORA_DEFAULT_TARGETS[model_type]
    raise ValueError(f"peft has no default LoRA target modules for model type {model_type!r}: set the LoRA target_modules"
                     " in the config (rlaf.lora.target_modules, sft.lora_target_modules)")

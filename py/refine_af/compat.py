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
    raise ValueError(
        f"peft has no default LoRA target modules for model type {model_type!r}: set the LoRA target_modules"
        " in the config (rlaf.lora.target_modules, sft.lora.target_modules)"
    )


def drop_whole_cpu_device_map(model) -> None:
    """TRL 0.11.4's value-head model takes a device map with "cpu" in it for CPU offloading and refuses it; a 4-bit model
    loaded wholly on the CPU (device_map {"": "cpu"}) is not offloaded: it forgets the map, as a model moved with .to() has none."""
    if set(getattr(model, "hf_device_map", {}).values()) == {"cpu"}:
        del model.hf_device_map


def keep_cpu_nf4_weights_trainable(model) -> None:
    """bitsandbytes 0.50 repacks a CPU Linear4bit's weights for its AVX512-BF16 kernel the first time the layer runs in
    eval mode without gradients, and from then on multiplies through that kernel, which has no backward: gradients stop
    at every 4-bit layer. A PPO policy alternates rollouts (no gradients) with training steps, so its layers keep the
    trainable layout (on CUDA, and on CPUs without AVX512-BF16, there is no repacking)."""
    import bitsandbytes as bnb

    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit):
            module.support_avx512bf16_for_cpu = False

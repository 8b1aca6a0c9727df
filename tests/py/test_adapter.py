"""load_causal_lm(..., adapter=DIR): a saved LoRA adapter is applied on top of the base model."""
import pytest
import torch

from refine_af.models import ModelNotFoundError, generate, load_causal_lm

GREEDY = dict(max_new_tokens=6, do_sample=False, temperature=1.0, top_p=1.0, stop=[], seed=0, batch_size=2, prompt_format="raw")


def test_adapter_changes_the_model_and_loads_like_peft(tiny_llama_dir, tmp_path):
    from peft import LoraConfig, get_peft_model

    base = load_causal_lm(str(tiny_llama_dir), "float32", False, "cpu")
    torch.manual_seed(1)
    # init_lora_weights=False: random A and B, so the adapter really moves the logits (a fresh LoRA is a no-op).
    lora = get_peft_model(base.model, LoraConfig(task_type="CAUSAL_LM", r=4, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    lora.save_pretrained(tmp_path / "adapter")

    plain = load_causal_lm(str(tiny_llama_dir), "float32", False, "cpu")
    adapted = load_causal_lm(str(tiny_llama_dir), "float32", False, "cpu", adapter=str(tmp_path / "adapter"))
    assert type(adapted.model).__name__ == "PeftModelForCausalLM"
    ids = plain.tokenizer(["Definition: say hi"], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert not torch.allclose(plain.model(ids).logits, adapted.model(ids).logits)
        assert torch.allclose(lora(ids).logits, adapted.model(ids).logits, atol=1e-5)
    assert len(generate(adapted, ["Input: a", "Input: bb"], **GREEDY)) == 2


def test_adapter_directory_without_config_is_a_clear_error(tiny_llama_dir, tmp_path):
    with pytest.raises(ModelNotFoundError, match="adapter_config.json"):
        load_causal_lm(str(tiny_llama_dir), "float32", False, "cpu", adapter=str(tmp_path))

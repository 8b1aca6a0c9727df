"""A tiny Llama whose greedy continuation of any prompt is "Output: red" then end-of-text, saved in the directory given.

The crash harness needs stage 3 to parse instances (so SFT has data) without a trained model. The weights are set, not
trained: every token outside the script embeds to one basis vector and each script token to its own, the layers are
damped to a small perturbation, and the (untied) head maps each basis vector to the next token of the script. The layers
keep small random weights, so LoRA adapters on them receive gradients and PPO/SFT change something real."""

import sys
from pathlib import Path

import torch
from tiny_models import tiny_llama_config

from refine_af.models import load_tokenizer, resolve_model

SCRIPT = "Output: red"
LOGIT = 12.0
LAYER_DAMPING = 0.05


def main(directory: Path) -> None:
    from transformers import LlamaForCausalLM

    tokenizer = load_tokenizer(resolve_model("embedded:smollm2-135m-instruct"))
    script = tokenizer.encode(SCRIPT, add_special_tokens=False) + [tokenizer.eos_token_id]
    torch.manual_seed(0)
    model = LlamaForCausalLM(tiny_llama_config(tokenizer, tie_word_embeddings=False))
    with torch.no_grad():
        embed = model.model.embed_tokens.weight
        embed.zero_()
        embed[:, 0] = 1.0  # every token outside the script: "start the script"
        for position, token in enumerate(script[:-1]):
            embed[token].zero_()
            embed[token, position + 1] = 1.0
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.mul_(LAYER_DAMPING)
            layer.mlp.down_proj.weight.mul_(LAYER_DAMPING)
        head = model.lm_head.weight
        head.zero_()
        for position, token in enumerate(script):
            head[token, position] = LOGIT
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)


if __name__ == "__main__":
    main(Path(sys.argv[1]))

"""Tiny stand-ins for the paper's three models, for the rehearsal (configs/rehearsal*.yaml): the lab configs' code path on a CPU.

    python -m refine_af.rehearsal_models runs/rehearsal-models      # what `make repro MODEL=rehearsal` runs first

Made from configs, with fixed seeds and no download, into <out>/:
  llama/      a Llama (the architecture of meta-llama/Llama-2-7b-hf) with a sentencepiece tokenizer that has BOS and EOS,
              trained here on the seed tasks (Llama 2's layout: BPE, byte fallback, unk 0, BOS 1, EOS 2, no pad);
  oasst-rm/   a GPT-NeoX reward model of the OpenAssistant shape (model_type gpt_neox_reward_model, `gpt_neox` + `out_proj`)
              with a byte-level BPE tokenizer carrying oasst's <|prompter|>, <|assistant|> and <|endoftext|>;
  unieval/    a T5 v1.1 (UniEval's dialogue model's architecture) with a sentencepiece T5 tokenizer in which "Yes" and "No"
              are whole tokens (the scorer reads P(Yes) / (P(Yes) + P(No))).
A stamp file records the spec; a second call with the same spec does nothing. bench/gpu_check.py makes the same models at
the paper's sizes (a spec's `model_vocab_size` then gives the real checkpoints' embedding rows, beyond the tokenizer's).

The Llama is not all noise: a purely random model never writes "Output: …", so stage 3 would parse no instance and SFT
would have no data. Its weights are set, not trained: every ordinary token embeds to one state whose head favours word
pieces (sampling writes random words; stage 1 keeps them as instructions) and, slightly more, the start of the script
"\\nOutput: red", which each script token then continues to EOS. Greedy decoding (stage 3) therefore writes one parsable
instance per instruction; sampling (stages 1 and 2) writes random words that sometimes end in the script. The layers keep
small random weights, so LoRA adapters on them receive gradients and PPO and SFT change something real.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
SEED_TASKS = ROOT / "seeds" / "seed_tasks.jsonl"
TEMPLATES = ROOT / "seeds" / "templates"
STAMP = "rehearsal-models.json"
SCRIPT_MARKER = "Output:"

SPEC = {
    "seed": 0,
    "llama": {
        "vocab_size": 2000,
        "hidden_size": 64,
        "intermediate_size": 172,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 4,
        "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-5,
        # The greedy continuation of any prompt, then EOS.
        "script": f"\n{SCRIPT_MARKER} red",
        # Logits from an ordinary token: script start > word pieces; the gap sets how often sampling reaches the script
        # (at temperature 1 about 2 % of tokens) while greedy decoding always does.
        "script_start_logit": 2.0,
        "word_logit": 0.0,
        "script_logit": 12.0,
        "layer_damping": 0.05,
    },
    "oasst_rm": {
        "vocab_size": 1000,
        "hidden_size": 32,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "max_position_embeddings": 2048,
        "rotary_pct": 0.25,
        "use_parallel_residual": True,
        "pooling": "last",
    },
    "unieval": {
        "vocab_size": 1000,
        "d_model": 32,
        "d_ff": 64,
        "d_kv": 8,
        "num_layers": 2,
        "num_heads": 4,
        "feed_forward_proj": "gated-gelu",
        "tie_word_embeddings": False,
    },
}


def corpus_lines() -> list[str]:
    """The seed tasks' instructions, inputs and outputs, and the prompt templates: the text the pipeline shows these models."""
    lines: list[str] = []
    for line in SEED_TASKS.read_text(encoding="utf-8").splitlines():
        task = json.loads(line)
        lines.append(task["instruction"])
        for instance in task["instances"]:
            lines += [instance["input"], instance["output"]]
    for template in sorted(TEMPLATES.glob("*.txt")):
        lines += template.read_text(encoding="utf-8").splitlines()
    return [text for text in lines if text.strip()]


def train_sentencepiece(lines: list[str], **options) -> bytes:
    """A sentencepiece model trained in memory on `lines` (no download); `options` are SentencePieceTrainer's."""
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=model, num_threads=1, minloglevel=2, **options)
    return model.getvalue()


def build_llama(directory: Path, lines: list[str], spec: dict, seed: int, device: str, dtype: torch.dtype) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM, LlamaTokenizer, LlamaTokenizerFast

    directory.mkdir(parents=True)
    (directory / "tokenizer.model").write_bytes(
        train_sentencepiece(
            lines,
            model_type="bpe",
            vocab_size=spec["vocab_size"],
            byte_fallback=True,
            normalization_rule_name="identity",
            remove_extra_whitespaces=False,
            split_digits=True,
            unk_id=0,
            bos_id=1,
            eos_id=2,
            pad_id=-1,
            character_coverage=1.0,
            # One piece, so that the script's states are not entered by every ":" of a prompt.
            user_defined_symbols=[SCRIPT_MARKER],
        )
    )
    LlamaTokenizer(str(directory / "tokenizer.model"), legacy=False).save_pretrained(directory)
    tokenizer = LlamaTokenizerFast.from_pretrained(directory, legacy=False)
    tokenizer.save_pretrained(directory)

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=spec.get("model_vocab_size", len(tokenizer)),
        hidden_size=spec["hidden_size"],
        intermediate_size=spec["intermediate_size"],
        num_hidden_layers=spec["num_hidden_layers"],
        num_attention_heads=spec["num_attention_heads"],
        num_key_value_heads=spec["num_key_value_heads"],
        max_position_embeddings=spec["max_position_embeddings"],
        rms_norm_eps=spec["rms_norm_eps"],
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=None,
    )
    with torch.device(device):
        model = LlamaForCausalLM._from_config(config, torch_dtype=dtype)
    script = tokenizer.encode(spec["script"], add_special_tokens=False) + [tokenizer.eos_token_id]
    if len(set(script)) != len(script) or len(script) >= spec["hidden_size"]:
        raise ValueError(f"the script {spec['script']!r} needs distinct tokens, fewer than hidden_size: {script}")
    vocab = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    # Word-initial pieces only, so that sampled text has spaces and reads as words to the filters of stage 1.
    words = [
        i for i, piece in enumerate(vocab) if piece.startswith("▁") and piece[1:].isalpha() and piece[1:].isascii() and i not in script
    ]
    with torch.no_grad():
        embed, head = model.model.embed_tokens.weight, model.lm_head.weight
        embed.zero_()
        embed[:, 0] = 1.0  # state 0: after an ordinary token
        for position, token in enumerate(script[:-1]):
            embed[token].zero_()
            embed[token, position + 1] = 1.0  # state k: after the k-th script token
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.mul_(spec["layer_damping"])
            layer.mlp.down_proj.weight.mul_(spec["layer_damping"])
        # The final RMSNorm scales a one-hot state to sqrt(hidden_size): the head divides that out, so logits are as written.
        scale = spec["hidden_size"] ** -0.5
        head.zero_()
        head[:, 0] = -spec["script_logit"] * scale  # from state 0: neither bytes nor special tokens
        head[words, 0] = spec["word_logit"] * scale
        head[script[0], 0] = spec["script_start_logit"] * scale
        for position, token in enumerate(script[1:], start=1):
            head[token, position] = spec["script_logit"] * scale
    model.save_pretrained(directory)


def build_oasst_reward_model(directory: Path, lines: list[str], spec: dict, seed: int, device: str, dtype: torch.dtype) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPTNeoXTokenizerFast

    from .scorers import GPTNeoXRewardModel, GPTNeoXRewardModelConfig

    specials = ["<|endoftext|>", "<|padding|>", "<|prompter|>", "<|assistant|>"]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(
        lines,
        trainers.BpeTrainer(
            vocab_size=spec["vocab_size"],
            special_tokens=specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    tokenizer = GPTNeoXTokenizerFast(
        tokenizer_object=bpe,
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        pad_token="<|padding|>",
        additional_special_tokens=["<|prompter|>", "<|assistant|>"],
    )
    torch.manual_seed(seed + 1)
    config = GPTNeoXRewardModelConfig(
        vocab_size=spec.get("model_vocab_size", len(tokenizer)),
        hidden_size=spec["hidden_size"],
        intermediate_size=spec["intermediate_size"],
        num_hidden_layers=spec["num_hidden_layers"],
        num_attention_heads=spec["num_attention_heads"],
        max_position_embeddings=spec["max_position_embeddings"],
        rotary_pct=spec["rotary_pct"],
        use_parallel_residual=spec["use_parallel_residual"],
        pooling=spec["pooling"],
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.device(device):
        GPTNeoXRewardModel._from_config(config, torch_dtype=dtype).save_pretrained(directory)
    tokenizer.save_pretrained(directory)


def build_unieval(directory: Path, lines: list[str], spec: dict, seed: int, device: str, dtype: torch.dtype) -> None:
    from transformers import T5Config, T5ForConditionalGeneration, T5TokenizerFast

    from .scorers import BOOLEAN_QUESTIONS

    directory.mkdir(parents=True)
    answers = ["Yes", "No"] * 50  # UniEval's answers, frequent enough to be whole pieces
    (directory / "spiece.model").write_bytes(
        train_sentencepiece(
            lines + list(BOOLEAN_QUESTIONS.values()) + answers,
            model_type="unigram",
            vocab_size=spec["vocab_size"],
            pad_id=0,
            eos_id=1,
            unk_id=2,
            bos_id=-1,
            character_coverage=1.0,
        )
    )
    # add_prefix_space: "▁" before the first word, as sentencepiece and a hub T5 checkpoint's tokenizer do (transformers
    # 4.57 builds a fast T5 tokenizer from a vocab file without it, and "Yes" was no longer one piece).
    tokenizer = T5TokenizerFast(vocab_file=str(directory / "spiece.model"), extra_ids=0, add_prefix_space=True)
    for word in ("Yes", "No"):
        if len(tokenizer(word, add_special_tokens=False).input_ids) != 1:
            raise ValueError(f"the UniEval tokenizer splits {word!r}: {tokenizer.tokenize(word)}")
    torch.manual_seed(seed + 2)
    config = T5Config(
        vocab_size=spec.get("model_vocab_size", len(tokenizer)),
        d_model=spec["d_model"],
        d_ff=spec["d_ff"],
        d_kv=spec["d_kv"],
        num_layers=spec["num_layers"],
        num_heads=spec["num_heads"],
        feed_forward_proj=spec["feed_forward_proj"],
        tie_word_embeddings=spec["tie_word_embeddings"],
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )
    with torch.device(device):
        T5ForConditionalGeneration._from_config(config, torch_dtype=dtype).save_pretrained(directory)
    tokenizer.save_pretrained(directory)


def spec_digest(spec: dict) -> str:
    """What the models depend on: the spec, the corpus, this file and the transformers version."""
    import transformers

    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode())
    for path in [SEED_TASKS, Path(__file__), *sorted(TEMPLATES.glob("*.txt"))]:
        digest.update(path.read_bytes())
    digest.update(transformers.__version__.encode())
    return digest.hexdigest()


def make(out: Path, spec: dict = SPEC, device: str = "cpu", dtype: torch.dtype = torch.float32) -> bool:
    """Build the three models into `out` unless its stamp names the same spec; True when something was built.

    Weights are initialised on `device` in `dtype` (a GPU makes billions of random weights in seconds) and saved."""
    digest = spec_digest({**spec, "dtype": str(dtype)})
    stamp = out / STAMP
    if stamp.is_file() and json.loads(stamp.read_text()).get("digest") == digest:
        return False
    # Built beside the target and renamed into place: an interrupted build leaves no half model behind a stamp.
    temp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(temp, ignore_errors=True)
    temp.mkdir(parents=True)
    lines = corpus_lines()
    build_llama(temp / "llama", lines, spec["llama"], spec["seed"], device, dtype)
    build_oasst_reward_model(temp / "oasst-rm", lines, spec["oasst_rm"], spec["seed"], device, dtype)
    build_unieval(temp / "unieval", lines, spec["unieval"], spec["seed"], device, dtype)
    (temp / STAMP).write_text(json.dumps({"digest": digest, "spec": spec}, indent=2) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    temp.rename(out)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="directory for llama/, oasst-rm/ and unieval/")
    out = parser.parse_args().out
    print(f"{'made' if make(out) else 'up to date:'} {out}")


if __name__ == "__main__":
    main()

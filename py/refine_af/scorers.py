"""Automated feedback (REFINE-AF §II-C, Table I): one number per (instruction, input, output) triplet and indicator.

Backends:
  * reward_model — the OpenAssistant GPT-NeoX reward model (paper: oasst-rm-pythia-1.4b), an unbounded logit;
  * unieval      — UniEval's dialogue evaluator (a T5), P(Yes) / (P(Yes) + P(No)) for a Boolean question, in [0, 1];
  * judge        — the same Boolean questions put to a local causal LM, read from its next-token distribution, in [0, 1];
                   it also stands in for the reward model with one more question (JUDGE_REWARD_QUESTION).
Special tokens follow each reference: the reward model and UniEval are tokenised with their tokenizer's defaults, as their
reference code calls them; the judge is a causal LM and gets `models.prompt_ids`, like every generation. Every scorer
loads once and scores in batches; a result never
depends on the batch size or the padding side (positions come from the attention mask, pooling reads the last real token).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForSeq2SeqLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    GPTNeoXConfig,
    GPTNeoXModel,
    GPTNeoXPreTrainedModel,
    GPTNeoXTokenizerFast,
)
from transformers.modeling_outputs import SequenceClassifierOutput

from .models import LoadedModel, device_for, load_causal_lm, prompt_batch, resolve_model, torch_dtype_for

INDICATORS = ("reward", "naturalness", "coherence", "understandability")
BOOLEAN_INDICATORS = ("naturalness", "coherence", "understandability")


# ---------------------------------------------------------------- which text plays which part (the one place)
# The paper does not say how a triplet maps onto UniEval's dialogue roles. Here: the dialogue history is the instruction
# followed by its input (when there is one), the response is the output. The reward model reads the same split: the
# history is the prompter turn, the output the assistant turn.


def history_of(triplet: dict) -> str:
    instruction, given = triplet["instruction"].strip(), triplet.get("input", "").strip()
    return f"{instruction}\n\n{given}" if given else instruction


def response_of(triplet: dict) -> str:
    return triplet["output"].strip()


# UniEval's Boolean questions for the task "dialogue" (maszhongming/UniEval, utils.py), word for word; only coherence reads
# the history. The judge asks the same questions.
BOOLEAN_QUESTIONS = {
    "naturalness": "Is this a natural response in the dialogue?",
    "coherence": "Is this a coherent response given the dialogue history?",
    "understandability": "Is this an understandable response in the dialogue?",
}
READS_HISTORY = {"naturalness": False, "coherence": True, "understandability": False, "reward": True}
JUDGE_REWARD_QUESTION = "Is this a helpful and correct response to the instruction?"


def unieval_input(indicator: str, history: str, response: str) -> str:
    text = f"question: {BOOLEAN_QUESTIONS[indicator]} </s> response: {response}"
    return f"{text} </s> dialogue history: {history}" if READS_HISTORY[indicator] else text


def judge_prompt(indicator: str, history: str, response: str) -> str:
    """The Boolean question for a chat model: the texts first, the question last, so the answer is the next token."""
    question = JUDGE_REWARD_QUESTION if indicator == "reward" else BOOLEAN_QUESTIONS[indicator]
    history_label = "Instruction" if indicator == "reward" else "Dialogue history"
    parts = [f"{history_label}:\n{history}"] if READS_HISTORY[indicator] else []
    parts += [f"Response:\n{response}", f"Question: {question} Answer Yes or No."]
    return "\n\n".join(parts)


def openassistant_input(history: str, response: str, eos: str) -> str:
    return f"<|prompter|>{history}{eos}<|assistant|>{response}{eos}"


# ---------------------------------------------------------------- shared arithmetic


def yes_probability(logits: torch.Tensor, yes_id: int, no_id: int) -> torch.Tensor:
    """P(Yes) / (P(Yes) + P(No)) from one step's logits; the softmax normaliser cancels, so this is sigmoid(l_yes - l_no)
    (identical in value, and no underflow when both probabilities are tiny)."""
    return torch.sigmoid(logits[..., yes_id].float() - logits[..., no_id].float())


def first_token_id(tokenizer, word: str) -> int:
    ids = tokenizer(word, add_special_tokens=False).input_ids
    if not ids:
        raise ValueError(f"the tokenizer has no token for {word!r}")
    return ids[0]


def positions_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position ids counted over real tokens only, so left padding does not shift positions."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def last_token_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """Index of the last attended token in each row, for either padding side."""
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    return (attention_mask.long() * (positions + 1)).argmax(-1)


@dataclass
class Scored:
    values: list[float]
    truncated: list[bool]


def _truncate_to_tokens(tokenizer, text: str, max_tokens: int) -> tuple[str, bool]:
    """Keep the first max_tokens tokens of a text (the judge's per-field rule)."""
    ids = tokenizer(text, add_special_tokens=False).input_ids
    if len(ids) <= max_tokens:
        return text, False
    return tokenizer.decode(ids[:max_tokens]), True


# ---------------------------------------------------------------- the OpenAssistant reward model (GPT-NeoX)


class GPTNeoXRewardModelConfig(GPTNeoXConfig):
    """The config class the OpenAssistant checkpoints name (`model_type: gpt_neox_reward_model`); it lives in their training
    code, not in transformers, and the hub repos ship no modeling code."""

    model_type = "gpt_neox_reward_model"

    def __init__(self, pooling: Literal["last", "mean"] = "last", **kwargs):
        super().__init__(**kwargs)
        self.pooling = pooling or "last"


class GPTNeoXRewardModel(GPTNeoXPreTrainedModel):
    """A GPT-NeoX backbone (`gpt_neox`) and a linear head (`out_proj`, hidden → 1) over the pooled hidden states: the
    checkpoint's weight names. Pooling "last" reads the last attended token; "mean" averages the attended tokens."""

    config_class = GPTNeoXRewardModelConfig

    def __init__(self, config: GPTNeoXRewardModelConfig):
        super().__init__(config)
        self.gpt_neox = GPTNeoXModel(config)
        self.out_proj = nn.Linear(config.hidden_size, 1)
        self.pooling = config.pooling
        self.post_init()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **_unused) -> SequenceClassifierOutput:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        hidden = self.gpt_neox(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=positions_from_mask(attention_mask), use_cache=False
        ).last_hidden_state
        if self.pooling == "mean":
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        else:
            pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), last_token_index(attention_mask)]
        return SequenceClassifierOutput(logits=self.out_proj(pooled))


AutoConfig.register(GPTNeoXRewardModelConfig.model_type, GPTNeoXRewardModelConfig)
AutoModelForSequenceClassification.register(GPTNeoXRewardModelConfig, GPTNeoXRewardModel)
AutoTokenizer.register(GPTNeoXRewardModelConfig, fast_tokenizer_class=GPTNeoXTokenizerFast)


class RewardModelScorer:
    """The OpenAssistant reward model over `<|prompter|>{history}<|endoftext|><|assistant|>{output}<|endoftext|>`; a sequence
    longer than max_tokens loses tokens from the left, so the response (the part being judged) survives. The text is
    tokenised with the tokenizer's defaults, as OpenAssistant's model card calls it (`tokenizer(text)`); its GPT-NeoX
    tokenizer adds no special token, the end-of-text tokens are in the text."""

    indicator = "reward"

    def __init__(self, ref: str, device: str, dtype: str, max_tokens: int):
        resolved = resolve_model(ref)
        self.device = device_for(device)
        self.backend = f"reward_model:{ref}"
        self.tokenizer = AutoTokenizer.from_pretrained(resolved.path)
        self.tokenizer.truncation_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForSequenceClassification.from_pretrained(resolved.path, torch_dtype=torch_dtype_for(dtype, self.device))
        self.model.to(self.device).eval()
        self.max_tokens = max_tokens

    @torch.inference_mode()
    def score(self, triplets: list[dict], batch_size: int) -> Scored:
        eos = self.tokenizer.eos_token
        texts = [openassistant_input(history_of(t), response_of(t), eos) for t in triplets]
        values: list[float] = []
        truncated: list[bool] = []
        for start in range(0, len(texts), batch_size):
            batch = texts[start : start + batch_size]
            full_lengths = [len(ids) for ids in self.tokenizer(batch).input_ids]
            encoded = self.tokenizer(batch, return_tensors="pt", padding=True, truncation=True, max_length=self.max_tokens).to(self.device)
            logits = self.model(input_ids=encoded.input_ids, attention_mask=encoded.attention_mask).logits
            values += logits[:, 0].float().tolist()
            truncated += [n > self.max_tokens for n in full_lengths]
        return Scored(values, truncated)


# ---------------------------------------------------------------- UniEval (T5 Boolean QA)


class UniEvalModel:
    """One loaded UniEval checkpoint, shared by the three dialogue indicators."""

    def __init__(self, ref: str, device: str, dtype: str):
        resolved = resolve_model(ref)
        self.ref = ref
        self.device = device_for(device)
        self.tokenizer = AutoTokenizer.from_pretrained(resolved.path)
        self.model = AutoModelForSeq2SeqLM.from_pretrained(resolved.path, torch_dtype=torch_dtype_for(dtype, self.device))
        self.model.to(self.device).eval()
        self.yes_id = first_token_id(self.tokenizer, "Yes")
        self.no_id = first_token_id(self.tokenizer, "No")


class UniEvalScorer:
    """UniEval's Boolean QA: the question and texts go to the encoder, the decoder runs one step from its start token, and
    the score is P(Yes) / (P(Yes) + P(No)) there. Inputs longer than max_tokens are cut at the end (the reference's rule),
    which for coherence shortens the dialogue history first. Tokenised with the tokenizer's defaults, as UniEval's
    reference does: T5 appends `</s>` (the `</s>` separators inside the text are UniEval's own wording)."""

    def __init__(self, unieval: UniEvalModel, indicator: str, max_tokens: int):
        self.unieval = unieval
        self.indicator = indicator
        self.backend = f"unieval:{unieval.ref}"
        self.max_tokens = max_tokens

    @torch.inference_mode()
    def score(self, triplets: list[dict], batch_size: int) -> Scored:
        tokenizer, model = self.unieval.tokenizer, self.unieval.model
        texts = [unieval_input(self.indicator, history_of(t), response_of(t)) for t in triplets]
        values: list[float] = []
        truncated: list[bool] = []
        for start in range(0, len(texts), batch_size):
            batch = texts[start : start + batch_size]
            full_lengths = [len(ids) for ids in tokenizer(batch).input_ids]
            encoded = tokenizer(batch, return_tensors="pt", padding=True, truncation=True, max_length=self.max_tokens).to(model.device)
            decoder_start = torch.full((len(batch), 1), model.config.decoder_start_token_id, device=model.device)
            logits = model(input_ids=encoded.input_ids, attention_mask=encoded.attention_mask, decoder_input_ids=decoder_start).logits
            values += yes_probability(logits[:, 0], self.unieval.yes_id, self.unieval.no_id).tolist()
            truncated += [n > self.max_tokens for n in full_lengths]
        return Scored(values, truncated)


# ---------------------------------------------------------------- the embedded judge (a local causal LM)


class JudgeModel:
    """A causal LM asked Boolean questions through its chat template; the answer is read from the next-token distribution."""

    def __init__(self, ref: str, device: str, dtype: str):
        self.ref = ref
        self.loaded: LoadedModel = load_causal_lm(ref, dtype, load_in_4bit=False, device=device)
        tokenizer = self.loaded.tokenizer
        self.yes_id = first_token_id(tokenizer, "Yes")
        self.no_id = first_token_id(tokenizer, "No")


class JudgeScorer:
    """The judge on one indicator. Over-long texts: the history and the response are each cut to their first
    max_field_tokens tokens before the question is asked, so the question itself is never cut."""

    def __init__(self, judge: JudgeModel, indicator: str, max_field_tokens: int):
        self.judge = judge
        self.indicator = indicator
        self.backend = f"judge:{judge.ref}"
        self.max_field_tokens = max_field_tokens

    def _prompt(self, triplet: dict) -> tuple[str, bool]:
        tokenizer = self.judge.loaded.tokenizer
        history, history_cut = _truncate_to_tokens(tokenizer, history_of(triplet), self.max_field_tokens)
        response, response_cut = _truncate_to_tokens(tokenizer, response_of(triplet), self.max_field_tokens)
        cut = response_cut or (history_cut and READS_HISTORY[self.indicator])
        return judge_prompt(self.indicator, history, response), cut

    @torch.inference_mode()
    def score(self, triplets: list[dict], batch_size: int) -> Scored:
        tokenizer, model, device = self.judge.loaded.tokenizer, self.judge.loaded.model, self.judge.loaded.device
        prompts, truncated = zip(*(self._prompt(t) for t in triplets), strict=False) if triplets else ((), ())
        values: list[float] = []
        for start in range(0, len(prompts), batch_size):
            encoded = prompt_batch(tokenizer, list(prompts[start : start + batch_size]), "chat").to(device)
            mask = encoded.attention_mask
            # The body alone, then the vocabulary head on the last real token only: the one next-token distribution needed.
            hidden = model.base_model(
                input_ids=encoded.input_ids, attention_mask=mask, position_ids=positions_from_mask(mask), use_cache=False
            ).last_hidden_state
            last = model.get_output_embeddings()(hidden[torch.arange(hidden.shape[0], device=hidden.device), last_token_index(mask)])
            values += yes_probability(last, self.judge.yes_id, self.judge.no_id).tolist()
        return Scored(values, list(truncated))


# ---------------------------------------------------------------- the four indicators together


@dataclass(frozen=True)
class FeedbackSpec:
    backends: dict[str, str]  # indicator -> "reward_model" | "unieval" | "judge"
    reward_model: str
    unieval: str
    judge: str
    device: str
    dtype: str
    reward_model_max_tokens: int
    unieval_max_tokens: int
    judge_max_field_tokens: int

    def check(self) -> None:
        allowed = {"reward": {"reward_model", "judge"}, **{i: {"unieval", "judge"} for i in BOOLEAN_INDICATORS}}
        for indicator in INDICATORS:
            backend = self.backends.get(indicator)
            if backend not in allowed[indicator]:
                raise ValueError(f"feedback backend for {indicator!r} must be one of {sorted(allowed[indicator])}, got {backend!r}")

    def models_needed(self) -> dict[str, str]:
        """backend -> model reference, for the backends in use."""
        refs = {"reward_model": self.reward_model, "unieval": self.unieval, "judge": self.judge}
        return {backend: refs[backend] for backend in dict.fromkeys(self.backends[i] for i in INDICATORS)}


class FeedbackScorers:
    """The four indicators, each from its configured backend; every checkpoint is loaded once and shared."""

    def __init__(self, spec: FeedbackSpec):
        spec.check()
        self.spec = spec
        needed = spec.models_needed()
        for ref in needed.values():
            resolve_model(ref)  # every model is found (or the error names it) before anything is loaded or scored
        unieval = UniEvalModel(spec.unieval, spec.device, spec.dtype) if "unieval" in needed else None
        judge = JudgeModel(spec.judge, spec.device, spec.dtype) if "judge" in needed else None
        self.scorers: dict[str, RewardModelScorer | UniEvalScorer | JudgeScorer] = {}
        for indicator in INDICATORS:
            backend = spec.backends[indicator]
            if backend == "reward_model":
                self.scorers[indicator] = RewardModelScorer(spec.reward_model, spec.device, spec.dtype, spec.reward_model_max_tokens)
            elif backend == "unieval":
                self.scorers[indicator] = UniEvalScorer(unieval, indicator, spec.unieval_max_tokens)
            else:
                self.scorers[indicator] = JudgeScorer(judge, indicator, spec.judge_max_field_tokens)

    def backends(self) -> dict[str, str]:
        return {indicator: scorer.backend for indicator, scorer in self.scorers.items()}

    def info(self) -> dict:
        return {"backends": self.backends()}

    def score(self, triplets: list[dict], batch_size: int) -> dict:
        results = {indicator: scorer.score(triplets, batch_size) for indicator, scorer in self.scorers.items()}
        return {
            "scores": [{indicator: results[indicator].values[i] for indicator in INDICATORS} for i in range(len(triplets))],
            "truncated": [any(results[indicator].truncated[i] for indicator in INDICATORS) for i in range(len(triplets))],
            "backends": self.backends(),
        }

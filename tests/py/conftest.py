"""Shared fixtures: tiny randomly initialised models built from configs (no downloaded weights), saved as real checkpoints."""

import sys
from pathlib import Path

import pytest

# tests/py has no __init__.py, so pytest's default import mode puts this directory first on the path: the helper module
# beside this file imports by its name. The fixtures the tests share with the rehearsal and the benchmarks
# (fixtures/rehearsal_models.py) import by name too.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "fixtures"))
from tiny_models import save_tiny_llama  # noqa: E402

from refine_af.models import load_tokenizer, resolve_model  # the installed worker package (make setup)

EMBEDDED = "embedded:smollm2-135m-instruct"


@pytest.fixture(scope="session")
def embedded_tokenizer():
    """The embedded model's real tokenizer (from its GGUF file), reused by tiny models so their text is real text."""
    return load_tokenizer(resolve_model(EMBEDDED))


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory, embedded_tokenizer) -> Path:
    """A 2-layer Llama with the embedded tokenizer, saved with save_pretrained: loads through the same path as a real checkpoint."""
    return save_tiny_llama(tmp_path_factory.mktemp("tiny-llama"), embedded_tokenizer)

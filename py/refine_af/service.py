"""The Python side of the bridge: every worker method and every job that TypeScript declares in ts/bridge/contract.ts.

Two doors, one module:
  * worker methods, called through pythonia as `call(name, params_json)`; each returns a JSON envelope
    {"ok": true, "value": …} or {"ok": false, "error": {"type", "message", "traceback"}} so that no Python object
    or exception text ever has to be parsed on the TS side;
  * jobs, run as `python -m refine_af.service job NAME PARAMS_FILE` (optionally under `accelerate launch`); they write
    JSON-lines events {"type": "log"|"progress"|"result"|"error", …} to stdout and everything else to stderr.
Nothing else in py/ is called from TypeScript. The bridge diagnostics of the tests and benchmarks (fixtures/bridge_diagnostics.py) add
methods and jobs with the same decorators; production never loads them.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
import os
import platform
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

from . import lifecycle

Params = dict[str, Any]
METHODS: dict[str, Callable[..., Any]] = {}
JOBS: dict[str, Callable[[Params, Callable[[dict], None]], Any]] = {}
_models: dict[str, Any] = {}
# pythonia serves one request at a time today; the lock keeps model state consistent should that change.
_model_lock = threading.RLock()

log = logging.getLogger("refine_af")


def method(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A worker method takes its parameters as keyword arguments, named as in contract.ts: a key it does not take is a
    TypeError, and its signature is what tests/ts/contract.test.ts compares each declared key with."""
    METHODS[fn.__name__] = fn
    return fn


def job(fn: Callable[[Params, Callable[[dict], None]], Any]):
    JOBS[fn.__name__] = fn
    return fn


def _error(exc: BaseException) -> dict:
    return {"type": type(exc).__name__, "message": str(exc), "traceback": traceback.format_exc()}


def call(name: str, params_json: str) -> str:
    """pythonia entry point: run one worker method and wrap its value or exception in an envelope."""
    # In the first call, not at the worker's start: pythonia gives the import of this module one second, about what
    # importing transformers takes.
    _route_library_logging()
    try:
        fn = METHODS.get(name)
        if fn is None:
            raise KeyError(f"unknown worker method {name!r}; known: {', '.join(sorted(METHODS))}")
        with _model_lock:
            value = fn(**json.loads(params_json))
        return json.dumps({"ok": True, "value": value})
    except BaseException as exc:  # noqa: BLE001 — every failure, MemoryError included, must reach TS as a value
        return json.dumps({"ok": False, "error": _error(exc)})


# ---------------------------------------------------------------- health check


@method
def ping() -> dict:
    import torch

    return {
        "pid": os.getpid(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda_available": torch.cuda.is_available(),
        "cuda_devices": torch.cuda.device_count(),
        # Found, not imported: `make serving` installs it, and a machine without it falls back to the worker.
        "llama_cpp_server": importlib.util.find_spec("llama_cpp") is not None,
    }


# ---------------------------------------------------------------- models


@method
def resolve_model(ref: str) -> dict:
    from .models import resolve_model as resolve

    return resolve(ref).as_dict()


@method
def write_parquet(jsonl: str, parquet: str) -> dict:
    import datasets

    datasets.disable_progress_bars()
    features = datasets.Features({name: datasets.Value("string") for name in ("instruction", "input", "output")})
    # In memory: nothing of an export left in the datasets cache.
    dataset = datasets.Dataset.from_json(jsonl, features=features, keep_in_memory=True)
    partial = f"{parquet}.partial"
    dataset.to_parquet(partial)
    os.replace(partial, parquet)
    return {"rows": dataset.num_rows}


@method
def load_model(handle: str, ref: str, dtype: str, load_in_4bit: bool, device: str, adapter: str | None = None) -> dict:
    from .models import load_causal_lm

    if handle in _models:
        loaded = _models[handle]
        if loaded.resolved.ref != ref or loaded.adapter != adapter:
            raise ValueError(
                f"handle {handle!r} already holds {loaded.resolved.ref!r} (adapter {loaded.adapter!r}), not {ref!r}"
                f" (adapter {adapter!r}); unload it first or use another handle"
            )
        return loaded.info()
    loaded = load_causal_lm(ref, dtype, load_in_4bit, device, adapter)
    _models[handle] = loaded
    return loaded.info()


@method
def unload_model(handle: str) -> dict:
    removed = _models.pop(handle, None) is not None
    if removed:
        _free_memory()
    return {"unloaded": removed}


def _memory_report() -> dict:
    """What the worker holds: every handle with its kind and model, the PPO policy's model if one is open, and the process's memory."""
    import psutil
    import torch

    from .models import LoadedModel

    handles = []
    for handle, held in _models.items():
        if isinstance(held, LoadedModel):
            ref = held.resolved.ref + (f"+{held.adapter}" if held.adapter else "")
            handles.append({"handle": handle, "kind": "causal_lm", "ref": ref})
        else:
            handles.append({"handle": handle, "kind": "feedback_scorers", "ref": ", ".join(sorted(set(held.backends().values())))})
    return {
        "handles": handles,
        "policy": None if _policy_open is None else _policy_open.loaded.resolved.ref,
        "rss_bytes": psutil.Process().memory_info().rss,
        "cuda_allocated_bytes": torch.cuda.memory_allocated() if torch.cuda.is_available() else None,
    }


@method
def loaded_models() -> dict:
    return _memory_report()


@method
def release_models() -> dict:
    """Free every handle and the stage-2 policy, then the CUDA cache: what a stage of `refine-af run` leaves behind."""
    global _policy_open
    before = _memory_report()
    _models.clear()
    _policy_open = None
    _free_memory()
    return {"before": before, "after": _memory_report()}


def _free_memory() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _loaded(handle: str):
    if handle not in _models:
        raise KeyError(f"no model loaded under handle {handle!r}; loaded: {', '.join(sorted(_models)) or 'none'}")
    return _models[handle]


@method
def generate(handle: str, prompts: list[str], decoding: dict, seed: int, batch_size: int) -> dict:
    from .models import Decoding
    from .models import generate as run_generation

    completions = run_generation(_loaded(handle), prompts, Decoding(**decoding), seed=seed, batch_size=batch_size)
    return {"completions": completions}


# ---------------------------------------------------------------- stage 2: one policy (PPO, GRPO or RLOO), driven step by step from TS

_policy_open: Any = None


def _policy():
    if _policy_open is None:
        raise RuntimeError("no policy is open: call policy_init first")
    return _policy_open


@method
def policy_init(
    ref: str,
    dtype: str,
    load_in_4bit: bool,
    device: str,
    lora: dict,
    algorithm: str,
    settings: dict,
    seed: int,
    resume_from: str | None,
    logging_dir: str | None,
) -> dict:
    """`settings`: TRL 0.11.4's PPOConfig fields for ppo (ppo.py), the current TRL's GRPOConfig or RLOOConfig fields for
    grpo and rloo (critic_free.py)."""
    global _policy_open

    if _policy_open is not None:
        raise RuntimeError("a policy is already open: call policy_close first")
    from .rl import PolicySource

    source = PolicySource(ref, dtype, load_in_4bit, device, lora, seed, resume_from, logging_dir)
    if algorithm == "ppo":
        from .ppo import PpoPolicy

        _policy_open = PpoPolicy.open(source, settings)
    else:
        from .critic_free import GroupPolicy

        _policy_open = GroupPolicy.open(source, algorithm, settings)
    return _policy_open.info()


@method
def policy_generate(prompts: list[str], decoding: dict, seed: int) -> dict:
    return {"responses": _policy().generate(prompts, decoding, seed=seed)}


@method
def policy_step(scores: list[float], seed: int, scalars: dict[str, float]) -> dict:
    return _policy().step(scores, seed, scalars)


@method
def policy_save(dir: str) -> dict:
    return _policy().save(dir)


@method
def policy_close() -> dict:
    global _policy_open
    closed = _policy_open is not None
    if closed:
        _policy_open.close()
    _policy_open = None
    if closed:
        _free_memory()
    return {"closed": closed}


# ---------------------------------------------------------------- automated feedback (scorers.py)


@method
def load_scorers(handle: str, spec: dict) -> dict:
    """Load the four feedback indicators' backends under a handle; loading the same spec again is a no-op, another spec
    under a handle in use is an error (scoring would silently use the old models). unload_model frees them."""
    from .scorers import FeedbackScorers, FeedbackSpec

    spec = FeedbackSpec(**spec)
    held = _models.get(handle)
    if held is None:
        _models[handle] = FeedbackScorers(spec)
    elif not isinstance(held, FeedbackScorers) or held.spec != spec:
        what = "feedback scorers with another spec" if isinstance(held, FeedbackScorers) else f"a {type(held).__name__}"
        raise ValueError(f"handle {handle!r} already holds {what}: unload_model it first, or load under another handle")
    return _models[handle].info()


@method
def score_triplets(handle: str, triplets: list[dict], batch_size: int) -> dict:
    from .scorers import FeedbackScorers

    scorers = _loaded(handle)
    if not isinstance(scorers, FeedbackScorers):
        raise TypeError(f"handle {handle!r} holds a {type(scorers).__name__}, not feedback scorers (load_scorers)")
    return scorers.score(triplets, batch_size)


# ---------------------------------------------------------------- jobs


@job
def sft(params: Params, emit: Callable[[dict], None]) -> dict:
    """Supervised fine-tuning on rendered prompt/response pairs; progress and loss events; resumes from its checkpoints."""
    from .sft import train

    return train(params, emit)


def _is_main_process() -> bool:
    return os.environ.get("RANK", "0") == "0"


def run_job(name: str, params_file: str) -> int:
    events = lifecycle.take_stdout_for_events()
    main_process = _is_main_process()

    def emit(event: dict) -> None:
        if main_process:
            events.write(json.dumps(event) + "\n")

    try:
        fn = JOBS.get(name)
        if fn is None:
            raise KeyError(f"unknown job {name!r}; known: {', '.join(sorted(JOBS))}")
        with open(params_file, encoding="utf-8") as f:
            params = json.load(f)
        emit({"type": "result", "value": fn(params, emit)})
        return 0
    except BaseException as exc:  # noqa: BLE001
        if not main_process:
            # Only rank 0 emits events: another rank's failure would otherwise leave nothing but its exit code.
            log.exception("job %s failed on rank %s", name, os.environ["RANK"])
        emit({"type": "error", "error": _error(exc)})
        return 1
    finally:
        _leave_process_group()


def _leave_process_group() -> None:
    """A job under a launcher (accelerate launch, torchrun) joined torch.distributed's process group. Left to the
    interpreter's exit, gloo's threads were destroyed while still running: std::terminate, SIGABRT, a rank that finished
    its work reported as failed (seen under strace, where exits are slower)."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


# Every log record leaves Python as one line: this prefix, then JSON with its level, logger name and message (a traceback
# included), so that TS logs it once at its own level (ts/log.ts). Any other line is raw library output. The format, and
# the environment variables read here, are declared in ts/bridge/contract.ts (PYTHON_LOG_RECORD_PREFIX, pythonEnvironment).
LOG_RECORD_PREFIX = "@refine-af-log "


class _RecordLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + self.formatException(record.exc_info)
        return LOG_RECORD_PREFIX + json.dumps({"level": record.levelname, "logger": record.name, "message": message})


@functools.cache
def _route_library_logging() -> None:
    """transformers and huggingface_hub print their records through stderr handlers of their own (and huggingface_hub
    also propagates, so each of its records came out twice); leave them to the root handler, which tags each record with
    its level and logger for TS. Done by the entry points of the processes this module owns (a job, the worker's
    calls), not on import of the modules that use the libraries: a library import must leave its caller's logging alone."""
    from huggingface_hub.utils import logging as hub_logging
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_default_handler()
    transformers_logging.enable_propagation()
    hub_root = hub_logging.get_logger()
    for handler in list(hub_root.handlers):
        hub_root.removeHandler(handler)
    hub_root.propagate = True


def _configure_logging() -> None:
    """The logging of a process this module owns: a job, or the pythonia worker."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_RecordLineFormatter())
    logging.basicConfig(level=os.environ.get("REFINE_AF_PYTHON_LOG_LEVEL", "INFO").upper(), handlers=[handler], force=True)
    # warnings.warn would print to stderr as well as reach a logger: as a record of the `py.warnings` logger it appears once.
    logging.captureWarnings(True)


def main(argv: list[str]) -> int:
    if len(argv) >= 3 and argv[0] == "exec" and argv[1] in ("SIGTERM", "SIGKILL"):
        # A model server (ts/backends/servers.ts): this process becomes the server, tied to the Node parent.
        lifecycle.exec_tied_to_parent(argv[2:], signal.Signals[argv[1]])
    lifecycle.die_with_parent()
    _configure_logging()
    if len(argv) != 3 or argv[0] != "job":
        print("usage: python -m refine_af.service job NAME PARAMS_FILE | exec SIGTERM|SIGKILL COMMAND...", file=sys.stderr)
        return 2
    _route_library_logging()
    return run_job(argv[1], argv[2])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
elif os.environ.get("REFINE_AF_WORKER_LOG"):
    # Imported by the pythonia worker: output goes to the file TS tails, and the worker dies with Node.
    lifecycle.redirect_output_to(os.environ["REFINE_AF_WORKER_LOG"])
    lifecycle.die_with_parent()
    lifecycle.leave_interrupts_to_parent()
    _configure_logging()

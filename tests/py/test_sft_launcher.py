"""SFT under a real launcher (bridge.job_launcher): `accelerate launch` with 2 processes on the CPU, on the tiny Llama.

accelerate is the README's multi-GPU path, so it is the launcher tested. Its `--cpu` flag starts several processes only
through mpirun (not installed, and not how a GPU lab runs); `--multi_gpu` is its torch.distributed.run launcher, which on a
machine without CUDA runs the ranks on the CPU (the job sets the Trainer's use_cpu, so torch.distributed talks gloo).
"""

import json
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from safetensors.torch import load_file
from test_sft import sft_params

from refine_af.sft import last_complete_checkpoint

ACCELERATE = str(Path(sys.executable).with_name("accelerate"))
JOB = ["-m", "refine_af.service", "job", "sft"]
STEPS = 12
SAVE_STEPS = 4
# Both arms update on 4 examples: 2 processes × 2 per device × 1 micro-batch, and 1 process × 2 per device × 2 micro-batches.
# The learning rate makes the loss fall steadily: at test_sft's 5e-2 it jumps about, and chaos would amplify float noise.
TWO_PROCESSES = {"max_steps": STEPS, "save_steps": SAVE_STEPS, "logging_steps": 1, "per_device_train_batch_size": 2, "learning_rate": 1e-2}
ONE_PROCESS = {**TWO_PROCESSES, "gradient_accumulation_steps": 2}
# The system calls that create, change, move or delete a file, traced in each rank (safetensors writes from Rust, where
# Python's audit hooks do not reach).
FILE_WRITES = "openat,open,creat,rename,renameat,renameat2,unlink,unlinkat,mkdir,mkdirat,rmdir"


def free_port() -> int:
    """torch.distributed's rendezvous port: a free one, so that runs beside this one (other tests, other users) cannot collide."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def accelerate_launch(processes: int = 2) -> list[str]:
    return [ACCELERATE, "launch", "--multi_gpu", "--num_processes", str(processes), "--main_process_port", str(free_port())]


def job_file(tiny_llama_dir: Path, tmp_path: Path, name: str, training: dict) -> Path:
    params = sft_params(tiny_llama_dir, tmp_path, training=training, output_dir=str(tmp_path / name))
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(params))
    return path


def job_events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def only_result(events: list[dict]) -> dict:
    results = [e["value"] for e in events if e["type"] == "result"]
    assert len(results) == 1, events
    return results[0]


def written_paths(trace_files: list[Path], under: Path) -> set[str]:
    """The paths below `under` that the traced threads created, opened for writing, moved, or deleted (calls that failed excluded)."""
    paths = set()
    for trace in trace_files:
        for line in trace.read_text().splitlines():
            call = re.match(r"(\w+)\((.*)\)\s+= (-?\d+)", line)
            if call is None or call[3] == "-1":
                continue
            name, arguments = call[1], call[2]
            if name in ("open", "openat") and not re.search(r"O_WRONLY|O_RDWR|O_CREAT", arguments):
                continue
            paths.update(str(Path(p).relative_to(under)) for p in re.findall(r'"([^"]*)"', arguments) if p.startswith(f"{under}/"))
    return paths


def adapter_weights(output_dir: Path) -> dict:
    return load_file(output_dir / "adapter" / "adapter_model.safetensors")


@pytest.fixture(scope="module")
def two_processes(tiny_llama_dir, tmp_path_factory):
    """One uninterrupted 2-process run, each rank's file writes traced (strace, one file per thread, named by rank)."""
    assert shutil.which("strace"), "this test traces each rank with strace: `make strace` installs it"
    tmp_path = tmp_path_factory.mktemp("two-processes")
    params_file = job_file(tiny_llama_dir, tmp_path, "sft", TWO_PROCESSES)
    (tmp_path / "traces").mkdir()
    each_rank_traced = [
        "--no_python",
        "bash",
        "-c",
        f'exec strace --seccomp-bpf -ff -qq -e trace={FILE_WRITES} -o "$0.$RANK" "$@"',
        str(tmp_path / "traces" / "rank"),
        sys.executable,
    ]
    done = subprocess.run([*accelerate_launch(), *each_rank_traced, *JOB, str(params_file)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return {"events": job_events(done.stdout), "output_dir": tmp_path / "sft", "traces": tmp_path / "traces"}


def test_two_processes_train_like_one_with_the_same_global_batch(two_processes, tiny_llama_dir, tmp_path):
    one = subprocess.run(
        [sys.executable, *JOB, str(job_file(tiny_llama_dir, tmp_path, "sft", ONE_PROCESS))], capture_output=True, text=True, timeout=600
    )
    assert one.returncode == 0, one.stderr[-3000:]
    single, double = only_result(job_events(one.stdout)), only_result(two_processes["events"])
    # Two ranks really trained: each saved its RNG state in every checkpoint.
    last_checkpoint = two_processes["output_dir"] / "checkpoints" / f"checkpoint-{STEPS}"
    assert sorted(p.name for p in last_checkpoint.glob("rng_state*")) == ["rng_state_0.pth", "rng_state_1.pth"]
    assert double["steps"] == single["steps"] == STEPS
    # The same examples make each update in both arms (the seeded sampler draws one order; accelerate hands rank r the r-th
    # per-device batch of each global batch, where one process takes them as its micro-batches in turn), and the loss is
    # normalised by the update's token count in both (the Trainer's average_tokens_across_devices). What differs is the
    # order of float sums: gradients summed by gloo's all-reduce across ranks instead of accumulated in one process. On
    # this machine that left the mean training losses 2e-8 apart (relative) and the adapter's weights (up to 0.28) within
    # 8e-7 after these 12 updates; the tolerances are over 100× that, and one unit of the logged curve's 4-decimal rounding.
    assert double["train_loss"] == pytest.approx(single["train_loss"], rel=1e-5)
    assert [p["step"] for p in double["loss_curve"]] == list(range(1, STEPS + 1))
    assert [p["loss"] for p in double["loss_curve"]] == pytest.approx([p["loss"] for p in single["loss_curve"]], rel=0, abs=1.01e-4)
    one_weights, two_weights = adapter_weights(tmp_path / "sft"), adapter_weights(two_processes["output_dir"])
    assert one_weights.keys() == two_weights.keys()
    assert max((one_weights[k] - two_weights[k]).abs().max().item() for k in one_weights) < 1e-4


def test_only_rank_zero_reports_and_writes_the_adapter_and_its_record(two_processes):
    events, output_dir = two_processes["events"], two_processes["output_dir"]
    # One stream of events: each update's progress once, one result (rank 1 emits nothing).
    assert [e["step"] for e in events if e["type"] == "progress"] == list(range(1, STEPS + 1))
    assert only_result(events)["model_dir"] == str(output_dir / "adapter")
    rank_traces = {rank: sorted(two_processes["traces"].glob(f"rank.{rank}.*")) for rank in (0, 1)}
    assert rank_traces[0] and rank_traces[1]
    by_rank = {rank: written_paths(traces, output_dir) for rank, traces in rank_traces.items()}
    # Rank 1 writes its own RNG state into each checkpoint (making the checkpoint's directory when it gets there before
    # rank 0), and nothing else; rank 0 writes the adapter and the record (so the trace does see the library's writes).
    checkpoints = [f"checkpoints/checkpoint-{step}" for step in range(SAVE_STEPS, STEPS + 1, SAVE_STEPS)]
    assert {f"{checkpoint}/rng_state_1.pth" for checkpoint in checkpoints} == by_rank[1] - set(checkpoints)
    assert {"adapter/adapter_model.safetensors", "adapter/adapter_config.json", "adapter/refine-af-sft.json"} <= by_rank[0]
    assert not any("rng_state_1" in path for path in by_rank[0])
    # Nothing torn: the adapter loads, its record parses and names the run's parameters.
    assert adapter_weights(output_dir)
    assert json.loads((output_dir / "adapter" / "refine-af-sft.json").read_text())["training"]["max_steps"] == STEPS


def test_a_launcher_killed_after_a_checkpoint_leaves_it_whole_and_the_rerun_resumes_from_it(two_processes, tiny_llama_dir, tmp_path):
    params_file = job_file(tiny_llama_dir, tmp_path, "sft", TWO_PROCESSES)
    output_dir = tmp_path / "sft"
    with open(tmp_path / "killed.stderr", "w") as stderr:
        launched = subprocess.Popen([*accelerate_launch(), *JOB, str(params_file)], stdout=subprocess.PIPE, stderr=stderr, text=True)
        killed_at = None
        for line in launched.stdout:
            event = json.loads(line)
            # The progress of update SAVE_STEPS + 1 comes after checkpoint-SAVE_STEPS was saved.
            if event["type"] == "progress" and event["step"] > SAVE_STEPS:
                ranks = psutil.Process(launched.pid).children(recursive=True)
                launched.send_signal(signal.SIGKILL)
                killed_at = event["step"]
                break
        launched.wait(timeout=60)
    assert killed_at is not None, (tmp_path / "killed.stderr").read_text()[-3000:]
    # The ranks die with their launcher (lifecycle.die_with_parent): no orphan trains on and writes under the rerun.
    _, alive = psutil.wait_procs(ranks, timeout=60)
    assert alive == []

    assert not (output_dir / "adapter").exists()
    checkpoint = last_complete_checkpoint(output_dir / "checkpoints")
    resumable = int(checkpoint.rpartition("-")[2])
    assert SAVE_STEPS <= resumable < STEPS
    assert {"rng_state_0.pth", "rng_state_1.pth", "adapter_model.safetensors", "optimizer.pt"} <= {
        p.name for p in Path(checkpoint).iterdir()
    }

    rerun = subprocess.run([*accelerate_launch(), *JOB, str(params_file)], capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    events = job_events(rerun.stdout)
    result = only_result(events)
    # Resumed, not restarted: from the last complete checkpoint, through the updates after it, to the adapter an
    # uninterrupted run makes (the checkpoint holds both ranks' RNG states and the optimizer).
    assert result["resumed_from"] == checkpoint and result["steps"] == STEPS
    assert [e["step"] for e in events if e["type"] == "progress"] == list(range(resumable + 1, STEPS + 1))
    resumed, uninterrupted = adapter_weights(output_dir), adapter_weights(two_processes["output_dir"])
    assert max((resumed[k] - uninterrupted[k]).abs().max().item() for k in resumed) < 1e-4

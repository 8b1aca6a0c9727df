"""bench/gpu_check.py's CPU dry run: the GPU check's code path (models, generation, PPO, SFT) on the rehearsal's tiny shapes."""

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "gpu_check.py"


def test_the_dry_run_goes_through_every_phase_and_writes_json_and_markdown(tmp_path):
    spec = importlib.util.spec_from_file_location("gpu_check", BENCH)
    gpu_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_check)

    summary = gpu_check.main(["--dry-run", "--out", str(tmp_path / "out"), "--work", str(tmp_path / "work")])
    assert {name: phase["ok"] for name, phase in summary["phases"].items()} == {
        "make_models": True,
        "generation": True,
        "ppo": True,
        "sft": True,
    }
    assert json.loads((tmp_path / "out" / "gpu-check.json").read_text()) == summary
    phases = summary["phases"]
    assert phases["generation"]["stage1_batch"]["new_tokens"] > 0 and phases["generation"]["stage3_batch"]["prompts"] == 16
    assert phases["ppo"]["seconds_per_step"] > 0 and phases["sft"]["steps"] == 1
    assert (tmp_path / "work" / "tensorboard" / "rlaf").is_dir() and (tmp_path / "work" / "tensorboard" / "sft").is_dir()
    report = (tmp_path / "out" / "gpu-check.md").read_text()
    assert "| ppo | yes |" in report
    # What needs CUDA is named as skipped, in the JSON and the report, rather than passing silently as if it had run.
    skipped = summary["skipped_without_cuda"]
    assert any("NF4" in s and "QLoRA" in s for s in skipped) and any("release" in s for s in skipped)
    assert all(f"- skipped (needs CUDA): {s}" in report for s in skipped)
    assert phases["generation"]["linear4bit_layers"] == 0 and "gpu_memory_released" not in phases["sft"]

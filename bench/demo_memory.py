"""Peak memory of `make demo`: the demo config (configs/default.yaml) run end to end into a fresh run directory while the
process tree is sampled every 0.2 s. Reports the peak RSS of the Python worker, of the SFT job subprocess and of the
whole tree (Node + worker + job, summed at each sample), and the worker's RSS when each stage starts (what the stages before
left loaded) and its peak within each stage, and when each stage started (seconds after the run did, as sampled).

    .venv/bin/python bench/demo_memory.py [--repo CHECKOUT] [--config configs/default.yaml] [--small] [--out demo-memory.json]

--repo runs another checkout's code (a `git worktree` of main, for the before/after comparison) with this script.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time

import psutil
import yaml

STAGES = ["instructions", "rlaf", "instances", "sft"]


def running_stage(run_dir: str) -> str | None:
    try:
        with open(os.path.join(run_dir, "run.json"), encoding="utf-8") as f:
            stages = json.load(f)["stages"]
    except (OSError, ValueError, KeyError):
        return None
    return next((s for s in STAGES if stages.get(s, {}).get("status") == "running"), None)


def role(proc: psutil.Process) -> str:
    try:
        cmdline = " ".join(proc.cmdline())
    except psutil.Error:
        return "gone"
    if "refine_af.service job" in cmdline:
        return "sft_job"
    if "python" in os.path.basename(proc.cmdline()[0] if proc.cmdline() else ""):
        return "worker"  # pythonia's interpreter: the one long-lived worker
    return "node"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repo", default=os.getcwd())
    parser.add_argument("--config", default="configs/default.yaml")
    parser.add_argument("--interval", type=float, default=0.2)
    parser.add_argument(
        "--small",
        action="store_true",
        help="8 instructions, 3 PPO steps, 2 SFT updates: the same models and stages as the demo in a fraction of the time",
    )
    parser.add_argument("--out", default="demo-memory.json", help="the report, rewritten at every stage change and at the end")
    args = parser.parse_args()

    repo = os.path.abspath(args.repo)
    with open(os.path.join(repo, args.config), encoding="utf-8") as f:
        config = yaml.safe_load(f)
    scratch = tempfile.mkdtemp(prefix="refine-af-demo-memory-")
    config["run"]["dir"] = os.path.join(scratch, "run")
    if args.small:
        config["instructions"]["num_instructions"] = 8
        config["rlaf"].update(steps=3, save_every=3)
        # sft.training holds the HF TrainingArguments since issue 13; a checkout from before it (--repo) has them flat.
        (config["sft"]["training"] if "training" in config["sft"] else config["sft"])["max_steps"] = 2
    config_file = os.path.join(scratch, "demo.yaml")
    with open(config_file, "w", encoding="utf-8") as f:
        yaml.safe_dump(config, f)

    started = time.time()
    node = subprocess.Popen(
        ["node", "bin/refine-af.js", "run", "--config", config_file],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    root = psutil.Process(node.pid)
    peak = {"worker": 0, "sft_job": 0, "tree": 0}
    worker_at_stage_start: dict[str, int] = {}
    worker_peak_in_stage: dict[str, int] = {}
    stage_started: dict[str, float] = {}
    stage = None
    loads: list[float] = []
    reported_stage = None

    def write_report(exit_code) -> None:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(
                report(
                    repo, started, stage_started, peak, worker_at_stage_start, worker_peak_in_stage, loads, config["run"]["dir"], exit_code
                ),
                f,
                indent=2,
            )

    while node.poll() is None:
        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            break
        tree = 0
        worker = 0
        for proc in procs:
            try:
                rss = proc.memory_info().rss
            except psutil.Error:
                continue
            tree += rss
            r = role(proc)
            if r == "worker":
                worker = max(worker, rss)
            if r in peak:
                peak[r] = max(peak[r], rss)
        peak["tree"] = max(peak["tree"], tree)
        now = running_stage(config["run"]["dir"])
        if now != stage and now is not None:
            worker_at_stage_start[now] = worker  # what the stage before left loaded
            stage_started[now] = round(time.time() - started, 1)
        stage = now
        if stage is not None:
            worker_peak_in_stage[stage] = max(worker_peak_in_stage.get(stage, 0), worker)
        loads.append(os.getloadavg()[0])
        time.sleep(args.interval)
        if now != reported_stage:
            reported_stage = now
            write_report(node.returncode)  # so far: a run cut short still leaves its figures
    write_report(node.returncode)
    print(open(args.out, encoding="utf-8").read())


def report(repo, started, stage_started, peak, worker_at_stage_start, worker_peak_in_stage, loads, run_dir, exit_code) -> dict:
    def mib(b: int) -> int:
        return round(b / 2**20)

    return {
        "repo": repo,
        "exit_code": exit_code,
        "seconds": round(time.time() - started),
        "stage_started_s": stage_started,
        "peak_rss_mib": {k: mib(v) for k, v in peak.items()},
        "worker_rss_mib_at_stage_start": {k: mib(v) for k, v in worker_at_stage_start.items()},
        "worker_peak_rss_mib_in_stage": {k: mib(v) for k, v in worker_peak_in_stage.items()},
        "load_average_1min": {
            "min": min(loads, default=0),
            "mean": round(sum(loads) / max(1, len(loads)), 2),
            "max": max(loads, default=0),
        },
        "run_dir": run_dir,
    }


if __name__ == "__main__":
    main()

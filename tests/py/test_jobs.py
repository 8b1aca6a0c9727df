import json
import subprocess
import sys
from pathlib import Path

# The diagnostic jobs (fixtures/, shared with the bridge benchmark); run as the script, it hands over to service's main.
DIAGNOSTICS = [str(Path(__file__).resolve().parents[2] / "fixtures" / "bridge_diagnostics.py")]
SERVICE = ["-m", "refine_af.service"]


def run_job(tmp_path, name, params, entry=DIAGNOSTICS):
    params_file = tmp_path / "params.json"
    params_file.write_text(json.dumps(params))
    return subprocess.run([sys.executable, *entry, "job", name, str(params_file)], capture_output=True, text=True, timeout=60)


def test_job_events_stay_clean_while_prints_go_to_stderr(tmp_path):
    done = run_job(tmp_path, "countdown", {"steps": 3, "seconds_per_step": 0})
    assert done.returncode == 0
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert [e["type"] for e in events] == ["progress", "progress", "progress", "result"]
    assert events[-1]["value"] == {"steps": 3}
    assert "stray stdout line 2" in done.stderr


def test_job_failure_is_an_error_event_and_exit_code(tmp_path):
    done = run_job(tmp_path, "countdown", {"steps": 3, "seconds_per_step": 0, "fail_at_step": 2})
    assert done.returncode == 1
    last = json.loads(done.stdout.splitlines()[-1])
    assert last["type"] == "error" and last["error"]["type"] == "RuntimeError"


def test_the_production_service_has_no_diagnostics(tmp_path):
    from refine_af.service import JOBS, METHODS

    assert not {"echo", "sleep", "emit_output", "countdown"} & (set(METHODS) | set(JOBS))
    done = run_job(tmp_path, "countdown", {"steps": 1, "seconds_per_step": 0}, entry=SERVICE)
    assert done.returncode == 1
    error = json.loads(done.stdout.splitlines()[-1])["error"]
    assert error["type"] == "KeyError" and "unknown job 'countdown'; known: sft" in error["message"]

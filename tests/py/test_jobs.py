import json
import subprocess
import sys


def run_job(tmp_path, name, params):
    params_file = tmp_path / "params.json"
    params_file.write_text(json.dumps(params))
    return subprocess.run(
        [sys.executable, "-m", "refine_af.service", "job", name, str(params_file)], capture_output=True, text=True, timeout=60
    )


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

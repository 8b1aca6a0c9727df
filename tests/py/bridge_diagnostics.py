"""The bridge's diagnostics, for tests and the bridge benchmark only: the methods and jobs that
tests/ts/fixtures/diagnostics.ts declares, registered with service.py's decorators into its tables.

The TS worker imports this file after refine_af.service (PythonWorker's `extension`); a job runs it as the script
(`python tests/py/bridge_diagnostics.py job NAME PARAMS_FILE`), and it hands over to service's main.
"""

import os
import sys
import time
import warnings
from collections.abc import Callable

from refine_af.service import Params, job, log, main, method


@method
def echo(texts: list[str]) -> dict:
    return {"texts": texts}


@method
def sleep(seconds: float) -> dict:
    time.sleep(seconds)
    return {"slept": seconds}


@method
def emit_output(text: str) -> dict:
    print(text, flush=True)
    print(text, file=sys.stderr, flush=True)
    log.warning(text)
    warnings.warn(text, stacklevel=1)
    os.write(1, (text + "\n").encode())  # C-level write, as native libraries do
    return {}


@job
def countdown(params: Params, emit: Callable[[dict], None]) -> dict:
    """Progress events with stray output in between; fails on request. Exercises the job door end to end."""
    for step in range(1, params["steps"] + 1):
        print(f"stray stdout line {step}")  # must land in the log, not in the event stream
        if step == params.get("fail_at_step"):
            raise RuntimeError(f"countdown asked to fail at step {step}")
        time.sleep(params["seconds_per_step"])
        emit({"type": "progress", "step": step, "total": params["steps"]})
    return {"steps": params["steps"]}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

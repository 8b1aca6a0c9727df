"""Who configures logging: the processes service.py owns (the worker from its first call, a job) route transformers'
and huggingface_hub's records to their one tagged handler; importing the worker's library modules changes nothing in the importer's logging.

Each case runs in a fresh interpreter: this pytest process has long since imported every module."""

import json
import os
import subprocess
import sys

from refine_af.service import LOG_RECORD_PREFIX

LIBRARY_IMPORTS_KEEP_LOGGING = """
import logging
from huggingface_hub.utils import logging as hub_logging
from transformers.utils import logging as transformers_logging

def configuration():
    loggers = [logging.getLogger(), transformers_logging.get_logger(), hub_logging.get_logger()]
    return [(logger.name, logger.level, logger.propagate, list(logger.handlers)) for logger in loggers]

before = configuration()
import refine_af.models, refine_af.ppo, refine_af.scorers, refine_af.sft
assert configuration() == before, f"{before} became {configuration()}"
"""

LIBRARY_RECORDS_IN_THE_WORKER = """
from huggingface_hub.utils import logging as hub_logging
from transformers.utils import logging as transformers_logging

from refine_af import service  # as the pythonia worker imports it (REFINE_AF_WORKER_LOG is set)

assert service.call("ping", "{}").startswith('{"ok": true')  # the worker's first call

transformers_logging.get_logger("transformers.check").warning("from transformers")
hub_logging.get_logger("huggingface_hub.check").warning("from the hub")
"""


def test_importing_the_library_modules_leaves_the_callers_logging_alone():
    result = subprocess.run([sys.executable, "-c", LIBRARY_IMPORTS_KEEP_LOGGING], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr


def test_the_worker_logs_transformers_and_hub_records_once_each_as_tagged_records(tmp_path):
    log = tmp_path / "worker.log"
    env = {**os.environ, "REFINE_AF_WORKER_LOG": str(log)}
    result = subprocess.run([sys.executable, "-c", LIBRARY_RECORDS_IN_THE_WORKER], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, log.read_text() + result.stderr
    lines = [line for line in log.read_text().splitlines() if "from transformers" in line or "from the hub" in line]
    assert lines == [
        LOG_RECORD_PREFIX + json.dumps({"level": "WARNING", "logger": "transformers.check", "message": "from transformers"}),
        LOG_RECORD_PREFIX + json.dumps({"level": "WARNING", "logger": "huggingface_hub.check", "message": "from the hub"}),
    ]

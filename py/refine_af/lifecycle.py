"""Process hygiene shared by the pythonia worker and execa jobs: never outlive the parent, never let stray prints corrupt a channel."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

_PR_SET_PDEATHSIG = 1
_PARENT_POLL_SECONDS = 1.0


def die_with_parent() -> None:
    """Exit as soon as the process that started us is gone, even in the middle of a long call.

    pythonia leaves a busy worker running as an orphan when Node is SIGKILLed; a training step would then hold the GPU.
    The kernel's parent-death signal covers Linux; the polling thread covers every other POSIX system.
    """
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(70)
            time.sleep(_PARENT_POLL_SECONDS)

    threading.Thread(target=watch, name="refine-af-parent-watch", daemon=True).start()


def exec_tied_to_parent(command: list[str], parent_death_signal: signal.Signals) -> None:
    """Replace this process with `command` (a model server), which the kernel signals when our parent dies.

    The parent-death signal survives exec, so a server started by a Node process that is SIGKILLed does not hold its port
    and memory as an orphan. Without Linux's prctl the command runs untied (execa still stops it on a normal exit).
    """
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, parent_death_signal)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os._exit(70)
    os.execvp(command[0], command)


def leave_interrupts_to_parent() -> None:
    """Ignore SIGINT: Ctrl-C in a terminal reaches the whole process group, and the Node parent decides what it means
    (a training run finishes its step and saves a checkpoint); a KeyboardInterrupt here would tear the step in flight."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def redirect_output_to(path: str) -> None:
    """Send fd 1 and 2 (Python prints, C-level library output, logging) to a file the TS side tails into its logger."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = os.fdopen(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
    sys.stderr = os.fdopen(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)


def take_stdout_for_events():
    """Keep the real stdout for JSON-lines events and point fd 1 at stderr, so library prints cannot tear an event line."""
    sys.stdout.flush()
    events_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = os.fdopen(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
    return os.fdopen(events_fd, "w", buffering=1, encoding="utf-8")

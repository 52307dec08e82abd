"""Starting and stopping real node processes in tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


def child_environment(extra: dict | None = None) -> dict:
    """The test's environment (domain id, loopback discovery) for a child process.

    The ROS wheels' bootstrapper marks a process as set up; a child must set
    itself up again, so the marker is removed.
    """
    env = dict(os.environ)
    env.pop("_ROS_WHEELS_BOOTSTRAP_COMPLETE", None)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def start_python(code_or_module: list[str], env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *code_or_module], env=env or child_environment(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stop(process: subprocess.Popen, grace_s: float = 5.0) -> str:
    """INT, then TERM, then KILL (a spinning node occasionally ignores one SIGINT)."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        if process.poll() is not None:
            break
        process.send_signal(sig)
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            continue
    output, _ = process.communicate(timeout=grace_s)
    return output


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (Linux's /proc); a zombie has stopped, only its
    parent may be gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def kill_if_running(pids) -> None:
    """SIGKILL whatever of ``pids`` a failed test left running."""
    for pid in pids:
        if not running(pid):
            continue
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # ended between the look and the kill

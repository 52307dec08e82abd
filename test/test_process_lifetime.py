"""Children started through process_lifetime die with the process that started them."""

import subprocess
import sys
import time
from pathlib import Path

import pytest
from process_tools import kill_if_running, running

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"),
    reason="prctl(PR_SET_PDEATHSIG) is Linux's; elsewhere a killed parent leaves its children")

# Starts the bench's node processes, writes their pids, then waits to be killed.
_BENCH_THAT_IS_KILLED = """
import sys, time
from pathlib import Path
from reasonact_ros.evaluation.bench import NodeProcesses
from reasonact_ros.evaluation.ros_domains import claim_domain
out = Path(sys.argv[1])
with claim_domain() as claim:
    nodes = NodeProcesses(claim.domain, {}, out / "logs")
    (out / "pids").write_text(" ".join(str(p.pid) for p in nodes.processes.values()))
    time.sleep(600)
"""

# A child through tied_to_this_process, and one through plain Popen to show the difference.
_PARENT_OF_TWO = """
import subprocess, sys, time
from pathlib import Path
from reasonact_ros.process_lifetime import tied_to_this_process
sleep = [sys.executable, "-c", "import time; time.sleep(600)"]
tied = subprocess.Popen(sleep, preexec_fn=tied_to_this_process())
plain = subprocess.Popen(sleep)
Path(sys.argv[1], "pids").write_text(f"{tied.pid} {plain.pid}")
time.sleep(600)
"""


def _start_and_kill(script: str, tmp_path: Path) -> list[int]:
    """Run ``script``, SIGKILL it once it has written its children's pids; those pids."""
    parent = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)])
    pids_file = tmp_path / "pids"
    try:
        deadline = time.monotonic() + 60.0
        while not pids_file.exists() and time.monotonic() < deadline:
            assert parent.poll() is None, "the parent exited before starting its children"
            time.sleep(0.05)
        time.sleep(0.2)  # the file is written in one go; let it be complete
        pids = [int(p) for p in pids_file.read_text().split()]
    finally:
        parent.kill()
        parent.wait()
    return pids


def _wait_gone(pids: list[int], timeout_s: float = 15.0) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        alive = [pid for pid in pids if running(pid)]
        if not alive:
            return []
        time.sleep(0.1)
    return alive


def test_a_tied_child_dies_with_its_parent_and_a_plain_one_does_not(tmp_path):
    tied, plain = _start_and_kill(_PARENT_OF_TWO, tmp_path)
    try:
        assert _wait_gone([tied]) == []
        assert running(plain)  # what every child did before: orphaned, still running
    finally:
        kill_if_running([tied, plain])


def test_a_killed_bench_takes_the_stacks_node_processes_with_it(tmp_path):
    # Killed, the bench left the stack's nodes publishing on a domain whose claim had died with
    # it, where the next claim could land and hear them.
    from reasonact_ros.evaluation.bench import NODES

    pids = _start_and_kill(_BENCH_THAT_IS_KILLED, tmp_path)
    assert len(pids) == len(NODES)
    try:
        assert _wait_gone(pids) == []
    finally:
        kill_if_running(pids)

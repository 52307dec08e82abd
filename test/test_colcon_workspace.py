"""The ROS-workspace install path: colcon (from PyPI) builds this repository.

Builds a temporary workspace whose src/ holds the repository, then, in fresh
processes that only source the overlay, imports a generated message from the
overlay and runs a node executable from lib/reasonact_ros like `ros2 run` does.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from process_tools import child_environment

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent

pytestmark = pytest.mark.colcon


@pytest.fixture(scope="module")
def overlay(tmp_path_factory):
    colcon = VENV_BIN / "colcon"
    assert colcon.exists(), "colcon is not installed in the venv: run `make venv`"
    workspace = tmp_path_factory.mktemp("ws")
    (workspace / "src").mkdir()
    (workspace / "src" / "reasonact_ros").symlink_to(REPO)
    prefix = str(VENV_BIN.parent)
    env = child_environment({"AMENT_PREFIX_PATH": prefix, "CMAKE_PREFIX_PATH": prefix,
                             "PATH": f"{VENV_BIN}:{os.environ['PATH']}"})
    result = subprocess.run(
        [str(colcon), "build", "--cmake-args", f"-DPython3_EXECUTABLE={sys.executable}",
         "-DBUILD_TESTING=OFF", "-Wno-dev"],
        cwd=workspace, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    yield workspace
    shutil.rmtree(workspace / "build", ignore_errors=True)


def _in_overlay(workspace: Path, command: str, **kwargs):
    env = child_environment({"PATH": f"{VENV_BIN}:{os.environ['PATH']}"})
    for name in ("PYTHONPATH", "AMENT_PREFIX_PATH", "CMAKE_PREFIX_PATH"):
        env.pop(name, None)
    script = f"source {workspace}/install/setup.bash && {command}"
    return subprocess.Popen(["bash", "-c", script], cwd=workspace, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, **kwargs)


def test_overlay_installs_nodes_launch_and_config(overlay):
    install = overlay / "install" / "reasonact_ros"
    for node in ("sim_node", "perception_node", "reasoning_node", "planner_node",
                 "safety_node", "reasonact"):
        assert os.access(install / "lib" / "reasonact_ros" / node, os.X_OK), node
    share = install / "share" / "reasonact_ros"
    assert (share / "config" / "reasonact.yaml").is_file()
    assert (share / "launch").is_dir()
    assert (share / "config" / "scenarios" / "head_on.yaml").is_file()


def test_generated_message_imports_from_the_overlay(overlay):
    code = ("import reasonact_ros.msg as m; from reasonact_ros.msg import SceneObservation; "
            "from reasonact_ros.share import share_dir; "
            "print(m.__file__); print(share_dir()); print(SceneObservation().scan_ok)")
    process = _in_overlay(overlay, f'cd /tmp && python -c "{code}"')
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    msg_file, share, _ = output.strip().splitlines()[-3:]
    assert msg_file.startswith(str(overlay / "install")), output
    assert share == str(overlay / "install" / "reasonact_ros" / "share" / "reasonact_ros")


def test_node_executable_runs_from_the_overlay_and_stops_cleanly(overlay):
    process = _in_overlay(
        overlay, "exec install/reasonact_ros/lib/reasonact_ros/safety_node "
                 "--ros-args -p watchdog_timeout:=0.3")
    time.sleep(4.0)
    assert process.poll() is None, process.communicate()[0]
    os.killpg(process.pid, signal.SIGINT)
    output, _ = process.communicate(timeout=20)
    assert process.returncode == 0, output
    assert "safety rule acting: watchdog" in output

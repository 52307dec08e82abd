"""The whole graph in closed loop: the simulated robot receives cmd_vel and reaches its goal.

Real node classes over real DDS topics in one process (what `reasonact demo`
runs), plus the CLI's bad-input contract.
"""

import json
import subprocess
import sys

import pytest

from reasonact_ros.bringup import EpisodeOptions, run_episode

pytestmark = pytest.mark.ros


def test_robot_reaches_goal_in_empty_scenario(tmp_path):
    summary = run_episode(EpisodeOptions(scenario="empty_walkway", mppi_samples=400),
                          out_dir=tmp_path)
    assert summary["outcome"] == "goal_reached", summary
    assert summary["success"] and summary["collisions"] == 0
    assert 0.0 < summary["max_linear_speed_mps"] <= 1.5
    assert sum(summary["decisions"].values()) > 0
    written = json.loads((tmp_path / "summary.json").read_text())
    for key in ("scenario", "success", "collisions", "time_to_goal_s", "min_person_distance_m",
                "max_linear_speed_mps", "decisions", "wall_time_s",
                "collisions_robot_at_fault"):
        assert key in written
    assert (tmp_path / "episode.gif").stat().st_size > 0


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "reasonact_ros.cli", *args],
                          capture_output=True, text=True, timeout=120)


def test_unknown_scenario_exits_2_with_one_line_listing_scenarios():
    result = _cli("demo", "--scenario", "nosuch")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "nosuch" in lines[0] and "empty_walkway" in lines[0] and "head_on" in lines[0]
    assert "Traceback" not in result.stderr


def test_unknown_option_exits_2_with_one_line():
    result = _cli("demo", "--warp-speed")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "--warp-speed" in result.stderr and "Traceback" not in result.stderr

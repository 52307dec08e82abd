"""The runner end to end: real episodes of the real node graph, two worker processes.

The scenarios are shipped ones cut to 6 s of sim time and MPPI runs 200 rollouts, so
the test takes well under a minute even on a loaded 2-core machine; whether the robot
gets anywhere in 6 s does not matter here, only that every output is written and
consistent.
"""

from __future__ import annotations

import csv
import json
import re

import pytest
from PIL import Image

from reasonact_ros.evaluation.runner import Suite, run_suite
from reasonact_ros.sim.scenario import scenarios_dir

REQUIRED_KEYS = ("episodes", "success_rate", "collisions", "timeout_rate",
                 "intimate_time_fraction", "personal_time_fraction", "min_person_distance_m",
                 "mean_time_to_goal_s", "path_length_ratio")


def short_copy(name: str, directory, seconds: float = 6.0) -> str:
    text = (scenarios_dir() / f"{name}.yaml").read_text()
    text, count = re.subn(r"(?m)^duration_s:.*$", f"duration_s: {seconds}", text)
    assert count == 1
    path = directory / f"{name}_short.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.ros
def test_smoke_suite_writes_every_output(tmp_path):
    scenarios = (short_copy("head_on", tmp_path), short_copy("empty_walkway", tmp_path))
    suite = Suite("smoke_test", scenarios, seeds=1, mppi_samples=200, jobs=2)
    out = tmp_path / "out"
    result = run_suite(suite, out, show_progress=False)

    lines = (out / "episodes.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 2
    assert {r["scenario"] for r in records} == {"head_on_short", "empty_walkway_short"}
    for record in records:
        assert "error" not in record, record.get("error")
        assert record["duration_s"] == pytest.approx(6.0, abs=0.11)
        # The metrics' verdict and the simulator's own must agree.
        assert record["success"] == record["sim_success"]
        assert len(record["path"]) > 10
        if not record["success"]:
            assert record["gif"] and (out / record["gif"]).is_file()
            # Cut at 6 s, every episode times out: each leaves its timeline, whose rows
            # carry the decision and the reasoner's why.
            with (out / record["timeline"]).open(newline="") as stream:
                rows = list(csv.DictReader(stream))
            assert len(rows) == pytest.approx(6.0 / 0.05, abs=3)
            assert all(row["behavior"] and row["rationale"] for row in rows[10:])
    head_on = next(r for r in records if r["scenario"] == "head_on_short")
    assert head_on["people_present_fraction"] > 0.0  # the oncoming person is logged
    assert head_on["decision_steps"], "the rules reasoner's decisions reach the log"

    metrics = json.loads((out / "metrics.json").read_text())
    for key in REQUIRED_KEYS:
        assert key in metrics
    assert metrics["episodes"] == 2 and metrics["errors"] == 0
    assert set(metrics["by_scenario"]) == {"head_on_short", "empty_walkway_short"}
    assert metrics["suite"]["mppi_samples"] == 200
    assert result.metrics["episodes"] == 2

    report = (out / "report.md").read_text()
    assert "| **all** | 2 |" in report and "head_on_short" in report
    for png in ("metric_bars.png", "trajectories_head_on_short.png",
                "trajectories_empty_walkway_short.png"):
        with Image.open(out / "plots" / png) as image:
            assert image.size[0] > 100
    assert "[timeline](failures/" in report
    # The per-episode work directories are cleaned up; only failures/ stays.
    assert not list(out.glob("episodes_*"))

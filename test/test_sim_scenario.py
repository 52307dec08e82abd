"""Scenario files: every shipped one loads and runs; every kind of bad input is named."""

from __future__ import annotations

import math
import textwrap

import pytest

from reasonact_ros import scene
from reasonact_ros.sim import ScenarioError, World, available_scenarios, load_scenario
from reasonact_ros.sim.replay import TrajectoryError

REQUIRED_SCENARIOS = {
    "empty_walkway", "head_on", "crossing", "overtaking", "standing", "group", "crowd",
    "narrow_passage", "child_running", "occluded_stepout", "replay",
}

MINIMAL = """\
seed: 3
duration_s: 30.0
bounds: [-3.0, -5.0, 25.0, 5.0]
robot:
  start: [0.0, 0.0, 0.0]
goal:
  waypoints: [[20.0, 0.0]]
walkways:
  - name: main
    centerline: [[-3.0, 0.0], [25.0, 0.0]]
    width: 3.0
pedestrians:
  - id: 1
    start: [15.0, 0.5]
    waypoints: [[-3.0, 0.5]]
    desired_speed: 1.2
"""


def write(tmp_path, text, name="case.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_all_required_scenarios_are_shipped():
    assert REQUIRED_SCENARIOS <= set(available_scenarios())
    assert available_scenarios() == sorted(available_scenarios())


@pytest.mark.parametrize("name", available_scenarios())
def test_every_shipped_scenario_loads_and_runs_two_seconds(name):
    scenario = load_scenario(name)
    assert scenario.name == name
    assert scenario.robot_start == scene.Pose2D(0.0, 0.0, 0.0)
    assert scenario.duration_s >= 30.0
    world = World(scenario)
    for _ in range(40):
        world.command(scene.Velocity2D(0.5, 0.0))
        world.step(0.05)
    assert world.time == pytest.approx(2.0)
    scan = world.scan()
    assert scan.ranges.shape == (scenario.lidar.beams,)
    for obj in world.ground_truth():
        assert math.isfinite(obj.x) and math.isfinite(obj.vx)
    assert world.walkway() is not None


def test_goals_are_reachable_in_well_under_the_time_limit():
    for name in available_scenarios():
        scenario = load_scenario(name)
        gx, gy = scenario.goal.final
        straight_line_s = math.hypot(gx, gy) / 1.5
        assert straight_line_s < 0.5 * scenario.duration_s, name


def test_crowd_has_at_least_fifteen_people_and_the_child_runs():
    assert len(load_scenario("crowd").pedestrians) >= 15
    child = load_scenario("child_running").pedestrians[0]
    assert child.kind == "child" and child.desired_speed >= 2.5


def test_loading_by_path_equals_loading_by_name(tmp_path):
    path = write(tmp_path, MINIMAL)
    scenario = load_scenario(str(path))
    assert scenario.name == "case" and scenario.seed == 3
    assert scenario.pedestrians[0].desired_speed == 1.2
    assert load_scenario("head_on").path.name == "head_on.yaml"


def test_unknown_scenario_name_lists_the_available_ones():
    with pytest.raises(ScenarioError, match="empty_walkway"):
        load_scenario("no_such_scenario")


BAD_CASES = {
    "missing field": (MINIMAL.replace("duration_s: 30.0\n", ""), 1, "duration_s",
                      "missing"),
    "wrong type": (MINIMAL.replace("desired_speed: 1.2", "desired_speed: fast"), 16,
                   "pedestrians[0].desired_speed", "finite number in [0, 8]"),
    "NaN": (MINIMAL.replace("width: 3.0", "width: .nan"), 11, "walkways[0].width",
            "finite number"),
    "unknown key": (MINIMAL.replace("    desired_speed: 1.2", "    desired_sped: 1.2"), 16,
                    "pedestrians[0].desired_sped", "unknown key"),
    "bool for number": (MINIMAL.replace("seed: 3", "seed: true"), 1, "seed", "integer"),
    "bad point": (MINIMAL.replace("start: [15.0, 0.5]", "start: [15.0]"), 14,
                  "pedestrians[0].start", "point"),
    "bad choice": (MINIMAL + "ground: lava\n", 17, "ground", "one of"),
    "missing nested": (MINIMAL.replace("    width: 3.0\n", ""), 9, "walkways[0].width",
                       "missing"),
    "mapping expected": (MINIMAL.replace("robot:\n  start: [0.0, 0.0, 0.0]\n", "robot: 5\n"),
                         4, "robot", "mapping"),
    "list expected": (MINIMAL + "areas: {kind: grass}\n", 17, "areas", "list of mappings"),
    "inverted bounds": (MINIMAL.replace("[-3.0, -5.0, 25.0, 5.0]", "[25.0, -5.0, -3.0, 5.0]"), 3,
                        "bounds", "xmax > xmin"),
    "duplicate id": (MINIMAL + "obstacles:\n  - {id: 1, shape: circle, x: 5, y: 2, radius: 0.3}\n",
                     18, "obstacles[0].id", "unique"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_scenario_raises_with_file_line_and_field(tmp_path, case):
    text, line, field, expected = BAD_CASES[case]
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as raised:
        load_scenario(str(path))
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:{line}:"), message
    assert field in message and expected in message


def test_scenario_error_is_a_value_error(tmp_path):
    path = write(tmp_path, "seed: [\n")
    with pytest.raises(ValueError, match=r"case\.yaml:\d+: not valid YAML"):
        load_scenario(str(path))


def test_empty_scenario_file_is_rejected(tmp_path):
    path = write(tmp_path, "")
    with pytest.raises(ScenarioError, match="case.yaml:1"):
        load_scenario(str(path))


def test_missing_trajectory_file_is_named(tmp_path):
    text = MINIMAL + "replays:\n  - {file: nowhere.txt, frame_period: 0.04}\n"
    with pytest.raises(ScenarioError, match=r"replays\[0\]\.file.*nowhere\.txt"):
        load_scenario(str(write(tmp_path, text)))


def test_replayed_ids_must_not_clash_with_pedestrians(tmp_path):
    (tmp_path / "tracks.txt").write_text("0 1 0.0 0.0\n10 1 0.4 0.0\n")
    text = MINIMAL.replace("  - id: 1\n", "  - id: 1001\n") + (
        "replays:\n  - {file: tracks.txt, frame_period: 0.04, id_offset: 1000}\n")
    with pytest.raises(ScenarioError, match=r"case\.yaml:18: replays\[0\]\.id_offset.*1001"):
        load_scenario(str(write(tmp_path, text)))


def test_a_bad_trajectory_file_fails_when_the_scenario_loads(tmp_path):
    (tmp_path / "tracks.txt").write_text("0 1 0.0 0.0\n10 1 0.4\n")
    text = MINIMAL + "replays:\n  - {file: tracks.txt, frame_period: 0.04}\n"
    with pytest.raises(TrajectoryError, match=r"tracks\.txt:2:"):
        load_scenario(str(write(tmp_path, text)))

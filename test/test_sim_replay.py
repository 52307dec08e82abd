"""ETH/UCY trajectory replay: loader errors, interpolation, velocities, transform."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from reasonact_ros import scene
from reasonact_ros.sim.replay import ReplayedPeople, TrajectoryError, load_trajectories
from reasonact_ros.sim.scenario import ReplaySpec, Scenario
from reasonact_ros.sim.world import World


def write(tmp_path, text, name="tracks.txt") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def straight_walker(tmp_path) -> Path:
    """Person 7 walks +x at 1 m/s: 0.4 m per 10 frames at 0.04 s per frame step."""
    lines = [f"{10 * k} 7 {0.4 * k:.2f} 1.0" for k in range(6)]
    return write(tmp_path, "\n".join(lines) + "\n")


def test_loader_groups_observations_by_person(tmp_path):
    path = write(tmp_path, "# frame id x y\n0 1 0.0 0.0\n0 2 5.0 5.0\n10 1 0.4 0.0\n"
                           "10.0 2 5.0 4.6\n20 2 5.0 4.2\n")
    tracks = load_trajectories(path)
    assert [t.pedestrian_id for t in tracks] == [1, 2]
    assert tracks[1].frames.tolist() == [0, 10, 20]
    np.testing.assert_allclose(tracks[1].positions[-1], [5.0, 4.2])


@pytest.mark.parametrize("text, line, words", [
    ("0 1 0.0 0.0\n10 1 0.4\n", 2, "expected 4 fields"),
    ("0 1 0.0 0.0\n10 1 zero 0.0\n", 2, "x: expected a number"),
    ("0 1 0.0 0.0\n10 one 0.4 0.0\n", 2, "pedestrian_id: expected an integer"),
    ("0 1 0.0 0.0\n10.5 1 0.4 0.0\n", 2, "frame_id: expected an integer"),
    ("0 1 0.0 0.0\n10 1 0.4 nan\n", 2, "y: expected a finite number"),
    ("10 1 0.0 0.0\n20 1 0.4 0.0\n\n10 2 1.0 0.0\n", 4, "non-decreasing order"),
    ("0 1 0.0 0.0\n0 1 0.1 0.0\n", 2, "observed twice"),
    ("# only a comment\n\n", 1, "empty"),
])
def test_bad_trajectory_files_name_file_and_line(tmp_path, text, line, words):
    path = write(tmp_path, text)
    with pytest.raises(TrajectoryError) as raised:
        load_trajectories(path)
    message = str(raised.value)
    assert message.startswith(f"{path}:{line}:"), message
    assert words in message and "\n" not in message


def test_trajectory_error_is_a_value_error(tmp_path):
    with pytest.raises(ValueError):
        load_trajectories(write(tmp_path, ""))


def test_positions_are_interpolated_between_observations(tmp_path):
    people = ReplayedPeople(ReplaySpec(file=straight_walker(tmp_path), frame_period=0.04))
    ids, positions, velocities = people.state(0.6)  # halfway between frames 10 and 20
    assert ids.tolist() == [1007]
    np.testing.assert_allclose(positions[0], [0.6, 1.0], atol=1e-9)
    np.testing.assert_allclose(velocities[0], [1.0, 0.0], atol=1e-9)


def test_interpolation_is_smooth_through_a_turn(tmp_path):
    # An L-shaped path: the spline's velocity changes continuously at the corner.
    rows = [(0, 0.0, 0.0), (10, 0.4, 0.0), (20, 0.8, 0.0), (30, 0.8, 0.4), (40, 0.8, 0.8)]
    path = write(tmp_path, "".join(f"{f} 1 {x} {y}\n" for f, x, y in rows))
    people = ReplayedPeople(ReplaySpec(file=path, frame_period=0.04))
    before = people.state(0.8 - 1e-6)[2][0]
    after = people.state(0.8 + 1e-6)[2][0]
    np.testing.assert_allclose(before, after, atol=1e-4)
    for frame, x, y in rows:
        np.testing.assert_allclose(people.state(frame * 0.04)[1][0], [x, y], atol=1e-9)


def test_people_exist_only_between_their_first_and_last_observation(tmp_path):
    people = ReplayedPeople(ReplaySpec(file=straight_walker(tmp_path), frame_period=0.04,
                                       time_offset=3.0))
    assert people.state(2.9)[0].size == 0
    assert people.state(3.0)[0].tolist() == [1007]
    assert people.state(5.0)[0].tolist() == [1007]
    assert people.state(5.1)[0].size == 0


def test_rotation_offset_and_time_offset_are_applied(tmp_path):
    spec = ReplaySpec(file=straight_walker(tmp_path), frame_period=0.04,
                      rotation=math.pi / 2, offset=(10.0, -2.0), time_offset=1.0, id_offset=50)
    ids, positions, velocities = ReplayedPeople(spec).state(1.4)  # 0.4 s into the recording
    assert ids.tolist() == [57]
    # Recording (0.4, 1.0) turned by +90 deg is (-1.0, 0.4), then shifted.
    np.testing.assert_allclose(positions[0], [9.0, -1.6], atol=1e-9)
    np.testing.assert_allclose(velocities[0], [0.0, 1.0], atol=1e-9)


def test_crop_window_keeps_only_observations_inside(tmp_path):
    spec = ReplaySpec(file=straight_walker(tmp_path), frame_period=0.04,
                      crop=(0.3, 0.0, 1.3, 2.0))
    people = ReplayedPeople(spec)
    assert people.state(0.2)[0].size == 0  # x = 0.2 was cropped away
    assert people.state(0.4)[0].tolist() == [1007]
    assert people.state(1.4)[0].size == 0  # x = 1.6 too
    empty = ReplayedPeople(ReplaySpec(file=straight_walker(tmp_path), frame_period=0.04,
                                      crop=(5.0, 5.0, 6.0, 6.0)))
    assert empty.people == []


def test_replayed_person_walking_into_a_still_robot_is_not_the_robots_fault(tmp_path):
    # Walks -x from x = 4 to x = -2 at 1 m/s straight through the robot at the origin.
    lines = [f"{10 * k} 3 {4.0 - 0.4 * k:.2f} 0.0" for k in range(16)]
    path = write(tmp_path, "\n".join(lines) + "\n")
    scenario = Scenario(name="replay_test", path=tmp_path / "replay_test.yaml", seed=0,
                        duration_s=20.0, robot_start=scene.Pose2D(),
                        goal=scene.Goal(((20.0, 0.0),)), bounds=(-5.0, -5.0, 25.0, 5.0),
                        replays=(ReplaySpec(file=path, frame_period=0.04),))
    world = World(scenario)
    events = []
    for _ in range(120):
        events += world.step(0.05)
    collisions = [e for e in events if e.kind == "collision_person"]
    assert len(collisions) == 1
    assert collisions[0].other_id == 1003 and not collisions[0].robot_at_fault


def test_shipped_sample_has_at_least_eight_people_and_a_cropped_bystander():
    scenario_dir = Path(__file__).resolve().parents[1] / "config" / "scenarios"
    sample = scenario_dir / "trajectories" / "walkway_sample.txt"
    assert len(load_trajectories(sample)) >= 8
    from reasonact_ros.sim import load_scenario

    world = World(load_scenario("replay"))
    present = set()
    for _ in range(400):
        world.step(0.1)
        present |= set(world.people().ids.tolist())
    assert len(present) >= 8
    assert 1011 not in present  # the bystander outside the crop window
    ys = [o.y for o in world.ground_truth() if o.label == scene.ObjectClass.PEDESTRIAN]
    assert all(abs(y) < 2.0 for y in ys)  # rotated onto the walkway

"""Per-episode metrics on hand-made trajectories whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from reasonact_ros.evaluation.metrics import (
    EpisodeGoal,
    as_track,
    episode_metrics,
    freezes,
    time_to_collision,
)

DT = 0.05
GOAL = EpisodeGoal(((10.0, 0.0),), tolerance=0.3, start=(0.0, 0.0))


def straight_line(speed: float = 1.0, seconds: float = 10.0, people=None, yaw: float = 0.0,
                  decision: str = "PROCEED") -> list[dict]:
    """Along +x at constant speed; ``people(t, x)`` gives the people rows of a step."""
    steps = int(round(seconds / DT)) + 1
    out = []
    for k in range(steps):
        t = k * DT
        x = speed * t
        out.append({"t": t, "x": x, "y": 0.0, "yaw": yaw, "v": speed, "w": 0.0,
                    "people": people(t, x) if people else [], "decision": decision})
    return out


def goal_event(t: float) -> list[dict]:
    return [{"time": t, "kind": "goal_reached"}]


def test_straight_line_at_constant_speed_has_ratio_one_and_no_jerk():
    # The goal circle (0.3 m) is entered at x = 9.7 m: the shortest successful path.
    m = episode_metrics(straight_line(seconds=9.7), goal_event(9.7), GOAL)
    assert m["success"] is True
    assert m["path_length_m"] == pytest.approx(9.7)
    assert m["reference_length_m"] == pytest.approx(9.7)
    assert m["path_length_ratio"] == pytest.approx(1.0)
    assert m["mean_speed_mps"] == pytest.approx(1.0)
    assert m["mean_abs_accel_mps2"] == pytest.approx(0.0, abs=1e-9)
    assert m["mean_abs_jerk_mps3"] == pytest.approx(0.0, abs=1e-9)
    assert m["heading_change_rad"] == pytest.approx(0.0)
    assert m["time_not_moving_s"] == 0.0
    assert m["freezes"] == 0
    assert m["time_to_goal_s"] == pytest.approx(9.7)
    assert m["min_person_distance_m"] is None  # nobody there is not "0 m"
    assert m["intimate_time_fraction"] == 0.0


def test_path_ratio_is_against_the_route_not_the_straight_line():
    # An L-shaped route 5 + 5 m, driven exactly: ratio 1 against the route length.
    trajectory = [{"t": k * 0.1, "x": min(k * 0.1, 5.0), "y": max(0.0, k * 0.1 - 5.0),
                   "yaw": 0.0, "v": 1.0, "w": 0.0, "people": [], "decision": ""}
                  for k in range(101)]
    goal = EpisodeGoal(((5.0, 0.0), (5.0, 5.0)), tolerance=0.3, start=(0.0, 0.0))
    m = episode_metrics(trajectory, goal_event(9.7), goal)
    assert m["reference_length_m"] == pytest.approx(9.7)
    assert m["path_length_m"] == pytest.approx(9.7)  # counted up to the goal, not after
    assert m["path_length_ratio"] == pytest.approx(1.0)


def test_detour_doubles_the_path_length_ratio():
    # Out 5 m and back, then the 10 m: 20 m driven for a 10 m straight line.
    # Out 4.85 m and back, then on to the goal circle at 9.7 m: 19.4 m driven for 9.7 m.
    xs = np.concatenate([np.linspace(0, -4.85, 98), np.linspace(-4.85, 9.7, 292)[1:]])
    trajectory = [{"t": k * 0.05, "x": float(x), "y": 0.0, "yaw": 0.0, "v": 1.0, "w": 0.0}
                  for k, x in enumerate(xs)]
    m = episode_metrics(trajectory, goal_event(trajectory[-1]["t"]), GOAL)
    assert m["path_length_ratio"] == pytest.approx(2.0)


def test_person_at_fixed_one_metre_is_all_personal_zone():
    # Centre 1.55 m ahead of the robot: 1.55 - 0.3 - 0.25 = 1.0 m surface to surface.
    m = episode_metrics(straight_line(people=lambda t, x: [(7, x + 1.55, 0.0, 1.0, 0.0, 0.25)]),
                        goal_event(10.0), GOAL, robot_radius=0.3)
    assert m["personal_time_fraction"] == pytest.approx(1.0)
    assert m["intimate_time_fraction"] == 0.0
    assert m["social_time_fraction"] == 0.0
    assert m["min_person_distance_m"] == pytest.approx(1.0)
    assert m["mean_person_distance_m"] == pytest.approx(1.0)
    # Same velocity as the robot: never closer, no time to collision.
    assert m["min_time_to_collision_s"] is None


def test_zone_fractions_split_by_time_and_use_the_closest_person():
    def people(t, x):
        rows = [(1, x + 10.0, 0.0, 1.0, 0.0, 0.25)]  # far: public zone
        if t < 5.0 - 1e-9:
            rows.append((2, x + 0.3 + 0.25 + 0.3, 0.0, 1.0, 0.0, 0.25))  # 0.3 m: intimate
        else:
            rows.append((2, x + 0.3 + 0.25 + 2.0, 0.0, 1.0, 0.0, 0.25))  # 2.0 m: social
        return rows

    m = episode_metrics(straight_line(people=people), goal_event(10.0), GOAL)
    # 100 of 201 steps in the intimate zone, each standing for 0.05 s of 10.05 s.
    assert m["intimate_time_fraction"] == pytest.approx(100 / 201)
    assert m["social_time_fraction"] == pytest.approx(101 / 201)
    assert m["personal_time_fraction"] == 0.0
    assert m["min_person_distance_m"] == pytest.approx(0.3)


def test_time_to_collision_of_a_head_on_approach():
    # Robot at 1 m/s, person 5 m ahead walking towards it at 1 m/s: surfaces 5 - 0.55 m apart,
    # closing at 2 m/s -> 2.225 s.
    track = as_track([{"t": 0.0, "x": 0.0, "y": 0.0, "yaw": 0.0, "v": 1.0, "w": 0.0,
                       "people": [(1, 5.0, 0.0, -1.0, 0.0, 0.25)]}])
    assert time_to_collision(track, 0.3)[0] == pytest.approx((5.0 - 0.55) / 2.0)
    # The same person walking away faster than the robot: never.
    track = as_track([{"t": 0.0, "x": 0.0, "y": 0.0, "yaw": 0.0, "v": 1.0, "w": 0.0,
                       "people": [(1, 5.0, 0.0, 2.0, 0.0, 0.25)]}])
    assert math.isinf(time_to_collision(track, 0.3)[0])
    # Passing 2 m to the side: the discs never meet.
    track = as_track([{"t": 0.0, "x": 0.0, "y": 0.0, "yaw": 0.0, "v": 1.0, "w": 0.0,
                       "people": [(1, 5.0, 2.0, -1.0, 0.0, 0.25)]}])
    assert math.isinf(time_to_collision(track, 0.3)[0])
    # Overlapping now: zero.
    track = as_track([{"t": 0.0, "x": 0.0, "y": 0.0, "yaw": 0.0, "v": 0.0, "w": 0.0,
                       "people": [(1, 0.5, 0.0, 0.0, 0.0, 0.25)]}])
    assert time_to_collision(track, 0.3)[0] == 0.0


def test_a_two_second_freeze_is_counted_once():
    trajectory = []
    for k in range(201):  # 10 s: moving, stopped from 3 s to 5 s, moving again
        t = k * DT
        v = 0.0 if 3.0 - 1e-9 <= t < 5.0 - 1e-9 else 1.0
        trajectory.append({"t": t, "x": 0.0, "y": 0.0, "yaw": 0.0, "v": v, "w": 0.0})
    track = as_track(trajectory)
    found = freezes(track, until=None)
    assert len(found) == 1
    assert found[0][0] == pytest.approx(3.0)
    assert found[0][1] == pytest.approx(2.0)
    m = episode_metrics(trajectory, [], GOAL)
    assert m["freezes"] == 1
    assert m["freeze_time_s"] == pytest.approx(2.0)
    assert m["time_not_moving_s"] == pytest.approx(2.0)


def test_short_stops_and_the_stop_at_the_goal_are_not_freezes():
    trajectory = []
    for k in range(201):
        t = k * DT
        # a 0.5 s stop at 2 s; the goal is reached at 6 s and the robot stays there
        stopped = (2.0 - 1e-9 <= t < 2.5 - 1e-9) or t >= 6.0 - 1e-9
        trajectory.append({"t": t, "x": 0.0, "y": 0.0, "yaw": 0.0,
                           "v": 0.0 if stopped else 1.0, "w": 0.0})
    m = episode_metrics(trajectory, goal_event(6.0), GOAL)
    assert m["freezes"] == 0
    # Turning on the spot is moving, not standing still.
    turning = [dict(s, v=0.0, w=0.5) for s in trajectory]
    assert episode_metrics(turning, goal_event(6.0), GOAL)["time_not_moving_s"] == 0.0


def test_success_needs_the_goal_no_collision_and_no_timeout():
    line = straight_line()
    assert episode_metrics(line, goal_event(10.0), GOAL)["success"] is True
    hit = goal_event(10.0) + [{"time": 4.0, "kind": "collision_person", "other_id": 3,
                               "robot_at_fault": True}]
    m = episode_metrics(line, hit, GOAL)
    assert m["success"] is False and m["goal_reached"] is True
    assert (m["collisions"], m["collisions_person"], m["collisions_robot_at_fault"]) == (1, 1, 1)
    bump = goal_event(10.0) + [{"time": 4.0, "kind": "collision_obstacle"}]
    m = episode_metrics(line, bump, GOAL)
    assert m["success"] is False and m["collisions_obstacle"] == 1
    # Never near the goal and the clock ran out.
    short = straight_line(seconds=5.0)
    m = episode_metrics(short, [{"time": 5.0, "kind": "timeout"}], GOAL)
    assert (m["success"], m["timeout"], m["goal_reached"]) == (False, True, False)
    assert m["time_to_goal_s"] is None and m["path_length_ratio"] is None
    # Without events: the goal counts once within its tolerance; the limit gives a timeout.
    m = episode_metrics(line, [], GOAL)
    assert m["success"] is True and m["time_to_goal_s"] == pytest.approx(9.7, abs=DT)
    m = episode_metrics(short, [], GOAL, timeout_s=5.0)
    assert m["timeout"] is True and m["success"] is False


def test_acceleration_and_jerk_of_a_speed_ramp():
    # v = 0.5 t: constant 0.5 m/s^2, zero jerk.
    trajectory = [{"t": k * 0.1, "x": 0.25 * (k * 0.1) ** 2, "y": 0.0, "yaw": 0.0,
                   "v": 0.05 * k, "w": 0.0} for k in range(41)]
    m = episode_metrics(trajectory, [], GOAL)
    assert m["mean_abs_accel_mps2"] == pytest.approx(0.5)
    assert m["mean_abs_jerk_mps3"] == pytest.approx(0.0, abs=1e-9)
    # Speed jumps once by 1 m/s between two steps 0.1 s apart: jerk +100 then -100.
    step = [{"t": k * 0.1, "x": 0.0, "y": 0.0, "yaw": 0.0, "v": 0.0 if k < 5 else 1.0,
             "w": 0.0} for k in range(10)]
    m = episode_metrics(step, [], GOAL)
    assert m["mean_abs_accel_mps2"] == pytest.approx(10.0 / 9)
    assert m["mean_abs_jerk_mps3"] == pytest.approx(200.0 / 8)


def test_heading_change_wraps_around_pi():
    yaws = [3.0, -3.0, 3.0]  # two small turns across +-pi, not two 6 rad turns
    trajectory = [{"t": float(k), "x": 0.0, "y": 0.0, "yaw": y, "v": 0.0, "w": 0.0}
                  for k, y in enumerate(yaws)]
    m = episode_metrics(trajectory, [], GOAL)
    assert m["heading_change_rad"] == pytest.approx(2 * (2 * math.pi - 6.0))


def test_decisions_rejections_and_llm_latency():
    line = straight_line(seconds=1.0, decision="SLOW")
    line[0]["decision"] = ""
    stats = {"rejections": {"LLM": 2, "RULES": 1}, "llm_requests": 5,
             "llm_latency_ms": [100.0, 200.0, 300.0, 400.0, 500.0]}
    m = episode_metrics(line, [], GOAL, reasoning_stats=stats)
    assert m["decision_steps"] == {"SLOW": 20}
    assert m["validator_rejections"] == 3
    assert m["llm_latency_ms_p50"] == pytest.approx(300.0)
    assert m["llm_latency_ms_p95"] == pytest.approx(480.0)
    m = episode_metrics(line, [], GOAL)
    assert m["validator_rejections"] is None and m["llm_latency_ms_p50"] is None


def test_events_may_be_episode_event_objects():
    from reasonact_ros.sim.events import EpisodeEvent

    events = [EpisodeEvent(3.0, "collision_person", 4, True), EpisodeEvent(10.0, "goal_reached")]
    m = episode_metrics(straight_line(), events, GOAL)
    assert m["collisions_person"] == 1 and m["collisions_robot_at_fault"] == 1
    assert m["success"] is False


@pytest.mark.parametrize("bad, message", [
    ([], "empty"),
    ([{"t": 0.0, "x": 0.0, "y": 0.0, "yaw": 0.0, "v": 0.0}], "missing field 'w'"),
    ([{"t": 0.0, "x": float("nan"), "y": 0.0, "yaw": 0.0, "v": 0.0, "w": 0.0}], "finite"),
    ([{"t": 1.0, "x": 0.0, "y": 0.0, "yaw": 0.0, "v": 0.0, "w": 0.0},
      {"t": 1.0, "x": 0.0, "y": 0.0, "yaw": 0.0, "v": 0.0, "w": 0.0}], "time must increase"),
    ([{"t": 0.0, "x": 0.0, "y": 0.0, "yaw": 0.0, "v": 0.0, "w": 0.0,
       "people": [(1, 2.0, 3.0)]}], "people"),
])
def test_bad_trajectories_raise_value_error(bad, message):
    with pytest.raises(ValueError, match=message):
        episode_metrics(bad, [], GOAL)


def test_bad_arguments_raise():
    with pytest.raises(TypeError):
        episode_metrics("not a trajectory", [], GOAL)
    with pytest.raises(ValueError, match="robot_radius"):
        episode_metrics(straight_line(), [], GOAL, robot_radius=-1.0)
    with pytest.raises(ValueError, match="waypoint"):
        EpisodeGoal(())
    with pytest.raises(ValueError, match="kind"):
        episode_metrics(straight_line(), [{"time": 1.0}], GOAL)

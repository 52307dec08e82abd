"""SafetyFilter: every rule acts on its own, within one update, and bad input is refused."""

import ast
import math
from pathlib import Path

import numpy as np
import pytest

from reasonact_ros.safety import SafetyConfig, SafetyFilter, box_polygon
from reasonact_ros.scene import Limits, ScanData, Velocity2D

BEAMS = 360
INCREMENT = 2.0 * math.pi / BEAMS


def scan_with(points=(), far=8.0, nan_beams=()):
    """A full-circle scan, ``far`` everywhere except returns at the given (x, y) points."""
    ranges = np.full(BEAMS, far)
    for x, y in points:
        beam = int(round((math.atan2(y, x) + math.pi) / INCREMENT)) % BEAMS
        ranges[beam] = math.hypot(x, y)
    ranges[list(nan_beams)] = np.nan
    return ScanData(ranges, -math.pi, INCREMENT, 0.05, 30.0)


CRUISE = Velocity2D(0.5, 0.0)


def ready(config=None, scan=None, now=0.0, command=CRUISE):
    safety = SafetyFilter(config or SafetyConfig())
    safety.on_scan(now, scan if scan is not None else scan_with())
    safety.on_command(now, command)
    return safety


def settle(safety, now=0.0, command=CRUISE, updates=20, dt=0.05):
    """Let the acceleration limit ramp up to ``command``; returns the time reached."""
    for _ in range(updates):
        safety.on_command(now, command)
        safety.on_scan(now, scan_with())
        safety.update(now)
        now += dt
    return now


def test_clear_scan_passes_the_command():
    safety = ready()
    now = settle(safety)
    out = safety.update(now)
    assert out.state == "ok" and out.command == Velocity2D(0.5, 0.0)


def test_point_entering_the_stop_zone_zeroes_linear_in_one_update():
    safety = ready()
    now = settle(safety, command=Velocity2D(1.0, 0.3))
    safety.on_scan(now, scan_with([(0.5, 0.0)]))
    safety.on_command(now, Velocity2D(1.0, 0.3))
    out = safety.update(now)
    assert out.state == "stop_zone"
    assert out.command.linear == 0.0
    assert out.command.angular == pytest.approx(0.3)  # a round robot may still turn away


def test_stop_zone_can_zero_rotation_too():
    safety = ready(SafetyConfig(stop_allows_rotation=False))
    now = settle(safety, command=Velocity2D(1.0, 0.3))
    safety.on_scan(now, scan_with([(0.5, 0.0)]))
    out = safety.update(now)
    assert out.state == "stop_zone" and out.command == Velocity2D(0.0, 0.0)


def test_slow_zone_scales_the_command():
    config = SafetyConfig(approach_enabled=False, slow_factor=0.4)
    safety = ready(config)
    now = settle(safety, command=Velocity2D(1.0, 0.2))
    safety.on_scan(now, scan_with([(1.0, 0.3)]))  # in the slow box, not the stop box
    out = safety.update(now)
    assert out.state == "slow_zone"
    assert out.command.linear == pytest.approx(0.4)
    assert out.command.angular == pytest.approx(0.08)


def test_approach_scales_so_collision_is_no_sooner_than_the_threshold():
    config = SafetyConfig(time_before_collision=2.0, slow_polygon=None)
    safety = ready(config)
    now = settle(safety, command=Velocity2D(1.0, 0.0), updates=30)
    # A wall 1.3 m ahead: the footprint front reaches it after 1.0 m, at t = 1.0 s.
    safety.on_scan(now, scan_with([(1.3, y) for y in np.linspace(-0.4, 0.4, 9)]))
    out = safety.update(now)
    assert out.state == "approach"
    assert out.command.linear == pytest.approx(0.5, abs=0.05)  # t_hit 1.0 s / 2.0 s
    # At the scaled speed the wall is 2 s away: the threshold, no sooner.
    assert (1.3 - 0.3) / out.command.linear >= 2.0 - 0.1


def test_approach_ignores_returns_off_the_commanded_arc():
    config = SafetyConfig(time_before_collision=2.0, slow_polygon=None)
    safety = ready(config)
    now = settle(safety, command=Velocity2D(1.0, 0.0), updates=30)
    safety.on_scan(now, scan_with([(1.3, 1.0), (1.3, -1.0)]))  # beside the path
    assert safety.update(now).state == "ok"


def test_approach_lets_the_robot_drive_away_from_a_touching_return():
    config = SafetyConfig(slow_polygon=None, stop_polygon=box_polygon(0.4, 0.8, 0.3))
    safety = ready(config, scan=scan_with([(-0.25, 0.0)]))
    now = settle(safety, command=Velocity2D(0.5, 0.0))
    safety.on_scan(now, scan_with([(-0.25, 0.0)]))  # inside the footprint, behind
    out = safety.update(now)
    assert out.state == "ok" and out.command.linear == pytest.approx(0.5)


def test_watchdog_zeroes_a_stale_command():
    safety = ready()
    now = settle(safety)
    safety.on_scan(now + 0.3, scan_with())
    out = safety.update(now + 0.3)  # last command was at now - 0.05
    assert out.state == "watchdog" and out.command == Velocity2D(0.0, 0.0)


def test_watchdog_before_any_command():
    safety = SafetyFilter(SafetyConfig())
    safety.on_scan(0.0, scan_with())
    assert safety.update(0.0).state == "watchdog"


def test_missing_or_stale_scan_stops():
    safety = SafetyFilter(SafetyConfig())
    safety.on_command(0.0, Velocity2D(0.5, 0.0))
    assert safety.update(0.0).state == "no_scan"
    safety = ready()
    now = settle(safety)
    safety.on_command(now + 1.0, Velocity2D(0.5, 0.0))
    out = safety.update(now + 1.0)
    assert out.state == "no_scan" and out.command == Velocity2D(0.0, 0.0)


def test_limits_clamp_speed_and_reverse():
    limits = Limits(max_linear_speed=0.8, max_reverse_speed=0.2, max_angular_speed=1.0)
    safety = ready(SafetyConfig(limits=limits))
    now = settle(safety, command=Velocity2D(5.0, 3.0), updates=40)
    out = safety.update(now)
    assert out.state == "limited"
    assert out.command == Velocity2D(0.8, 1.0)
    now = settle(safety, now, command=Velocity2D(-5.0, -3.0), updates=40)
    assert safety.update(now).command == Velocity2D(-0.2, -1.0)


def test_acceleration_is_limited_but_stopping_is_immediate():
    limits = Limits(max_linear_accel=1.0, max_angular_accel=2.0)
    safety = ready(SafetyConfig(limits=limits))
    safety.update(0.0)  # from rest, up to max_accel_dt of acceleration: 0.1 m/s
    safety.on_command(0.1, Velocity2D(1.0, 1.0))
    out = safety.update(0.1)
    assert out.state == "limited"
    assert out.command.linear == pytest.approx(0.2)  # + 1.0 m/s^2 for 0.1 s
    assert out.command.angular == pytest.approx(0.2)  # + 2.0 rad/s^2 for 0.1 s
    now = settle(safety, 0.1, command=Velocity2D(1.0, 1.0), updates=40)
    assert safety.update(now).command.linear == pytest.approx(1.0)
    safety.on_command(now, Velocity2D(0.0, 0.0))
    assert safety.update(now).command == Velocity2D(0.0, 0.0)  # same instant: no ramp


def test_reversal_drops_to_zero_then_ramps():
    limits = Limits(max_reverse_speed=1.0, max_linear_accel=1.0)
    safety = ready(SafetyConfig(limits=limits))
    now = settle(safety, command=Velocity2D(1.0, 0.0), updates=40)
    safety.on_command(now, Velocity2D(-1.0, 0.0))
    out = safety.update(now)  # steady at 1.0 for long: up to max_accel_dt of the ramp
    assert out.command.linear == pytest.approx(-0.1)


def test_a_timer_tick_just_before_a_command_leaves_it_its_acceleration():
    # On a real clock the timer re-filters the standing command every 50 ms. A command
    # 5 ms after a tick was allowed 5 ms of acceleration (+0.005 m/s): the speed-up
    # waited for the next tick. The limit counts from when the output last changed.
    limits = Limits(max_linear_accel=1.0)
    safety = ready(SafetyConfig(limits=limits), command=Velocity2D(0.5, 0.0))
    now = settle(safety, command=Velocity2D(0.5, 0.0), updates=40)
    for _ in range(3):  # ticks with nothing new
        safety.on_scan(now, scan_with())
        assert safety.update(now).command.linear == pytest.approx(0.5)
        now += 0.05
    safety.on_command(now + 0.005, Velocity2D(1.0, 0.0))
    out = safety.update(now + 0.005)
    assert out.command.linear == pytest.approx(0.5 + 1.0 * 0.1)  # max_accel_dt's worth
    safety.on_command(now + 0.05, Velocity2D(1.0, 0.0))
    assert safety.update(now + 0.05).command.linear == pytest.approx(0.6 + 1.0 * 0.045)


def test_nan_command_gives_zero_and_is_counted():
    safety = ready()
    now = settle(safety)
    safety.on_command(now, Velocity2D(float("nan"), 0.2))
    out = safety.update(now)
    assert out.state == "invalid_command" and out.command == Velocity2D(0.0, 0.0)
    assert safety.counters["invalid_commands"] == 1
    safety.on_command(now, Velocity2D(0.1, float("inf")))
    assert safety.update(now).command == Velocity2D(0.0, 0.0)
    safety.on_command(now + 0.05, Velocity2D(0.1, 0.0))
    out = safety.update(now + 0.05)  # recovers on the next finite command, from zero
    assert out.state == "limited" and out.command.linear == pytest.approx(0.05)


def test_nan_beams_are_ignored():
    safety = ready()
    now = settle(safety)
    beam_ahead = BEAMS // 2  # angle 0
    safety.on_scan(now, scan_with(nan_beams=range(beam_ahead - 5, beam_ahead + 5)))
    out = safety.update(now)
    assert out.state == "ok" and out.command.linear == pytest.approx(0.5)
    assert safety.counters["invalid_beams"] >= 10


def test_scan_without_a_single_valid_beam_stops():
    safety = ready()
    now = settle(safety)
    safety.on_scan(now, scan_with(nan_beams=range(BEAMS)))
    out = safety.update(now)
    assert out.state == "scan_invalid" and out.command == Velocity2D(0.0, 0.0)
    assert safety.counters["invalid_scans"] == 1


def test_open_space_scan_of_all_inf_is_clear_not_invalid():
    # REP-117: +inf is "nothing within range"; a robot in open space must keep driving.
    safety = ready()
    now = settle(safety)
    safety.on_scan(now, scan_with(far=math.inf))
    out = safety.update(now)
    assert out.state == "ok" and out.command.linear == pytest.approx(0.5)


def test_minus_inf_beam_ahead_is_an_obstacle_too_close_to_measure():
    safety = ready()
    now = settle(safety)
    ranges = np.full(BEAMS, math.inf)
    ranges[BEAMS // 2] = -math.inf  # straight ahead
    safety.on_scan(now, ScanData(ranges, -math.pi, INCREMENT, 0.05, 30.0))
    out = safety.update(now)
    assert out.state == "stop_zone" and out.command.linear == 0.0


def test_estop_overrides_everything_until_released():
    safety = ready()
    now = settle(safety)
    safety.set_estop(True)
    out = safety.update(now)
    assert out.state == "estop" and out.command == Velocity2D(0.0, 0.0)
    safety.set_estop(False)
    assert safety.update(now).state in ("ok", "limited")


def test_lidar_offset_moves_returns_into_the_base_frame():
    # Lidar 0.4 m behind base_link, rotated half a turn: a return 1.0 m "ahead" of the
    # sensor is 1.4 m behind the base, outside every forward zone.
    config = SafetyConfig(lidar_x=-0.4, lidar_yaw=math.pi)
    safety = ready(config)
    now = settle(safety)
    safety.on_scan(now, scan_with([(1.0, 0.0)]))
    assert safety.update(now).state == "ok"
    # And a return 0.9 m behind the sensor is 0.5 m ahead of the base: stop zone.
    safety.on_scan(now, scan_with([(-0.9, 0.0)]))
    assert safety.update(now).state == "stop_zone"


@pytest.mark.parametrize("bad", [
    {"stop_polygon": np.zeros((2, 2))},
    {"stop_polygon": [[0, 0], [1, 0], [2, 0]]},  # no area
    {"slow_polygon": [[0, 0], [1, np.nan], [0, 1]]},
    {"slow_factor": 0.0},
    {"slow_factor": 1.5},
    {"watchdog_timeout": 0.0},
    {"time_before_collision": float("inf")},
    {"robot_radius": -0.3},
    {"lidar_yaw": float("nan")},
    {"limits": "fast"},
])
def test_bad_config_raises(bad):
    with pytest.raises(ValueError):
        SafetyConfig(**bad)


def test_filter_needs_a_config():
    with pytest.raises(ValueError):
        SafetyFilter({"slow_factor": 0.5})


def test_safety_imports_nothing_it_guards_against():
    package = Path(__file__).resolve().parents[1] / "reasonact_ros" / "safety"
    forbidden = ("perception", "reasoning", "planning", "rclpy", "torch")
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                assert not any(part in name.split(".") for part in forbidden), \
                    f"{source.name} imports {name}"


def test_clock_jumping_back_or_nan_time_is_not_fresh():
    safety = ready(now=100.0)
    safety.update(100.0)
    assert safety.update(0.0).state == "watchdog"  # sim reset: the old command is stale
    assert safety.update(float("nan")).state == "watchdog"
    safety.on_command(float("nan"), CRUISE)
    safety.on_scan(5.0, scan_with())
    assert safety.update(5.0).state == "watchdog"
    safety.on_command(5.0, CRUISE)
    # A finite ramp from zero, which the output has been since the jump back to 0 s.
    assert safety.update(5.05).command.linear == pytest.approx(0.1)


def test_benchmark_helper_runs():
    from reasonact_ros.safety.benchmark import safety_scan_time_ms

    assert safety_scan_time_ms(beams=90, repeats=5) > 0.0
    with pytest.raises(ValueError):
        safety_scan_time_ms(beams=0)


def test_scan_with_a_broken_header_counts_as_invalid():
    safety = ready()
    now = settle(safety)
    broken = scan_with()
    broken.angle_increment = float("nan")
    safety.on_scan(now, broken)
    assert safety.update(now).state == "scan_invalid"


def test_random_inputs_never_give_an_unsafe_output():
    # Seeded fuzz: whatever arrives, the output is finite, within the limits, and only
    # ever speeds up within the acceleration limit.
    rng = np.random.default_rng(7)
    limits = Limits(max_linear_speed=1.0, max_reverse_speed=0.3, max_angular_speed=1.2)
    safety = SafetyFilter(SafetyConfig(limits=limits))
    last, now = Velocity2D(), 0.0
    for _ in range(400):
        now += rng.choice([0.01, 0.05, 0.1])
        values = rng.normal(0.0, 2.0, 2)
        broken = rng.random(2) < 0.15
        values[broken] = rng.choice([np.nan, np.inf, -np.inf], size=int(broken.sum()))
        safety.on_command(now, Velocity2D(float(values[0]), float(values[1])))
        ranges = rng.uniform(0.1, 6.0, BEAMS)
        ranges[rng.random(BEAMS) < 0.1] = np.nan
        safety.on_scan(now, ScanData(ranges, -math.pi, INCREMENT, 0.05, 30.0))
        out = safety.update(now).command
        assert math.isfinite(out.linear) and math.isfinite(out.angular)
        assert -0.3 - 1e-9 <= out.linear <= 1.0 + 1e-9 and abs(out.angular) <= 1.2 + 1e-9
        if abs(out.linear) > abs(last.linear) + 1e-9:  # speeding up: within the limit
            assert abs(out.linear - (last.linear if out.linear * last.linear > 0 else 0.0)) \
                <= limits.max_linear_accel * 0.1 + 1e-9
        last = out


def test_a_clock_gone_back_under_a_standing_output_still_lets_the_robot_start():
    # The output stood at zero from t = 100 s; the simulator reset its clock to 5 s. The
    # limit's clock must follow, or no time would ever have passed since the last change.
    safety = ready(now=100.0, command=Velocity2D(0.0, 0.0))
    assert safety.update(100.0).command == Velocity2D(0.0, 0.0)
    assert safety.update(100.05).command == Velocity2D(0.0, 0.0)
    safety.on_scan(5.0, scan_with())
    safety.on_command(5.0, Velocity2D(0.0, 0.0))
    assert safety.update(5.0).command == Velocity2D(0.0, 0.0)
    now = 5.0
    for _ in range(5):
        now += 0.05
        safety.on_scan(now, scan_with())
        safety.on_command(now, CRUISE)
        out = safety.update(now)
    assert out.command.linear == pytest.approx(0.25)  # 1 m/s^2 for 0.25 s


"""`reasonact launch` (reasonact_ros.composition): the launch files' graphs without ros2 launch.

The sim composition runs as a real process: the robot must be commanded and
must move, and SIGINT must end it with exit code 0 after a zero command.
"""

import argparse
import contextlib
import math
import threading
import time

import pytest
import rclpy
import yaml
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from process_tools import start_python, stop
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node

from reasonact_ros import composition
from reasonact_ros.nodes import qos
from reasonact_ros.share import share_path

pytestmark = pytest.mark.ros


def _parse(*argv):
    parser = argparse.ArgumentParser(prog="reasonact")
    commands = parser.add_subparsers(dest="command", required=True)
    composition.add_launch_command(commands)
    return parser.parse_args(["launch", *argv])


class _Watcher:
    """Records cmd_vel and odom from another process, in its own context."""

    def __init__(self):
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("composition_watcher", context=self.context)
        self.commands: list[tuple[float, float]] = []
        self.odom: list[tuple[float, float]] = []
        self.node.create_subscription(
            Twist, "cmd_vel", lambda m: self.commands.append((m.linear.x, m.angular.z)),
            qos.COMMAND)
        self.node.create_subscription(
            Odometry, "odom",
            lambda m: self.odom.append((m.pose.pose.position.x, m.pose.pose.position.y)),
            qos.SENSOR)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()

    def distance_moved(self) -> float:
        if len(self.odom) < 2:
            return 0.0
        (x0, y0), (x1, y1) = self.odom[0], self.odom[-1]
        return math.hypot(x1 - x0, y1 - y0)

    def close(self):
        self.executor.shutdown(timeout_sec=2.0)
        self._thread.join(timeout=5.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def test_sim_composition_drives_the_robot_and_stops_cleanly_on_sigint():
    watcher = _Watcher()
    process = start_python(["-m", "reasonact_ros.composition", "sim", "--scenario",
                            "empty_walkway", "-p", "planner_node.mppi_samples:=300"])
    try:
        deadline = time.monotonic() + 35.0
        while time.monotonic() < deadline and process.poll() is None:
            moving = any(v > 0.05 for v, _ in watcher.commands)
            if moving and watcher.distance_moved() > 0.3:
                break
            time.sleep(0.2)
        moved = watcher.distance_moved()
        commanded = [v for v, _ in watcher.commands]
        count_before_stop = len(watcher.commands)
        output = stop(process)
        time.sleep(0.5)  # the zero command is in flight
    finally:
        if process.poll() is None:
            stop(process)
        watcher.close()
    assert process.returncode == 0, output[-3000:]
    assert commanded and max(commanded) > 0.05, f"no forward cmd_vel seen\n{output[-3000:]}"
    assert moved > 0.3, f"odom moved only {moved:.2f} m\n{output[-3000:]}"
    assert "Traceback" not in output, output[-3000:]
    # safety_node.on_shutdown publishes zero as the last word to the base
    assert len(watcher.commands) > count_before_stop, "no command after SIGINT"
    assert watcher.commands[-1] == (0.0, 0.0), watcher.commands[-5:]


def test_scenario_parameters_give_planner_the_route_and_perception_the_walkway():
    params = composition.scenario_parameters("head_on")
    assert params["planner_node"]["route"] == params["reasoning_node"]["route"] == [20.0, 0.0]
    assert params["planner_node"]["goal_tolerance"] == pytest.approx(0.3)
    left, right = params["perception_node"]["walkway_left"], params["perception_node"][
        "walkway_right"]
    assert len(left) % 2 == 0 and len(left) >= 4
    assert left[1] == pytest.approx(1.5) and right[1] == pytest.approx(-1.5)


def test_robot_mode_layers_robot_yaml_and_profile_and_remaps_profile_topics():
    args = _parse("robot", "--robot", "turtlebot4", "-r", "odom:=/base/odom")
    comp = composition.composition_from_args(args)
    names = [p.name for p in comp.params_files]
    assert names == ["reasonact.yaml", "robot.yaml", "turtlebot4.yaml"]
    assert all(p.is_file() for p in comp.params_files)
    remaps = dict(comp.remaps)
    assert remaps["camera/image_raw"] == "oakd/rgb/preview/image_raw"
    assert remaps["odom"] == "/base/odom"
    ros_args = comp.ros_args()
    assert ros_args[0] == "--ros-args" and ros_args.count("--params-file") == 3


def test_every_profile_has_a_parameter_file_and_back():
    files = {p.stem for p in share_path("config", "robots").glob("*.yaml")}
    assert files == set(composition.ROBOT_PROFILES)


@pytest.mark.parametrize("text, message", [
    ("safety_node.robot_radius", "node.param:=value"),
    ("nosuch_node.x:=1", "unknown node"),
    ("safety_node.robot_radius:=[1, 2", "YAML"),
    ("safety_node.robot_radius:=.nan", "finite"),
])
def test_bad_parameter_assignment_is_refused_with_a_reason(text, message):
    with pytest.raises(ValueError, match=message):
        composition.parse_assignment(text)


def test_assignment_values_are_yaml_typed_not_evaluated():
    assert composition.parse_assignment("safety_node.robot_radius:=0.25").value == 0.25
    assert composition.parse_assignment("use_stamped_cmd_vel:=true").value is True
    text = "reasoning_node.llm_endpoint:=__import__('os').getcwd()"
    assert composition.parse_assignment(text).value == "__import__('os').getcwd()"


def test_undeclared_cli_parameter_exits_2_with_one_line(capsys):
    args = _parse("stack", "-p", "safety_node.robot_radus:=0.2")
    assert composition.run(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "robot_radus" in err[0], err


def test_rejected_parameter_value_exits_2_with_one_line(capsys):
    args = _parse("stack", "-p", "reasoning_node.backend:=telepathy")
    assert composition.run(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "telepathy" in err[0], err


def test_missing_params_file_exits_2(capsys, tmp_path):
    args = _parse("stack", "--params-file", str(tmp_path / "nope.yaml"))
    assert composition.run(args) == 2
    assert "does not exist" in capsys.readouterr().err


def test_stack_composition_builds_four_nodes_and_stops(tmp_path):
    args = _parse("stack", "-p", "planner_node.mppi_samples:=64")
    comp = composition.composition_from_args(args)
    assert composition.run_composition(comp, stop_after_s=0.5) == 0


def test_namespaced_params_file_matches_nodes_in_the_namespace(tmp_path):
    source = share_path("config", "reasonact.yaml")
    rewritten = composition.namespaced_params_file(source, "/robot1", out_dir=tmp_path)
    data = yaml.safe_load(rewritten.read_text())
    assert "/robot1/safety_node" in data and "safety_node" not in data
    assert composition.file_parameters([rewritten], "safety_node", "/robot1")
    assert not composition.file_parameters([rewritten], "safety_node", "/")
    assert composition.namespaced_params_file(source, "") == source


def test_command_line_errors_are_one_line_with_exit_2(capsys):
    for argv, word in ((["sim", "--scenario", "nosuch"], "nosuch"),
                       (["warp"], "warp"),
                       (["stack", "--scenario", "head_on"], "--scenario")):
        assert composition.main(argv) == 2, argv
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and word in lines[0], (argv, lines)


def test_parameter_for_a_node_outside_the_composition_exits_2(capsys):
    args = _parse("stack", "-p", "sim_node.real_time_factor:=2.0")
    assert composition.run(args) == 2
    err = capsys.readouterr().err
    assert "sim_node" in err and "not part of" in err


def test_reasoner_choices_are_the_reasoning_node_backends():
    from reasonact_ros.nodes.reasoning_node import BACKENDS

    assert set(composition.REASONERS) == set(BACKENDS)


@contextlib.contextmanager
def _spinners(make_nodes, **kwargs):
    """NodeSpinners over the nodes ``make_nodes(context)`` builds in a fresh context,
    started; shut down, the nodes destroyed and the context ended afterwards."""
    from reasonact_ros.nodes.entrypoint import NodeSpinners

    context = rclpy.Context()
    rclpy.init(context=context)
    nodes = make_nodes(context)
    spinners = NodeSpinners(nodes, context, **kwargs)
    try:
        spinners.start()
        yield spinners, nodes
    finally:
        spinners.shutdown()
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown(context=context)


def _wait_until(condition, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


class _Ticking(Node):
    """A 100 Hz timer counting its ticks; each blocks until ``release`` is set (if
    given), and the first ``failures`` raise."""

    def __init__(self, name, context, release=None, failures=0):
        super().__init__(name, context=context)
        self.ticks, self._release, self._failures = 0, release, failures
        self.create_timer(0.01, self._tick)

    def _tick(self):
        self.ticks += 1
        if self._release is not None:
            self._release.wait()
        if self.ticks <= self._failures:
            raise ValueError(f"tick {self.ticks} fails")


def test_node_spinners_keep_one_node_going_while_another_is_stuck_in_a_callback():
    release = threading.Event()
    with _spinners(lambda context: [_Ticking("stuck", context, release),
                                    _Ticking("counter", context)]) as (_, (stuck, counter)):
        try:
            _wait_until(lambda: counter.ticks >= 20)
            # One executor for both would have stopped at the stuck node's first tick.
            assert stuck.ticks == 1 and counter.ticks >= 20
        finally:
            release.set()  # before the spinners shut down


def test_node_spinners_hand_a_callbacks_error_to_the_waiting_thread():
    failing = _spinners(lambda context: [_Ticking("failing", context, failures=10**9)])
    with failing as (spinners, _):
        with pytest.raises(ValueError, match="tick 1 fails"):
            spinners.wait(timeout_s=60.0)


def test_node_spinners_with_on_error_report_a_callbacks_error_and_spin_on():
    errors = []
    with _spinners(lambda context: [_Ticking("failing_once", context, failures=1)],
                   on_error=lambda e: errors.append(e) or True) as (_, (node,)):
        _wait_until(lambda: node.ticks >= 5)
    assert [str(e) for e in errors] == ["tick 1 fails"] and node.ticks >= 5

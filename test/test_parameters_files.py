"""Every parameter in config/*.yaml is declared, accepted and applied by its node.

rclpy ignores a parameter-file entry that no node declares (a typo like
`robot_radus` would silently leave the default in charge), so each layered set of
files the launch files use is loaded the way `ros2 launch` loads it
(`--ros-args --params-file ...`), the real nodes are built in-process, and every
key is compared with what the node declares and the value it ended up with.
"""

from __future__ import annotations

import array
import math
from pathlib import Path

import pytest
import rclpy
import yaml

pytestmark = pytest.mark.ros  # real nodes, in-process

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config"

# The layers the launch files apply, lowest precedence first.
LAYERS = {
    "stack (reasonact/sim.launch.py)": ["reasonact.yaml"],
    "robot generic_diff_drive": ["reasonact.yaml", "robot.yaml",
                                 "robots/generic_diff_drive.yaml"],
    "robot turtlebot4": ["reasonact.yaml", "robot.yaml", "robots/turtlebot4.yaml"],
    "gazebo": ["reasonact.yaml", "robots/gazebo_walkway.yaml"],
}
# One limit, one name, several stages: they must agree or the tightest silently wins.
SHARED = {
    "max_linear_speed": ("reasoning_node", "planner_node", "safety_node"),
    "max_angular_speed": ("reasoning_node", "planner_node", "safety_node"),
    "min_person_clearance": ("reasoning_node", "planner_node", "safety_node"),
    # a Twist publisher and a TwistStamped subscriber never connect
    "use_stamped_cmd_vel": ("planner_node", "safety_node"),
    "lidar_x": ("perception_node", "planner_node", "safety_node"),
    "lidar_y": ("perception_node", "planner_node", "safety_node"),
    "lidar_yaw": ("perception_node", "planner_node", "safety_node"),
    "route": ("reasoning_node", "planner_node"),  # the rules ignore who stays beyond its end
}


def _node_classes():
    from reasonact_ros.nodes.perception_node import PerceptionNode
    from reasonact_ros.nodes.planner_node import PlannerNode
    from reasonact_ros.nodes.reasoning_node import ReasoningNode
    from reasonact_ros.nodes.safety_node import SafetyNode
    from reasonact_ros.nodes.sim_node import SimNode

    return {"sim_node": SimNode, "perception_node": PerceptionNode,
            "reasoning_node": ReasoningNode, "planner_node": PlannerNode,
            "safety_node": SafetyNode}


def _flatten(params: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in params.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _file_parameters(relative: str) -> dict[str, dict]:
    data = yaml.safe_load((CONFIG / relative).read_text())
    assert isinstance(data, dict), relative
    result = {}
    for node_name, body in data.items():
        assert isinstance(body, dict) and set(body) == {"ros__parameters"}, \
            f"{relative}: {node_name} must hold only ros__parameters"
        result[node_name] = _flatten(body["ros__parameters"])
    return result


def _is_ros_parameter_file(path: Path) -> bool:
    data = yaml.safe_load(path.read_text())
    return isinstance(data, dict) and any(
        isinstance(v, dict) and "ros__parameters" in v for v in data.values())


def _build(files: list[str], node_names):
    """Start each node in its own context with the files as --params-file layers.

    Own contexts: in one DDS participant a Twist and a TwistStamped endpoint on the same
    topic cannot coexist (sim_node and a stamped safety_node are never launched together).
    """
    args = ["--ros-args"]
    for relative in files:
        args += ["--params-file", str(CONFIG / relative)]
    classes = _node_classes()
    nodes, contexts = {}, []
    try:
        for name in node_names:
            context = rclpy.Context()
            rclpy.init(context=context, args=args)
            contexts.append(context)
            nodes[name] = classes[name](context=context)
    except BaseException:
        _destroy(nodes, contexts)
        raise
    return nodes, contexts


def _destroy(nodes, contexts):
    for node in nodes.values():
        node.destroy_node()
    for context in contexts if isinstance(contexts, list) else [contexts]:
        rclpy.try_shutdown(context=context)


def _undeclared(node, expected: dict) -> list[str]:
    declared = set(node.get_parameters_by_prefix(""))
    return sorted(name for name in expected
                  if name not in declared or not node.has_parameter(name))


def test_every_ros_parameter_file_in_config_is_checked_in_some_layer():
    checked = {f for files in LAYERS.values() for f in files}
    found = {str(p.relative_to(CONFIG)) for p in CONFIG.rglob("*.yaml")
             if _is_ros_parameter_file(p)}
    assert found == checked, f"unchecked parameter files: {found - checked}"


@pytest.fixture(scope="module", params=sorted(LAYERS))
def layered(request):
    files = LAYERS[request.param]
    expected: dict[str, dict] = {}
    for relative in files:
        for node_name, params in _file_parameters(relative).items():
            expected.setdefault(node_name, {}).update(params)
    nodes, contexts = _build(files, expected)
    yield request.param, expected, nodes
    _destroy(nodes, contexts)


def test_every_parameter_is_declared_by_its_node(layered):
    layer, expected, nodes = layered
    classes = _node_classes()
    for node_name, params in expected.items():
        assert node_name in classes, f"{layer}: no node called {node_name}"
        missing = _undeclared(nodes[node_name], params)
        assert not missing, f"{layer}: {node_name} does not declare {missing}"


def test_every_parameter_value_reaches_the_node(layered):
    layer, expected, nodes = layered
    for node_name, params in expected.items():
        for name, value in params.items():
            actual = nodes[node_name].get_parameter(name).value
            if isinstance(value, list):
                actual = list(actual)
            assert actual == value, f"{layer}: {node_name}.{name} = {actual!r}, file {value!r}"


def test_shared_limits_agree_across_stages(layered):
    layer, _, nodes = layered
    for name, node_names in SHARED.items():
        values = {n: nodes[n].get_parameter(name).value for n in node_names if n in nodes}
        # Arrays (the route) compared as tuples.
        distinct = {tuple(v) if isinstance(v, (list, tuple, array.array)) else v
                    for v in values.values()}
        assert len(distinct) <= 1, f"{layer}: {name} differs: {values}"


def test_stop_zone_reaches_past_the_footprint(layered):
    layer, _, nodes = layered
    safety = nodes["safety_node"]
    radius = safety.get_parameter("robot_radius").value
    stop = list(safety.get_parameter("stop_polygon").value)
    slow = list(safety.get_parameter("slow_polygon").value)
    stop_front, slow_front = max(stop[0::2]), max(slow[0::2])
    assert stop_front > radius, f"{layer}: the stop zone ends inside the robot"
    assert slow_front > stop_front, f"{layer}: the slow zone must extend past the stop zone"
    assert max(abs(y) for y in stop[1::2]) >= radius, f"{layer}: stop zone narrower than robot"


def test_turtlebot4_profile_stays_within_the_base():
    params = _file_parameters("robots/turtlebot4.yaml")
    # Create 3 / TurtleBot 4 spec: 0.31 m/s top speed, 1.9 rad/s; 342 mm across.
    for node_name in SHARED["max_linear_speed"]:
        assert params[node_name]["max_linear_speed"] <= 0.31
        assert params[node_name]["max_angular_speed"] <= 1.9
    assert 0.17 <= params["safety_node"]["robot_radius"] <= 0.2
    assert math.isclose(params["perception_node"]["lidar_yaw"], math.pi / 2, abs_tol=1e-3)


def test_robot_yaml_is_more_careful_than_the_simulation_defaults():
    stack = _file_parameters("reasonact.yaml")
    robot = _file_parameters("robot.yaml")
    for node_name in SHARED["max_linear_speed"]:
        assert robot[node_name]["max_linear_speed"] < stack[node_name]["max_linear_speed"]
    assert robot["reasoning_node"]["backend"] == "rules"
    assert "use_sim_time" not in robot.get("safety_node", {})


# --- the checks above must catch what they claim to catch --------------------------------
def test_checker_detects_an_undeclared_parameter(tmp_path):
    bad = tmp_path / "typo.yaml"
    bad.write_text("safety_node:\n  ros__parameters:\n    robot_radus: 0.2\n")
    context = rclpy.Context()
    rclpy.init(context=context, args=["--ros-args", "--params-file", str(bad)])
    node = _node_classes()["safety_node"](context=context)
    try:
        assert _undeclared(node, {"robot_radus": 0.2, "robot_radius": 0.3}) == ["robot_radus"]
    finally:
        _destroy({"safety_node": node}, context)


def test_a_rejected_value_makes_node_construction_raise(tmp_path):
    bad = tmp_path / "negative.yaml"
    bad.write_text("safety_node:\n  ros__parameters:\n    robot_radius: -1.0\n")
    context = rclpy.Context()
    rclpy.init(context=context, args=["--ros-args", "--params-file", str(bad)])
    try:
        with pytest.raises(Exception, match="robot_radius"):
            _node_classes()["safety_node"](context=context)
    finally:
        rclpy.try_shutdown(context=context)


def test_simulator_and_safety_node_agree_on_the_cmd_vel_type():
    # sim.launch.py and `reasonact launch sim` run sim_node with reasonact.yaml only
    stack = _file_parameters("reasonact.yaml")
    values = {n: stack[n].get("use_stamped_cmd_vel", False)
              for n in ("sim_node", "planner_node", "safety_node")}
    assert len(set(values.values())) == 1, values

"""launch/*.launch.py, checked statically: launch and launch_ros cannot be installed here.

The files are parsed with ``ast`` and never imported or executed. What is checked is
what breaks a `ros2 launch` on a user's machine: an executable CMake does not install,
a file that does not exist, an argument without a description, an include passing an
argument the included file does not declare, a remap of a topic no node uses, an
inline parameter no node declares, a broken cmd_vel chain.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import rclpy

from reasonact_ros.nodes.reasoning_node import BACKENDS

ROOT = Path(__file__).resolve().parent.parent
LAUNCH_DIR = ROOT / "launch"
EXPECTED = {"reasonact.launch.py", "sim.launch.py", "gazebo.launch.py", "robot.launch.py"}
PACKAGE = "reasonact_ros"
# Executables of other packages the launch files may start (package, executable).
EXTERNAL_EXECUTABLES = {("rviz2", "rviz2"), ("ros_gz_bridge", "parameter_bridge"),
                        ("ros_gz_sim", "create"), ("tf2_ros", "static_transform_publisher")}
# ros_gz_sim/launch/gz_sim.launch.py arguments (Jazzy/Kilted; later ones add headless).
GZ_SIM_LAUNCH_ARGUMENTS = {"gz_args", "gz_version", "ign_args", "ign_version",
                           "on_exit_shutdown", "debugger", "headless", "use_gui", "record"}
STACK_ARGUMENTS = {"namespace", "use_sim_time", "params_file", "reasoner", "llm_endpoint",
                   "use_stamped_cmd_vel", "log_level"}


# --- reading launch files without running them -----------------------------------------
class LaunchFile:
    def __init__(self, path: Path):
        self.path = path
        self.tree = ast.parse(path.read_text(), filename=str(path), feature_version=(3, 10))
        self.constants = {}
        for node in self.tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(
                    node.targets[0], ast.Name):
                try:
                    self.constants[node.targets[0].id] = ast.literal_eval(node.value)
                except ValueError:
                    pass

    def calls(self, name: str) -> list[ast.Call]:
        found = []
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Call):
                func = node.func
                called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                if called == name:
                    found.append(node)
        return found

    def value(self, node):
        """A literal, a module constant, or None when it is only known at launch time."""
        if isinstance(node, ast.Name):
            return self.constants.get(node.id)
        try:
            return ast.literal_eval(node)
        except ValueError:
            return None

    def declared_arguments(self) -> dict[str, ast.Call]:
        return {self.value(call.args[0]): call for call in self.calls("DeclareLaunchArgument")}

    def enclosing_function(self, target: ast.AST) -> ast.FunctionDef | None:
        for node in ast.walk(self.tree):
            if isinstance(node, ast.FunctionDef) and any(n is target for n in ast.walk(node)):
                return node
        return None


def _kw(call: ast.Call, name: str):
    return next((k.value for k in call.keywords if k.arg == name), None)


def _cmake_nodes() -> set[str]:
    text = (ROOT / "CMakeLists.txt").read_text()
    match = re.search(r"set\(_nodes\s+([^)]*)\)", text)
    assert match, "CMakeLists.txt has no set(_nodes ...) list"
    return set(match.group(1).split())


def _share_path(lf: LaunchFile, call: ast.Call):
    """os.path.join(share_dir, 'config', 'x.yaml') -> the path in this checkout, or None."""
    if not call.args or not isinstance(call.args[0], ast.Name) or call.args[0].id != "share_dir":
        return None
    parts = []
    for arg in call.args[1:]:
        if isinstance(arg, ast.JoinedStr):  # f'{robot}.yaml': any file of that shape
            parts.append("".join(v.value if isinstance(v, ast.Constant) else "*"
                                 for v in arg.values))
        else:
            value = lf.value(arg)
            assert isinstance(value, str), f"{lf.path.name}:{call.lineno}: unresolvable path"
            parts.append(value)
    return "/".join(parts)


@pytest.fixture(scope="module")
def launch_files() -> dict[str, LaunchFile]:
    return {p.name: LaunchFile(p) for p in sorted(LAUNCH_DIR.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def stack_nodes():
    """The real nodes, to compare launch-file names with what they declare and use."""
    from reasonact_ros.nodes.perception_node import PerceptionNode
    from reasonact_ros.nodes.planner_node import PlannerNode
    from reasonact_ros.nodes.reasoning_node import ReasoningNode
    from reasonact_ros.nodes.safety_node import SafetyNode
    from reasonact_ros.nodes.sim_node import SimNode

    context = rclpy.Context()
    rclpy.init(context=context)
    nodes = {}
    try:
        for cls in (SimNode, PerceptionNode, ReasoningNode, PlannerNode, SafetyNode):
            node = cls(context=context)
            nodes[node.get_name()] = node
        yield nodes
    finally:
        for node in nodes.values():
            node.destroy_node()
        rclpy.try_shutdown(context=context)


def _topics(node) -> set[str]:
    names = {s.topic_name for s in node.subscriptions} | {p.topic_name for p in node.publishers}
    return {n.lstrip("/") for n in names}


# --- tests -----------------------------------------------------------------------------
def test_launch_directory_holds_the_four_files_in_one_naming_scheme(launch_files):
    assert set(launch_files) == EXPECTED
    for name in launch_files:
        assert name.endswith(".launch.py"), name


def test_every_launch_file_has_generate_launch_description_and_no_eval(launch_files):
    for name, lf in launch_files.items():
        functions = {n.name for n in lf.tree.body if isinstance(n, ast.FunctionDef)}
        assert "generate_launch_description" in functions, name
        for banned in ("eval", "exec", "PythonExpression", "compile"):
            assert not lf.calls(banned), f"{name} calls {banned}()"


def test_every_declared_argument_has_a_description_and_a_valid_default(launch_files):
    for name, lf in launch_files.items():
        arguments = lf.declared_arguments()
        assert arguments, f"{name} declares no arguments"
        for argument, call in arguments.items():
            assert isinstance(argument, str) and argument, f"{name}:{call.lineno}"
            description = lf.value(_kw(call, "description")) if _kw(call, "description") else ""
            assert isinstance(description, str) and len(description) > 10, \
                f"{name}: argument {argument} has no description"
            choices = _kw(call, "choices")
            if choices is not None:
                default = lf.value(_kw(call, "default_value"))
                assert default in lf.value(choices), f"{name}: {argument} default not a choice"


def test_stack_launch_declares_the_nav2_style_arguments(launch_files):
    declared = set(launch_files["reasonact.launch.py"].declared_arguments())
    assert STACK_ARGUMENTS <= declared, STACK_ARGUMENTS - declared
    assert "scenario" in launch_files["sim.launch.py"].declared_arguments()
    robot = launch_files["robot.launch.py"].declared_arguments()
    assert {"robot", "cmd_vel_topic", "scan_topic", "odom_topic", "image_topic"} <= set(robot)


def test_reasoner_choices_are_the_reasoning_node_backends(launch_files):
    for name, lf in launch_files.items():
        call = lf.declared_arguments().get("reasoner")
        if call is not None:
            assert set(lf.value(_kw(call, "choices"))) == set(BACKENDS), name


def test_every_node_names_an_executable_that_is_installed(launch_files):
    installed = _cmake_nodes()
    started = set()
    for name, lf in launch_files.items():
        for call in lf.calls("Node"):
            package, executable = lf.value(_kw(call, "package")), lf.value(
                _kw(call, "executable"))
            assert package and executable, f"{name}:{call.lineno}: package/executable unknown"
            if package == PACKAGE:
                assert executable in installed, f"{name}: {executable} is not in CMake _nodes"
                assert lf.value(_kw(call, "name")) == executable, \
                    f"{name}: {executable} renamed; parameter files key on the node name"
                assert _kw(call, "parameters") is not None, f"{name}: {executable} has no params"
                started.add(executable)
            else:
                assert (package, executable) in EXTERNAL_EXECUTABLES, (name, package, executable)
    assert started == installed, f"never launched: {installed - started}"


def test_every_file_a_launch_file_names_exists(launch_files):
    checked = 0
    for name, lf in launch_files.items():
        for call in lf.calls("join"):
            relative = _share_path(lf, call)
            if relative is None or "." not in relative.rsplit("/", 1)[-1]:
                continue
            matches = list(ROOT.glob(relative))
            assert matches, f"{name}:{call.lineno}: {relative} does not exist"
            checked += 1
    assert checked >= 10


def test_robot_choices_are_the_profiles_in_config_robots(launch_files):
    robots = launch_files["robot.launch.py"].constants["ROBOTS"]
    for robot in robots:
        assert (ROOT / "config" / "robots" / f"{robot}.yaml").is_file(), robot
    call = launch_files["robot.launch.py"].declared_arguments()["robot"]
    assert launch_files["robot.launch.py"].value(_kw(call, "choices")) == robots


def test_includes_pass_only_arguments_the_included_file_declares(launch_files):
    stack_arguments = set(launch_files["reasonact.launch.py"].declared_arguments())
    includes = 0
    for name, lf in launch_files.items():
        for call in lf.calls("IncludeLaunchDescription"):
            source = call.args[0]
            join = source.args[0]
            target = lf.value(join.args[-1])
            arguments = _kw(call, "launch_arguments")
            keys = {lf.value(k) for k in arguments.func.value.keys}
            if target == "reasonact.launch.py":
                assert keys <= stack_arguments, f"{name}: unknown {keys - stack_arguments}"
                assert "use_sim_time" in keys, name
            elif target == "gz_sim.launch.py":
                assert keys <= GZ_SIM_LAUNCH_ARGUMENTS, keys - GZ_SIM_LAUNCH_ARGUMENTS
                assert lf.value(join.args[0].args[0]) == "ros_gz_sim"
            else:
                pytest.fail(f"{name} includes unexpected {target}")
            includes += 1
    assert includes == 4  # sim, gazebo and robot include the stack; gazebo gz_sim too


def test_simulated_launches_run_the_stack_on_sim_time(launch_files):
    for name in ("sim.launch.py", "gazebo.launch.py"):
        lf = launch_files[name]
        for call in lf.calls("IncludeLaunchDescription"):
            arguments = _kw(call, "launch_arguments").func.value
            values = {lf.value(k): lf.value(v) for k, v in zip(arguments.keys, arguments.values,
                                                                strict=True)}
            if "use_sim_time" in values:
                assert values["use_sim_time"] == "true", name
    robot = launch_files["robot.launch.py"]
    (call,) = robot.calls("IncludeLaunchDescription")
    arguments = _kw(call, "launch_arguments").func.value
    values = {robot.value(k): robot.value(v) for k, v in zip(arguments.keys, arguments.values,
                                                             strict=True)}
    assert values["use_sim_time"] == "false"


def _remappings(lf: LaunchFile, call: ast.Call) -> list[tuple[str, object]]:
    """(from, to) pairs of a Node's remappings, through `name + [...]` and variables."""
    pairs = []
    function = lf.enclosing_function(call)

    def collect(expr):
        if isinstance(expr, ast.BinOp):
            collect(expr.left)
            collect(expr.right)
        elif isinstance(expr, ast.List):
            for element in expr.elts:
                source, target = element.elts
                to = lf.value(target)
                if to is None and isinstance(target, ast.Call):  # LaunchConfiguration('x')
                    to = ("arg", lf.value(target.args[0]))
                pairs.append((lf.value(source), to))
        elif isinstance(expr, ast.Name):
            for node in ast.walk(function):
                if isinstance(node, ast.Assign) and any(
                        isinstance(t, ast.Name) and t.id == expr.id for t in node.targets):
                    collect(node.value)

    remappings = _kw(call, "remappings")
    if remappings is not None:
        collect(remappings)
    return pairs


def _stack_node_calls(lf: LaunchFile) -> dict[str, ast.Call]:
    return {lf.value(_kw(c, "executable")): c for c in lf.calls("Node")
            if lf.value(_kw(c, "package")) == PACKAGE}


def test_velocity_stages_are_chained_by_remapping(launch_files):
    lf = launch_files["reasonact.launch.py"]
    nodes = _stack_node_calls(lf)
    planner = dict(_remappings(lf, nodes["planner_node"]))
    safety = dict(_remappings(lf, nodes["safety_node"]))
    assert planner["cmd_vel_nav"] == safety["cmd_vel_nav"], "planner output != safety input"
    assert "cmd_vel" not in planner, "the planner must never drive the base directly"
    assert planner["cmd_vel_nav"] != "cmd_vel"
    assert safety["cmd_vel"] == ("arg", "cmd_vel_topic")


@pytest.mark.ros
def test_remaps_name_topics_the_nodes_really_use(launch_files, stack_nodes):
    checked = 0
    for name, lf in launch_files.items():
        for executable, call in _stack_node_calls(lf).items():
            topics = _topics(stack_nodes[executable])
            for source, _ in _remappings(lf, call):
                assert source in topics, f"{name}: {executable} has no topic {source!r}"
                checked += 1
    assert checked >= 8


@pytest.mark.ros
def test_sensor_topic_arguments_reach_every_node_that_reads_the_sensor(launch_files,
                                                                      stack_nodes):
    lf = launch_files["reasonact.launch.py"]
    sensors = {"scan": "scan_topic", "odom": "odom_topic", "camera/image_raw": "image_topic",
               "camera/camera_info": "camera_info_topic"}
    for executable, call in _stack_node_calls(lf).items():
        remapped = dict(_remappings(lf, call))
        subscribed = {s.topic_name.lstrip("/") for s in stack_nodes[executable].subscriptions}
        for topic, argument in sensors.items():
            if topic in subscribed:
                assert remapped.get(topic) == ("arg", argument), f"{executable} {topic}"


def _inline_parameter_keys(lf: LaunchFile, call: ast.Call) -> set[str]:
    keys = set()
    function = lf.enclosing_function(call)
    for element in _kw(call, "parameters").elts:
        if isinstance(element, ast.Dict):
            keys |= {lf.value(k) for k in element.keys}
        elif isinstance(element, ast.Name) and function is not None:
            for node in ast.walk(function):
                if isinstance(node, ast.Assign):
                    target = node.targets[0]
                    if isinstance(target, ast.Name) and target.id == element.id and isinstance(
                            node.value, ast.Dict):
                        keys |= {lf.value(k) for k in node.value.keys}
                    if isinstance(target, ast.Subscript) and isinstance(
                            target.value, ast.Name) and target.value.id == element.id:
                        keys.add(lf.value(target.slice))
    return keys


@pytest.mark.ros
def test_inline_parameters_are_declared_by_their_node(launch_files, stack_nodes):
    checked = 0
    for name, lf in launch_files.items():
        for executable, call in _stack_node_calls(lf).items():
            for key in _inline_parameter_keys(lf, call):
                assert stack_nodes[executable].has_parameter(key), \
                    f"{name}: {executable} does not declare {key!r}"
                checked += 1
    assert checked >= 6


def test_gazebo_static_transforms_use_the_sensor_frames_of_the_world(launch_files):
    lf = launch_files["gazebo.launch.py"]
    children = set()
    for call in lf.calls("_static_transform"):
        children.add(lf.value(call.args[2]))
    world = (ROOT / "worlds" / "walkway.sdf").read_text()
    frames = set(re.findall(r"<gz_frame_id>([^<]+)</gz_frame_id>", world))
    assert frames and frames <= children, frames - children


# --- the RViz view the launch files open ---------------------------------------------------
RVIZ_TYPES = {
    "rviz_default_plugins/LaserScan": "sensor_msgs/msg/LaserScan",
    "rviz_default_plugins/Image": "sensor_msgs/msg/Image",
    "rviz_default_plugins/MarkerArray": "visualization_msgs/msg/MarkerArray",
    "rviz_default_plugins/Marker": "visualization_msgs/msg/Marker",
    "rviz_default_plugins/Path": "nav_msgs/msg/Path",
    "rviz_default_plugins/Odometry": "nav_msgs/msg/Odometry",
}
# Shown in RViz but published by no node yet (reported to the integrator).
RVIZ_PENDING = {"reasoning_node/decision_marker"}


@pytest.mark.ros
def test_rviz_view_shows_topics_the_nodes_publish_with_their_types(stack_nodes):
    import yaml

    config = yaml.safe_load((ROOT / "config" / "rviz" / "reasonact.rviz").read_text())
    manager = config["Visualization Manager"]
    assert manager["Global Options"]["Fixed Frame"] == "odom"
    published: dict[str, set[str]] = {}
    for node in stack_nodes.values():
        for publisher in node.publishers:
            package = publisher.msg_type.__module__.split(".")[0]
            published.setdefault(publisher.topic_name.lstrip("/"), set()).add(
                f"{package}/msg/{publisher.msg_type.__name__}")
    shown = {}
    for display in manager["Displays"]:
        if display["Class"] in RVIZ_TYPES:
            topic = display["Topic"]["Value"].lstrip("/")
            shown[topic] = RVIZ_TYPES[display["Class"]]
    for required in ("scan", "perception_node/debug_image", "perception_node/markers",
                     "planner_node/predictions", "planner_node/plan"):
        assert required in shown, f"RViz does not show {required}"
    for topic, msg_type in shown.items():
        if topic in RVIZ_PENDING:
            continue
        assert msg_type in published.get(topic, set()), \
            f"RViz expects {msg_type} on /{topic}; nodes publish {published.get(topic)}"
    goal = next(t for t in manager["Tools"] if t["Class"] == "rviz_default_plugins/SetGoal")
    planner_inputs = {s.topic_name.lstrip("/") for s in stack_nodes["planner_node"].subscriptions}
    assert goal["Topic"]["Value"].lstrip("/") in planner_inputs

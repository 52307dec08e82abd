"""`reasonact launch sim|stack|robot`: the launch files' compositions without `ros2 launch`.

The same node classes, the same parameter files and the same topic remaps as
``launch/*.launch.py``, built in one process, each node spinning on a thread of its own
(``NodeSpinners``):

- ``sim``: sim_node free-running at real time (the clock) + the stack on sim time,
  with the scenario's route and walkway given to the planner and perception;
- ``stack``: perception, reasoning, planner and safety only (Gazebo, a bag, a robot);
- ``robot``: the stack with ``config/robot.yaml`` and a robot profile
  (``config/robots/<profile>.yaml``) layered over ``config/reasonact.yaml``, and the
  profile's topic remaps (``cmd_vel`` to the base, sensor topics).

It spins until SIGINT/SIGTERM, then calls every node's ``on_shutdown()`` (the
safety and planner nodes publish a zero command), destroys the nodes and shuts
rclpy down. Exit code 0 after a signal, 2 after bad input (one line on stderr).

The helpers that turn files and scenarios into parameters (``scenario_parameters``,
``namespaced_params_file``, ``ROBOT_PROFILES``) are also what the launch files call,
so both ways of starting the graph agree.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from reasonact_ros.share import share_path

MODES = ("sim", "stack", "robot")
SIM_NODE = "sim_node"
STACK_NODES = ("perception_node", "reasoning_node", "planner_node", "safety_node")
REASONERS = ("rules", "llm", "local")
EXIT_USAGE = 2


@dataclass(frozen=True)
class RobotProfile:
    """Where a physical base's topics are; its parameters live in config/robots/<name>.yaml."""

    name: str
    cmd_vel: str = "cmd_vel"
    scan: str = "scan"
    odom: str = "odom"
    image: str = "camera/image_raw"
    camera_info: str = "camera/camera_info"

    @property
    def params_file(self) -> Path:
        return share_path("config", "robots", f"{self.name}.yaml")

    def remaps(self, **overrides: str) -> list[tuple[str, str]]:
        """(the stack's topic, this base's topic) pairs; empty overrides keep the profile's."""
        topics = {"cmd_vel": self.cmd_vel, "scan": self.scan, "odom": self.odom,
                  "camera/image_raw": self.image, "camera/camera_info": self.camera_info}
        names = {"cmd_vel": "cmd_vel", "scan": "scan", "odom": "odom",
                 "image": "camera/image_raw", "camera_info": "camera/camera_info"}
        for key, value in overrides.items():
            if key not in names:
                raise ValueError(f"unknown robot topic {key!r}; known: {sorted(names)}")
            if value:
                topics[names[key]] = value
        return [(ours, theirs) for ours, theirs in topics.items() if ours != theirs]


# The stack's relative names are the ones a generic base uses; a profile lists only
# what differs. TurtleBot 4 (Jazzy): OAK-D colour preview stream (turtlebot4_bringup).
ROBOT_PROFILES = {
    "generic_diff_drive": RobotProfile("generic_diff_drive"),
    "turtlebot4": RobotProfile("turtlebot4", image="oakd/rgb/preview/image_raw",
                               camera_info="oakd/rgb/preview/camera_info"),
    "gazebo_walkway": RobotProfile("gazebo_walkway"),
}


def robot_profile(name: str) -> RobotProfile:
    if name not in ROBOT_PROFILES:
        raise ValueError(f"unknown robot profile {name!r}; available: "
                         f"{', '.join(sorted(ROBOT_PROFILES))}")
    return ROBOT_PROFILES[name]


def default_params_files(mode: str, profile: str = "generic_diff_drive") -> list[Path]:
    """The parameter files a mode reads, lowest precedence first (as the launch files)."""
    files = [share_path("config", "reasonact.yaml")]
    if mode == "robot":
        files += [share_path("config", "robot.yaml"), robot_profile(profile).params_file]
    return files


# --- parameter files -------------------------------------------------------------------
def read_params_file(path: str | Path) -> dict[str, dict]:
    """{node key: {parameter: value}} of a ROS 2 parameter file; nested maps become a.b."""
    data = yaml.safe_load(Path(path).read_text())
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a parameter file is a mapping of node names")
    result: dict[str, dict] = {}
    for key, body in data.items():
        for node_key, params in _node_blocks(str(key), body, path):
            result.setdefault(node_key, {}).update(params)
    return result


def _node_blocks(prefix: str, body, path):
    if not isinstance(body, dict):
        raise ValueError(f"{path}: {prefix} is not a mapping")
    if "ros__parameters" in body:
        yield prefix, _flatten(body["ros__parameters"] or {})
        return
    for key, inner in body.items():  # namespace: node: ros__parameters (rcl allows nesting)
        yield from _node_blocks(f"{prefix}/{key}", inner, path)


def _flatten(params: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def key_matches_node(key: str, node_name: str, namespace: str = "/") -> bool:
    """Whether a parameter-file node key applies to a node (rcl's `/**` wildcards)."""
    fqn = f"{namespace.rstrip('/')}/{node_name}"
    key = key if key.startswith("/") else "/" + key
    if key in ("/**", fqn):
        return True
    if key.startswith("/**/"):
        return fqn.endswith("/" + key[len("/**/"):])
    return False


def file_parameters(files, node_name: str, namespace: str = "/") -> dict[str, tuple]:
    """{parameter: (value, file)} that the files set for one node, later files winning."""
    found: dict[str, tuple] = {}
    for path in files:
        for key, params in read_params_file(path).items():
            if key_matches_node(key, node_name, namespace):
                found.update({name: (value, str(path)) for name, value in params.items()})
    return found


def namespaced_params_file(source: str | Path, namespace: str,
                           out_dir: str | Path | None = None) -> Path:
    """A copy of ``source`` whose node keys carry ``namespace`` (nav2's RewrittenYaml root_key).

    rcl matches a key without a namespace (``safety_node:``) only to ``/safety_node``;
    under ``PushROSNamespace('robot1')`` the node is ``/robot1/safety_node``. Keys that
    are already absolute or wildcards (``/**``) are kept as they are.
    """
    namespace = namespace.strip("/")
    source = Path(source)
    if not namespace:
        return source
    data = yaml.safe_load(source.read_text()) or {}
    rewritten = {}
    for key, body in data.items():
        key = str(key)
        rewritten[key if key.startswith("/") else f"/{namespace}/{key}"] = body
    directory = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="reasonact_params_"))
    target = directory / f"{namespace.replace('/', '_')}_{source.name}"
    target.write_text(yaml.safe_dump(rewritten, sort_keys=False))
    return target


def write_params_file(parameters: dict[str, dict], out_dir: str | Path | None = None,
                      name: str = "overlay.yaml") -> Path:
    """{node: {param: value}} as a ROS 2 parameter file (for the launch files' overlays)."""
    directory = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="reasonact_params_"))
    target = directory / name
    target.write_text(yaml.safe_dump(
        {node: {"ros__parameters": params} for node, params in parameters.items()},
        sort_keys=False))
    return target


def scenario_parameters(scenario) -> dict[str, dict]:
    """What the stack must know about a built-in-sim scenario: route, walkway, sensor mounts.

    ``scenario`` is a loaded Scenario or a scenario name/path.
    """
    from reasonact_ros.sim.scenario import Scenario, load_scenario

    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    lidar_x = float(scenario.lidar.mount_x)  # the simulated scan starts there
    camera = scenario.camera
    route = [float(v) for point in scenario.goal.waypoints for v in point]
    params: dict[str, dict] = {
        # Separate lists: one object twice would be written to YAML as an anchor and alias.
        "reasoning_node": {"route": list(route)},  # the rules ignore who stays beyond it
        "planner_node": {
            "route": route,
            "goal_tolerance": float(scenario.goal.tolerance),
            "lidar_x": lidar_x,
        },
        "perception_node": {
            "lidar_x": lidar_x,
            "camera_x": float(camera.mount_x),
            "camera_z": float(camera.mount_z),
            "camera_pitch": float(camera.pitch),
        },
        "safety_node": {"lidar_x": lidar_x},
    }
    walkway = scenario.main_walkway()
    if walkway is not None:
        edges = walkway.edges()
        params["perception_node"].update({
            "walkway_left": [float(v) for v in edges.left.ravel()],
            "walkway_right": [float(v) for v in edges.right.ravel()]})
    return params


def sdf_world_info(path: str | Path) -> tuple[str, set[str]]:
    """(world name, names of the models it places) of an SDF world file."""
    import xml.etree.ElementTree as ET

    world = ET.parse(path).getroot().find("world")
    if world is None:
        raise ValueError(f"{path}: no <world> element")
    models = {m.get("name") for m in world.findall("model")}
    models |= {i.findtext("name") for i in world.findall("include") if i.findtext("name")}
    return world.get("name", ""), models


# --- -p node.param:=value -------------------------------------------------------------
@dataclass(frozen=True)
class Assignment:
    node: str  # '' applies to every node that declares the parameter
    name: str
    value: object
    text: str


def parse_assignment(text: str) -> Assignment:
    """``node.param:=value`` or ``param:=value``; the value is YAML, as ``--ros-args -p``."""
    target, sep, raw = text.partition(":=")
    if not sep or not target:
        raise ValueError(f"-p {text!r}: expected node.param:=value")
    node, dot, name = target.partition(".")
    if not dot:
        node, name = "", target
    elif node not in (SIM_NODE, *STACK_NODES):
        raise ValueError(f"-p {text!r}: unknown node {node!r}; nodes: "
                         f"{', '.join((SIM_NODE, *STACK_NODES))}")
    if not name:
        raise ValueError(f"-p {text!r}: missing parameter name")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as error:
        raise ValueError(f"-p {text!r}: value is not valid YAML ({error.problem})") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"-p {text!r}: value must be finite")
    if isinstance(value, dict) or value is None:
        raise ValueError(f"-p {text!r}: value must be a number, bool, string or list")
    return Assignment(node, name, value, text)


# --- the composition -------------------------------------------------------------------
@dataclass
class Composition:
    mode: str
    params_files: list[Path]
    scenario: str = ""
    reasoner: str = ""
    use_sim_time: bool | None = None
    assignments: tuple[Assignment, ...] = ()
    remaps: tuple[tuple[str, str], ...] = ()

    def ros_args(self) -> list[str]:
        args = ["--ros-args"]
        for path in self.params_files:
            args += ["--params-file", str(path)]
        for ours, theirs in self.remaps:
            args += ["-r", f"{ours}:={theirs}"]
        return args

    def node_names(self) -> tuple[str, ...]:
        return ((SIM_NODE,) if self.mode == "sim" else ()) + STACK_NODES


class CompositionError(ValueError):
    """A composition that cannot start as asked (one line for the user)."""


def _overrides(composition: Composition, node_name: str, extra: dict) -> list:
    from rclpy.parameter import Parameter

    values = dict(extra)
    for assignment in composition.assignments:
        if assignment.node in ("", node_name):
            values[assignment.name] = assignment.value
    return [Parameter(name, value=value) for name, value in values.items()]


def build_nodes(composition: Composition, context, nodes: dict | None = None) -> dict:
    """The composition's nodes, in start order; raises on rejected parameters.

    ``nodes`` is filled as the nodes are built, so a caller can destroy the ones that
    exist when a later node rejects its parameters.
    """
    from reasonact_ros.nodes.perception_node import PerceptionNode
    from reasonact_ros.nodes.planner_node import PlannerNode
    from reasonact_ros.nodes.reasoning_node import ReasoningNode
    from reasonact_ros.nodes.safety_node import SafetyNode

    classes = {"perception_node": PerceptionNode, "reasoning_node": ReasoningNode,
               "planner_node": PlannerNode, "safety_node": SafetyNode}
    nodes = {} if nodes is None else nodes
    stack_extra: dict[str, dict] = {name: {} for name in STACK_NODES}
    use_sim_time = composition.use_sim_time
    if composition.mode == "sim":
        from reasonact_ros.nodes.sim_node import SimNode

        use_sim_time = True if use_sim_time is None else use_sim_time
        in_files = file_parameters(composition.params_files, SIM_NODE)
        sim_extra: dict = {}
        if composition.scenario:
            sim_extra["scenario"] = composition.scenario
        # Free-running at real time unless the files say otherwise: a person watches this.
        if "lockstep" not in in_files:
            sim_extra["lockstep"] = False
        if "real_time_factor" not in in_files:
            sim_extra["real_time_factor"] = 1.0
        nodes[SIM_NODE] = SimNode(context=context,
                                  parameter_overrides=_overrides(composition, SIM_NODE,
                                                                 sim_extra))
        for node_name, params in scenario_parameters(nodes[SIM_NODE].scenario).items():
            stack_extra[node_name].update(params)
    if use_sim_time is not None:
        for extra in stack_extra.values():
            extra["use_sim_time"] = use_sim_time
    if composition.reasoner:
        stack_extra["reasoning_node"]["backend"] = composition.reasoner
    for node_name in STACK_NODES:
        nodes[node_name] = classes[node_name](
            context=context,
            parameter_overrides=_overrides(composition, node_name, stack_extra[node_name]))
    return nodes


def undeclared(composition: Composition, nodes: dict) -> tuple[list[str], list[str]]:
    """(file parameters no node declares, -p assignments no node declares)."""
    from_files = []
    for node_name, node in nodes.items():
        for name, (_, path) in sorted(file_parameters(composition.params_files,
                                                      node_name).items()):
            if not node.has_parameter(name):
                from_files.append(f"{node_name}.{name} in {path}")
    from_cli = []
    for assignment in composition.assignments:
        if assignment.node and assignment.node not in nodes:
            from_cli.append(f"-p {assignment.text}: {assignment.node} is not part of "
                            f"`launch {composition.mode}`")
            continue
        targets = [nodes[assignment.node]] if assignment.node else list(nodes.values())
        if not any(node.has_parameter(assignment.name) for node in targets):
            where = assignment.node or "any node"
            from_cli.append(f"-p {assignment.text}: {where} declares no parameter "
                            f"{assignment.name!r}")
    return from_files, from_cli


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def run_composition(composition: Composition, stop_after_s: float | None = None) -> int:
    """Start, spin until SIGINT/SIGTERM (or ``stop_after_s``), stop in order; exit code."""
    import rclpy
    from rclpy.exceptions import NameValidationException, ParameterException
    from rclpy.executors import ExternalShutdownException
    from rclpy.signals import SignalHandlerOptions

    from reasonact_ros.nodes.entrypoint import NodeSpinners

    for path in composition.params_files:
        if not Path(path).is_file():
            raise CompositionError(f"parameter file {path} does not exist")
        try:
            read_params_file(path)
        except (yaml.YAMLError, ValueError) as error:
            raise CompositionError(f"parameter file {path}: "
                                   f"{str(error).splitlines()[0]}") from None
    context = rclpy.Context()
    rclpy.init(context=context, args=composition.ros_args(),
               signal_handler_options=SignalHandlerOptions.NO)
    previous = {sig: signal.signal(sig, _raise_interrupt)
                for sig in (signal.SIGINT, signal.SIGTERM)}
    nodes: dict = {}
    spinners = None
    try:
        try:
            build_nodes(composition, context, nodes)
        except (ValueError, TypeError, ParameterException, NameValidationException) as error:
            raise CompositionError(f"a node rejected its parameters: "
                                   f"{str(error).splitlines()[0]}") from None
        from_files, from_cli = undeclared(composition, nodes)
        if from_cli:
            raise CompositionError(from_cli[0])
        for entry in from_files:
            nodes[STACK_NODES[-1]].get_logger().warning(
                f"parameter {entry} is not declared by the node and has no effect")
        spinners = NodeSpinners(list(nodes.values()), context)
        if SIM_NODE in nodes:
            nodes[SIM_NODE].start()
        names = ", ".join(nodes)
        nodes[STACK_NODES[-1]].get_logger().info(f"reasonact launch {composition.mode}: {names}")
        spinners.start()
        spinners.wait(stop_after_s)  # tests stop after a while; users with Ctrl-C
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        # A second Ctrl-C must not cut the zero command short; the cleanup is bounded.
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        # Callbacks first, so nothing the stack computes can follow the zero command.
        if spinners is not None:
            spinners.shutdown(timeout_sec=2.0)
        for node in reversed(list(nodes.values())):  # safety first: zero at the base
            shutdown = getattr(node, "on_shutdown", None)
            if shutdown is not None:
                shutdown()
        for node in nodes.values():
            node.destroy_node()
        rclpy.try_shutdown(context=context)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


# --- command line ----------------------------------------------------------------------
def _scenario(value: str) -> str:
    from reasonact_ros.sim.scenario import available_scenarios

    if value in available_scenarios() or Path(value).is_file():
        return value
    raise argparse.ArgumentTypeError(
        f"unknown scenario {value!r}; available: {', '.join(available_scenarios())}")


def add_launch_command(commands) -> argparse.ArgumentParser:
    """Register ``launch`` on an argparse subparsers object (the `reasonact` CLI's)."""
    launch = commands.add_parser(
        "launch", help="start the sim, the stack or the robot graph without ros2 launch",
        description="Start the compositions of launch/sim.launch.py, reasonact.launch.py "
                    "and robot.launch.py in one process from the same parameter files; "
                    "stop with Ctrl-C (the base gets a zero command).")
    launch.add_argument("mode", choices=MODES,
                        help="sim: simulator + stack; stack: the four stack nodes; "
                             "robot: stack + config/robot.yaml + a robot profile")
    launch.add_argument("--params-file", action="append", type=Path, default=None,
                        metavar="FILE",
                        help="parameter file (repeatable, later wins); default: "
                             "config/reasonact.yaml (+ robot.yaml and the profile for robot)")
    launch.add_argument("--scenario", type=_scenario, default=None,
                        help="sim only: scenario name or YAML path (default: the params "
                             "file's sim_node.scenario)")
    launch.add_argument("--robot", choices=sorted(ROBOT_PROFILES), default="generic_diff_drive",
                        help="robot only: profile in config/robots (default: "
                             "generic_diff_drive)")
    launch.add_argument("--reasoner", choices=REASONERS, default=None,
                        help="reasoning_node backend (default: the params file's)")
    launch.add_argument("--use-sim-time", action="store_true",
                        help="stack/robot: follow /clock (sim always does)")
    launch.add_argument("-p", "--param", action="append", default=[], metavar="NODE.P:=V",
                        help="parameter override, e.g. -p safety_node.robot_radius:=0.25; "
                             "without NODE. it applies to every node declaring P")
    launch.add_argument("-r", "--remap", action="append", default=[], metavar="FROM:=TO",
                        help="topic remap for every node, e.g. -r cmd_vel:=/base/cmd_vel")
    launch.set_defaults(run=run)
    return launch


def composition_from_args(args) -> Composition:
    if args.scenario and args.mode != "sim":
        raise CompositionError("--scenario is only for `launch sim`")
    assignments = tuple(parse_assignment(text) for text in args.param)
    remaps = []
    if args.mode == "robot":
        remaps += robot_profile(args.robot).remaps()
    for text in args.remap:
        source, sep, target = text.partition(":=")
        if not sep or not source or not target:
            raise CompositionError(f"-r {text!r}: expected FROM:=TO")
        remaps.append((source, target))
    files = args.params_file or default_params_files(args.mode, args.robot)
    return Composition(mode=args.mode, params_files=[Path(f) for f in files],
                       scenario=args.scenario or "", reasoner=args.reasoner or "",
                       use_sim_time=True if args.use_sim_time else None,
                       assignments=assignments, remaps=tuple(remaps))


def run(args) -> int:
    """The `launch` command: exit code 0 after a clean stop, 2 after bad input."""
    try:
        return run_composition(composition_from_args(args))
    except (CompositionError, ValueError) as error:
        print(f"reasonact launch: {str(error).splitlines()[0]}", file=sys.stderr)
        return EXIT_USAGE


def main(argv: list[str] | None = None) -> int:
    """``python -m reasonact_ros.composition MODE ...`` == ``reasonact launch MODE ...``."""
    from reasonact_ros.cli import UsageError, _Parser
    from reasonact_ros.sim.scenario import ScenarioError

    parser = _Parser(prog="reasonact")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    add_launch_command(commands)
    try:
        args = parser.parse_args(["launch", *(sys.argv[1:] if argv is None else argv)])
        return args.run(args)
    except (UsageError, ScenarioError) as error:
        print(str(error).splitlines()[0], file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())

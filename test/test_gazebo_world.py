"""worlds/*.sdf, config/gz_bridge.yaml and the nodes agree (Gazebo is not installable here).

Three parties must use the same topic names and types: the SDF world (what Gazebo's
sensors and systems publish and consume), the ros_gz bridge file (what crosses into
ROS) and the nodes (what they subscribe and publish). The SDF must also carry what
Gazebo Harmonic needs to load it: world systems, actor skins, animations and
scripts, sensor parameters, plugins with filename and name.
"""

from __future__ import annotations

import ast
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import rclpy
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORLD = ROOT / "worlds" / "walkway.sdf"
ROBOT = ROOT / "worlds" / "reasonact_robot.sdf"
BRIDGE = ROOT / "config" / "gz_bridge.yaml"
PROFILE = ROOT / "config" / "robots" / "gazebo_walkway.yaml"
GAZEBO_LAUNCH = ROOT / "launch" / "gazebo.launch.py"

WORLD_SYSTEMS = {
    "gz-sim-physics-system": "gz::sim::systems::Physics",
    "gz-sim-user-commands-system": "gz::sim::systems::UserCommands",
    "gz-sim-scene-broadcaster-system": "gz::sim::systems::SceneBroadcaster",
    "gz-sim-sensors-system": "gz::sim::systems::Sensors",
}
# ros_gz_bridge type pairs (ros_gz_bridge README, Jazzy).
BRIDGE_TYPES = {
    "rosgraph_msgs/msg/Clock": "gz.msgs.Clock",
    "sensor_msgs/msg/LaserScan": "gz.msgs.LaserScan",
    "sensor_msgs/msg/Image": "gz.msgs.Image",
    "sensor_msgs/msg/CameraInfo": "gz.msgs.CameraInfo",
    "nav_msgs/msg/Odometry": "gz.msgs.Odometry",
    "geometry_msgs/msg/Twist": "gz.msgs.Twist",
    "geometry_msgs/msg/TwistStamped": "gz.msgs.Twist",
    "tf2_msgs/msg/TFMessage": "gz.msgs.Pose_V",
}
# Topics a person or another program gives the stack; no sensor provides them.
OPERATOR_INPUTS = {"instruction", "goal_pose", "emergency_stop", "parameter_events"}


def _name(topic: str) -> str:
    return topic.strip().lstrip("/")


def _floats(text: str | None, count: int | None = None) -> list[float]:
    assert text is not None and text.strip(), "missing numbers"
    values = [float(v) for v in text.split()]
    if count is not None:
        assert len(values) == count, text
    return values


def _ros_type(msg_type) -> str:
    package = msg_type.__module__.split(".")[0]
    return f"{package}/msg/{msg_type.__name__}"


@pytest.fixture(scope="module")
def world() -> ET.Element:
    root = ET.parse(WORLD).getroot()
    assert root.tag == "sdf"
    major, minor = (int(v) for v in root.get("version").split("."))
    assert (major, minor) >= (1, 9), "Gazebo Harmonic worlds are SDF 1.9+"
    element = root.find("world")
    assert element is not None
    return element


@pytest.fixture(scope="module")
def robot(world) -> ET.Element:
    models = {m.get("name"): m for m in world.findall("model")}
    assert "reasonact_robot" in models
    return models["reasonact_robot"]


@pytest.fixture(scope="module")
def bridge() -> list[dict]:
    entries = yaml.safe_load(BRIDGE.read_text())
    assert isinstance(entries, list) and entries
    return entries


def _plugins(element) -> dict[str, ET.Element]:
    found = {}
    for plugin in element.findall("plugin"):
        assert plugin.get("filename") and plugin.get("name"), ET.tostring(plugin)[:80]
        found[plugin.get("filename")] = plugin
    return found


def _sensors(robot) -> dict[str, ET.Element]:
    return {s.get("type"): s for link in robot.findall("link") for s in link.findall("sensor")}


def _pose(element) -> list[float]:
    pose = element.find("pose")
    return _floats(pose.text, 6) if pose is not None else [0.0] * 6


def _gz_producers(world, robot) -> dict[str, str]:
    """gz topic -> gz message type, for everything the world publishes."""
    produced = {"clock": "gz.msgs.Clock"}  # gz sim publishes /clock for every world
    sensors = _sensors(robot)
    produced[_name(sensors["gpu_lidar"].findtext("topic"))] = "gz.msgs.LaserScan"
    camera = sensors["camera"]
    produced[_name(camera.findtext("topic"))] = "gz.msgs.Image"
    produced[_name(camera.find("camera").findtext("camera_info_topic"))] = "gz.msgs.CameraInfo"
    odometry = _plugins(robot)["gz-sim-odometry-publisher-system"]
    produced[_name(odometry.findtext("odom_topic"))] = "gz.msgs.Odometry"
    produced[_name(odometry.findtext("tf_topic"))] = "gz.msgs.Pose_V"
    return produced


def _gz_consumers(robot) -> dict[str, str]:
    drive = _plugins(robot)["gz-sim-diff-drive-system"]
    return {_name(drive.findtext("topic")): "gz.msgs.Twist"}


# --- the world ---------------------------------------------------------------------------
def test_world_loads_the_systems_harmonic_needs(world):
    plugins = _plugins(world)
    for filename, name in WORLD_SYSTEMS.items():
        assert filename in plugins, f"world lacks {filename}"
        assert plugins[filename].get("name") == name
    assert plugins["gz-sim-sensors-system"].findtext("render_engine") == "ogre2"
    assert world.find("physics") is not None


def test_actors_walk_scripted_paths_with_fuel_skin_and_animation(world):
    actors = world.findall("actor")
    assert len(actors) >= 3
    crossing = along = False
    for actor in actors:
        name = actor.get("name")
        skin = actor.find("skin")
        animation = actor.find("animation")
        assert skin is not None and animation is not None, name
        for filename in (skin.findtext("filename"), animation.findtext("filename")):
            assert filename and filename.startswith("https://fuel.gazebosim.org/"), name
            assert filename.endswith(".dae"), name
        assert animation.get("name"), name
        script = actor.find("script")
        assert script is not None and script.findtext("loop") == "true", name
        assert script.findtext("auto_start") == "true", name
        trajectory = script.find("trajectory")
        assert trajectory.get("type") == animation.get("name"), \
            f"{name}: trajectory type must name the animation"
        waypoints = [(float(w.findtext("time")), _floats(w.findtext("pose"), 6))
                     for w in trajectory.findall("waypoint")]
        assert len(waypoints) >= 2, name
        for (t0, p0), (t1, p1) in zip(waypoints, waypoints[1:], strict=False):
            assert t1 > t0, f"{name}: waypoint times must increase"
            distance = math.hypot(p1[0] - p0[0], p1[1] - p0[1])
            if distance > 0.01:
                speed = distance / (t1 - t0)
                assert 0.3 <= speed <= 2.5, f"{name}: walks at {speed:.2f} m/s"
                heading = math.atan2(p1[1] - p0[1], p1[0] - p0[0])
                for yaw in (p0[5], p1[5]):  # the walk animation moves along the actor's +x
                    error = math.remainder(yaw - heading, 2 * math.pi)
                    assert abs(error) < 0.05, f"{name}: walks sideways or backwards"
        ys = [p[1] for _, p in waypoints]
        xs = [p[0] for _, p in waypoints]
        crossing |= min(ys) < -1.5 and max(ys) > 1.5
        along |= max(xs) - min(xs) > 10 and all(abs(y) < 1.5 for y in ys)
    assert crossing, "no pedestrian crosses the walkway"
    assert along, "no pedestrian walks along the walkway"


def test_static_obstacles_have_collisions(world):
    obstacles = [m for m in world.findall("model")
                 if m.get("name") not in ("ground", "walkway_strip", "reasonact_robot")]
    assert len(obstacles) >= 3
    for model in obstacles:
        assert model.findtext("static") == "true", model.get("name")
        assert model.find("link/collision") is not None, model.get("name")


def test_robot_sensors_carry_topic_rate_and_scan_parameters(robot):
    sensors = _sensors(robot)
    assert {"gpu_lidar", "camera"} <= set(sensors)
    for sensor in sensors.values():
        assert sensor.findtext("topic"), sensor.get("name")
        assert float(sensor.findtext("update_rate")) > 0, sensor.get("name")
        assert sensor.findtext("always_on") == "true"
    lidar = sensors["gpu_lidar"].find("lidar")
    if lidar is None:
        lidar = sensors["gpu_lidar"].find("ray")
    horizontal = lidar.find("scan/horizontal")
    assert int(horizontal.findtext("samples")) >= 180
    assert float(horizontal.findtext("min_angle")) < float(horizontal.findtext("max_angle"))
    assert 0 < float(lidar.findtext("range/min")) < float(lidar.findtext("range/max"))
    camera = sensors["camera"].find("camera")
    assert int(camera.findtext("image/width")) > 0 and int(camera.findtext("image/height")) > 0
    assert 0 < float(camera.findtext("horizontal_fov")) < math.pi


def test_diff_drive_matches_the_wheels(robot):
    drive = _plugins(robot)["gz-sim-diff-drive-system"]
    assert drive.get("name") == "gz::sim::systems::DiffDrive"
    assert "gz-sim-odometry-publisher-system" in _plugins(robot)
    joints = {j.get("name"): j for j in robot.findall("joint")}
    links = {link.get("name"): link for link in robot.findall("link")}
    wheel_y = []
    for side in ("left_joint", "right_joint"):
        joint = joints[drive.findtext(side)]
        assert joint.get("type") == "revolute"
        wheel = links[joint.findtext("child")]
        wheel_y.append(_pose(wheel)[1])
        radius = float(wheel.findtext("collision/geometry/cylinder/radius"))
        assert math.isclose(radius, float(drive.findtext("wheel_radius")))
        assert math.isclose(_pose(wheel)[2], radius), "wheel axle must sit at its radius"
    assert wheel_y[0] > 0 > wheel_y[1], "left wheel on +y (REP-103)"
    assert math.isclose(wheel_y[0] - wheel_y[1], float(drive.findtext("wheel_separation")))


def test_spawnable_robot_file_is_the_robot_in_the_world(robot):
    standalone = ET.parse(ROBOT).getroot().find("model")

    def canonical(model):
        copy = ET.fromstring(ET.tostring(model))
        for pose in copy.findall("pose"):
            copy.remove(pose)
        return re.sub(r"\s+", " ", ET.tostring(copy, encoding="unicode"))

    assert canonical(standalone) == canonical(robot)


def test_world_has_the_robot_at_the_origin_so_odom_is_world(robot):
    assert _pose(robot) == [0.0] * 6


# --- bridge <-> world ------------------------------------------------------------------------
def test_bridge_entries_are_complete_and_typed(bridge):
    for entry in bridge:
        assert set(entry) >= {"ros_topic_name", "gz_topic_name", "ros_type_name",
                              "gz_type_name", "direction"}, entry
        assert entry["direction"] in ("GZ_TO_ROS", "ROS_TO_GZ", "BIDIRECTIONAL")
        assert BRIDGE_TYPES.get(entry["ros_type_name"]) == entry["gz_type_name"], entry
    names = [_name(e["ros_topic_name"]) for e in bridge]
    assert len(names) == len(set(names)), "a ROS topic is bridged twice"
    assert {"clock", "scan", "camera/image_raw", "camera/camera_info", "odom", "cmd_vel",
            "tf"} <= set(names)


def test_bridge_reads_what_the_world_publishes_and_feeds_what_it_consumes(world, robot,
                                                                          bridge):
    produced, consumed = _gz_producers(world, robot), _gz_consumers(robot)
    for entry in bridge:
        topic = _name(entry["gz_topic_name"])
        if entry["direction"] == "GZ_TO_ROS":
            assert produced.get(topic) == entry["gz_type_name"], \
                f"nothing in the world publishes {entry['gz_type_name']} on /{topic}"
        else:
            assert consumed.get(topic) == entry["gz_type_name"], \
                f"nothing in the world takes {entry['gz_type_name']} on /{topic}"


# --- bridge <-> nodes -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def gazebo_stack():
    """The stack as gazebo.launch.py starts it: reasonact.yaml + the gazebo profile."""
    from reasonact_ros.nodes.perception_node import PerceptionNode
    from reasonact_ros.nodes.planner_node import PlannerNode
    from reasonact_ros.nodes.reasoning_node import ReasoningNode
    from reasonact_ros.nodes.safety_node import SafetyNode
    from reasonact_ros.nodes.sim_node import SimNode

    context = rclpy.Context()
    rclpy.init(context=context, args=[
        "--ros-args", "--params-file", str(ROOT / "config" / "reasonact.yaml"),
        "--params-file", str(PROFILE), "-p", "use_sim_time:=true"])
    nodes = {}
    try:
        for cls in (PerceptionNode, ReasoningNode, PlannerNode, SafetyNode, SimNode):
            node = cls(context=context)
            nodes[node.get_name()] = node
        yield nodes
    finally:
        for node in nodes.values():
            node.destroy_node()
        rclpy.try_shutdown(context=context)


def _endpoints(nodes, kind: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for node in nodes:
        for endpoint in getattr(node, kind):
            found.setdefault(_name(endpoint.topic_name), set()).add(_ros_type(endpoint.msg_type))
    return found


@pytest.mark.ros
def test_bridge_topics_and_types_match_what_the_stack_uses(gazebo_stack, bridge):
    stack = [n for name, n in gazebo_stack.items() if name != "sim_node"]
    subscribed, published = _endpoints(stack, "subscriptions"), _endpoints(stack, "publishers")
    for entry in bridge:
        topic, ros_type = _name(entry["ros_topic_name"]), entry["ros_type_name"]
        if topic == "tf":
            continue  # for RViz and tf2 users; the stack reads odom
        if entry["direction"] == "GZ_TO_ROS":
            assert ros_type in subscribed.get(topic, set()), \
                f"no stack node subscribes {ros_type} on /{topic}: {subscribed.get(topic)}"
        else:
            assert published.get(topic) == {ros_type}, \
                f"the stack publishes {published.get(topic)} on /{topic}, bridge takes {ros_type}"
    bridged = {_name(e["ros_topic_name"]) for e in bridge if e["direction"] != "ROS_TO_GZ"}
    external = set(subscribed) - set(published) - OPERATOR_INPUTS
    assert external <= bridged, f"stack inputs Gazebo never provides: {external - bridged}"


@pytest.mark.ros
def test_builtin_sim_publishes_the_same_topics_as_the_bridge(gazebo_stack, bridge):
    sim = gazebo_stack["sim_node"]
    published = _endpoints([sim], "publishers")
    subscribed = _endpoints([sim], "subscriptions")
    for entry in bridge:
        topic, ros_type = _name(entry["ros_topic_name"]), entry["ros_type_name"]
        if topic == "tf":
            continue  # sim_node sends /tf only where tf2_msgs is installed
        table = published if entry["direction"] == "GZ_TO_ROS" else subscribed
        assert table.get(topic) == {ros_type}, f"sim_node and Gazebo differ on /{topic}"


# --- profile and launch file <-> world -----------------------------------------------------
def test_gazebo_profile_mounts_and_walkway_match_the_world(world, robot):
    profile = yaml.safe_load(PROFILE.read_text())
    perception = profile["perception_node"]["ros__parameters"]
    sensors = _sensors(robot)
    lidar, camera = _pose(sensors["gpu_lidar"]), _pose(sensors["camera"])
    for node in ("perception_node", "planner_node", "safety_node"):
        params = profile[node]["ros__parameters"]
        assert math.isclose(params["lidar_x"], lidar[0]), node
        assert math.isclose(params["lidar_y"], lidar[1]), node
        assert math.isclose(params["lidar_yaw"], lidar[5]), node
    assert math.isclose(perception["camera_x"], camera[0])
    assert math.isclose(perception["camera_z"], camera[2])
    assert math.isclose(perception["camera_pitch"], camera[4])

    strip = next(m for m in world.findall("model") if m.get("name") == "walkway_strip")
    cx, cy = _pose(strip)[:2]
    length, width, _ = _floats(strip.findtext("link/visual/geometry/box/size"), 3)
    for key, sign in (("walkway_left", 1), ("walkway_right", -1)):
        edge = perception[key]
        assert all(math.isclose(y, cy + sign * width / 2) for y in edge[1::2]), key
        assert min(edge[0::2]) >= cx - length / 2 - 1e-6 and max(edge[0::2]) <= cx + length / 2
    route = profile["planner_node"]["ros__parameters"]["route"]
    assert all(abs(y - cy) < width / 2 for y in route[1::2]), "route leaves the walkway"


def test_gazebo_profile_footprint_covers_the_robot(robot):
    profile = yaml.safe_load(PROFILE.read_text())
    radius = profile["safety_node"]["ros__parameters"]["robot_radius"]
    extent = 0.0
    for link in robot.findall("link"):
        lx, ly, _, roll = _pose(link)[:4]
        for collision in link.findall("collision"):
            x, y = abs(lx + _pose(collision)[0]), abs(ly + _pose(collision)[1])
            geometry = collision.find("geometry")
            if geometry.find("sphere") is not None:
                reach = math.hypot(x, y) + float(geometry.findtext("sphere/radius"))
            elif geometry.find("cylinder") is not None:
                r = float(geometry.findtext("cylinder/radius"))
                half = float(geometry.findtext("cylinder/length")) / 2
                if abs(abs(roll) - math.pi / 2) < 1e-3:  # a wheel: axis along y
                    reach = math.hypot(x + r, y + half)
                else:
                    reach = math.hypot(x, y) + r
            else:
                pytest.fail(f"unexpected collision geometry in {link.get('name')}")
            extent = max(extent, reach)
    assert radius >= extent, f"robot_radius {radius} < robot extent {extent:.2f} m"


def test_gazebo_launch_static_transforms_match_the_sensor_poses(robot):
    text = GAZEBO_LAUNCH.read_text()
    sensors = _sensors(robot)
    for constant, sensor in (("LIDAR_MOUNT", "gpu_lidar"), ("CAMERA_MOUNT", "camera")):
        match = re.search(rf"^{constant} = (\(.*\))$", text, re.MULTILINE)
        assert match, constant
        mount = [float(v) for v in ast.literal_eval(match.group(1))]
        assert mount == pytest.approx(_pose(sensors[sensor]), abs=1e-6), constant

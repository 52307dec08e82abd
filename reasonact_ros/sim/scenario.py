"""Scenarios: the YAML files in config/scenarios/ and their strict loader.

All coordinates in a scenario are in the ``odom`` frame, which is the sim's
world frame (odometry is perfect); scenarios start the robot at the origin
facing +x so that odom also equals the robot's start frame. Units are SI;
angles are radians.

Every problem in a file raises ``ScenarioError`` whose message is one line:
``<file>:<line>: <field>: expected <what>, got <value>``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from reasonact_ros import scene
from reasonact_ros.sim.polyline import offset_polyline


class ScenarioError(ValueError):
    """A scenario file is missing something, has a wrong type, or an unknown key."""


# ---------------------------------------------------------------------------------------------
# The scenario as plain frozen data
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RobotParams:
    radius: float = 0.3  # [m] footprint circle
    max_linear_speed: float = 1.5  # [m/s]
    max_reverse_speed: float = 0.3  # [m/s]
    max_angular_speed: float = 1.5  # [rad/s]
    max_linear_accel: float = 1.0  # [m/s^2]
    max_angular_accel: float = 3.0  # [rad/s^2]
    command_timeout_s: float = 0.5  # [s] without a command the base brakes to a stop


@dataclass(frozen=True)
class LidarParams:
    beams: int = 360
    field_of_view: float = 2.0 * math.pi  # [rad], centred on the robot's heading
    range_min: float = 0.05  # [m]
    range_max: float = 12.0  # [m]
    noise_std: float = 0.01  # [m] Gaussian range noise
    mount_x: float = 0.0  # [m] ahead of base_link
    mount_height: float = 0.3  # [m] scan plane height; people's legs are seen here
    rate_hz: float = 10.0  # how often the sim node should publish a scan
    no_return: str = "inf"  # 'inf' (REP-117) or 'range_max'
    people_model: str = "body"  # 'body': one circle per person; 'legs': two swinging legs


@dataclass(frozen=True)
class SocialForceParams:
    """Helbing & Molnar (1995) social force parameters shared by every simulated person."""

    person_repulsion: float = 2.1  # V0 [m^2/s^2] of the elliptical person potential
    person_range: float = 0.3  # sigma [m]
    step_time: float = 0.4  # delta t [s]: how far ahead the other's step is anticipated
    obstacle_repulsion: float = 10.0  # U0 [m^2/s^2]
    obstacle_range: float = 0.2  # R [m]
    field_of_view: float = math.radians(200.0)  # [rad] full angle seen with full weight
    out_of_view_weight: float = 0.5  # c: weight of forces from behind
    walkway_edge_repulsion: float = 3.0  # [m/s^2] keeps walkway users off the grass
    walkway_edge_range: float = 0.3  # [m]
    group_cohesion: float = 1.0  # [1/s^2] pull towards the group's centre
    evasion_strength: float = 3.0  # [m/s^2] sidestep when on a near-collision course
    evasion_horizon: float = 3.0  # [s] how far ahead a collision course is noticed
    evasion_margin: float = 0.6  # [m] wanted gap between surfaces when passing
    keep_right: float = 0.5  # someone met whose miss is within this fraction of the
    # comfort distance to our right is passed on our right all the same (walking convention)
    noise_std: float = 0.05  # [m/s^2] fluctuation force
    max_speed_factor: float = 1.3  # v_max = factor * desired speed


@dataclass(frozen=True)
class WalkwaySpec:
    """A walkway: a centreline (its direction is the point order) and a width."""

    name: str
    centerline: tuple[tuple[float, float], ...]
    width: float  # [m]

    def edges(self) -> scene.Walkway:
        line = np.asarray(self.centerline, dtype=float)
        return scene.Walkway(
            left=offset_polyline(line, self.width / 2.0),
            right=offset_polyline(line, -self.width / 2.0),
        )

    def polygon(self) -> np.ndarray:
        return self.edges().polygon()


AREA_KINDS = ("grass", "road", "gravel", "plaza", "walkway")


@dataclass(frozen=True)
class AreaSpec:
    """A ground area other than a walkway (grass, road...), drawn on the ground texture."""

    name: str
    kind: str
    polygon: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class ObstacleSpec:
    """A static obstacle: a vertical cylinder ('circle') or a box, standing on the ground."""

    id: int
    shape: str  # 'circle' | 'box'
    x: float
    y: float
    radius: float = 0.0  # [m] circle
    length: float = 0.0  # [m] box extent along its yaw
    width: float = 0.0  # [m] box extent across its yaw
    yaw: float = 0.0  # [rad] box
    height: float = 1.0  # [m]
    color: tuple[int, int, int] = (120, 120, 125)

    @property
    def footprint_radius(self) -> float:
        """Radius of the smallest circle around the footprint (for ground-truth tracks)."""
        if self.shape == "circle":
            return self.radius
        return 0.5 * math.hypot(self.length, self.width)

    def distance_to(self, x: float, y: float) -> float:
        """Distance [m] from (x, y) to the footprint (0 inside)."""
        if self.shape == "circle":
            return max(0.0, math.hypot(x - self.x, y - self.y) - self.radius)
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        dx, dy = x - self.x, y - self.y
        local_x, local_y = c * dx + s * dy, -s * dx + c * dy
        return math.hypot(max(0.0, abs(local_x) - self.length / 2),
                          max(0.0, abs(local_y) - self.width / 2))

    def blocks_segment(self, start, end) -> bool:
        """Whether the segment start-end (odom points) passes through the footprint."""
        (ax, ay), (bx, by) = start, end
        if self.shape == "circle":
            dx, dy = bx - ax, by - ay
            length_sq = dx * dx + dy * dy
            t = 0.0 if length_sq == 0.0 else ((self.x - ax) * dx + (self.y - ay) * dy) / length_sq
            t = min(1.0, max(0.0, t))
            return math.hypot(ax + t * dx - self.x, ay + t * dy - self.y) < self.radius
        # Liang-Barsky clipping of the segment against the box in its own frame.
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        lax, lay = c * (ax - self.x) + s * (ay - self.y), -s * (ax - self.x) + c * (ay - self.y)
        lbx, lby = c * (bx - self.x) + s * (by - self.y), -s * (bx - self.x) + c * (by - self.y)
        t0, t1 = 0.0, 1.0
        for p0, delta, half in ((lax, lbx - lax, self.length / 2), (lay, lby - lay,
                                                                    self.width / 2)):
            for q, d in ((half - p0, delta), (half + p0, -delta)):
                if d == 0.0:
                    if q < 0.0:
                        return False
                    continue
                t = q / d
                if d > 0.0:
                    t1 = min(t1, t)
                else:
                    t0 = max(t0, t)
        return t0 < t1

    def corners(self) -> np.ndarray:
        """(4, 2) box corners counter-clockwise in odom."""
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        half = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]]) * [self.length / 2, self.width / 2]
        return np.column_stack([
            self.x + c * half[:, 0] - s * half[:, 1],
            self.y + s * half[:, 0] + c * half[:, 1],
        ])


PERSON_KINDS = ("adult", "child")


@dataclass(frozen=True)
class PedestrianSpec:
    """One social-force person: where they start, where they go, how they react."""

    id: int
    start: tuple[float, float]
    waypoints: tuple[tuple[float, float], ...] = ()  # none: stands at start
    loop: bool = False
    on_finish: str = "leave"  # 'leave' (disappears) | 'stand' (stays at the last waypoint)
    desired_speed: float = 1.3  # [m/s]
    relaxation_time: float = 0.5  # [s]
    radius: float = 0.25  # [m]
    height: float = 1.75  # [m]
    robot_reaction: float = 1.0  # 0: ignores the robot; 1: treats it like a person; >1: wary
    walkway_attraction: float = 1.0  # 0: free to leave the walkway; 1: keeps to it
    start_time: float = 0.0  # [s] waits standing until then
    start_when_robot_within: float | None = None  # [m] or waits until the robot is this near
    group: str | None = None  # people with the same group name walk together
    kind: str = "adult"


@dataclass(frozen=True)
class SpawnerSpec:
    """Poisson arrivals of social-force people who walk a route and leave."""

    id_start: int
    rate: float  # [people/s]
    start: tuple[float, float]
    waypoints: tuple[tuple[float, float], ...]
    spread: float = 1.0  # [m] uniform lateral spread of the spawn point
    desired_speed: tuple[float, float] = (1.1, 1.5)  # [m/s] uniform range
    start_time: float = 0.0  # [s]
    end_time: float = math.inf  # [s]
    max_alive: int = 20
    radius: float = 0.25  # [m]
    robot_reaction: float = 1.0
    walkway_attraction: float = 1.0


@dataclass(frozen=True)
class ReplaySpec:
    """People replayed from an ETH/UCY text file (``frame_id pedestrian_id x y``)."""

    file: Path
    frame_period: float  # [s] per frame-number step (ETH: 0.04)
    offset: tuple[float, float] = (0.0, 0.0)  # [m] applied after the rotation
    rotation: float = 0.0  # [rad] about the recording's origin
    time_offset: float = 0.0  # [s] sim time of the file's first frame
    crop: tuple[float, float, float, float] | None = None  # recording x/y min, x/y max
    id_offset: int = 1000  # sim id = id_offset + recorded id
    radius: float = 0.25  # [m]


@dataclass(frozen=True)
class Lighting:
    brightness: float = 1.0  # multiplies every rendered colour
    variation: float = 0.1  # seeded per-episode random change of brightness (+-)


@dataclass(frozen=True)
class Scenario:
    """One scenario file, parsed: the world, the robot and its sensors, and who walks where.

    The main walkway is the first of ``walkways``. ``goal`` may be a route: its
    waypoints are passed in order (within ``goal_pass_radius``) and the episode
    succeeds within ``goal.tolerance`` of the last one.
    """

    name: str
    path: Path
    seed: int
    duration_s: float  # [s] episode timeout
    robot_start: scene.Pose2D
    goal: scene.Goal
    bounds: tuple[float, float, float, float]  # [m] xmin, ymin, xmax, ymax of the world
    description: str = ""
    goal_pass_radius: float = 1.0  # [m] how near an intermediate route waypoint counts
    robot: RobotParams = RobotParams()
    lidar: LidarParams = LidarParams()
    camera: scene.CameraModel = scene.CameraModel()
    camera_rate_hz: float = 10.0
    ground: str = "grass"
    lighting: Lighting = Lighting()
    social_force: SocialForceParams = SocialForceParams()
    walkways: tuple[WalkwaySpec, ...] = ()
    areas: tuple[AreaSpec, ...] = ()
    obstacles: tuple[ObstacleSpec, ...] = ()
    pedestrians: tuple[PedestrianSpec, ...] = ()
    spawners: tuple[SpawnerSpec, ...] = ()
    replays: tuple[ReplaySpec, ...] = ()

    def main_walkway(self) -> WalkwaySpec | None:
        return self.walkways[0] if self.walkways else None


# ---------------------------------------------------------------------------------------------
# Finding scenarios
# ---------------------------------------------------------------------------------------------

def scenarios_dir() -> Path:
    """config/scenarios of the installed package, or of this source checkout."""
    from reasonact_ros.share import share_path

    try:
        return share_path("config", "scenarios")
    except (ImportError, LookupError):
        # No package.xml beside the checkout and no ament index: use the source tree.
        return Path(__file__).resolve().parents[2] / "config" / "scenarios"


def available_scenarios() -> list[str]:
    """Names of the shipped scenarios (config/scenarios/*.yaml), sorted."""
    return sorted(p.stem for p in scenarios_dir().glob("*.yaml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load a scenario by bare name (``head_on``) or by file path."""
    text = str(name_or_path)
    is_bare_name = "/" not in text and "\\" not in text and not text.endswith((".yaml", ".yml"))
    if is_bare_name:
        path = scenarios_dir() / f"{text}.yaml"
        if not path.is_file():
            raise ScenarioError(
                f"{path}: no scenario named {text!r}; available: {available_scenarios()}")
    else:
        path = Path(text)
        if not path.is_file() and path.parent == Path("."):
            path = scenarios_dir() / path.name  # 'head_on.yaml' also means a shipped file
        if not path.is_file():
            raise ScenarioError(f"{text}: scenario file does not exist")
    return parse_scenario(path.read_text(encoding="utf-8"), path)


# ---------------------------------------------------------------------------------------------
# YAML with line numbers
# ---------------------------------------------------------------------------------------------

class _Mapping(dict):
    line = 0
    key_lines: dict


class _Sequence(list):
    line = 0


class _LineLoader(yaml.SafeLoader):
    """A SafeLoader that remembers the line of every mapping, key and list."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> _Mapping:
    loader.flatten_mapping(node)
    mapping = _Mapping()
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[key] = key_node.start_mark.line + 1
    return mapping


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> _Sequence:
    sequence = _Sequence(loader.construct_object(child, deep=True) for child in node.value)
    sequence.line = node.start_mark.line + 1
    return sequence


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)

_REQUIRED = object()


class _Fields:
    """Reads typed fields from one YAML mapping and reports problems with file and line."""

    def __init__(self, source: Path, mapping: Any, where: str, line: int):
        self.source = source
        self.where = where
        if not isinstance(mapping, dict):
            raise ScenarioError(
                f"{source}:{line}: {where or 'file'}: expected a mapping of fields, "
                f"got {_shown(mapping)}")
        self.mapping = mapping
        self.line = getattr(mapping, "line", line)
        self.used: set[str] = set()

    def name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def line_of(self, key: str) -> int:
        return getattr(self.mapping, "key_lines", {}).get(key, self.line)

    def fail(self, key: str, expected: str, value: Any) -> ScenarioError:
        return ScenarioError(
            f"{self.source}:{self.line_of(key)}: {self.name(key)}: expected {expected}, "
            f"got {_shown(value)}")

    def raw(self, key: str, default: Any, expected: str) -> Any:
        self.used.add(key)
        if key in self.mapping:
            return self.mapping[key]
        if default is _REQUIRED:
            raise ScenarioError(
                f"{self.source}:{self.line}: {self.name(key)}: missing required field "
                f"({expected})")
        return default

    def number(self, key: str, default: Any = _REQUIRED, minimum: float | None = None,
               positive: bool = False, maximum: float | None = None,
               allow_inf: bool = False) -> float:
        expected = _number_expectation(minimum, positive, maximum)
        value = self.raw(key, default, expected)
        if value is default and default is not _REQUIRED:
            return default
        return self._check_number(key, value, expected, minimum, positive, maximum, allow_inf)

    def _check_number(self, key, value, expected, minimum, positive, maximum, allow_inf):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(key, expected, value)
        value = float(value)
        if math.isnan(value) or (math.isinf(value) and not allow_inf):
            raise self.fail(key, expected, value)
        if (minimum is not None and value < minimum) or (positive and value <= 0.0) or (
                maximum is not None and value > maximum):
            raise self.fail(key, expected, value)
        return value

    def integer(self, key: str, default: Any = _REQUIRED, minimum: int | None = None) -> int:
        expected = "an integer" + (f" >= {minimum}" if minimum is not None else "")
        value = self.raw(key, default, expected)
        if value is default and default is not _REQUIRED:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or (
                minimum is not None and value < minimum):
            raise self.fail(key, expected, value)
        return value

    def boolean(self, key: str, default: Any = _REQUIRED) -> bool:
        value = self.raw(key, default, "true or false")
        if not isinstance(value, bool):
            raise self.fail(key, "true or false", value)
        return value

    def text(self, key: str, default: Any = _REQUIRED, choices: tuple[str, ...] = ()) -> str:
        expected = f"one of {list(choices)}" if choices else "a string"
        value = self.raw(key, default, expected)
        if value is default and default is not _REQUIRED and default is None:
            return default
        if not isinstance(value, str) or (choices and value not in choices):
            raise self.fail(key, expected, value)
        return value

    def numbers(self, key: str, count: int, default: Any = _REQUIRED,
                what: str = "") -> tuple[float, ...]:
        expected = what or f"a list of {count} finite numbers"
        value = self.raw(key, default, expected)
        if value is default and default is not _REQUIRED:
            return default
        return self._check_numbers(key, value, count, expected)

    def _check_numbers(self, key, value, count, expected) -> tuple[float, ...]:
        if not isinstance(value, list) or len(value) != count:
            raise self.fail(key, expected, value)
        for item in value:
            if isinstance(item, bool) or not isinstance(item, (int, float)) or not math.isfinite(
                    item):
                raise self.fail(key, expected, value)
        return tuple(float(v) for v in value)

    def point(self, key: str, default: Any = _REQUIRED) -> tuple[float, float]:
        return self.numbers(key, 2, default, "a point [x, y] of finite numbers")

    def points(self, key: str, default: Any = _REQUIRED,
               min_count: int = 1) -> tuple[tuple[float, float], ...]:
        expected = (f"a list of at least {min_count} point{'s' if min_count > 1 else ''} "
                    "[x, y] of finite numbers")
        value = self.raw(key, default, expected)
        if value is default and default is not _REQUIRED:
            return default
        if not isinstance(value, list) or len(value) < min_count:
            raise self.fail(key, expected, value)
        return tuple(self._check_numbers(key, item, 2, expected) for item in value)

    def section(self, key: str, required: bool = False) -> _Fields:
        value = self.raw(key, _REQUIRED if required else None, "a mapping of fields")
        if value is None:
            value = _Mapping()
            value.line, value.key_lines = self.line_of(key), {}
        return _Fields(self.source, value, self.name(key), self.line_of(key))

    def items(self, key: str) -> list[_Fields]:
        value = self.raw(key, [], "a list of mappings")
        if not isinstance(value, list):
            raise self.fail(key, "a list of mappings", value)
        line = self.line_of(key)
        return [_Fields(self.source, item, f"{self.name(key)}[{i}]",
                        getattr(item, "line", line)) for i, item in enumerate(value)]

    def finish(self) -> None:
        unknown = [k for k in self.mapping if k not in self.used]
        if unknown:
            key = unknown[0]
            raise ScenarioError(
                f"{self.source}:{self.line_of(key)}: {self.name(str(key))}: unknown key; "
                f"expected one of {sorted(self.used)}")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _number_expectation(minimum, positive, maximum) -> str:
    low = "(0" if positive else (f"[{minimum:g}" if minimum is not None else None)
    if low is not None and maximum is not None:
        return f"a finite number in {low}, {maximum:g}]"
    if low is not None:
        return "a finite number > 0" if positive else f"a finite number >= {minimum:g}"
    if maximum is not None:
        return f"a finite number <= {maximum:g}"
    return "a finite number"


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------

def parse_scenario(text: str, path: Path) -> Scenario:
    """Build a Scenario from YAML text; ``path`` names the file in errors and anchors replays."""
    path = Path(path)
    try:
        data = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - _LineLoader is a SafeLoader
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 0
        raise ScenarioError(f"{path}:{line}: not valid YAML: {error.problem}") from None
    except yaml.YAMLError as error:
        raise ScenarioError(f"{path}:0: not valid YAML: {error}") from None
    if data is None:
        raise ScenarioError(f"{path}:1: file: expected a mapping of scenario fields, got nothing")
    top = _Fields(path, data, "", 1)

    name = top.text("name", path.stem)
    description = top.text("description", "")
    seed = top.integer("seed", minimum=0)
    duration_s = top.number("duration_s", positive=True)
    bounds = top.numbers("bounds", 4, what="[xmin, ymin, xmax, ymax] of finite numbers")
    if bounds[2] <= bounds[0] or bounds[3] <= bounds[1]:
        raise top.fail("bounds", "xmax > xmin and ymax > ymin", list(bounds))
    ground = top.text("ground", "grass", AREA_KINDS)

    robot_fields = top.section("robot", required=True)
    start = robot_fields.numbers("start", 3, (0.0, 0.0, 0.0), "a pose [x, y, yaw]")
    robot = _read_robot(robot_fields)
    goal_fields = top.section("goal", required=True)
    goal = scene.Goal(waypoints=goal_fields.points("waypoints"),
                      tolerance=goal_fields.number("tolerance", 0.3, positive=True))
    goal_pass_radius = goal_fields.number("pass_radius", 1.0, positive=True)
    goal_fields.finish()

    lidar = _read_lidar(top.section("lidar"))
    camera, camera_rate_hz = _read_camera(top.section("camera"))
    lighting_fields = top.section("lighting")
    lighting = Lighting(brightness=lighting_fields.number("brightness", 1.0, positive=True),
                        variation=lighting_fields.number("variation", 0.1, 0.0, maximum=0.5))
    lighting_fields.finish()
    social_force = _read_social_force(top.section("social_force"))

    walkways = tuple(_read_walkway(f, i) for i, f in enumerate(top.items("walkways")))
    areas = tuple(_read_area(f, i) for i, f in enumerate(top.items("areas")))
    obstacle_fields, pedestrian_fields = top.items("obstacles"), top.items("pedestrians")
    obstacles = tuple(_read_obstacle(f, i) for i, f in enumerate(obstacle_fields))
    pedestrians = tuple(_read_pedestrian(f, i) for i, f in enumerate(pedestrian_fields))
    spawners = tuple(_read_spawner(f, i) for i, f in enumerate(top.items("spawners")))
    replay_fields = top.items("replays")
    replays = tuple(_read_replay(f, i, path) for i, f in enumerate(replay_fields))
    top.finish()

    _check_unique_ids(list(zip(obstacle_fields, obstacles, strict=True))
                      + list(zip(pedestrian_fields, pedestrians, strict=True)))
    _check_replay_ids(list(zip(replay_fields, replays, strict=True)), obstacles + pedestrians)
    return Scenario(
        name=name, path=path, seed=seed, duration_s=duration_s,
        robot_start=scene.Pose2D(*start), goal=goal, bounds=bounds, description=description,
        goal_pass_radius=goal_pass_radius, robot=robot, lidar=lidar, camera=camera,
        camera_rate_hz=camera_rate_hz, ground=ground, lighting=lighting,
        social_force=social_force, walkways=walkways, areas=areas, obstacles=obstacles,
        pedestrians=pedestrians, spawners=spawners, replays=replays,
    )


def _read_robot(f: _Fields) -> RobotParams:
    d = RobotParams()
    params = RobotParams(
        radius=f.number("radius", d.radius, positive=True),
        max_linear_speed=f.number("max_linear_speed", d.max_linear_speed, positive=True),
        max_reverse_speed=f.number("max_reverse_speed", d.max_reverse_speed, 0.0),
        max_angular_speed=f.number("max_angular_speed", d.max_angular_speed, positive=True),
        max_linear_accel=f.number("max_linear_accel", d.max_linear_accel, positive=True),
        max_angular_accel=f.number("max_angular_accel", d.max_angular_accel, positive=True),
        command_timeout_s=f.number("command_timeout_s", d.command_timeout_s, positive=True),
    )
    f.finish()
    return params


def _read_lidar(f: _Fields) -> LidarParams:
    d = LidarParams()
    params = LidarParams(
        beams=f.integer("beams", d.beams, minimum=1),
        field_of_view=f.number("field_of_view", d.field_of_view, positive=True,
                               maximum=2.0 * math.pi),
        range_min=f.number("range_min", d.range_min, 0.0),
        range_max=f.number("range_max", d.range_max, positive=True),
        noise_std=f.number("noise_std", d.noise_std, 0.0),
        mount_x=f.number("mount_x", d.mount_x),
        mount_height=f.number("mount_height", d.mount_height, positive=True),
        rate_hz=f.number("rate_hz", d.rate_hz, positive=True),
        no_return=f.text("no_return", d.no_return, ("inf", "range_max")),
        people_model=f.text("people_model", d.people_model, ("body", "legs")),
    )
    if params.range_min >= params.range_max:
        raise f.fail("range_min", f"less than range_max ({params.range_max:g})",
                     params.range_min)
    f.finish()
    return params


def _read_camera(f: _Fields) -> tuple[scene.CameraModel, float]:
    width = f.integer("width", 640, minimum=16)
    height = f.integer("height", 480, minimum=16)
    # A 77-degree horizontal field of view at any resolution unless told otherwise.
    default_focal = 0.625 * width
    camera = scene.CameraModel(
        width=width, height=height,
        fx=f.number("fx", default_focal, positive=True),
        fy=f.number("fy", default_focal, positive=True),
        cx=f.number("cx", width / 2.0), cy=f.number("cy", height / 2.0),
        mount_x=f.number("mount_x", 0.1),
        mount_z=f.number("mount_z", 1.0, positive=True),
        pitch=f.number("pitch", 0.25, minimum=-1.5, maximum=1.5),
    )
    rate_hz = f.number("rate_hz", 10.0, positive=True)
    f.finish()
    return camera, rate_hz


def _read_social_force(f: _Fields) -> SocialForceParams:
    d = SocialForceParams()
    values = {}
    for name, default in d.__dict__.items():
        values[name] = f.number(name, default, 0.0)
    f.finish()
    return SocialForceParams(**values)


def _read_walkway(f: _Fields, index: int) -> WalkwaySpec:
    spec = WalkwaySpec(
        name=f.text("name", f"walkway_{index}"),
        centerline=f.points("centerline", min_count=2),
        width=f.number("width", positive=True),
    )
    f.finish()
    return spec


def _read_area(f: _Fields, index: int) -> AreaSpec:
    spec = AreaSpec(name=f.text("name", f"area_{index}"), kind=f.text("kind", choices=AREA_KINDS),
                    polygon=f.points("polygon", min_count=3))
    f.finish()
    return spec


def _read_color(f: _Fields, key: str, default: tuple[int, int, int]) -> tuple[int, int, int]:
    value = f.raw(key, default, "an RGB list of three integers 0-255")
    if value is default:
        return default
    if not isinstance(value, list) or len(value) != 3 or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in value):
        raise f.fail(key, "an RGB list of three integers 0-255", value)
    return tuple(value)


def _read_obstacle(f: _Fields, index: int) -> ObstacleSpec:
    shape = f.text("shape", choices=("circle", "box"))
    common = dict(
        id=f.integer("id", 500 + index, minimum=0),
        shape=shape, x=f.number("x"), y=f.number("y"),
        height=f.number("height", 1.0, positive=True),
        color=_read_color(f, "color", (120, 120, 125)),
    )
    if shape == "circle":
        spec = ObstacleSpec(radius=f.number("radius", positive=True), **common)
    else:
        spec = ObstacleSpec(length=f.number("length", positive=True),
                            width=f.number("width", positive=True),
                            yaw=f.number("yaw", 0.0), **common)
    f.finish()
    return spec


def _read_pedestrian(f: _Fields, index: int) -> PedestrianSpec:
    kind = f.text("kind", "adult", PERSON_KINDS)
    child = kind == "child"
    within = f.raw("start_when_robot_within", None, "a finite number > 0")
    if within is not None:
        within = f.number("start_when_robot_within", positive=True)
    spec = PedestrianSpec(
        id=f.integer("id", index + 1, minimum=0),
        start=f.point("start"),
        waypoints=f.points("waypoints", ()),
        loop=f.boolean("loop", False),
        on_finish=f.text("on_finish", "leave", ("leave", "stand")),
        desired_speed=f.number("desired_speed", 1.3, 0.0, maximum=8.0),
        relaxation_time=f.number("relaxation_time", 0.5, positive=True),
        radius=f.number("radius", 0.2 if child else 0.25, positive=True),
        height=f.number("height", 1.2 if child else 1.75, positive=True),
        robot_reaction=f.number("robot_reaction", 1.0, 0.0),
        walkway_attraction=f.number("walkway_attraction", 1.0, 0.0),
        start_time=f.number("start_time", 0.0, 0.0),
        start_when_robot_within=within,
        group=f.text("group", None),
        kind=kind,
    )
    if spec.loop and len(spec.waypoints) < 2:
        raise f.fail("loop", "at least 2 waypoints for a loop", spec.waypoints)
    f.finish()
    return spec


def _read_spawner(f: _Fields, index: int) -> SpawnerSpec:
    speed = f.raw("desired_speed", (1.1, 1.5), "a speed or a [min, max] range [m/s]")
    if isinstance(speed, list):
        speed = f.numbers("desired_speed", 2, what="a [min, max] speed range [m/s]")
    elif speed != (1.1, 1.5):
        one = f.number("desired_speed", positive=True)
        speed = (one, one)
    if speed[0] > speed[1] or speed[0] <= 0.0:
        raise f.fail("desired_speed", "0 < min <= max", list(speed))
    spec = SpawnerSpec(
        id_start=f.integer("id_start", 200 + 100 * index, minimum=0),
        rate=f.number("rate", positive=True),
        start=f.point("start"),
        waypoints=f.points("waypoints"),
        spread=f.number("spread", 1.0, 0.0),
        desired_speed=speed,
        start_time=f.number("start_time", 0.0, 0.0),
        end_time=f.number("end_time", math.inf, 0.0, allow_inf=True),
        max_alive=f.integer("max_alive", 20, minimum=1),
        radius=f.number("radius", 0.25, positive=True),
        robot_reaction=f.number("robot_reaction", 1.0, 0.0),
        walkway_attraction=f.number("walkway_attraction", 1.0, 0.0),
    )
    f.finish()
    return spec


def _read_replay(f: _Fields, index: int, scenario_path: Path) -> ReplaySpec:
    file_name = f.text("file")
    file_path = Path(file_name)
    if not file_path.is_absolute():
        file_path = scenario_path.parent / file_path
    if not file_path.is_file():
        raise f.fail("file", "an existing trajectory file (relative to the scenario)", file_name)
    crop = f.raw("crop", None, "[xmin, ymin, xmax, ymax]")
    if crop is not None:
        crop = f.numbers("crop", 4, what="[xmin, ymin, xmax, ymax] of finite numbers")
        if crop[2] <= crop[0] or crop[3] <= crop[1]:
            raise f.fail("crop", "xmax > xmin and ymax > ymin", list(crop))
    spec = ReplaySpec(
        file=file_path,
        frame_period=f.number("frame_period", positive=True),
        offset=f.point("offset", (0.0, 0.0)),
        rotation=f.number("rotation", 0.0),
        time_offset=f.number("time_offset", 0.0),
        crop=crop,
        id_offset=f.integer("id_offset", 1000 * (index + 1), minimum=0),
        radius=f.number("radius", 0.25, positive=True),
    )
    f.finish()
    return spec


def _check_replay_ids(replays: list[tuple[_Fields, ReplaySpec]], others) -> None:
    """Replayed people get id_offset + recorded id; those must not clash with anyone."""
    from reasonact_ros.sim.replay import load_trajectories  # replay.py imports this module

    taken = {other.id: "an obstacle or pedestrian" for other in others}
    for fields, spec in replays:
        # Loading here reports a bad trajectory file when the scenario loads, not mid-run.
        for track in load_trajectories(spec.file):
            person_id = spec.id_offset + track.pedestrian_id
            if person_id in taken:
                raise fields.fail("id_offset", f"replayed ids that clash with nobody (id "
                                  f"{person_id} is {taken[person_id]})", spec.id_offset)
            taken[person_id] = f"{fields.where} pedestrian {track.pedestrian_id}"


def _check_unique_ids(items: list[tuple[_Fields, ObstacleSpec | PedestrianSpec]]) -> None:
    """People and obstacles share one id space, as ground-truth tracks do."""
    seen: dict[int, str] = {}
    # The later one in the file is the duplicate.
    for fields, spec in sorted(items, key=lambda item: item[0].line):
        if spec.id in seen:
            raise fields.fail("id", f"an id unique among people and obstacles (already used by "
                              f"{seen[spec.id]})", spec.id)
        seen[spec.id] = fields.where

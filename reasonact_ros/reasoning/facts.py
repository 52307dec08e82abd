"""Scene → facts → text: what the reasoning side knows about each tracked object.

Facts are in the robot frame (``base_link``: x forward, y left, REP-103), so a
rule or a language model can say "ahead on the left" without knowing the odom
frame. Distances are centre to centre [m]; time to collision uses the sum of
the object's radius and ``ROBOT_RADIUS_M`` and the current velocities of both.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from reasonact_ros.scene import ObjectClass, Scene, TrackedObject

ROBOT_RADIUS_M = 0.35  # a small walkway robot; used only for time to collision
STANDING_SPEED_MPS = 0.2  # slower than this, a tracked person counts as standing
RUNNING_SPEED_MPS = 2.0  # faster than this, a person is running (a child darting out)
AHEAD_MAX_BEARING_RAD = math.radians(60.0)
LANE_HALF_WIDTH_M = 0.5  # |lateral| at most this and in front: side is "ahead"
PATH_HALF_WIDTH_M = 0.8  # the strip in front of us the robot will drive through
WALKWAY_ALIGNED_COS = math.cos(math.radians(80.0))  # see motion_axis
DESCRIBED_OBJECTS = 6  # the text names the nearest few; the rest are counted

RELATIVE_MOTIONS = ("approaching", "crossing", "same_direction", "moving_away", "standing")
SIDES = ("left", "right", "ahead")


@dataclass(frozen=True)
class ObjectFact:
    """One tracked object as the reasoning side sees it, in the robot frame."""

    id: int
    label: ObjectClass
    distance_m: float
    bearing_rad: float  # robot frame, + left
    relative_motion: str  # one of RELATIVE_MOTIONS
    on_walkway: bool
    time_to_collision_s: float  # math.inf if the current velocities never meet
    ahead: bool  # in front of the robot within ±AHEAD_MAX_BEARING_RAD
    side: str  # one of SIDES
    forward_m: float = 0.0  # robot frame x
    lateral_m: float = 0.0  # robot frame y, + left
    speed_mps: float = 0.0  # the object's own speed over ground
    radius_m: float = 0.3
    enters_path_s: float = math.inf  # until its sideways motion brings it into our path strip
    confirmed: bool = True  # False: a tentative track (seen once or twice), see scene_facts
    # Left of the motion axis (the walkway's direction while the robot travels along it;
    # lateral_m where the axis is the heading): it does not swing as the robot turns in place.
    axis_lateral_m: float = 0.0


def _robot_velocity_odom(scene: Scene) -> np.ndarray:
    yaw = scene.robot.yaw
    return scene.robot_velocity.linear * np.array([math.cos(yaw), math.sin(yaw)])


def time_to_collision(rel_position: np.ndarray, rel_velocity: np.ndarray,
                      combined_radius: float) -> float:
    """First t >= 0 with |p + v t| <= r; 0 if already overlapping, inf if never."""
    p, v = np.asarray(rel_position, float), np.asarray(rel_velocity, float)
    c = float(p @ p) - combined_radius**2
    if c <= 0.0:
        return 0.0
    a = float(v @ v)
    b = 2.0 * float(p @ v)
    if a < 1e-12 or b >= 0.0:  # not moving relative to each other, or separating
        return math.inf
    disc = b * b - 4.0 * a * c
    if disc < 0.0:
        return math.inf
    return (-b - math.sqrt(disc)) / (2.0 * a)


def classify_motion(obj: TrackedObject, to_object: np.ndarray, robot_heading: np.ndarray) -> str:
    """How the object moves, judged by its own velocity in our frame (not by line of sight).

    Mostly sideways and towards our centre line: crossing (even when it is close
    at 45°, where line of sight would call it approaching). Mostly along our
    axis: approaching when it closes the gap, same_direction when it walks ahead
    of us our way, moving_away when it opens the gap behind us.
    """
    speed = obj.speed
    if speed < STANDING_SPEED_MPS:
        return "standing"
    left = np.array([-robot_heading[1], robot_heading[0]])
    along, sideways = float(obj.velocity @ robot_heading), float(obj.velocity @ left)
    forward, lateral = float(to_object @ robot_heading), float(to_object @ left)
    if abs(sideways) > abs(along):
        return "moving_away" if lateral * sideways > 0.0 else "crossing"
    if forward >= 0.0:
        return "approaching" if along < 0.0 else "same_direction"
    return "approaching" if along > 0.0 else "moving_away"


def motion_axis(scene: Scene) -> np.ndarray:
    """The direction people's motion is judged against: on a walkway its direction (our
    way along it), else the robot's heading.

    A robot that has turned to let someone by would otherwise see everyone walking along
    the walkway as "crossing" and yield to them one after the other (the crowd scenario).
    Only heading straight across the walkway (more than 80 deg off it), or at a corner,
    where the walkway has no one direction, does the robot's own heading count. At 60 deg,
    a robot turned 65-78 deg to cross to the walkway's right saw people walking along it as
    crossing its path, yielded and stopped on the line of replayed people who do not
    evade: all three contacts of replay x 42 (27 twice, 43).
    """
    yaw = scene.robot.yaw
    heading = np.array([math.cos(yaw), math.sin(yaw)])
    if scene.walkway is None or not robot_on_walkway(scene):
        return heading
    along = scene.walkway.direction_at((scene.robot.x, scene.robot.y))
    if along is None:
        return heading
    alignment = float(along @ heading)
    if abs(alignment) < WALKWAY_ALIGNED_COS:
        return heading
    return along if alignment > 0.0 else -along


def object_fact(scene: Scene, obj: TrackedObject, robot_velocity: np.ndarray | None = None,
                on_walkway: bool | None = None, axis: np.ndarray | None = None) -> ObjectFact:
    """``axis``: what motion is judged against (motion_axis); the robot's heading if None."""
    robot_xy = np.array([scene.robot.x, scene.robot.y])
    yaw = scene.robot.yaw
    heading = np.array([math.cos(yaw), math.sin(yaw)])
    to_object = obj.position - robot_xy
    forward = float(to_object @ heading)
    lateral = float(to_object @ np.array([-heading[1], heading[0]]))
    bearing = math.atan2(lateral, forward)
    if robot_velocity is None:
        robot_velocity = _robot_velocity_odom(scene)
    ttc = time_to_collision(to_object, obj.velocity - robot_velocity, obj.radius + ROBOT_RADIUS_M)
    if forward > 0.0 and abs(lateral) <= LANE_HALF_WIDTH_M:
        side = "ahead"
    else:
        side = "left" if lateral >= 0.0 else "right"
    if on_walkway is None:
        on_walkway = obj.on_walkway
    lateral_speed = float(obj.velocity @ np.array([-heading[1], heading[0]]))
    axis_lateral = lateral if axis is None else float(to_object @ np.array([-axis[1], axis[0]]))
    return ObjectFact(
        id=obj.id,
        label=obj.label,
        distance_m=float(math.hypot(forward, lateral)),
        bearing_rad=bearing,
        relative_motion=classify_motion(obj, to_object, heading if axis is None else axis),
        on_walkway=bool(on_walkway),
        time_to_collision_s=ttc,
        ahead=forward > 0.0 and abs(bearing) <= AHEAD_MAX_BEARING_RAD,
        side=side,
        forward_m=forward,
        lateral_m=lateral,
        speed_mps=obj.speed,
        radius_m=obj.radius,
        enters_path_s=path_entry_time(lateral, lateral_speed, PATH_HALF_WIDTH_M + obj.radius),
        confirmed=obj.confirmed,
        axis_lateral_m=axis_lateral,
    )


def path_entry_time(lateral: float, lateral_speed: float, half_width: float) -> float:
    """Seconds until a sideways-moving object is within ``half_width`` of our centre line."""
    if abs(lateral) <= half_width:
        return 0.0
    if lateral * lateral_speed >= 0.0:  # moving away from the strip, or not sideways at all
        return math.inf
    return (abs(lateral) - half_width) / abs(lateral_speed)


def scene_facts(scene: Scene, include_unconfirmed: bool = False) -> tuple[ObjectFact, ...]:
    """One fact per tracked object with finite coordinates, nearest first.

    Tentative tracks are left out unless asked for: their velocity means little yet, and
    a language model should reason about what perception is sure of. The rules take them
    to slow down early (RulesPolicy, "something new in our lane").
    """
    objects = [o for o in scene.objects
               if (o.confirmed or include_unconfirmed)
               and all(math.isfinite(v) for v in (o.x, o.y, o.vx, o.vy, o.radius))]
    if not objects:
        return ()
    # A walkway polygon, when known, is better evidence than a per-track flag.
    if scene.walkway is not None:
        inside = scene.walkway.contains(np.array([[o.x, o.y] for o in objects]))
        flags = [bool(i) or o.on_walkway for i, o in zip(inside, objects, strict=True)]
    else:
        flags = [o.on_walkway for o in objects]
    robot_velocity = _robot_velocity_odom(scene)
    axis = motion_axis(scene)
    facts = [object_fact(scene, o, robot_velocity, flag, axis)
             for o, flag in zip(objects, flags, strict=True)]
    return tuple(sorted(facts, key=lambda f: (f.distance_m, f.id)))


def robot_on_walkway(scene: Scene) -> bool:
    if scene.walkway is None:
        return False
    return bool(scene.walkway.contains(np.array([[scene.robot.x, scene.robot.y]]))[0])


_NOUNS = {
    ObjectClass.PEDESTRIAN: ("pedestrian", "pedestrians"),
    ObjectClass.OBSTACLE: ("obstacle", "obstacles"),
    ObjectClass.UNKNOWN: ("unknown object", "unknown objects"),
}

_MOTION_PHRASES = {
    ObjectClass.PEDESTRIAN: {
        "approaching": "walking towards us",
        "crossing": "crossing our path",
        "same_direction": "walking ahead of us in our direction",
        "moving_away": "walking away",
        "standing": "standing still",
    },
}
_OBJECT_MOTION_PHRASES = {
    "approaching": "moving towards us",
    "crossing": "moving across our path",
    "same_direction": "moving in our direction",
    "moving_away": "moving away",
    "standing": "not moving",
}


def where_phrase(fact: ObjectFact) -> str:
    """'4.2 m ahead', '2.0 m ahead on the left', '1.5 m to the right', '3.0 m behind'."""
    distance = f"{fact.distance_m:.1f} m"
    if fact.side == "ahead":
        return f"{distance} ahead"
    if fact.ahead:
        return f"{distance} ahead on the {fact.side}"
    if fact.forward_m < 0.0 and abs(fact.bearing_rad) > math.radians(135.0):
        return f"{distance} behind"
    return f"{distance} to the {fact.side}"


def describe_fact(fact: ObjectFact, with_id: bool = False) -> str:
    noun = _NOUNS.get(fact.label, _NOUNS[ObjectClass.UNKNOWN])[0]
    article = "An" if noun[0] in "aeiou" else "A"
    if with_id:
        noun = f"{noun} (id {fact.id})"
    place = " on the walkway" if fact.on_walkway else ""
    phrases = _MOTION_PHRASES.get(fact.label, _OBJECT_MOTION_PHRASES)
    motion = phrases[fact.relative_motion]
    if fact.label == ObjectClass.PEDESTRIAN and fact.speed_mps >= RUNNING_SPEED_MPS:
        motion = "running across our path" if fact.relative_motion == "crossing" \
            else motion.replace("walking", "running")
    if (fact.relative_motion == "crossing" and fact.ahead and 0.0 < fact.enters_path_s < 10.0):
        motion += f", reaching our lane in {fact.enters_path_s:.1f} s"
    ttc = ""
    if math.isfinite(fact.time_to_collision_s) and fact.time_to_collision_s < 10.0:
        ttc = f" (time to collision {fact.time_to_collision_s:.1f} s)"
    return f"{article} {noun} is{place} {where_phrase(fact)}, {motion}{ttc}."


def _describe_goal(scene: Scene) -> str:
    """Where our way ends, in the robot's frame: whoever stays beyond it does not matter."""
    dx, dy = scene.goal[0] - scene.robot.x, scene.goal[1] - scene.robot.y
    yaw = scene.robot.yaw
    forward = dx * math.cos(yaw) + dy * math.sin(yaw)
    lateral = -dx * math.sin(yaw) + dy * math.cos(yaw)
    bearing = abs(math.atan2(lateral, forward))
    if bearing <= AHEAD_MAX_BEARING_RAD:
        where = "ahead"
    elif bearing >= math.pi - AHEAD_MAX_BEARING_RAD:
        where = "behind us"
    else:
        where = "to the left" if lateral > 0.0 else "to the right"
    return f"Our goal is {math.hypot(dx, dy):.1f} m away, {where}."


def describe_scene(scene: Scene, facts: Sequence[ObjectFact] | None = None,
                   with_ids: bool = False) -> str:
    """A few short sentences, nearest objects first, e.g.

    "We are on a walkway. Our goal is 12.0 m away, ahead. A pedestrian is on the
    walkway 4.2 m ahead, walking towards us (time to collision 2.1 s)."

    ``with_ids`` adds "(id 7)" after each noun, for a model that must name a target.
    """
    if facts is None:
        facts = scene_facts(scene)
    sentences = []
    if scene.walkway is not None:
        sentences.append("We are on a walkway." if robot_on_walkway(scene)
                         else "There is a walkway nearby.")
    if scene.goal is not None:
        sentences.append(_describe_goal(scene))
    if not facts:
        sentences.append("Nothing is around us; the way is clear.")
    for fact in facts[:DESCRIBED_OBJECTS]:
        sentences.append(describe_fact(fact, with_ids))
    rest = facts[DESCRIBED_OBJECTS:]
    if rest:
        people = sum(1 for f in rest if f.label == ObjectClass.PEDESTRIAN)
        others = len(rest) - people
        parts = []
        if people:
            parts.append(f"{people} more {'person' if people == 1 else 'people'}")
        if others:
            parts.append(f"{others} more {'object' if others == 1 else 'objects'}")
        sentences.append(f"Further away: {' and '.join(parts)}.")
    if not scene.health.all_ok:
        broken = [name for name, ok in (("lidar", scene.health.scan_ok),
                                        ("camera", scene.health.camera_ok),
                                        ("odometry", scene.health.odom_ok)) if not ok]
        sentences.append(f"Sensor trouble: {', '.join(broken)} not fresh.")
    return " ".join(sentences)

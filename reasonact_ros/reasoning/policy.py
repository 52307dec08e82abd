"""Policies propose actions; the validator decides whether they are used.

A policy turns (scene, intent) into a raw action dict::

    {"behavior": "PASS_RIGHT", "max_speed": 0.6, "min_clearance": 1.2,
     "target_id": 7, "thought": "A pedestrian is approaching ..."}

``RulesPolicy`` is deterministic and always available: it is the default
back-end and the fallback whenever a language model is slow, wrong or absent.
Its rules, first match wins:

1. the operator said wait                          → STOP
2. sensors not fresh                               → SLOW
3. someone closer than ~1 m in front               → STOP (SLOW behind them if they
                                                      walk away from us our way)
4. a person running across/towards our path ahead  → STOP
5. a person crossing who will be in our lane soon  → STOP (imminent) / YIELD
6. someone in our lane about to be hit (TTC small) → STOP
7. a crowd ahead                                   → SLOW
8. a person approaching in or near our lane        → PASS_RIGHT (LEFT if their way passes
                                                      on our right, or told), no slower
                                                      than whoever walks up behind us
9. someone standing, or an obstacle on the walkway, → pass on the side with more room
   in our lane
10. a slower person ahead walking our way          → PASS_LEFT (overtake), and on at our
                                                      own pace while we are beside them
11. people close beside us                         → SLOW
12. nothing relevant                               → FOLLOW_WALKWAY on a walkway, else PROCEED

Only confirmed tracks take part in these, and only those that come near our way: when the
scene knows the goal, whoever stays farther from us than it (by both bodies and the
intimate gap) for CROSSING_HORIZON_S is left out, for we stop there. Then, when the
answer would be faster than ``CAUTION_SPEED_MPS``, a tentative track in our lane (seen on
one or two scans) makes it SLOW: the fast reaction to something appearing ahead. A STOP
(other than "wait") becomes SLOW when someone, ahead of us or not, walks a path that passes
within the intimate zone of where we stand within ``WALKING_INTO_US_S``: standing still is
only safe where no one walks, and the planner steps out of their way.
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

import numpy as np

from reasonact_ros.reasoning.facts import (
    PATH_HALF_WIDTH_M,
    ROBOT_RADIUS_M,
    RUNNING_SPEED_MPS,
    ObjectFact,
    describe_fact,
    robot_on_walkway,
    scene_facts,
)
from reasonact_ros.reasoning.intent import Intent
from reasonact_ros.scene import (
    NO_TARGET,
    Behavior,
    DecisionSource,
    Limits,
    ObjectClass,
    Scene,
    distances_to_segments,
)

CLOSE_STOP_M = 1.0  # anyone nearer than this in front: stop
CLOSE_STOP_HALF_WIDTH_M = 0.9
LANE_HALF_WIDTH_M = PATH_HALF_WIDTH_M
STATIC_SPEED_MPS = 0.3  # a non-person slower than this is structure, not traffic
LOOKAHEAD_M = 8.0  # people further than this do not change the behaviour yet
CROSSING_HORIZON_S = 4.0  # a crosser entering our lane sooner than this: yield
CROSSING_STOP_S = 1.5  # ... sooner than this: stop
IMMINENT_TTC_S = 1.5
CROWD_COUNT = 4  # this many people within CROWD_RADIUS_M in front is a crowd
CROWD_RADIUS_M = 6.0
PASS_LOOKAHEAD_M = 6.0
NEARBY_M = 1.8  # people this close beside us: slow down
OVERTAKE_BESIDE_M = 2.0  # someone walking our way this far to our side (and at most this
# far ahead) is still being overtaken
FOLLOWER_BEHIND_M = 4.0  # someone walking up behind us this close sets our passing pace
FOLLOW_SPEED_FRACTION = 0.7  # behind someone close ahead walking our way: this x their speed
BLOCKER_GROUP_M = 2.0  # standing things this close along our way block the walkway together

CRUISE_SPEED_MPS = 1.5  # a brisk walking pace (the robot's limit) when nothing asks for less
PASS_SPEED_MPS = 0.8
OVERTAKE_SPEED_MPS = 1.0  # past someone walking our way slower than PASS_SPEED_MPS
CAUTION_SPEED_MPS = PASS_SPEED_MPS  # for a return not yet confirmed as a track
CAUTION_LOOKAHEAD_M = 6.0
SLOW_SPEED_MPS = 0.4
YIELD_SPEED_MPS = 0.2
DEFAULT_CLEARANCE_M = 1.2  # personal space ends here (Hall; the metric)
INTIMATE_GAP_M = 0.45  # intimate space ends here (Hall; the metric)
WALKING_INTO_US_S = 3.0  # someone whose path passes this soon within INTIMATE_GAP_M of us
PASS_CLEARANCE_M = 1.2
CROWD_CLEARANCE_M = 1.5


@runtime_checkable
class Policy(Protocol):
    name: str

    def propose(self, scene: Scene, intent: Intent | None, now: float) -> dict:
        """A raw action dict; it is validated before use."""


def _is_person(fact: ObjectFact) -> bool:
    return fact.label == ObjectClass.PEDESTRIAN


def _is_static_obstacle(fact: ObjectFact) -> bool:
    # UNKNOWN counts: a post or a barrier's edge seen as a sliver is UNKNOWN, and a STOP
    # for it never ends (narrow_passage: the robot stood before a post until timeout).
    # Its points stay in the planner's obstacle map and under the safety layer.
    return fact.label != ObjectClass.PEDESTRIAN and fact.speed_mps < STATIC_SPEED_MPS


def _is_blocking(fact: ObjectFact) -> bool:
    """Something to drive around rather than to meet: standing, or not a person."""
    return fact.relative_motion == "standing" or not _is_person(fact)


def _in_lane(fact: ObjectFact, half_width: float = LANE_HALF_WIDTH_M) -> bool:
    return fact.forward_m > 0.0 and abs(fact.lateral_m) <= half_width + fact.radius_m


def _follower_pace(facts) -> float:
    """The speed of the fastest person walking up behind us in our lane, 0 if none.

    Slowing below it to pass someone coming towards us makes us their obstacle: they
    close in on our back while we pick a side (replay, held out 81: at 0.8 m/s with a
    1.25 m/s walker behind in the right half, the robot took the left, met the next
    walkers there at the walkway's edge and was walked into).
    """
    paces = [f.speed_mps for f in facts
             if _is_person(f) and f.relative_motion == "approaching"
             and -FOLLOWER_BEHIND_M <= f.forward_m <= 0.0
             and abs(f.lateral_m) <= LANE_HALF_WIDTH_M + f.radius_m]
    return min(max(paces, default=0.0), CRUISE_SPEED_MPS)


def _walks_our_way(fact: ObjectFact) -> bool:
    """Walking in our direction: ahead of us, or beside and just behind as we pass them
    (behind us, walking our way is classified "approaching": they close in from behind)."""
    return (fact.relative_motion == "same_direction"
            or (fact.relative_motion == "approaching" and fact.forward_m <= 0.0))


def _in_our_way(scene: Scene, fact: ObjectFact) -> bool:
    """A person anywhere near our path is; a thing only on the walkway we follow.

    Beside the walkway, a box or a bench is the planner's to keep clear of (its lidar
    points are in the obstacle costs): slowing down to pass it as if it blocked the
    walkway cost the robot seconds for nothing (a 1.8 m box is a lidar cluster of radius
    ~0.9 m, which reaches into the lane).
    """
    return _is_person(fact) or scene.walkway is None or fact.on_walkway


def _new_in_lane(facts) -> ObjectFact | None:
    """The nearest tentative track in our lane within CAUTION_LOOKAHEAD_M, if any.

    The tracker needs three scans (0.2 s at 10 Hz) to confirm a track; slowing on the
    first scan, before anyone knows what it is, is what makes the reaction fast. A slow-down,
    never a stop: one spurious cluster must not halt the robot, and the safety layer
    stops for anything close on the raw scan anyway.
    """
    return next((f for f in facts if not f.confirmed and _in_lane(f)
                 and f.forward_m <= CAUTION_LOOKAHEAD_M), None)


class RulesPolicy:
    """Deterministic semantic rules over the scene facts; see the module docstring."""

    name = "rules"
    source = DecisionSource.RULES

    def __init__(self, limits: Limits | None = None):
        self.limits = limits or Limits()

    def propose(self, scene: Scene, intent: Intent | None, now: float) -> dict:
        every_fact = scene_facts(scene, include_unconfirmed=True)
        facts = tuple(f for f in every_fact if f.confirmed)
        behavior, speed, clearance, target, why = self._decide(scene, facts, intent)
        if behavior == Behavior.STOP and not (intent is not None and intent.wait):
            walker = _walking_into_us(scene, facts)
            if walker is not None:
                # Standing still is only safe where no one walks: among people walking the
                # walkway, a robot stopped for someone in front (often turned across it)
                # stood in the next walker's line and was brushed past or walked into
                # from behind (crowd 7, 30). Slow instead: the planner weighs everyone's
                # predicted path, the one in front included, and steps out of theirs.
                behavior, speed, clearance, target = (Behavior.SLOW, SLOW_SPEED_MPS,
                                                      PASS_CLEARANCE_M, walker.id)
                why = ("They would walk into us where we stand: keep moving slowly out "
                       "of their way instead of stopping.")
        if speed > CAUTION_SPEED_MPS and behavior != Behavior.STOP:
            new = _new_in_lane(every_fact)
            if new is not None:
                behavior, speed, target = Behavior.SLOW, CAUTION_SPEED_MPS, NO_TARGET
                why = (f"Something new appeared {new.distance_m:.1f} m ahead in our lane: "
                       "slow down until it is identified.")
        limits = self.limits
        cap = limits.max_linear_speed
        if intent is not None and intent.max_speed is not None:
            cap = min(cap, intent.max_speed)
        clearance_floor = limits.min_person_clearance
        if intent is not None and intent.min_distance is not None:
            clearance_floor = max(clearance_floor, intent.min_distance)
        speed = 0.0 if behavior == Behavior.STOP else min(speed, cap)
        clearance = min(max(clearance, clearance_floor), limits.max_person_clearance)
        thought = why
        if target != NO_TARGET:
            fact = next(f for f in facts if f.id == target)
            thought = f"{describe_fact(fact)} {why}"
        return {
            "behavior": behavior.name,
            "max_speed": round(speed, 3),
            "min_clearance": round(clearance, 3),
            "target_id": target,
            "thought": thought,
        }

    def _decide(self, scene: Scene, facts, intent: Intent | None):
        keep_side = intent.keep_side if intent is not None else None
        if intent is not None and intent.wait:
            return Behavior.STOP, 0.0, DEFAULT_CLEARANCE_M, NO_TARGET, "Waiting as instructed."
        if not scene.health.all_ok:
            return (Behavior.SLOW, SLOW_SPEED_MPS, CROWD_CLEARANCE_M, NO_TARGET,
                    "Sensors are not all fresh, so I slow down.")

        relevant = [f for f in facts if f.forward_m > -1.0 and f.distance_m <= LOOKAHEAD_M
                    and not _beyond_our_way(scene, f)]
        people = [f for f in relevant if _is_person(f)]

        # Stopping is for people and moving things. A static obstacle is the planner's to
        # drive around (and the safety layer's to stop for): a STOP here would hold the
        # robot in front of a bench forever, since the planner obeys it.
        stoppable = [f for f in relevant if not _is_static_obstacle(f)]
        for fact in stoppable:
            if (fact.distance_m < CLOSE_STOP_M + fact.radius_m and fact.forward_m > 0.0
                    and abs(fact.lateral_m) <= CLOSE_STOP_HALF_WIDTH_M + fact.radius_m):
                if _is_person(fact) and fact.relative_motion == "standing":
                    # Someone standing is stopped for while we close on them (the
                    # imminent-collision rule below), then passed with room: a STOP for as
                    # long as they stand never ends (narrow_passage 29: its post, taken for
                    # a person standing 1.1 m ahead, held the robot 30 s, to the timeout).
                    continue
                if _is_person(fact) and fact.relative_motion == "same_direction":
                    # Walking away from us our way: stopping would only open a hole in the
                    # flow for the people behind to walk into. Follow, slower than them.
                    return (Behavior.SLOW, FOLLOW_SPEED_FRACTION * fact.speed_mps,
                            PASS_CLEARANCE_M, fact.id,
                            "They walk just ahead of us our way: follow behind, slower.")
                return (Behavior.STOP, 0.0, PASS_CLEARANCE_M, fact.id,
                        "It is too close in front of us: stop.")

        for fact in people:
            if (fact.speed_mps >= RUNNING_SPEED_MPS and fact.ahead
                    and fact.relative_motion in ("crossing", "approaching")
                    and fact.enters_path_s <= CROSSING_HORIZON_S):
                return (Behavior.STOP, 0.0, CROWD_CLEARANCE_M, fact.id,
                        "Someone is running towards our path: stop until they are clear.")

        for fact in people:
            if fact.relative_motion != "crossing" or not fact.ahead:
                continue
            entry = fact.enters_path_s
            if entry > CROSSING_HORIZON_S or fact.forward_m > PASS_LOOKAHEAD_M:
                continue
            if entry <= CROSSING_STOP_S and fact.forward_m < 3.0:
                return (Behavior.STOP, 0.0, PASS_CLEARANCE_M, fact.id,
                        "They are about to cross right in front of us: stop and let them pass.")
            return (Behavior.YIELD, YIELD_SPEED_MPS, PASS_CLEARANCE_M, fact.id,
                    "They will cross our lane soon: yield and let them pass.")

        for fact in stoppable:
            if _in_lane(fact) and fact.time_to_collision_s <= IMMINENT_TTC_S:
                return (Behavior.STOP, 0.0, PASS_CLEARANCE_M, fact.id,
                        "A collision is imminent at the current speeds: stop.")

        ahead_people = [f for f in people if f.ahead and f.distance_m <= CROWD_RADIUS_M]
        if len(ahead_people) >= CROWD_COUNT:
            return (Behavior.SLOW, SLOW_SPEED_MPS, CROWD_CLEARANCE_M, NO_TARGET,
                    f"There is a crowd of {len(ahead_people)} people ahead: slow down "
                    "and keep extra distance.")

        for fact in people:
            # "Near our lane" along the walkway, not across the robot's heading: angled 40
            # deg towards a gap's mouth, the robot saw someone coming through the gap 2.1 m
            # to its right, followed the walkway into their way, stood there under STOP and
            # was walked into (narrow_passage 15, 31, 36). The side is where their walk
            # passes us (_oncoming_side), which turns with neither us nor the walkway.
            if (fact.relative_motion == "approaching" and fact.ahead
                    and fact.forward_m <= LOOKAHEAD_M and abs(fact.axis_lateral_m) <= 2.0):
                side = _oncoming_side(scene, fact, keep_side)
                pace = _follower_pace(facts)
                how = ("Keep the pace of whoever walks behind us" if pace > PASS_SPEED_MPS
                       else "Slow down")
                return (side, max(PASS_SPEED_MPS, pace), PASS_CLEARANCE_M, fact.id,
                        f"{how} and pass on the {side.name[5:].lower()} with room to spare.")

        for fact in relevant:
            if (_is_blocking(fact) and _in_lane(fact) and fact.forward_m <= PASS_LOOKAHEAD_M
                    and _in_our_way(scene, fact)):
                side = self._side_with_room(scene, fact, keep_side, relevant)
                # Someone standing may step off; a thing will not, and the planner keeps
                # its obstacle margin at any speed (the safety layer slows near it). At
                # PASS_SPEED_MPS the robot crept along narrow_passage's 2 m barrier and
                # the post before it for 6 s.
                speed = PASS_SPEED_MPS if _is_person(fact) else CRUISE_SPEED_MPS
                return (side, speed, PASS_CLEARANCE_M, fact.id,
                        f"It is in our way: pass on the {side.name[5:].lower()}, "
                        "where there is more room.")

        for fact in people:
            if _walks_our_way(fact) and fact.forward_m <= PASS_LOOKAHEAD_M:
                if _in_lane(fact):
                    side = Behavior.PASS_RIGHT if keep_side == "right" else Behavior.PASS_LEFT
                    # Someone at our passing speed or faster is followed at it, as before.
                    speed = (OVERTAKE_SPEED_MPS if fact.speed_mps < PASS_SPEED_MPS
                             else PASS_SPEED_MPS)
                elif (abs(fact.lateral_m) <= OVERTAKE_BESIDE_M
                      and fact.forward_m <= OVERTAKE_BESIDE_M
                      and fact.speed_mps < PASS_SPEED_MPS):
                    # Pulled out beside someone slower than our passing speed: they are
                    # out of our lane, and following the walkway would drop back in behind
                    # them (overtaking: the robot sat 1.4 m behind a 0.5 m/s walker for
                    # 40 s, flipping between FOLLOW, PASS and SLOW). Carry on past on the
                    # side we are on, at our own pace: at OVERTAKE_SPEED_MPS the robot
                    # spent 8 s alongside a 0.5 m/s walker (3 s behind DWA, which brushes
                    # past them at 0.4 m). Only someone slower than PASS_SPEED_MPS, and at
                    # a fixed pace, not theirs plus a margin: "our way" is the way we face,
                    # and a robot turned round to let people by, told to overtake at their
                    # speed plus a margin, chased people walking away from its goal
                    # (replay 13).
                    side = Behavior.PASS_LEFT if fact.lateral_m < 0.0 else Behavior.PASS_RIGHT
                    speed = CRUISE_SPEED_MPS
                else:
                    continue
                return (side, speed, PASS_CLEARANCE_M, fact.id,
                        f"They walk slower than us: overtake on the {side.name[5:].lower()}.")

        for fact in people:
            if fact.distance_m <= NEARBY_M and fact.forward_m > -0.5:
                return (Behavior.SLOW, SLOW_SPEED_MPS, PASS_CLEARANCE_M, fact.id,
                        "Someone is close beside us: slow down.")

        follow = (intent is not None and intent.follow_walkway) or robot_on_walkway(scene)
        if follow:
            return (Behavior.FOLLOW_WALKWAY, CRUISE_SPEED_MPS, DEFAULT_CLEARANCE_M, NO_TARGET,
                    "The way is clear: follow the walkway.")
        return (Behavior.PROCEED, CRUISE_SPEED_MPS, DEFAULT_CLEARANCE_M, NO_TARGET,
                "The way is clear: proceed.")

    @staticmethod
    def _side_with_room(scene: Scene, fact: ObjectFact, keep_side: str | None,
                        others: list[ObjectFact] = ()) -> Behavior:
        """Pass a standing person or obstacle on the side with more room (walkway edges).

        Things standing next to it (within BLOCKER_GROUP_M along our way) block with it:
        a barrier seen as several obstacle cells, a post in front of road works. The room
        beside the group is the narrowest room beside any member, so every cell of a
        barrier gives the same answer and the side does not flip as the nearest one changes.
        """
        room_left, room_right = math.inf, math.inf
        if scene.walkway is not None:
            group = [f for f in others if f.id != fact.id and _is_blocking(f)
                     and abs(f.forward_m - fact.forward_m) <= BLOCKER_GROUP_M]
            rooms = [_room_beside(scene, member) for member in [fact, *group]]
            room_left = min(left for left, _ in rooms)
            room_right = min(right for _, right in rooms)
        if math.isfinite(room_left) or math.isfinite(room_right):
            if abs(room_left - room_right) > 0.3:
                return Behavior.PASS_LEFT if room_left > room_right else Behavior.PASS_RIGHT
        if abs(fact.lateral_m) > 0.15:
            return Behavior.PASS_RIGHT if fact.lateral_m > 0.0 else Behavior.PASS_LEFT
        return Behavior.PASS_RIGHT if keep_side == "right" else Behavior.PASS_LEFT


def _oncoming_side(scene: Scene, fact: ObjectFact, keep_side: str | None) -> Behavior:
    """Keep right to meet someone, unless their way already passes on our right.

    Where their way passes is judged along their walk, not across our heading: turned
    30 deg towards a gap's mouth, the robot saw someone walking out of the gap straight
    at it as "on the right", was told to pass them on the left, and waited at the
    walkway's left edge, in their way out of the gap (narrow_passage 13, 29, 45).
    """
    if keep_side == "left":
        return Behavior.PASS_LEFT
    obj = scene.find(fact.id)
    speed = 0.0 if obj is None else math.hypot(obj.vx, obj.vy)
    if speed < STATIC_SPEED_MPS:
        on_our_right = -fact.lateral_m
    else:
        # Where their way passes us: right of us as we face them, i.e. walking their way.
        dx, dy = obj.x - scene.robot.x, obj.y - scene.robot.y
        on_our_right = (obj.vx * dy - obj.vy * dx) / speed
    return Behavior.PASS_LEFT if on_our_right > 0.3 else Behavior.PASS_RIGHT


def _beyond_our_way(scene: Scene, fact: ObjectFact) -> bool:
    """Whether, on their present course, they stay farther from us than the goal is, by
    both our bodies and the intimate gap, for CROSSING_HORIZON_S: then they are nowhere
    near where we will be before we are there.

    Our way ends at the goal. Next to a goal between two streams of walkers (crowd), the
    rules stopped for people crossing the robot's heading 3 m out, with the goal 1.6 m
    away, again and again; the last 1.6 m took 15 s (seed 13).
    """
    if scene.goal is None:
        return False
    obj = scene.find(fact.id)
    if obj is None:
        return False
    here = np.array([scene.robot.x, scene.robot.y])
    to_goal = float(np.linalg.norm(np.asarray(scene.goal, float) - here))
    offset = obj.position - here
    velocity = obj.velocity
    speed_sq = float(velocity @ velocity)
    closest = 0.0 if speed_sq < 1e-9 else min(max(-float(offset @ velocity) / speed_sq, 0.0),
                                               CROSSING_HORIZON_S)
    miss = float(np.linalg.norm(offset + velocity * closest))
    return miss - fact.radius_m - ROBOT_RADIUS_M - INTIMATE_GAP_M > to_goal


def _walking_into_us(scene: Scene, facts) -> ObjectFact | None:
    """The person whose straight walk passes within INTIMATE_GAP_M of where we stand
    within WALKING_INTO_US_S, soonest first.

    Ahead of us too: stopped at the walkway's edge for someone "about to cross right in
    front of us", the robot stood 0.38 m from a replayed walker who passed in front of it
    (people replayed from a recording do not step round; replay 49)."""
    soonest, found = math.inf, None
    for fact in facts:
        if not _is_person(fact):
            continue
        obj = scene.find(fact.id)
        if obj is None:
            continue
        to_us = np.array([scene.robot.x - obj.x, scene.robot.y - obj.y])
        velocity = np.array([obj.vx, obj.vy])
        speed_sq = float(velocity @ velocity)
        if speed_sq < STATIC_SPEED_MPS**2:
            continue
        t_closest = float(to_us @ velocity) / speed_sq
        if not 0.0 < t_closest <= WALKING_INTO_US_S:
            continue
        miss = float(np.linalg.norm(to_us - velocity * t_closest))
        if miss - fact.radius_m - ROBOT_RADIUS_M < INTIMATE_GAP_M and t_closest < soonest:
            soonest, found = t_closest, fact
    return found


def _room_beside(scene: Scene, fact: ObjectFact) -> tuple[float, float]:
    """Free width [m] between the object and the walkway's left and right edges."""
    obj = scene.find(fact.id)
    point = (obj.x, obj.y)
    # Walkway "left" is left in the walkway's direction; map it to the robot's left.
    yaw = scene.robot.yaw
    heading = np.array([math.cos(yaw), math.sin(yaw)])
    direction = scene.walkway.left[-1] - scene.walkway.left[0]
    same_way = float(direction @ heading) >= 0.0
    left = float(distances_to_segments(point, scene.walkway.left).min()) - fact.radius_m
    right = float(distances_to_segments(point, scene.walkway.right).min()) - fact.radius_m
    return (left, right) if same_way else (right, left)

"""The simulated world: robot, people, obstacles, sensors and episode bookkeeping.

The world frame is ``odom``. One ``step`` advances people, then the robot,
then checks contacts, the route and the clock. Independent random streams
feed people, lidar noise and rendering, so how often a caller scans or
renders never changes how people move.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from reasonact_ros import scene
from reasonact_ros.sim import events as ev
from reasonact_ros.sim.events import EpisodeEvent
from reasonact_ros.sim.lidar import Lidar, leg_circles
from reasonact_ros.sim.replay import ReplayedPeople
from reasonact_ros.sim.robot import DiffDriveRobot
from reasonact_ros.sim.scenario import Scenario
from reasonact_ros.sim.social_force import Crowd, ObstacleField, RobotAgent

AT_FAULT_SPEED = 0.05  # [m/s] robot speed towards the other at contact that makes it at fault
SEPARATION_MARGIN = 0.02  # [m] a contact ends only once this far apart, so grazing counts once


@dataclass(frozen=True)
class PeopleState:
    """Everyone present at one instant, simulated and replayed alike, in odom."""

    ids: np.ndarray  # (K,) int
    positions: np.ndarray  # (K, 2) [m]
    velocities: np.ndarray  # (K, 2) [m/s]
    radii: np.ndarray  # (K,) [m]
    heights: np.ndarray  # (K,) [m]
    replayed: np.ndarray  # (K,) bool

    @property
    def count(self) -> int:
        return len(self.ids)


class World:
    """A running episode of one scenario.

    Obstacles are solid: the robot is held at their surface (and the event
    counted). People are not: the robot may overlap a person, which is counted
    as one collision until they separate. Once ``done`` the world keeps
    running if stepped (people move, collisions count) but no further
    goal or timeout event is raised.
    """

    def __init__(self, scenario: Scenario, seed: int | None = None):
        if not isinstance(scenario, Scenario):
            raise TypeError(f"scenario must be a Scenario, got {type(scenario).__name__}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        crowd_seed, lidar_seed, render_seed = np.random.SeedSequence(self.seed).spawn(3)
        self.render_seed = int(render_seed.generate_state(1)[0])
        self.robot = DiffDriveRobot(scenario.robot, scenario.robot_start)
        self.replays = [ReplayedPeople(spec) for spec in scenario.replays]
        replay_ids = {person.id for replay in self.replays for person in replay.people}
        self.crowd = Crowd(scenario.pedestrians, scenario.spawners, scenario.obstacles,
                           scenario.walkways, scenario.social_force,
                           np.random.default_rng(crowd_seed),
                           frozenset(replay_ids | {o.id for o in scenario.obstacles}))
        self.lidar = Lidar(scenario.lidar, scenario.obstacles, np.random.default_rng(lidar_seed))
        self.obstacle_field = ObstacleField(scenario.obstacles)
        self._obstacle_by_id = {o.id: o for o in scenario.obstacles}
        main = scenario.main_walkway()
        self._walkway = main.edges() if main is not None else None
        self._walkway_polygons = [w.polygon() for w in scenario.walkways]
        self._camera_renderer = None

        self.time = 0.0
        self.events: list[EpisodeEvent] = []
        self.done = False
        self.outcome = "running"
        self.min_person_distance = math.inf
        self.next_waypoint_index = 0
        self._person_contacts: set[int] = set()
        self._obstacle_contacts: set[int] = set()
        self._first_seen: dict[int, float] = {}
        self._walked: dict[int, float] = {}  # [m] per person, for the legs' gait phase
        self._people = self._gather_people()
        self._update_person_distance()

    # ------------------------------------------------------------------ control and stepping
    def command(self, cmd: scene.Velocity2D) -> None:
        """The latest velocity command; it expires after the robot's command timeout."""
        self.robot.command(cmd, self.time)

    def step(self, dt: float) -> list[EpisodeEvent]:
        """Advance by ``dt`` seconds; returns the events that happened during the step."""
        if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not math.isfinite(dt) or (
                dt <= 0.0):
            raise ValueError(f"dt must be a positive finite number of seconds, got {dt!r}")
        vx, vy = self.robot.velocity_odom()
        agent = RobotAgent(self.robot.x, self.robot.y, vx, vy, self.scenario.robot.radius)
        self.crowd.step(dt, self.time, agent)
        self.robot.step(dt, self.time)
        # Rounded so that 20 steps of 0.05 s are 1.0 s exactly, for stamps and timeouts.
        self.time = round(self.time + dt, 9)
        self._people = self._gather_people()
        speeds = np.hypot(self._people.velocities[:, 0], self._people.velocities[:, 1])
        for person_id, speed in zip(self._people.ids.tolist(), speeds.tolist(), strict=True):
            self._walked[person_id] = self._walked.get(person_id, 0.0) + speed * dt

        new_events = self._obstacle_contacts_step()
        new_events += self._person_contacts_step()
        new_events += self._progress_step()
        self.events.extend(new_events)
        return new_events

    def _gather_people(self) -> PeopleState:
        crowd = self.crowd
        parts = [(crowd.ids, crowd.pos, crowd.vel, crowd.radius, crowd.height,
                  np.zeros(crowd.count, dtype=bool))]
        for replay in self.replays:
            ids, positions, velocities = replay.state(self.time)
            parts.append((ids, positions, velocities, np.full(len(ids), replay.radius),
                          np.full(len(ids), 1.75), np.ones(len(ids), dtype=bool)))
        state = PeopleState(*(np.concatenate([p[k] for p in parts]) for k in range(6)))
        for person_id in state.ids.tolist():
            self._first_seen.setdefault(person_id, self.time)
        return state

    def _update_person_distance(self) -> np.ndarray:
        people = self._people
        offsets = people.positions - np.array([self.robot.x, self.robot.y])
        gaps = np.linalg.norm(offsets, axis=1) - people.radii - self.scenario.robot.radius
        if len(gaps):
            self.min_person_distance = min(self.min_person_distance, float(gaps.min()))
        return gaps

    def _moving_towards(self, direction: np.ndarray) -> bool:
        norm = float(np.linalg.norm(direction))
        if norm < 1e-9:
            return self.robot.linear > AT_FAULT_SPEED
        vx, vy = self.robot.velocity_odom()
        return (vx * direction[0] + vy * direction[1]) / norm > AT_FAULT_SPEED

    def _person_contacts_step(self) -> list[EpisodeEvent]:
        gaps = self._update_person_distance()
        people = self._people
        new_events = []
        touching = set()
        for k, person_id in enumerate(people.ids.tolist()):
            if gaps[k] <= 0.0:
                touching.add(person_id)
                if person_id not in self._person_contacts:
                    direction = people.positions[k] - np.array([self.robot.x, self.robot.y])
                    at_fault = bool(self._moving_towards(direction))
                    who = "replayed person" if people.replayed[k] else "person"
                    new_events.append(EpisodeEvent(
                        self.time, ev.COLLISION_PERSON, person_id, at_fault,
                        f"robot touched {who} {person_id} at "
                        f"{self.robot.linear:.2f} m/s; person at "
                        f"{float(np.linalg.norm(people.velocities[k])):.2f} m/s"))
            elif gaps[k] <= SEPARATION_MARGIN and person_id in self._person_contacts:
                touching.add(person_id)
        self._person_contacts = touching
        return new_events

    def _obstacle_contacts_step(self) -> list[EpisodeEvent]:
        if not self.obstacle_field.count:
            return []
        radius = self.scenario.robot.radius
        distance, normals = self.obstacle_field.distances(np.array([[self.robot.x,
                                                                    self.robot.y]]))
        distance, normals = distance[0], normals[0]
        new_events = []
        touching = set()
        for k, obstacle_id in enumerate(self.obstacle_field.ids.tolist()):
            gap = distance[k] - radius
            if gap <= 1e-6:
                touching.add(obstacle_id)
                if obstacle_id not in self._obstacle_contacts:
                    at_fault = bool(self._moving_towards(-normals[k]))
                    new_events.append(EpisodeEvent(
                        self.time, ev.COLLISION_OBSTACLE, obstacle_id, at_fault,
                        f"robot hit {self._obstacle_by_id[obstacle_id].shape} obstacle "
                        f"{obstacle_id} at {self.robot.linear:.2f} m/s"))
                # Obstacles are solid: put the robot back on the surface and stall the wheels.
                self.robot.x += float(normals[k][0] * -gap)
                self.robot.y += float(normals[k][1] * -gap)
                heading = np.array([math.cos(self.robot.yaw), math.sin(self.robot.yaw)])
                if self.robot.linear * float(heading @ normals[k]) < 0.0:
                    self.robot.linear = 0.0
            elif gap <= SEPARATION_MARGIN and obstacle_id in self._obstacle_contacts:
                touching.add(obstacle_id)
        self._obstacle_contacts = touching
        return new_events

    def _progress_step(self) -> list[EpisodeEvent]:
        if self.done:
            return []
        waypoints = self.scenario.goal.waypoints
        final = len(waypoints) - 1
        # Intermediate waypoints are passed within pass_radius; one step may pass several.
        while self.next_waypoint_index < final:
            wx, wy = waypoints[self.next_waypoint_index]
            if math.hypot(wx - self.robot.x, wy - self.robot.y) > self.scenario.goal_pass_radius:
                break
            self.next_waypoint_index += 1
        if self.next_waypoint_index == final:
            gx, gy = waypoints[final]
            distance = math.hypot(gx - self.robot.x, gy - self.robot.y)
            if distance <= self.scenario.goal.tolerance:
                self.done, self.outcome = True, ev.GOAL_REACHED
                return [EpisodeEvent(self.time, ev.GOAL_REACHED,
                                     detail=f"{distance:.2f} m from the goal")]
        if self.time >= self.scenario.duration_s - 1e-9:
            self.done, self.outcome = True, ev.TIMEOUT
            return [EpisodeEvent(self.time, ev.TIMEOUT,
                                 detail=f"{self.scenario.duration_s:g} s limit reached")]
        return []

    # ------------------------------------------------------------------ state and sensors
    def robot_pose(self) -> scene.Pose2D:
        """base_link in odom (perfect odometry)."""
        return self.robot.pose()

    def robot_velocity(self) -> scene.Velocity2D:
        """The base's actual body-frame velocity (after limits), not the command."""
        return self.robot.velocity()

    def people(self) -> PeopleState:
        """Everyone present now, as arrays (ground_truth() gives the same as TrackedObjects)."""
        return self._people

    def scan(self) -> scene.ScanData:
        """A lidar scan from the current pose; each call draws fresh range noise."""
        people = self._people
        if self.scenario.lidar.people_model == "legs":
            walked = np.array([self._walked.get(i, 0.0) for i in people.ids.tolist()])
            circles = leg_circles(people.positions, people.velocities, people.radii, walked)
        else:
            circles = np.column_stack([people.positions, people.radii])
        return self.lidar.scan(self.robot.pose(), circles)

    def camera(self) -> scene.CameraModel:
        """The camera's intrinsics and mounting, as perception should use them."""
        return self.scenario.camera

    def render_camera(self) -> np.ndarray:
        """(H, W, 3) uint8 RGB image; the first call builds the ground texture (~0.5 s)."""
        if self._camera_renderer is None:
            from reasonact_ros.sim.camera_renderer import CameraRenderer

            self._camera_renderer = CameraRenderer(self.scenario, self.render_seed)
        return self._camera_renderer.render(self.robot.pose(), self._people)

    def on_walkway(self, points: np.ndarray) -> np.ndarray:
        """(K,) bool: which (K, 2) odom points lie on any walkway."""
        points = np.atleast_2d(points)
        inside = np.zeros(len(points), dtype=bool)
        for polygon in self._walkway_polygons:
            inside |= scene.points_in_polygon(points, polygon)
        return inside

    def ground_truth(self) -> tuple[scene.TrackedObject, ...]:
        """Every person and obstacle as perfect perception would report them."""
        people = self._people
        obstacles = self.scenario.obstacles
        centres = np.vstack([people.positions,
                             np.array([[o.x, o.y] for o in obstacles]).reshape(-1, 2)])
        on_walkway = self.on_walkway(centres).tolist() if len(centres) else []
        objects = []
        for k, person_id in enumerate(people.ids.tolist()):
            objects.append(scene.TrackedObject(
                id=person_id, label=scene.ObjectClass.PEDESTRIAN,
                x=float(people.positions[k, 0]), y=float(people.positions[k, 1]),
                vx=float(people.velocities[k, 0]), vy=float(people.velocities[k, 1]),
                radius=float(people.radii[k]), confidence=1.0,
                age_s=self.time - self._first_seen[person_id], on_walkway=on_walkway[k]))
        for k, obstacle in enumerate(obstacles):
            objects.append(scene.TrackedObject(
                id=obstacle.id, label=scene.ObjectClass.OBSTACLE, x=obstacle.x, y=obstacle.y,
                radius=obstacle.footprint_radius, confidence=1.0, age_s=self.time,
                on_walkway=on_walkway[people.count + k]))
        return tuple(objects)

    def walkway(self) -> scene.Walkway | None:
        """The main (first) walkway's edges in odom, or None without walkways."""
        return self._walkway

    def goal(self) -> scene.Goal:
        return self.scenario.goal

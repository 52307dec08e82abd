"""Simulated people moved by the social force model of Helbing & Molnar (1995).

Each person accelerates towards their desired velocity (relaxation time tau)
and is pushed by elliptical repulsive potentials of other people, which
anticipate the other's next step; the robot acts like another person, scaled
by each person's ``robot_reaction``. Obstacles repel with an exponential
potential of the surface distance, walkway edges keep walkway users on the
walkway, and groups are pulled to their centre. The 1995 potentials act only
within about a metre, later than people really start to evade, so an
anticipatory sidestep (in the spirit of Zanlungo et al. 2011 and Karamouzas
et al. 2014) steers away from a predicted near miss a few seconds ahead: to
the right when meeting someone (the walking convention Helbing & Molnar
describe as a behavioural asymmetry), the shorter way round anyone else.
Everything is vectorised over people; per-person Python runs only for route
bookkeeping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from reasonact_ros.sim.polyline import closest_points
from reasonact_ros.sim.scenario import (
    ObstacleSpec,
    PedestrianSpec,
    SocialForceParams,
    SpawnerSpec,
    WalkwaySpec,
)

WAYPOINT_REACHED_M = 0.5  # [m] a route waypoint counts as reached this near
MAX_SUBSTEP_S = 0.05  # [s] longer steps are split so strong repulsions stay stable
ONCOMING_SPEED = 0.2  # [m/s] coming towards us faster than this: someone we meet
TIE_FRACTION = 0.1  # of the comfort distance: a miss this central is a tie
ENTRY_CLEARANCE_M = 0.5  # [m] an arrival waits while the robot is this near its entry
_GRADIENT_STEP = 1e-3  # [m] finite-difference step for the elliptical potential


@dataclass(frozen=True)
class RobotAgent:
    """What people see of the robot in one step."""

    x: float
    y: float
    vx: float
    vy: float
    radius: float


class ObstacleField:
    """Surface distances and outward normals to circle and box obstacles, vectorised."""

    def __init__(self, obstacles: tuple[ObstacleSpec, ...]):
        circles = [o for o in obstacles if o.shape == "circle"]
        boxes = [o for o in obstacles if o.shape == "box"]
        self.circle_centres = np.array([[o.x, o.y] for o in circles]).reshape(-1, 2)
        self.circle_radii = np.array([o.radius for o in circles])
        self.box_centres = np.array([[o.x, o.y] for o in boxes]).reshape(-1, 2)
        self.box_cos = np.cos([o.yaw for o in boxes])
        self.box_sin = np.sin([o.yaw for o in boxes])
        self.box_half = np.array([[o.length / 2, o.width / 2] for o in boxes]).reshape(-1, 2)
        self.ids = np.array([o.id for o in circles] + [o.id for o in boxes], dtype=int)

    @property
    def count(self) -> int:
        return len(self.ids)

    def distances(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(K, 2) points -> (K, M) surface distances (negative inside) and (K, M, 2) normals."""
        points = np.atleast_2d(points)
        offsets = points[:, None, :] - self.circle_centres[None]
        centre_dist = np.linalg.norm(offsets, axis=2)
        circle_normals = offsets / np.maximum(centre_dist, 1e-9)[..., None]
        circle_dist = centre_dist - self.circle_radii[None]

        rel = points[:, None, :] - self.box_centres[None]
        local_x = rel[..., 0] * self.box_cos + rel[..., 1] * self.box_sin
        local_y = -rel[..., 0] * self.box_sin + rel[..., 1] * self.box_cos
        local = np.stack([local_x, local_y], axis=-1)
        clamped = np.clip(local, -self.box_half, self.box_half)
        outside = local - clamped
        outside_dist = np.linalg.norm(outside, axis=2)
        # Inside a box: the distance to the nearest face, negative, pushing out through it.
        depth = self.box_half[None] - np.abs(local)
        nearest_axis = np.argmin(depth, axis=2)
        inside_dist = -np.min(depth, axis=2)
        inside_local = np.zeros_like(local)
        np.put_along_axis(inside_local, nearest_axis[..., None],
                          np.sign(np.take_along_axis(local, nearest_axis[..., None], 2)) + 0.0, 2)
        is_inside = outside_dist <= 1e-12
        local_normals = np.where(is_inside[..., None], inside_local,
                                 outside / np.maximum(outside_dist, 1e-12)[..., None])
        box_normals = np.stack([
            local_normals[..., 0] * self.box_cos - local_normals[..., 1] * self.box_sin,
            local_normals[..., 0] * self.box_sin + local_normals[..., 1] * self.box_cos,
        ], axis=-1)
        box_dist = np.where(is_inside, inside_dist, outside_dist)
        return (np.concatenate([circle_dist, box_dist], axis=1),
                np.concatenate([circle_normals, box_normals], axis=1))


class Crowd:
    """The social-force people of a scenario: individuals, groups and spawned walkers."""

    def __init__(self, pedestrians: tuple[PedestrianSpec, ...], spawners: tuple[SpawnerSpec, ...],
                 obstacles: tuple[ObstacleSpec, ...], walkways: tuple[WalkwaySpec, ...],
                 params: SocialForceParams, rng: np.random.Generator,
                 reserved_ids: frozenset[int] = frozenset()):
        self.params = params
        # Ids that spawned people must skip: obstacles and replayed people use them.
        self.reserved_ids = set(reserved_ids) | {p.id for p in pedestrians}
        self.rng = rng
        self.obstacles = ObstacleField(obstacles)
        self.walkways = [(np.asarray(w.centerline, dtype=float), w.width / 2.0) for w in walkways]
        self.spawners = spawners
        self._spawned = [0] * len(spawners)
        self._spawned_ids: list[list[int]] = [[] for _ in spawners]
        self._next_arrival = [s.start_time + rng.exponential(1.0 / s.rate) for s in spawners]
        self._group_names: dict[str, int] = {}
        self.ids = np.zeros(0, dtype=int)
        self.pos = np.zeros((0, 2))
        self.vel = np.zeros((0, 2))
        self.desired_speed = np.zeros(0)
        self.tau = np.zeros(0)
        self.radius = np.zeros(0)
        self.height = np.zeros(0)
        self.reaction = np.zeros(0)
        self.attraction = np.zeros(0)
        self.group = np.zeros(0, dtype=int)
        self.started = np.zeros(0, dtype=bool)
        self.start_time = np.zeros(0)
        self.start_within = np.zeros(0)
        self.home = np.zeros((0, 2))
        self.route_index = np.zeros(0, dtype=int)
        self.route_length = np.zeros(0, dtype=int)
        self.target = np.zeros((0, 2))
        self.routes: list[np.ndarray] = []
        self.loops: list[bool] = []
        self.stand_at_end: list[bool] = []
        self._leaving = np.zeros(0, dtype=bool)
        for spec in pedestrians:
            self._add(spec)

    @property
    def count(self) -> int:
        return len(self.ids)

    def _add(self, spec: PedestrianSpec) -> None:
        group = -1
        if spec.group is not None:
            group = self._group_names.setdefault(spec.group, len(self._group_names))
        self.ids = np.append(self.ids, spec.id)
        self.pos = np.vstack([self.pos, spec.start])
        self.vel = np.vstack([self.vel, [0.0, 0.0]])
        self.desired_speed = np.append(self.desired_speed, spec.desired_speed)
        self.tau = np.append(self.tau, spec.relaxation_time)
        self.radius = np.append(self.radius, spec.radius)
        self.height = np.append(self.height, spec.height)
        self.reaction = np.append(self.reaction, spec.robot_reaction)
        self.attraction = np.append(self.attraction, spec.walkway_attraction)
        self.group = np.append(self.group, group)
        self.started = np.append(self.started, False)
        self.start_time = np.append(self.start_time, spec.start_time)
        within = math.nan if spec.start_when_robot_within is None else spec.start_when_robot_within
        self.start_within = np.append(self.start_within, within)
        self.home = np.vstack([self.home, spec.start])
        self.route_index = np.append(self.route_index, 0)
        route = np.asarray(spec.waypoints, dtype=float).reshape(-1, 2)
        self.routes.append(route)
        self.route_length = np.append(self.route_length, len(route))
        self.target = np.vstack([self.target, route[0] if len(route) else spec.start])
        self.loops.append(spec.loop)
        self.stand_at_end.append(spec.on_finish == "stand" or not spec.waypoints)

    def _remove(self, keep: np.ndarray) -> None:
        for name in ("ids", "pos", "vel", "desired_speed", "tau", "radius", "height", "reaction",
                     "attraction", "group", "started", "start_time", "start_within", "home",
                     "route_index", "route_length", "target"):
            setattr(self, name, getattr(self, name)[keep])
        for name in ("routes", "loops", "stand_at_end"):
            setattr(self, name, [v for v, k in zip(getattr(self, name), keep, strict=True) if k])

    def _spawn(self, now: float, robot: RobotAgent | None = None) -> None:
        for k, spawner in enumerate(self.spawners):
            if robot is not None and _entry_blocked(spawner, robot):
                # Someone arriving finds the robot standing in the entrance and waits
                # beyond the map's edge: a person appearing inside the robot (crowd seed
                # 43, where it overshot to the walkway's end) is no navigation failure.
                continue
            while self._next_arrival[k] <= now and self._next_arrival[k] <= spawner.end_time:
                self._next_arrival[k] += self.rng.exponential(1.0 / spawner.rate)
                if np.count_nonzero(np.isin(self.ids, self._spawned_ids[k])) >= (
                        spawner.max_alive):
                    continue
                person_id = spawner.id_start + self._spawned[k]
                while person_id in self.reserved_ids:
                    person_id += 1
                self.reserved_ids.add(person_id)
                self._spawned_ids[k].append(person_id)
                route = np.asarray(spawner.waypoints, dtype=float)
                side = _entry_side(spawner)
                lateral = self.rng.uniform(-0.5, 0.5) * spawner.spread
                start = np.asarray(spawner.start) + lateral * side
                # Walk the route at the same lateral offset, as people keep their lane.
                waypoints = tuple(map(tuple, route + lateral * side))
                self._add(PedestrianSpec(
                    id=person_id, start=tuple(start),
                    waypoints=waypoints,
                    desired_speed=float(self.rng.uniform(*spawner.desired_speed)),
                    radius=spawner.radius, robot_reaction=spawner.robot_reaction,
                    walkway_attraction=spawner.walkway_attraction,
                    height=float(self.rng.uniform(1.6, 1.9)),
                ))
                self._spawned[k] = person_id - spawner.id_start + 1

    def desired_velocities(self, robot: RobotAgent | None, now: float) -> np.ndarray:
        """(N, 2) desired velocities; also advances routes and marks people who leave."""
        if robot is not None:
            robot_dist = np.hypot(self.pos[:, 0] - robot.x, self.pos[:, 1] - robot.y)
        else:
            robot_dist = np.full(self.count, np.inf)
        triggered = (now >= self.start_time) & (
            np.isnan(self.start_within) | (robot_dist <= np.nan_to_num(self.start_within)))
        self.started |= triggered
        self._leaving = np.zeros(self.count, dtype=bool)
        walking = self.started & (self.route_index < self.route_length)
        reached = walking & (np.hypot(*(self.target - self.pos).T) < WAYPOINT_REACHED_M)
        for i in np.flatnonzero(reached):
            route = self.routes[i]
            self.route_index[i] += 1
            if self.route_index[i] == len(route):
                if self.loops[i]:
                    self.route_index[i] = 0
                elif self.stand_at_end[i]:
                    self.home[i] = route[-1]
                else:
                    self._leaving[i] = True
            if self.route_index[i] < len(route):
                self.target[i] = route[self.route_index[i]]
        walking = self.started & (self.route_index < self.route_length)
        goal = np.where(walking[:, None], self.target, self.home)
        offset = goal - self.pos
        distance = np.hypot(offset[:, 0], offset[:, 1])
        # Standing people return to their spot without overshooting it.
        speed = np.where(walking, self.desired_speed, np.minimum(self.desired_speed, distance))
        direction = offset / np.maximum(distance, 1e-6)[:, None]
        speed *= self._group_pace(direction, walking)
        return direction * speed[:, None]

    def _group_pace(self, direction: np.ndarray, walking: np.ndarray) -> np.ndarray:
        """Speed factors that keep groups together: who is ahead of the group's centre
        slows down, who lags speeds up (as walking groups do, Moussaid et al. 2010)."""
        factor = np.ones(self.count)
        for group in np.unique(self.group[(self.group >= 0) & walking]):
            members = (self.group == group) & walking
            if np.count_nonzero(members) < 2:
                continue
            ahead = np.sum((self.pos[members] - self.pos[members].mean(axis=0))
                           * direction[members], axis=1)
            factor[members] = np.clip(1.0 - self.params.group_cohesion * ahead, 0.3, 1.3)
        return factor

    def step(self, dt: float, now: float, robot: RobotAgent | None) -> None:
        """Advance every person by ``dt`` seconds starting at time ``now``."""
        if dt <= 0.0 or not math.isfinite(dt):
            raise ValueError(f"dt must be a positive finite number of seconds, got {dt!r}")
        substeps = max(1, math.ceil(dt / MAX_SUBSTEP_S - 1e-9))
        h = dt / substeps
        for k in range(substeps):
            t = now + k * h
            self._spawn(t, robot)
            if self.count == 0:
                continue
            desired = self.desired_velocities(robot, t)
            force = self.forces(desired, robot)
            self.vel = self.vel + h * force
            max_speed = self.params.max_speed_factor * np.maximum(self.desired_speed, 0.5)
            speed = np.linalg.norm(self.vel, axis=1)
            self.vel *= np.minimum(1.0, max_speed / np.maximum(speed, 1e-9))[:, None]
            self.pos = self.pos + h * self.vel
            if np.any(self._leaving):
                self._remove(~self._leaving)

    def forces(self, desired: np.ndarray, robot: RobotAgent | None) -> np.ndarray:
        """(N, 2) accelerations [m/s^2] of every person."""
        p = self.params
        force = (desired - self.vel) / self.tau[:, None]
        directions = _unit_or_zero(np.where(np.linalg.norm(desired, axis=1, keepdims=True) > 1e-6,
                                            desired, self.vel))
        inward, edge_gap = self._walkway_edges()
        force += self._interactions(directions, inward, robot)
        if self.obstacles.count:
            distance, normals = self.obstacles.distances(self.pos)
            # U = U0 exp(-d / R) of the centre's distance d to the surface, as in the paper.
            magnitude = p.obstacle_repulsion / p.obstacle_range * np.exp(
                -np.maximum(distance, -0.5) / p.obstacle_range)
            force += np.sum(magnitude[..., None] * normals, axis=1)
            # Obstacles stand still; their nearest surface point is what to step around.
            sx, sy = self._sidestep(
                directions, -normals[..., 0] * distance, -normals[..., 1] * distance,
                np.zeros_like(distance), np.zeros_like(distance),
                self.radius[:, None] + 0.5 * p.evasion_margin, np.ones_like(distance), inward)
            force += np.column_stack([sx.sum(axis=1), sy.sum(axis=1)])
        force += self._walkway_force(inward, edge_gap)
        force += self._group_force()
        if p.noise_std > 0.0:
            force += self.rng.normal(0.0, p.noise_std, size=force.shape)
        return force

    def _interactions(self, directions: np.ndarray, inward: np.ndarray,
                      robot: RobotAgent | None) -> np.ndarray:
        """(N, 2) pushes from other people and the robot: the elliptical potential of
        Helbing & Molnar with its field-of-view weight, plus the anticipatory sidestep.

        Pairs are (A, B) component arrays: A the people pushed, B everyone pushing
        (people, then the robot as one more column scaled by each robot_reaction).
        """
        p = self.params
        n = self.count
        ox, oy = self.pos[:, 0], self.pos[:, 1]
        ovx, ovy = self.vel[:, 0], self.vel[:, 1]
        oradius = self.radius
        weight = np.ones((n, n))
        np.fill_diagonal(weight, 0.0)
        if robot is not None:
            ox, oy = np.append(ox, robot.x), np.append(oy, robot.y)
            ovx, ovy = np.append(ovx, robot.vx), np.append(ovy, robot.vy)
            oradius = np.append(oradius, robot.radius)
            weight = np.hstack([weight, self.reaction[:, None]])
        strength = p.person_repulsion * weight
        # r points from the other (b) to the person (a), as in the paper.
        rx = self.pos[:, 0:1] - ox[None]
        ry = self.pos[:, 1:2] - oy[None]
        distance = np.hypot(rx, ry)
        # Wider agents (the robot) are measured from a 0.25 m person-sized core.
        extra = np.maximum(oradius - 0.25, 0.0)[None]
        shrink = np.maximum(distance - extra, 0.05) / np.maximum(distance, 1e-9)
        rx, ry = rx * shrink, ry * shrink
        norm_r = np.maximum(distance * shrink, 1e-9)

        other_speed = np.hypot(ovx, ovy)
        hx = ovx / np.maximum(other_speed, 1e-9)
        hy = ovy / np.maximum(other_speed, 1e-9)
        step = (other_speed * p.step_time)[None]
        ax, ay = rx - step * hx[None], ry - step * hy[None]
        norm_a = np.maximum(np.hypot(ax, ay), 1e-9)
        total = norm_r + norm_a
        b = 0.5 * np.sqrt(np.maximum(total * total - step * step, 1e-12))
        # -grad V with V = strength exp(-b / sigma) and grad b = total / (4 b) (r/|r| + a/|a|).
        scale = strength / p.person_range * np.exp(-b / p.person_range) * total / (4.0 * b)
        fx = scale * (rx / norm_r + ax / norm_a)
        fy = scale * (ry / norm_r + ay / norm_a)
        # Field of view: pushes from someone behind count only partly.
        cos_half = math.cos(p.field_of_view / 2.0)
        dx, dy = directions[:, 0:1], directions[:, 1:2]
        seen = -(dx * fx + dy * fy) >= np.hypot(fx, fy) * cos_half
        view_weight = np.where(seen, 1.0, p.out_of_view_weight)
        fx, fy = fx * view_weight, fy * view_weight

        comfort = self.radius[:, None] + oradius[None] + p.evasion_margin
        sx, sy = self._sidestep(directions, ox[None] - self.pos[:, 0:1],
                                oy[None] - self.pos[:, 1:2], ovx[None], ovy[None], comfort,
                                weight, inward)
        fx, fy = fx + sx, fy + sy
        return np.column_stack([fx.sum(axis=1), fy.sum(axis=1)])

    def _sidestep(self, directions: np.ndarray, tx: np.ndarray, ty: np.ndarray,
                  other_vx: np.ndarray, other_vy: np.ndarray, comfort: np.ndarray,
                  weight: np.ndarray,
                  inward: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Anticipation: step aside from where the other will be at the closest approach.

        (A, B) arrays: t from person a towards b, b's velocity (zero for an obstacle),
        comfort the wanted centre distance. The predicted miss distance within the
        horizon sets how hard to step aside, and which way is a choice of side (below);
        ``inward`` (A, 2) points each person towards the middle of their walkway.
        """
        p = self.params
        ux, uy = other_vx - self.vel[:, 0:1], other_vy - self.vel[:, 1:2]  # b relative to a
        closing_sq = ux * ux + uy * uy
        t_closest = -(tx * ux + ty * uy) / np.maximum(closing_sq, 1e-9)
        mx, my = tx + ux * t_closest, ty + uy * t_closest
        miss = np.hypot(mx, my)
        dx, dy = directions[:, 0:1], directions[:, 1:2]
        active = ((dx * tx + dy * ty) > 0.0) & (t_closest > 0.0) & (
            t_closest < p.evasion_horizon) & (miss < comfort) & (closing_sq > 1e-6) & (
            weight > 0.0)
        # A side is chosen, not summed: the miss pushing one way and a keep-right bias
        # the other cancelled out at some offset, and people walked straight at whoever
        # stood there (0.58 m between centres: 0.03 m from a 0.3 m robot). Meeting
        # someone, people keep to their right unless they are already well to our right
        # (Moussaid et al. 2009); anyone else (standing, overtaken, an obstacle) is
        # passed on the side the miss points to, the shorter way round, and dead centre
        # on the side with more room.
        lx, ly = -dy, dx  # our left
        lateral = mx * lx + my * ly  # > 0: they pass on our left
        oncoming = (other_vx * dx + other_vy * dy) < -ONCOMING_SPEED
        roomy = np.sign(inward[:, 0:1] * lx + inward[:, 1:2] * ly)
        preferred = np.where(oncoming | (roomy == 0.0), -1.0, roomy)
        tie = comfort * np.where(oncoming, p.keep_right, TIE_FRACTION)
        side = np.where(np.abs(lateral) < tie, preferred, -np.sign(lateral))
        sx, sy = side * lx, side * ly
        magnitude = np.where(active, p.evasion_strength * weight * (1.0 - miss / comfort),
                             0.0)
        return magnitude * sx, magnitude * sy

    def _walkway_edges(self) -> tuple[np.ndarray, np.ndarray]:
        """Per person, the unit vector towards the middle of their nearest walkway (N, 2)
        and the free space to its edge [m] (N,), negative off it; zero and inf for anyone
        not using a walkway, and a zero vector on the centreline."""
        inward = np.zeros((self.count, 2))
        best_gap = np.full(self.count, np.inf)
        users = self.attraction > 0.0
        if not self.walkways or not np.any(users):
            return inward, best_gap
        for centerline, half_width in self.walkways:
            nearest, tangent = closest_points(self.pos, centerline)
            offset = self.pos - nearest
            lateral = tangent[:, 0] * offset[:, 1] - tangent[:, 1] * offset[:, 0]
            to_middle = -np.sign(lateral)[:, None] * np.column_stack([-tangent[:, 1],
                                                                       tangent[:, 0]])
            gap = half_width - np.abs(lateral) - self.radius
            closer = users & (np.abs(gap) < np.abs(best_gap))
            inward[closer] = to_middle[closer]
            best_gap = np.where(closer, gap, best_gap)
        return inward, best_gap

    def _walkway_force(self, inward: np.ndarray, gap: np.ndarray) -> np.ndarray:
        """Walkway users are pushed back from the edges and pulled back when just off."""
        p = self.params
        # Inside: exponential edge push; just outside (within 2 m): a constant pull back.
        magnitude = np.where(
            gap >= 0.0,
            p.walkway_edge_repulsion * np.exp(-gap / max(p.walkway_edge_range, 1e-6)),
            np.where(gap > -2.0, 2.0 * p.walkway_edge_repulsion, 0.0))
        return magnitude[:, None] * inward * self.attraction[:, None]

    def _group_force(self) -> np.ndarray:
        force = np.zeros((self.count, 2))
        for group in np.unique(self.group[self.group >= 0]):
            members = self.group == group
            size = np.count_nonzero(members)
            if size < 2:
                continue
            centre = self.pos[members].mean(axis=0)
            offset = centre - self.pos[members]
            distance = np.linalg.norm(offset, axis=1, keepdims=True)
            # Only pull when drifting further than a relaxed group radius.
            slack = 0.45 * math.sqrt(size)
            pull = np.clip(distance - slack, 0.0, None) / np.maximum(distance, 1e-9)
            force[members] = self.params.group_cohesion * offset * pull
        return force


def _unit_or_zero(vectors: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.where(norm > 1e-9, vectors / np.maximum(norm, 1e-9), 0.0)


def _entry_side(spawner: SpawnerSpec) -> np.ndarray:
    """Unit vector across the spawner's route at its start (left of the way in): the
    direction its arrivals are spread along."""
    heading = np.asarray(spawner.waypoints[0], dtype=float) - np.asarray(spawner.start)
    norm = np.linalg.norm(heading)
    return np.array([-heading[1], heading[0]]) / norm if norm > 1e-9 else np.zeros(2)


def _entry_blocked(spawner: SpawnerSpec, robot: RobotAgent) -> bool:
    """Whether the robot is within ENTRY_CLEARANCE_M of where an arrival can appear: the
    spawner's start, spread across its route's direction."""
    start = np.asarray(spawner.start, dtype=float)
    side = _entry_side(spawner)
    offset = np.array([robot.x, robot.y]) - start
    lateral = float(np.clip(offset @ side, -0.5 * spawner.spread, 0.5 * spawner.spread))
    gap = float(np.linalg.norm(offset - lateral * side)) - robot.radius - spawner.radius
    return gap < ENTRY_CLEARANCE_M

"""MPPI: a sampling model-predictive controller with social costs, in torch.

Each cycle samples ``samples`` control sequences around the previous optimum
(warm start, shifted by the time that passed), rolls them out through a
differential-drive model in one vectorised pass, scores them with the terms in
``costs.py`` and averages them with softmax weights at ``temperature``. The
average is smoothed (Savitzky-Golay) and its first control is the command.

Samples perturb the per-step *change* of the controls (Brownian noise around
the warm start): with the change clamped to the acceleration limits, every
sample is drivable by construction and no Python loop over time is needed.
The changes count from the measured velocity, or from the last command when the
robot drives slower than that (held back downstream, e.g. in the safety filter's
slow zone: see ``MPPIPlanner._bounds``).

The decision shapes the problem rather than the output: ``max_speed`` (and
SLOW) clamp the sampled speeds, ``min_clearance`` sets the people clearance
term, STOP commands zero, YIELD waits while someone's predicted path crosses
ours (and slows for someone walking in our corridor), PASS_LEFT/PASS_RIGHT add
a side preference against the target person (or the nearest one ahead), and
FOLLOW_WALKWAY strengthens the keep-right term. A decision past its
``valid_until`` is replaced by ``scene.default_decision``.
"""

from __future__ import annotations

import collections
import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from reasonact_ros.planning import costs
from reasonact_ros.planning.interface import (
    STATUS_BLOCKED,
    STATUS_GOAL_REACHED,
    STATUS_NO_GOAL,
    STATUS_RECOVERING,
    STATUS_TRACKING,
    STATUS_WAITING,
    STATUS_YIELDING,
    GoalChecker,
    PlannerInput,
    PlanResult,
    usable_decision,
)
from reasonact_ros.planning.navigation_function import NavigationFunction
from reasonact_ros.planning.prediction import (
    CROSSING,
    MOVING_SPEED,
    path_conflict,
    predict_constant_velocity,
)
from reasonact_ros.planning.route import RouteTracker, distance_to_polyline
from reasonact_ros.scene import Behavior, Decision, TrackedObject, Velocity2D

# [s] a command sent longer ago than this says nothing about what the robot is asked now
HELD_BACK_MEMORY_S = 0.5


@dataclass
class MPPIConfig:
    samples: int = 2000
    steps: int = 56
    dt: float = 0.05  # [s] model step; horizon = steps * dt
    linear_noise: float = 0.5  # [m/s] std of the sampled speed change after one second
    angular_noise: float = 1.2  # [rad/s] the same for the turn rate
    temperature: float = 0.3  # softmax temperature on cost differences
    seed: int = 0
    robot_radius: float = 0.3  # [m]
    slow_speed: float = 0.5  # [m/s] cap under Behavior.SLOW
    # Arriving: the speed cap falls with the distance left beyond the goal tolerance (Nav2's
    # approach velocity scaling), so the last metre is slow enough to turn into the goal
    # circle instead of orbiting it when someone pushes the robot off its line.
    approach_gain: float = 1.5  # [1/s] cap = this x the distance left ...
    approach_min_speed: float = 0.3  # [m/s] ... but never below this (turning radius 0.2 m)
    # Crawling up to the goal in someone's way, the robot let walkers pass within 0.45 m
    # (`crowd` 54, 59: 0.2 m from the goal at 0.3 m/s); while anyone walking on as they do
    # would come this close to where it stands within this time, the floor is higher.
    approach_passed_speed: float = 0.6  # [m/s] (turning radius 0.4 m at full turn rate)
    approach_passed_gap: float = 0.45  # [m] surface to surface: the intimate zone
    approach_passed_time: float = 2.0  # [s]
    # goal
    progress_weight: float = 6.0  # per metre of mean distance to the carrot
    terminal_weight: float = 8.0  # per metre left at the end of the horizon
    route_weight: float = 1.0  # per step, per metre off a route with a corner ahead
    carrot_reach: float = 1.5  # the carrot is this many horizons at the speed cap ahead: a
    # carrot within exact reach rewards arriving at the horizon's end, not hurrying
    goal_clearance: float = 0.35  # [m] the goal distance is the path length around lidar
    # points with the footprint's centre this far from them; 0: the straight line
    field_margin: float = 1.0  # [m] the grid reaches this far round the robot and the
    # field's target whatever the rollouts' reach: a standing robot's rollouts are short,
    # and a grid no wider than them may hold no way round a barrier beside it
    unreachable_penalty: float = 5.0  # [m] added to the straight line where that path is cut
    goal_field_radius: float = 8.0  # [m] a farther target is approached along the straight
    # line to this distance: the field's grid stays the size of the rollouts' reach
    off_walkway_slowness: float = 4.0  # that path's metres off the walkway count this much
    path_angle_weight: float = 3.0  # per step, per rad of heading off the carrot beyond ...
    path_angle_threshold: float = 1.2  # [rad] ... this (~70 deg); not within keep_right_fade
    # of the goal, where the bearing swings as the robot arrives, nor before a route corner
    # lidar obstacles
    obstacle_margin: float = 0.35  # [m] desired clearance beyond the footprint
    obstacle_weight: float = 400.0  # per step, per squared metre inside the margin
    collision_weight: float = 1000.0  # per step in collision (obstacle or person)
    grid_resolution: float = 0.05  # [m] obstacle distance grid cell
    people_points_margin: float = 0.2  # [m] lidar points this close to a person's edge are
    # that person: they are left to the predicted-people terms, not frozen as a wall
    # people
    person_clearance_weight: float = 600.0  # per step, per squared metre under min_clearance
    proxemics_weight: float = 2.0  # per step at the centre of someone's personal space
    proxemics_front: float = 0.9  # [m] sigma ahead of a walking person ...
    proxemics_front_per_speed: float = 0.6  # [s] ... plus this per m/s of their speed
    proxemics_back: float = 0.45  # [m]
    proxemics_side: float = 0.6  # [m] (and all round a standing person)
    proxemics_stride: int = 3  # evaluate personal space every n-th step (a soft term)
    # behaviours
    passing_weight: float = 60.0  # per step, per squared metre on the wrong side
    passing_range: float = 8.0  # [m] how far ahead the nearest person is a passing target
    overtake_behind_scale: float = 4.0  # [m] the passing cost's reach behind someone we
    # overtake on the verge (in front of them, and for anyone else: 1.5 m)
    arrival_radius: float = 2.0  # [m] from the goal, people may be passed closer ...
    arrival_exit_radius: float = 3.0  # [m] ... and, once within, until this far from it:
    # through a goal between two streams, the robot went on past it to 2 m, was asked the full
    # clearance of the walkers behind it again and ran ahead of them (crowd 105)
    in_their_way_time: float = 5.0  # [s] people's way after the horizon ...
    in_their_way_clearance: float = 0.5  # [m] ... the horizon's end keeps this far off it
    in_their_way_weight: float = 100.0  # per squared metre inside that
    yield_horizon: float = 4.0  # [s] how far people's paths are checked for crossings
    yield_lookahead: float = 4.0  # [m] length of our corridor checked for crossings
    yield_speed: float = 0.0  # [m/s] cap while waiting for a crossing person
    # walkway
    walkway_weight: float = 20.0  # per step, per metre of footprint off the walkway
    keep_right_weight: float = 0.1  # per step, per squared metre from the keep-right line
    follow_walkway_gain: float = 4.0  # keep-right weight multiplier under FOLLOW_WALKWAY
    keep_right: float = 0.5  # the line: this fraction of the half width right of centre
    keep_right_fade: float = 3.0  # [m] from the goal, keeping right fades out linearly
    walkway_resolution: float = 0.1  # [m]
    # People we close in on who leave too little room beside them on the walkway (a group
    # walking abreast towards us, two standing chatting, a crowd both ways) are passed on
    # the verge: there, off the walkway costs only this fraction. Without it the robot turns
    # and flees before a group along the walkway, and stalls beside people standing.
    verge_factor: float = 0.05
    verge_group_gap: float = 2.0  # [m] such people this close along the walkway are passed
    # together
    verge_hold: float = 3.0  # [s] the verge stays granted this long after it was last
    # needed, and is renewed whatever the behaviour while they still leave no room: turned
    # towards the verge, the robot no longer sees the group ahead, and the rules say SLOW
    # stalls (see MPPIPlanner._stalled)
    stall_time: float = 3.0  # [s] free to move (tracking, speed cap >= stall_min_speed) ...
    stall_distance: float = 0.3  # [m] ... and moved less than this in that time: stalled (a
    # creep counts: at 0.05 m/s the robot crept along the barrier for 8 s before the relief)
    stall_min_speed: float = 0.3  # [m/s]
    stall_relief_time: float = 4.0  # [s] then keep-right is off and the obstacle margin ...
    stall_margin_factor: float = 0.4  # ... this fraction, for this long, and the clearance
    stall_clearance_factor: float = 0.6  # from people standing this fraction of the decision's
    # (from everyone within arrival_radius of the goal too)
    # smoothness
    linear_smoothness_weight: float = 2.0  # per (m/s)^2 change per step
    angular_smoothness_weight: float = 0.2  # per (rad/s)^2 change per step
    smoothing_window: int = 9  # Savitzky-Golay window (odd, steps); 1 disables smoothing
    smoothing_order: int = 2

    def __post_init__(self):
        for name in ("samples", "steps", "seed", "proxemics_stride", "smoothing_window",
                     "smoothing_order"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be an integer, got {value!r}")
        for name in ("samples", "steps"):  # samples: the warm start and braking always compete
            if getattr(self, name) < 2:
                raise ValueError(f"{name} must be >= 2, got {getattr(self, name)!r}")
        for name, value in self.__dict__.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
        for name in ("dt", "temperature", "robot_radius", "grid_resolution", "keep_right_fade",
                     "walkway_resolution", "proxemics_front", "proxemics_back",
                     "proxemics_side", "yield_horizon"):
            if not getattr(self, name) > 0.0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if self.proxemics_stride < 1:
            raise ValueError(f"proxemics_stride must be >= 1, got {self.proxemics_stride}")
        if self.keep_right > 1.0:
            raise ValueError(f"keep_right is a fraction of the half width, got {self.keep_right}")
        if self.arrival_exit_radius < self.arrival_radius:
            raise ValueError(f"arrival_exit_radius ({self.arrival_exit_radius}) must be >= "
                             f"arrival_radius ({self.arrival_radius})")
        if self.smoothing_window < 1 or self.smoothing_window % 2 == 0:
            raise ValueError(f"smoothing_window must be odd and >= 1, got {self.smoothing_window}")
        if self.smoothing_window > 1 and not self.smoothing_order < self.smoothing_window:
            raise ValueError("smoothing_order must be below smoothing_window")

    @property
    def horizon(self) -> float:
        return self.steps * self.dt


def savitzky_golay_weights(window: int, order: int) -> np.ndarray:
    """Least-squares polynomial smoothing weights for the centre of a window."""
    half = window // 2
    offsets = np.arange(-half, half + 1, dtype=float)
    vandermonde = offsets[:, None] ** np.arange(order + 1)[None, :]
    return np.linalg.pinv(vandermonde)[0]


@dataclass
class _Bounds:
    """This cycle's control limits, (2,) arrays of (linear, angular)."""

    lower: np.ndarray
    upper: np.ndarray
    max_step: np.ndarray
    start: np.ndarray


class MPPIPlanner:
    def __init__(self, config: MPPIConfig | None = None):
        self.config = config or MPPIConfig()
        self._smoothing = (savitzky_golay_weights(self.config.smoothing_window,
                                                  self.config.smoothing_order)
                           if self.config.smoothing_window > 1 else None)
        self._route = RouteTracker()
        self._goal_checker = GoalChecker()
        self._walkway_field: costs.WalkwayField | None = None
        self.reset()

    def reset(self) -> None:
        self._generator = torch.Generator().manual_seed(self.config.seed)
        self._nominal = np.zeros((self.config.steps, 2), dtype=np.float32)
        self._nominal_time: float | None = None
        self._sent: collections.deque = collections.deque(maxlen=self.config.smoothing_window)
        self._route.reset()
        self._verge = (0.0, -math.inf)  # (side, until when [s]) of the last verge granted
        self._track: collections.deque = collections.deque()  # (time, x, y) while tracking
        self._relieved_until = -math.inf
        self._goal_checker.reset()
        self._relieved = False
        self._arriving_at = None  # the goal we are arriving at (see _update_arrival)

    def plan(self, inp: PlannerInput) -> PlanResult:
        started, cpu_started = time.perf_counter(), time.thread_time()
        with torch.inference_mode():
            result = self._plan(inp)
        result.compute_ms = (time.perf_counter() - started) * 1e3
        result.compute_cpu_ms = (time.thread_time() - cpu_started) * 1e3
        return result

    # --- one cycle ----------------------------------------------------------------------

    def _plan(self, inp: PlannerInput) -> PlanResult:
        cfg = self.config
        decision = usable_decision(inp)
        predicted = predict_constant_velocity(inp.people, cfg.steps, cfg.dt)
        by_id = {person.id: predicted[i] for i, person in enumerate(inp.people)}
        if decision.behavior == Behavior.STOP:
            return self._hold(inp, STATUS_WAITING, by_id)
        if inp.goal is None:
            return self._hold(inp, STATUS_NO_GOAL, by_id)
        position = np.array([inp.robot.x, inp.robot.y])
        if self._goal_checker.reached(inp):
            return self._hold(inp, STATUS_GOAL_REACHED, by_id)
        self._update_arrival(inp)

        speed_cap = self._speed_cap(inp, decision)
        reach = max(1.0, cfg.carrot_reach * speed_cap * cfg.horizon)
        path = self._route.lookahead_path(inp.goal, position, reach)
        status = STATUS_TRACKING
        if decision.behavior == Behavior.YIELD:
            kind = self._yield_conflict(inp, decision, position)
            if kind == CROSSING:
                speed_cap, status = min(speed_cap, cfg.yield_speed), STATUS_YIELDING
            elif kind is not None:
                speed_cap, status = min(speed_cap, cfg.slow_speed), STATUS_YIELDING
        bounds = self._bounds(inp, speed_cap)
        self._relieved = self._stalled(inp, status, speed_cap)
        if self._relieved and status == STATUS_TRACKING:
            status = STATUS_RECOVERING

        v, w = self._sample(self._warm_start(inp.now), bounds)
        x, y, yaw = costs.unicycle_rollout(inp.robot.x, inp.robot.y, inp.robot.yaw, v, w,
                                           cfg.dt)
        total, collided, field = self._score(inp, decision, x, y, v, w, bounds, speed_cap,
                                             path, predicted)
        to_goal = inp.distance_to_goal()
        # With a route corner within reach the route term steers; the bearing to a carrot
        # round the corner would cut it.
        if cfg.path_angle_weight > 0.0 and to_goal > cfg.keep_right_fade and len(path) <= 2:
            # Face the way round obstacles, not the carrot behind them: facing a barrier,
            # every turn towards the gap beside it missed the carrot's bearing by more
            # than the threshold, and the robot stood in front of it. Each rollout point
            # is judged against the shortest path's direction there (Nav2's critic
            # follows the global path for the same reason); the carrot's bearing only
            # without the field.
            if field is not None:
                wanted = torch.from_numpy(field.descent_heading(x.numpy(), y.numpy())
                                          .astype(np.float32))
                total.add_(costs.heading_error_cost(yaw, wanted, cfg.path_angle_threshold,
                                                    cfg.path_angle_weight))
            else:
                carrot = (float(path[-1][0]), float(path[-1][1]))
                total.add_(costs.path_angle_cost(x, y, yaw, carrot, cfg.path_angle_threshold,
                                                 cfg.path_angle_weight))

        weights = torch.softmax((total.min() - total) / cfg.temperature, dim=0)
        optimum = torch.stack([weights @ v, weights @ w], dim=1).numpy()
        optimum = self._smooth(optimum, bounds.start)
        costs.limit_acceleration(optimum[None], bounds.start, bounds.max_step, bounds.lower,
                                 bounds.upper)
        self._nominal, self._nominal_time = optimum, inp.now
        trajectory = self._rollout_one(inp, optimum)

        # Blocked: even the best sample hits something within the first second. Not when
        # it is in contact from its first step on: then it is already touching (a person
        # walked into it) and standing still is no better than the least bad way out.
        early = max(1, int(round(1.0 / cfg.dt)))
        best_collisions = collided[int(torch.argmin(total)), :early]
        blocked = bool(best_collisions.any()) and not bool(best_collisions[0])
        if blocked:
            # Someone walks into us where we stand no later than the best way hits: standing
            # still is no safer than the least bad way out.
            first_hit = int(torch.nonzero(best_collisions)[0])
            blocked = not self._walked_into(inp, predicted, first_hit + 1)
        # Non-finite cannot happen with finite inputs; if it does, stand still, start afresh.
        if blocked or not np.all(np.isfinite(optimum)):
            self._nominal[:] = 0.0
            self._sent.append(np.zeros(2, dtype=np.float32))
            return PlanResult(Velocity2D(0.0, 0.0), trajectory, by_id, STATUS_BLOCKED)
        self._sent.append(optimum[0].copy())
        command = Velocity2D(float(optimum[0, 0]), float(optimum[0, 1]))
        return PlanResult(command, trajectory, by_id, status)

    def _walked_into(self, inp: PlannerInput, predicted: np.ndarray, steps: int) -> bool:
        """Whether someone's predicted path reaches the robot, standing where it is,
        within the first ``steps`` steps."""
        if not inp.people:
            return False
        radii = np.array([p.radius for p in inp.people])
        here = np.array([inp.robot.x, inp.robot.y])
        distance = np.linalg.norm(predicted[:, :steps] - here, axis=2)
        return bool((distance < self.config.robot_radius + radii[:, None]).any())

    def _stalled(self, inp: PlannerInput, status: str, speed_cap: float) -> bool:
        """Whether the robot has stood still for ``stall_time`` while free to move.

        MPPI's local minimum: in a corner before a barrier, every way out passes an
        obstacle inside its margin or leaves the keep-right line for seconds, and over a
        2.8 s horizon that costs more than the little progress it buys, so standing still
        wins, cycle after cycle (narrow_passage: the robot stood before the barrier until
        the timeout, nobody near); level with people standing on a narrow walkway, the
        clearance asked may be more than there is. Then those soft costs are relaxed for
        ``stall_relief_time`` (Nav2 answers its progress checker with recoveries the same
        way): no keep-right, a smaller obstacle margin, a smaller clearance from people
        standing (never below the limits'). Collision costs, people walking and the safety
        layer are untouched.
        Waiting on purpose (yielding, STOP, at the goal) is no stall and starts the watch
        afresh.
        """
        cfg = self.config
        if status != STATUS_TRACKING or speed_cap < cfg.stall_min_speed:
            self._track.clear()
            return inp.now <= self._relieved_until
        track = self._track
        track.append((inp.now, inp.robot.x, inp.robot.y))
        while len(track) > 1 and inp.now - track[1][0] >= cfg.stall_time:
            track.popleft()
        then, x, y = track[0]
        if (inp.now - then >= cfg.stall_time
                and math.hypot(inp.robot.x - x, inp.robot.y - y) < cfg.stall_distance):
            self._relieved_until = inp.now + cfg.stall_relief_time
            track.clear()
        return inp.now <= self._relieved_until

    def _speed_cap(self, inp: PlannerInput, decision: Decision) -> float:
        cfg = self.config
        cap = min(inp.limits.max_linear_speed, max(decision.max_speed, 0.0))
        if decision.behavior == Behavior.SLOW:
            cap = min(cap, cfg.slow_speed)
        if inp.goal is not None:
            left = inp.distance_to_goal() - inp.goal.tolerance
            least = cfg.approach_min_speed
            if (cfg.approach_gain * left < cfg.approach_passed_speed
                    and self._about_to_be_passed_close(inp)):
                least = max(least, cfg.approach_passed_speed)
            cap = min(cap, max(least, cfg.approach_gain * left))
        return cap

    def _about_to_be_passed_close(self, inp: PlannerInput) -> bool:
        """Whether someone walking on as they do comes within ``approach_passed_gap`` of
        where we stand within ``approach_passed_time``."""
        cfg = self.config
        if not inp.people:
            return False
        here = np.array([inp.robot.x, inp.robot.y])
        velocity, speed = _velocities(inp.people)
        offset = np.array([[p.x, p.y] for p in inp.people]) - here
        # When along their way each one is closest to us, within the time looked at.
        when = -(offset * velocity).sum(axis=1) / np.maximum(speed ** 2, 1e-9)
        when = np.clip(when, 0.0, cfg.approach_passed_time)
        closest = np.linalg.norm(offset + velocity * when[:, None], axis=1)
        radii = np.array([p.radius for p in inp.people])
        return bool(((speed > MOVING_SPEED)
                     & (closest - radii - cfg.robot_radius < cfg.approach_passed_gap)).any())

    def _bounds(self, inp: PlannerInput, speed_cap: float) -> _Bounds:
        lower = np.array([-min(inp.limits.max_reverse_speed, speed_cap),
                          -inp.limits.max_angular_speed], dtype=np.float32)
        upper = np.array([speed_cap, inp.limits.max_angular_speed], dtype=np.float32)
        max_step = np.array([inp.limits.max_linear_accel, inp.limits.max_angular_accel],
                            dtype=np.float32) * self.config.dt
        start = np.array([inp.velocity.linear, inp.velocity.angular], dtype=np.float32)
        if self._sent and self._nominal_time is not None \
                and 0.0 <= inp.now - self._nominal_time <= HELD_BACK_MEMORY_S:
            # Held back downstream (the safety filter halves commands in its slow zone),
            # the robot drives slower than we asked. The speed-up counts from what we
            # asked: counted from the measured speed, each command was that speed plus one
            # step's acceleration, halved again, and the robot crept at 0.05 m/s beside
            # narrow_passage's barrier for 13 s. The filter still limits what is driven.
            sent = self._sent[-1]
            held_back = (sent * start >= 0.0) & (np.abs(sent) > np.abs(start))
            start = np.where(held_back, sent, start).astype(np.float32)
        return _Bounds(lower, upper, max_step, start)

    def _yield_conflict(self, inp: PlannerInput, decision: Decision,
                        position: np.ndarray) -> str | None:
        """CROSSING if anyone's path crosses our corridor, else ALONG if anyone walks in it.

        With a target in the decision only that person is yielded to (if tracked).
        """
        cfg = self.config
        corridor_end = self._route.carrot(inp.goal, position, cfg.yield_lookahead)
        targets = [p for p in inp.people if p.id == decision.target_id] or inp.people
        kinds = {path_conflict(position, corridor_end, person, cfg.yield_horizon,
                               cfg.robot_radius + person.radius + decision.min_clearance)
                 for person in targets}
        return CROSSING if CROSSING in kinds else next((k for k in kinds if k), None)

    def _warm_start(self, now: float) -> np.ndarray:
        """The previous optimum shifted by the time since it was computed."""
        cfg = self.config
        if self._nominal_time is None:
            return self._nominal.copy()
        elapsed = max(0.0, now - self._nominal_time)
        grid = np.arange(cfg.steps) * cfg.dt
        shifted = np.empty_like(self._nominal)
        for column in range(2):
            # np.interp holds the last value past the end: the sequence is padded with it.
            shifted[:, column] = np.interp(grid + elapsed, grid, self._nominal[:, column])
        return shifted

    def _sample(self, nominal: np.ndarray, bounds: _Bounds) -> tuple[torch.Tensor, ...]:
        """(S, T) speeds and turn rates: drivable control sequences around ``nominal``."""
        cfg = self.config
        steps_per_second = 1.0 / cfg.dt
        nominal_changes = np.diff(nominal, axis=0, prepend=bounds.start[None])
        channels = []
        for channel, noise in enumerate((cfg.linear_noise, cfg.angular_noise)):
            start, max_step = float(bounds.start[channel]), float(bounds.max_step[channel])
            lower, upper = float(bounds.lower[channel]), float(bounds.upper[channel])
            changes = torch.from_numpy(nominal_changes[:, channel])
            increments = torch.randn((cfg.samples, cfg.steps), generator=self._generator)
            increments.mul_(noise / math.sqrt(steps_per_second)).add_(changes)
            increments[0] = changes  # the warm start itself always competes
            controls = costs.integrate_increments(increments, start, max_step, lower, upper)
            # ... and so does braking as hard as the limits allow.
            braking = abs(start) - max_step * torch.arange(1, cfg.steps + 1)
            controls[1] = braking.clamp_(min=0.0).mul_(math.copysign(1.0, start)).clamp_(
                lower, upper)
            channels.append(controls)
        return tuple(channels)

    def _score(self, inp, decision, x, y, v, w, bounds, speed_cap, path, predicted):
        cfg = self.config
        target = (float(path[-1][0]), float(path[-1][1]))
        field_target, beyond = self._field_target(inp, target)
        static = self._static_costs(inp, decision, x, y, path, field_target)
        field, distance = self._goal_distance(static.grid, static.slowness, field_target,
                                              beyond, target, x, y)
        after = self._after_arrival(inp, x, y, speed_cap)
        total = costs.goal_cost(x, y, target, cfg.progress_weight, cfg.terminal_weight,
                                distance, after)
        total.add_(costs.smoothness_cost(v, w, (float(bounds.start[0]), float(bounds.start[1])),
                                         cfg.linear_smoothness_weight,
                                         cfg.angular_smoothness_weight))
        step_cost, collided = static.lookup(x, y)
        if inp.people:
            self._add_people_costs(inp, decision, x, y, speed_cap, target, predicted,
                                   step_cost, collided, total)
        if after is not None:
            # A rollout that reaches the goal ends there: the robot holds on arrival, so
            # what its remaining steps would meet never happens. Counted, someone walking
            # up behind us along a route through the goal chased the robot past it (the
            # end of an overtake: a slow walker's route runs through the goal).
            step_cost.masked_fill_(after, 0.0)
            collided &= ~after
        total.add_(step_cost.sum(dim=1))
        return total, collided, field

    def _after_arrival(self, inp, x, y, speed_cap) -> torch.Tensor | None:
        """(S, T) mask of the steps after each rollout first came within the goal's
        tolerance; None when the goal is beyond reach of this horizon."""
        gx, gy = inp.goal.final
        tolerance = inp.goal.tolerance
        reach = speed_cap * self.config.horizon + tolerance
        if inp.distance_to_goal() > reach:
            return None
        inside = (x - gx).square_().add_((y - gy).square_()) <= tolerance * tolerance
        reached = torch.cummax(inside.to(torch.uint8), dim=1).values.bool()
        after = torch.zeros_like(reached)
        after[:, 1:] = reached[:, :-1]
        return after

    def _field_target(self, inp, target) -> tuple[tuple[float, float], float]:
        """Where the goal's path-length field ends, and the straight metres beyond it."""
        dx, dy = target[0] - inp.robot.x, target[1] - inp.robot.y
        distance, radius = math.hypot(dx, dy), self.config.goal_field_radius
        if distance <= radius:
            return target, 0.0
        scale = radius / distance
        return (inp.robot.x + dx * scale, inp.robot.y + dy * scale), distance - radius

    def _goal_distance(self, grid, slowness, field_target, beyond, target, x, y
                       ) -> tuple[NavigationFunction | None, torch.Tensor | None]:
        """The field and the (S, T) path length to the target around obstacles (to
        ``field_target``, then ``beyond`` metres straight on); (None, None) for the
        straight line (disabled, or no free cell)."""
        cfg = self.config
        if cfg.goal_clearance <= 0.0:
            return None, None
        field = NavigationFunction(grid, field_target, cfg.goal_clearance, slowness=slowness)
        if not field.reachable:
            return None, None
        xs, ys = x.numpy(), y.numpy()
        along = field.lookup(xs, ys) + beyond
        cut = ~np.isfinite(along)
        if cut.any():
            along[cut] = np.hypot(xs[cut] - target[0], ys[cut] - target[1]) + \
                cfg.unreachable_penalty
        return field, torch.from_numpy(along.astype(np.float32))

    def _static_costs(self, inp, decision, x, y, path, field_target) -> costs.StaticCostMap:
        """Obstacle, walkway and route step costs per cycle, on one grid that covers the
        rollouts' bounding box (a forward fan when cruising: half the cells of a square
        around the robot, and the distance transform is the biggest cost here)."""
        cfg = self.config
        x_range, y_range = torch.aminmax(x), torch.aminmax(y)
        # The field's target is inside, with a margin, so the goal's path-length field
        # reaches it.
        fx, fy = field_target
        pad = cfg.field_margin
        lower = (min(float(x_range.min), inp.robot.x - pad, fx - pad),
                 min(float(y_range.min), inp.robot.y - pad, fy - pad))
        upper = (max(float(x_range.max), inp.robot.x + pad, fx + pad),
                 max(float(y_range.max), inp.robot.y + pad, fy + pad))
        far = cfg.robot_radius + cfg.obstacle_margin + 0.5
        points = without_people(inp.obstacle_points, inp.people, cfg.people_points_margin)
        grid = costs.DistanceGrid.covering(points, lower, upper, cfg.grid_resolution,
                                           max_distance=far)
        slowness = None
        margin = cfg.obstacle_margin * (cfg.stall_margin_factor if self._relieved else 1.0)
        cell_cost, collided = costs.obstacle_cell_cost(
            grid.distances, cfg.robot_radius, margin, cfg.collision_weight,
            cfg.obstacle_weight)
        if inp.walkway is not None:
            field = self._walkway_field
            grid_upper = (grid.origin[0] + grid.width * grid.resolution,
                          grid.origin[1] + grid.height * grid.resolution)
            if field is None or not field.covers(inp.walkway, grid.origin, grid_upper):
                # Built with room to spare, so the next cycles reuse it as the robot moves.
                reach = inp.limits.max_linear_speed * cfg.horizon + cfg.robot_radius
                field = costs.WalkwayField(inp.walkway, (inp.robot.x, inp.robot.y),
                                           reach + far + 6.0, cfg.walkway_resolution)
                self._walkway_field = field
            keep_right_weight = cfg.keep_right_weight
            if decision.behavior == Behavior.FOLLOW_WALKWAY:
                keep_right_weight *= cfg.follow_walkway_gain
            # Keeping right is for travelling; near the goal it would fight the goal term
            # wherever the goal is not on the keep-right line, so it fades out.
            keep_right_weight *= min(1.0, inp.distance_to_goal() / cfg.keep_right_fade)
            lateral, half_width = field.frame_at(*grid.cell_centres())
            verge_side = self._verge_side(inp, decision)
            if verge_side or self._relieved:
                # The keep-right line is on the walkway; or it is what holds us stalled.
                keep_right_weight = 0.0
            cell_cost += costs.walkway_cost(lateral, half_width, cfg.robot_radius,
                                            cfg.keep_right, cfg.walkway_weight,
                                            keep_right_weight, verge_side,
                                            cfg.verge_factor).astype(np.float32)
            # The verge we may pass on is no detour for the goal's path length either.
            off = (np.abs(lateral) > half_width) & (lateral * verge_side <= 0.0)
            slowness = np.where(off, cfg.off_walkway_slowness, 1.0)
        if len(path) > 2:
            # A corner of a route lies within reach: stay near the route so the waypoint
            # is visited rather than cut off by steering straight at the carrot.
            cell_cost += (cfg.route_weight * distance_to_polyline(
                *grid.cell_centres(), path)).astype(np.float32)
        return costs.StaticCostMap(grid, cell_cost, collided, slowness)

    def _add_people_costs(self, inp, decision, x, y, speed_cap, target, predicted,
                          step_cost, collided, total) -> None:
        cfg = self.config
        people = inp.people
        here = np.array([inp.robot.x, inp.robot.y])
        radii = np.array([p.radius for p in people])
        velocity, speed = _velocities(people)
        headings, front, back, side = self._personal_space(velocity, speed)
        clearances = np.full(len(people), decision.min_clearance)
        # Both reliefs below pass people closer, never nearer than any decision may ask,
        # nor than the decision's floor (an operator's "keep 2 m away").
        relaxed = max(decision.min_clearance * cfg.stall_clearance_factor,
                      inp.limits.min_person_clearance, decision.clearance_floor)
        arriving = self._arriving_at is not None
        overtakers = np.zeros(len(people), dtype=bool)
        if arriving:
            # The goal may lie where people walk (crowd: between two streams). Asked the
            # full clearance from everyone, the robot circled it until the timeout, every
            # way in too close to someone; on the last stretch it may come closer, never
            # nearer than the limits let any decision ask. People see it and step round.
            clearances[:] = relaxed
            # And someone coming up behind us our way, at our pace or faster, passes us as
            # walkers overtake one another. Asked even the relieved clearance of them,
            # letting them by cost more than running ahead at their pace: in `crowd` the
            # robot, 1.6 m from its goal, was chased along the walkway's edge 8 m past it
            # and off its end (seeds 13, 16, 43: 46-58 s). They are asked the least any
            # decision may ask; the collision cost, their personal space and the safety
            # layer still hold. Not further out: asked less everywhere, the robot held its
            # line while people overtook it (`replay`: personal time 11 -> 29 %, 3
            # contacts; replayed people do not see the robot) and cut in front of the
            # walker it had just overtaken.
            overtakers = overtaking_us(np.array([[p.x, p.y] for p in people]), velocity,
                                       speed, here, inp.robot.yaw, inp.velocity.linear)
            clearances[overtakers] = max(inp.limits.min_person_clearance,
                                         decision.clearance_floor)
        if self._relieved:
            # Stalled beside people standing where they leave less room than asked (two
            # people on a 3 m walkway leave 1.15 m, the rules ask 1.2): pass them closer,
            # never nearer than the limits let any decision ask. Not people walking: with
            # the relief for everyone, the full suite's crowd (where the robot stalls
            # often) had 10 contacts with the robot at fault instead of 3.
            clearances[speed <= MOVING_SPEED] = relaxed
        predicted_t = torch.from_numpy(predicted.astype(np.float32))
        within = clearances.copy()  # the most any rollout asks of each person
        cut = None
        if overtakers.any() and relaxed > clearances[overtakers].max():
            # Letting them by is what the least clearance is for. A rollout that cuts across
            # in front of them does not, and is asked the relieved one (`crowd` 69: the
            # robot turned into its goal 1 m ahead of a walker at 1.5 m/s, 0.43 m from them).
            chosen = np.flatnonzero(overtakers)
            cut = costs.cuts_in_front(x, y, predicted_t[chosen],
                                      np.array([[people[i].x, people[i].y] for i in chosen]),
                                      velocity[chosen] / speed[chosen, None], here)
            within[overtakers] = relaxed
        # Lower bound of any rollout's distance to each person at each step (P, T).
        reach = speed_cap * cfg.dt * np.arange(1, cfg.steps + 1)
        centre_bound = np.linalg.norm(predicted - here, axis=2) - reach
        surface_bound = centre_bound - cfg.robot_radius - radii[:, None]
        near = surface_bound < within[:, None] + 0.1
        # Beyond 2.5 sigma the personal-space cost is under 5 % of its peak.
        in_space = centre_bound < 2.5 * np.maximum(front, side)[:, None]

        windows = _windows(near)
        for clearance in np.unique(clearances):  # one pass unless relieved beside someone
            members = clearances == clearance
            group = [window if members[index] else (0, 0)
                     for index, window in enumerate(windows)]
            gap = costs.nearest_person_gap(x, y, predicted_t, radii.tolist(), group)
            asked = float(clearance)
            if cut is not None and members[overtakers].all():  # the overtakers' group
                asked = torch.where(cut, float(relaxed), asked)[:, None]
            people_step, people_hit = costs.people_cost(
                gap, cfg.robot_radius, asked, cfg.collision_weight,
                cfg.person_clearance_weight)
            step_cost.add_(people_step)
            collided |= people_hit
        total.add_(costs.proxemics_cost(x, y, predicted_t, headings, front, back, side,
                                        _windows(in_space), cfg.proxemics_weight,
                                        cfg.proxemics_stride))
        if not arriving:  # the goal itself may be on someone's way
            self._add_in_their_way_cost(inp, x, y, here, predicted, velocity, speed, radii,
                                        total)
        if decision.behavior in (Behavior.PASS_LEFT, Behavior.PASS_RIGHT):
            direction = target - here
            norm = float(np.linalg.norm(direction))
            unit = direction / max(norm, 1e-9)
            index = self._passing_target(inp, decision, here, unit)
            if index is not None and norm > 1e-6:
                side_sign = 1.0 if decision.behavior == Behavior.PASS_LEFT else -1.0
                # The relieved clearance too: asking the full one of a post taken for
                # someone standing, the robot stood by it until the timeout.
                lateral_gap = cfg.robot_radius + radii[index] + clearances[index]
                # Someone walking our way whom we may overtake on the verge: being behind
                # them in line costs too, or the robot follows at 4 m, beyond the cost's
                # reach, and never pulls out (overtaking: 8/10 in time, 44 s for 20 m).
                # The verge is this cycle's: _verge_side ran in the static costs.
                _, verge_until = self._verge
                overtaking = (float(velocity[index] @ unit) > MOVING_SPEED
                              and inp.now <= verge_until)
                # The rules choose the side along the walk of someone coming towards us
                # (_oncoming_side), and on the way there the way to the goal runs along it
                # too. Arriving, the goal's bearing swings: asked to keep right of a walker
                # crossing in front of the goal, the robot kept right of its bearing, went
                # past the goal behind them and circled it for 30 s (crowd 98).
                frame = unit
                if arriving and speed[index] > MOVING_SPEED and float(
                        velocity[index] @ (here - people[index].position)) > 0.0:
                    frame = -velocity[index] / speed[index]
                total.add_(costs.passing_side_cost(
                    x, y, predicted_t[index], (float(frame[0]), float(frame[1])),
                    side_sign, float(lateral_gap), along_scale=1.5, weight=cfg.passing_weight,
                    behind_scale=cfg.overtake_behind_scale if overtaking else None))

    def _beyond_the_goal(self, inp: PlannerInput, here: np.ndarray,
                         person: TrackedObject) -> bool:
        """Whether the person is farther along the way to the goal than the goal itself
        (with both footprints' room to spare)."""
        to_goal = np.asarray(inp.goal.final) - here
        distance = float(np.linalg.norm(to_goal))
        if distance < 1e-6:
            return True
        along = float((person.position - here) @ to_goal) / distance
        return along > distance + person.radius + self.config.robot_radius

    def _update_arrival(self, inp: PlannerInput) -> None:
        """Arriving from within ``arrival_radius`` of the goal until beyond
        ``arrival_exit_radius``: gone on past the goal, the robot is still arriving. A new
        goal object starts afresh, as the goal checker does."""
        cfg = self.config
        still = self._arriving_at is inp.goal
        radius = cfg.arrival_exit_radius if still else cfg.arrival_radius
        self._arriving_at = inp.goal if inp.distance_to_goal() <= radius else None

    def _add_in_their_way_cost(self, inp, x, y, here, predicted, velocity, speed, radii,
                               total) -> None:
        """Do not end the horizon on the way of someone closing in on us."""
        cfg = self.config
        if cfg.in_their_way_weight <= 0.0:
            return
        ours = inp.velocity.linear * np.array([math.cos(inp.robot.yaw), math.sin(inp.robot.yaw)])
        # Closing in: oncoming people, or anyone walking at us while we wait; not someone
        # following us at our pace (crowd: kept out of a follower's way, the robot drove
        # past its goal on the walkway's edge).
        closing = ((here - predicted[:, 0]) * (velocity - ours)).sum(axis=1) > 0.0
        chosen = (speed > MOVING_SPEED) & closing
        if not chosen.any():
            return
        starts = predicted[chosen, -1]
        ends = starts + velocity[chosen] * cfg.in_their_way_time
        reach = cfg.robot_radius + radii[chosen] + cfg.in_their_way_clearance
        total.add_(costs.in_their_way_cost(x[:, -1], y[:, -1], starts, ends, reach,
                                           cfg.in_their_way_weight))

    def _verge_side(self, inp: PlannerInput, decision: Decision) -> float:
        """The walkway side (+1 left, -1 right of its direction) whose verge we may pass on.

        Granted when passing and the people we close in on leave no room on that side
        (``_no_room_beside``); renewed, whatever the behaviour but STOP, while they still
        leave none (turned towards the verge, the robot no longer sees them ahead and the
        rules say SLOW); kept ``verge_hold`` seconds after that. Zero otherwise. Never
        granted at a corner, where the walkway has no one direction.
        """
        granted_side, until = self._verge
        held = decision.behavior != Behavior.STOP and inp.now <= until
        direction = inp.walkway.direction_at((inp.robot.x, inp.robot.y))
        if direction is None:
            return granted_side if held else 0.0
        heading = np.array([math.cos(inp.robot.yaw), math.sin(inp.robot.yaw)])
        our_way = direction if float(direction @ heading) >= 0.0 else -direction
        if decision.behavior in (Behavior.PASS_LEFT, Behavior.PASS_RIGHT):
            # Our left along the walkway is its left when we walk its way.
            side = float(our_way @ direction) * (
                1.0 if decision.behavior == Behavior.PASS_LEFT else -1.0)
        else:
            side = granted_side if held else 0.0
        if side and self._no_room_beside(inp, our_way, side, decision.min_clearance,
                                         decision.max_speed):
            self._verge = (side, inp.now + self.config.verge_hold)
            return side
        return granted_side if held else 0.0

    def _no_room_beside(self, inp: PlannerInput, our_way: np.ndarray, side: float,
                        clearance: float, speed: float) -> bool:
        """Whether the people we close in on nearest ahead on the walkway (within
        ``passing_range``, or level with us within ``verge_group_gap`` behind), with those
        within ``verge_group_gap`` along it of them, leave less than the robot's width plus
        ``clearance`` to the walkway's ``side`` edge.

        We close in on people coming towards us, standing, or walking our way slower than
        ``speed``, the speed we are allowed.
        """
        cfg = self.config
        if not inp.people:
            return False
        positions = np.array([[p.x, p.y] for p in inp.people])
        velocities, speeds = _velocities(inp.people)
        radii = np.array([p.radius for p in inp.people])
        along = (positions - np.array([inp.robot.x, inp.robot.y])) @ our_way
        # People standing count with those coming towards us: two standing chatting on a
        # 3 m walkway leave 1.75 m beside them, 0.05 m short of the robot's width plus the
        # 1.2 m asked, and without the verge the robot stalled level with them for 3 s
        # before the stall relief let it by at 0.7-1.0 m (standing: 17.8 % personal time).
        # People walking our way slower than us count too, and people level with us: in a
        # crowd on a 4 m walkway both ways, the robot counting only those ahead coming towards
        # it lost the verge among the people it was passing, turned and fled (crowd, 10
        # seeds: 1/10 reached the goal without contact; counting both, 7/10, and 15/30).
        standing = speeds <= MOVING_SPEED
        closing = ((along > -cfg.verge_group_gap) & (along < cfg.passing_range)
                   & ((velocities @ our_way < speed - MOVING_SPEED) | standing))
        if not closing.any():
            return False
        group = closing & (along <= along[closing].min() + cfg.verge_group_gap)
        lateral, half_width = costs.walkway_frame(inp.walkway.left, inp.walkway.right,
                                                  positions[group])
        room = half_width - (side * lateral + radii[group])
        return float(room.min()) < 2.0 * cfg.robot_radius + clearance

    def _passing_target(self, inp: PlannerInput, decision: Decision, here: np.ndarray,
                        direction: np.ndarray) -> int | None:
        """The person to pass: the decision's target, else the nearest one ahead; none if
        that person is beyond the goal.

        We arrive before we reach them: asked to be on the left of a walker 4 m beyond the
        goal, the robot 0.6 m from it looped away (crowd seed 18 circled the goal 30 s).
        """
        people = inp.people
        chosen = next((i for i, p in enumerate(people) if p.id == decision.target_id), None)
        if chosen is None:
            best_distance = self.config.passing_range
            for index, person in enumerate(people):
                offset = person.position - here
                distance = float(np.linalg.norm(offset))
                if offset @ direction > 0.0 and distance < best_distance:
                    chosen, best_distance = index, distance
        if chosen is not None and self._beyond_the_goal(inp, here, people[chosen]):
            return None
        return chosen

    def _personal_space(self, velocity: np.ndarray, speed: np.ndarray):
        """Heading (P, 2) and front, back, side sigmas (P,) of each person's personal space."""
        cfg = self.config
        moving = speed > MOVING_SPEED
        headings = np.zeros_like(velocity)
        headings[:, 0] = 1.0
        headings[moving] = velocity[moving] / speed[moving, None]
        front = np.where(moving, cfg.proxemics_front + cfg.proxemics_front_per_speed * speed,
                         cfg.proxemics_side)
        back = np.where(moving, cfg.proxemics_back, cfg.proxemics_side)
        side = np.full_like(front, cfg.proxemics_side)
        return headings, front, back, side

    def _smooth(self, sequence: np.ndarray, start: np.ndarray) -> np.ndarray:
        """Savitzky-Golay over the sequence, continued backwards by the commands sent.

        The past half-window is the recent commands (the current velocity until there
        are enough), so the fit sees the acceleration in progress instead of a flat past
        that would hold it back; the future is padded with the last control.
        """
        if self._smoothing is None:
            return sequence
        half = len(self._smoothing) // 2
        past = list(self._sent)[-half:]
        past = [start] * (half - len(past)) + past
        padded = np.vstack([np.asarray(past, dtype=np.float32).reshape(half, 2), sequence,
                            np.repeat(sequence[-1:], half, axis=0)])
        smoothed = np.empty_like(sequence)
        for column in range(2):
            smoothed[:, column] = np.convolve(padded[:, column], self._smoothing[::-1],
                                              mode="valid")
        return smoothed.astype(np.float32)

    def _rollout_one(self, inp: PlannerInput, sequence: np.ndarray) -> np.ndarray:
        u = torch.from_numpy(sequence[None])
        x, y, yaw = costs.unicycle_rollout(inp.robot.x, inp.robot.y, inp.robot.yaw,
                                           u[:, :, 0], u[:, :, 1], self.config.dt)
        return torch.stack([x[0], y[0], yaw[0]], dim=1).double().numpy()

    def _hold(self, inp: PlannerInput, status: str, predictions) -> PlanResult:
        self._nominal[:] = 0.0
        self._nominal_time = inp.now
        self._sent.clear()
        self._track.clear()  # waiting on purpose is no stall
        trajectory = np.tile([inp.robot.x, inp.robot.y, inp.robot.yaw], (self.config.steps, 1))
        return PlanResult(Velocity2D(0.0, 0.0), trajectory, predictions, status)


def _velocities(people: tuple[TrackedObject, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(P, 2) velocities (non-finite read as 0: standing) and (P,) speeds of people."""
    velocity = np.array([[p.vx, p.vy] for p in people], dtype=float).reshape(-1, 2)
    velocity = np.where(np.isfinite(velocity), velocity, 0.0)
    return velocity, np.hypot(velocity[:, 0], velocity[:, 1])


def overtaking_us(positions: np.ndarray, velocities: np.ndarray, speeds: np.ndarray,
                  here: np.ndarray, yaw: float, our_speed: float) -> np.ndarray:
    """(P,) mask of the people walking our way, at ``our_speed`` or faster, who are behind
    us along their own way.

    Judged in their frame, not in ours: turned across the walkway, the robot has walkers
    along it "behind" it who will cross its path, not pass it; counted as overtaking, they
    were let come closer and the robot stood in their line (`crowd`, relieved all the
    way: 4 contacts in 42 episodes instead of 0). Our way is theirs within 60 deg of our
    heading. Someone slower than us is someone we are leaving behind, not passing us.
    """
    walking = speeds > MOVING_SPEED
    their_way = velocities / np.maximum(speeds, 1e-9)[:, None]
    ahead_of_them = ((here - positions) * their_way).sum(axis=1) > 0.0
    alignment = their_way @ np.array([math.cos(yaw), math.sin(yaw)])
    return (walking & ahead_of_them & (alignment > 0.5)
            & (speeds >= our_speed * alignment - MOVING_SPEED))


def without_people(points: np.ndarray, people: tuple[TrackedObject, ...],
                   margin: float) -> np.ndarray:
    """Lidar points minus the returns from tracked people (within radius + margin)."""
    if not people or len(points) == 0 or margin <= 0.0:
        return points
    centres = np.array([[p.x, p.y] for p in people])
    reach = np.array([p.radius for p in people]) + margin
    distance = np.linalg.norm(points[:, None, :] - centres[None, :, :], axis=2)
    return points[~np.any(distance <= reach[None, :], axis=1)]


def _windows(mask: np.ndarray) -> list[tuple[int, int]]:
    """Per row of a (P, T) mask, the step range [first, last + 1) where it holds."""
    windows = []
    for row in mask:
        steps = np.flatnonzero(row)
        windows.append((int(steps[0]), int(steps[-1]) + 1) if len(steps) else (0, 0))
    return windows

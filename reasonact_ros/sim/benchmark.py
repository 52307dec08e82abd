"""How much faster than real time the simulator runs (for ``reasonact bench``)."""

from __future__ import annotations

import math
import time

from reasonact_ros import scene
from reasonact_ros.sim.scenario import load_scenario
from reasonact_ros.sim.world import World


def _drive_towards_goal(world: World) -> scene.Velocity2D:
    """A plain pursuit of the final goal, enough to keep the robot moving among people."""
    pose = world.robot_pose()
    gx, gy = world.goal().final
    heading_error = math.atan2(gy - pose.y, gx - pose.x) - pose.yaw
    heading_error = math.atan2(math.sin(heading_error), math.cos(heading_error))
    return scene.Velocity2D(linear=1.0 * max(0.0, math.cos(heading_error)),
                            angular=1.5 * heading_error)


def measure_real_time_factor(scenario_name: str, seconds: float, camera: bool,
                             dt: float = 0.05, lidar_rate_hz: float | None = None,
                             camera_rate_hz: float | None = None, clock: str = "wall") -> float:
    """Simulated seconds per wall-clock second over ``seconds`` of sim time.

    Per step it does what the sim node does: command, step, ground truth; it
    scans at the lidar rate (scenario's ``lidar.rate_hz`` unless given) and, with
    ``camera``, renders at the camera rate (scenario's ``camera.rate_hz``).
    The camera's first frame (texture and ground lookup set-up) is excluded.
    ``clock='cpu'`` divides by this process's CPU time instead of wall time, which
    is steadier on a shared, busy machine (and counts every thread's work).
    """
    clocks = {"wall": time.perf_counter, "cpu": time.process_time}
    if clock not in clocks:
        raise ValueError(f"clock must be one of {sorted(clocks)}, got {clock!r}")
    now = clocks[clock]
    if not math.isfinite(seconds) or seconds <= 0.0:
        raise ValueError(f"seconds must be positive, got {seconds!r}")
    if not math.isfinite(dt) or dt <= 0.0:
        raise ValueError(f"dt must be positive, got {dt!r}")
    world = World(load_scenario(scenario_name))
    scan_period = 1.0 / (lidar_rate_hz or world.scenario.lidar.rate_hz)
    frame_period = 1.0 / (camera_rate_hz or world.scenario.camera_rate_hz)
    if camera:
        world.render_camera()  # set-up cost, paid once per episode
    next_scan, next_frame = 0.0, 0.0
    steps = max(1, int(round(seconds / dt)))
    start = now()
    for _ in range(steps):
        world.command(_drive_towards_goal(world))
        world.step(dt)
        world.ground_truth()
        if world.time >= next_scan - 1e-9:
            world.scan()
            next_scan += scan_period
        if camera and world.time >= next_frame - 1e-9:
            world.render_camera()
            next_frame += frame_period
    elapsed = now() - start
    return steps * dt / elapsed

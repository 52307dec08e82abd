"""The built-in simulator: scenarios, a world with people and a robot, sensors, rendering.

Plain Python (numpy, scipy, OpenCV, Pillow); no rclpy. The sim node wraps ``World``;
``reasonact bench`` calls ``benchmark.measure_real_time_factor``.
"""

from reasonact_ros.sim.events import EpisodeEvent
from reasonact_ros.sim.render import TopDownRecorder
from reasonact_ros.sim.replay import TrajectoryError
from reasonact_ros.sim.scenario import (
    Scenario,
    ScenarioError,
    available_scenarios,
    load_scenario,
)
from reasonact_ros.sim.world import World

__all__ = [
    "EpisodeEvent",
    "Scenario",
    "ScenarioError",
    "TopDownRecorder",
    "TrajectoryError",
    "World",
    "available_scenarios",
    "load_scenario",
]

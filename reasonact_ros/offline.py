"""The cores run once without ROS: a scenario's scene at a time, and one decision on it.

Used by `reasonact reason`.

The world runs from its start with the robot holding still (a zero command), and
perception tracks the simulated scans, so velocities are estimated the way the
running stack would estimate them; ``perceived=False`` takes the simulator's
ground truth instead.
"""

from __future__ import annotations

import math
import time

from reasonact_ros.perception.pipeline import PerceptionPipeline
from reasonact_ros.reasoning.engine import ReasoningEngine
from reasonact_ros.reasoning.validator import ActionValidator
from reasonact_ros.scene import DecisionSource, Limits, Scene, Velocity2D
from reasonact_ros.sim.scenario import Scenario
from reasonact_ros.sim.world import World

STEP_S = 0.05


def scene_at_time(scenario: Scenario, time_s: float, seed: int | None = None,
                  perceived: bool = True) -> Scene:
    if not math.isfinite(time_s) or time_s < 0.0:
        raise ValueError(f"time must be a finite number of seconds >= 0, got {time_s!r}")
    if time_s > scenario.duration_s:
        raise ValueError(f"time {time_s} s is past the scenario's {scenario.duration_s} s")
    world = World(scenario, seed=seed)
    pipeline = PerceptionPipeline(walkway=world.walkway())
    scan_period = 1.0 / scenario.lidar.rate_hz
    next_scan = 0.0
    while True:
        if perceived and world.time >= next_scan - 1e-9:
            pipeline.process_scan(world.scan(), world.time)
            next_scan += scan_period
        if world.time >= time_s - 1e-9:
            break
        world.command(Velocity2D(0.0, 0.0))
        world.step(min(STEP_S, time_s - world.time))
    if perceived:
        return pipeline.scene(world.time, world.robot_pose(), world.robot_velocity())
    return Scene(stamp=world.time, robot=world.robot_pose(),
                 robot_velocity=world.robot_velocity(), objects=world.ground_truth(),
                 walkway=world.walkway())


def decide_once(scene: Scene, instruction: str, backend: str, endpoint: str = "",
                model: str = "", timeout_s: float = 10.0, limits: Limits | None = None) -> dict:
    """One validated decision from ``backend`` (rules | llm | local) as a JSON-ready dict.

    A model answer that fails validation, or a model that fails to answer, yields the
    rules decision with ``rejected`` true and the reason; nothing unvalidated comes out.
    """
    limits = limits or Limits()
    now = scene.stamp
    with ReasoningEngine(limits) as engine:
        accepted, explanation = (engine.set_instruction(instruction) if instruction
                                 else (True, ""))
        rules = engine.step(scene, now)
        intent = engine.intent
    decision, rejected, reason, clamped, latency_ms = rules.decision, False, "", False, None
    if backend in ("llm", "local"):
        decision, rejected, reason, clamped, latency_ms = _ask_model(
            scene, intent, now, backend, endpoint, model, timeout_s, limits, rules.decision)
    elif backend != "rules":
        raise ValueError(f"backend must be rules, llm or local, got {backend!r}")
    return {
        "behavior": decision.behavior.name,
        "max_speed": decision.max_speed,
        "min_clearance": decision.min_clearance,
        "target_id": decision.target_id,
        "source": decision.source.name.lower(),
        "rationale": decision.rationale,
        "rejected": rejected,
        "rejection_reason": reason if rejected else "",
        "clamped": clamped,
        "latency_ms": latency_ms,
        "scene_text": rules.scene_text,
        "instruction_accepted": accepted,
        "instruction_explanation": explanation,
    }


def _ask_model(scene, intent, now, backend, endpoint, model, timeout_s, limits, rules_decision):
    from contextlib import nullcontext

    from reasonact_ros.reasoning.llm import LLMError, LLMPolicy
    from reasonact_ros.reasoning.local_server import LocalLlamaServer

    source = DecisionSource.LOCAL if backend == "local" else DecisionSource.LLM
    server = LocalLlamaServer() if backend == "local" else nullcontext()
    with server as running:
        url = running.endpoint if backend == "local" else endpoint
        policy = LLMPolicy(url, model=model, timeout_s=timeout_s)
        started = time.perf_counter()
        try:
            action = policy.propose(scene, intent, now)
        except LLMError as error:
            kind = getattr(error, "kind", type(error).__name__)
            return rules_decision, True, f"{kind}: {error}", False, None
        latency_ms = (time.perf_counter() - started) * 1000.0
    result = ActionValidator(limits).validate(action, scene, intent, now, source,
                                              lambda: rules_decision)
    return result.decision, result.rejected, result.reason, result.clamped, latency_ms

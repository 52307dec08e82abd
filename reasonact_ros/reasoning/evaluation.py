"""A labelled evaluation set for behaviour decisions, and the function that scores a policy.

Cases are ``scene + instruction → set of acceptable behaviours``. Most are
generated from parameterised scene templates (``TEMPLATES``: people's
positions and velocities, a walkway or none), seeded so the set is the same on
every machine, and written to ``config/reasoning/eval_cases.yaml``; a few are
written by hand in ``config/reasoning/eval_cases_hand.yaml``. The labels come
from what each template *means* (someone crossing close in front: yield or
stop), not from what the rules happen to answer, and parameters stay away from
the rules' thresholds so a label is not a coin toss.

Regenerate the file and score a back-end::

    python -m reasonact_ros.reasoning.evaluation --write
    python -m reasonact_ros.reasoning.evaluation --policy rules
    python -m reasonact_ros.reasoning.evaluation --policy local --limit 30
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from reasonact_ros.reasoning.engine import ReasoningEngine
from reasonact_ros.reasoning.intent import (
    CONFIG_DIR,
    InstructionGrounder,
    InstructionRefused,
    Intent,
    load_places,
)
from reasonact_ros.reasoning.policy import Policy
from reasonact_ros.reasoning.validator import ActionValidator
from reasonact_ros.scene import (
    Behavior,
    DecisionSource,
    Limits,
    ObjectClass,
    Pose2D,
    Scene,
    SensorHealth,
    TrackedObject,
    Velocity2D,
    Walkway,
    default_decision,
)

GENERATED_CASES = CONFIG_DIR / "eval_cases.yaml"
HAND_CASES = CONFIG_DIR / "eval_cases_hand.yaml"
SEED = 20261128
ROBOT_CRUISE_MPS = 0.8

# --- scenes from case dictionaries ---------------------------------------------------------


def scene_from_case(case: Mapping[str, Any]) -> Scene:
    """The robot at the origin facing +x; a straight walkway along x when one is given."""
    robot = case.get("robot", {}) or {}
    walkway = None
    if case.get("walkway"):
        half = float(case["walkway"].get("half_width", 1.5))
        offset = float(case["walkway"].get("offset", 0.0))
        walkway = Walkway(left=np.array([[-10.0, offset + half], [40.0, offset + half]]),
                          right=np.array([[-10.0, offset - half], [40.0, offset - half]]))
    objects = tuple(
        TrackedObject(
            id=int(o["id"]),
            label=ObjectClass[str(o.get("label", "pedestrian")).upper()],
            x=float(o["x"]), y=float(o["y"]),
            vx=float(o.get("vx", 0.0)), vy=float(o.get("vy", 0.0)),
            radius=float(o.get("radius", 0.3)),
        )
        for o in case.get("objects", ()))
    health = SensorHealth(**case["health"]) if case.get("health") else SensorHealth()
    return Scene(stamp=0.0, robot=Pose2D(0.0, 0.0, float(robot.get("yaw", 0.0))),
                 robot_velocity=Velocity2D(float(robot.get("speed", ROBOT_CRUISE_MPS)), 0.0),
                 objects=objects, walkway=walkway, health=health)


# --- templates -----------------------------------------------------------------------------


def _r(value: float) -> float:
    return round(float(value), 2)


def _person(object_id: int, x: float, y: float, vx: float = 0.0, vy: float = 0.0,
            label: str = "pedestrian") -> dict:
    return {"id": object_id, "label": label, "x": _r(x), "y": _r(y), "vx": _r(vx), "vy": _r(vy)}


def _case(name: str, objects: list[dict], expected: Iterable[str], instruction: str = "",
          walkway: bool = True, health: dict | None = None, speed: float = ROBOT_CRUISE_MPS,
          note: str = "") -> dict:
    case = {
        "name": name,
        "instruction": instruction,
        "robot": {"speed": _r(speed)},
        "walkway": {"half_width": 1.5} if walkway else None,
        "objects": objects,
        "expected": sorted(set(expected)),
    }
    if health:
        case["health"] = health
    if note:
        case["note"] = note
    return case


def _empty(rng: random.Random, i: int) -> dict:
    walkway = i % 2 == 0
    instruction = rng.choice(["", "", "follow the walkway" if walkway else "", "go to the lab"])
    expected = {"FOLLOW_WALKWAY", "PROCEED"} if walkway else {"PROCEED"}
    if instruction == "follow the walkway":
        expected = {"FOLLOW_WALKWAY"}
    return _case(f"empty_{i}", [], expected, instruction, walkway,
                 note="nothing around: drive on")


def _approaching(rng: random.Random, i: int) -> dict:
    distance = rng.uniform(3.5, 7.5)
    lateral = rng.uniform(-0.2, 0.6)
    speed = rng.uniform(0.8, 1.4)
    instruction = rng.choice(["", "", "", "keep left", "go slowly"])
    expected = {"PASS_LEFT", "SLOW"} if instruction == "keep left" else {"PASS_RIGHT", "SLOW"}
    return _case(f"approaching_{i}", [_person(1, distance, lateral, -speed, 0.0)], expected,
                 instruction, note="a person walks towards us in our lane: keep right, slow")


def _approaching_on_our_right(rng: random.Random, i: int) -> dict:
    distance = rng.uniform(4.0, 7.5)
    lateral = -rng.uniform(0.8, 1.2)
    return _case(f"approaching_right_{i}", [_person(1, distance, lateral, -1.1, 0.0)],
                 {"PASS_LEFT", "SLOW"},
                 note="oncoming person already on our right: pass on the left")


def _crossing_soon(rng: random.Random, i: int) -> dict:
    forward = rng.uniform(2.5, 5.5)
    side = rng.choice([1.0, -1.0])
    lateral = side * rng.uniform(1.5, 3.0)
    speed = rng.uniform(0.9, 1.5)
    return _case(f"crossing_{i}", [_person(1, forward, lateral, 0.0, -side * speed)],
                 {"YIELD", "STOP", "SLOW"},
                 note="someone will walk across our lane in a few seconds")


def _crossing_imminent(rng: random.Random, i: int) -> dict:
    forward = rng.uniform(1.3, 2.5)
    side = rng.choice([1.0, -1.0])
    lateral = side * rng.uniform(1.2, 1.7)
    return _case(f"crossing_imminent_{i}", [_person(1, forward, lateral, 0.0, -side * 1.2)],
                 {"STOP", "YIELD"}, note="someone steps across right in front of us")


def _crossing_passed(rng: random.Random, i: int) -> dict:
    forward = rng.uniform(3.0, 6.0)
    side = rng.choice([1.0, -1.0])
    lateral = side * rng.uniform(1.6, 3.0)
    return _case(f"crossing_done_{i}", [_person(1, forward, lateral, 0.0, side * 1.2)],
                 {"FOLLOW_WALKWAY", "PROCEED", "SLOW"},
                 note="a crosser already past our lane, walking away from it")


def _standing_in_lane(rng: random.Random, i: int) -> dict:
    forward = rng.uniform(2.5, 5.5)
    lateral = rng.choice([rng.uniform(0.3, 0.6), -rng.uniform(0.3, 0.6), rng.uniform(-0.1, 0.1)])
    if lateral > 0.2:
        expected = {"PASS_RIGHT", "SLOW"}
    elif lateral < -0.2:
        expected = {"PASS_LEFT", "SLOW"}
    else:
        expected = {"PASS_LEFT", "PASS_RIGHT", "SLOW"}
    return _case(f"standing_{i}", [_person(1, forward, lateral)], expected,
                 note="someone stands in our lane: go around on the side with room")


def _close_in_front(rng: random.Random, i: int) -> dict:
    forward = rng.uniform(0.5, 0.9)
    lateral = rng.uniform(-0.3, 0.3)
    vx = rng.choice([0.0, -0.3, 0.3])
    return _case(f"close_{i}", [_person(1, forward, lateral, vx, 0.0)], {"STOP"},
                 rng.choice(["", "", "go to the kitchen quickly"]),
                 note="someone within a metre in front of us: stop")


def _running_child(rng: random.Random, i: int) -> dict:
    forward = rng.uniform(3.0, 6.5)
    side = rng.choice([1.0, -1.0])
    lateral = side * rng.uniform(2.0, 4.0)
    speed = rng.uniform(2.5, 3.5)
    obj = _person(1, forward, lateral, 0.0, -side * speed)
    obj["radius"] = 0.2
    return _case(f"running_child_{i}", [obj], {"STOP", "YIELD"},
                 note="a child runs towards our path")


def _crowd(rng: random.Random, i: int) -> dict:
    count = rng.randint(4, 8)
    people = []
    for k in range(count):
        people.append(_person(k + 1, rng.uniform(2.5, 5.5), rng.uniform(-1.3, 1.3),
                              rng.uniform(-0.1, 0.1), rng.uniform(-0.1, 0.1)))
    return _case(f"crowd_{i}", people, {"SLOW", "STOP", "YIELD"},
                 note="a group of people ahead")


def _same_direction(rng: random.Random, i: int) -> dict:
    forward = rng.uniform(2.5, 5.0)
    lateral = rng.uniform(-0.4, 0.4)
    speed = rng.uniform(0.3, 0.6)
    return _case(f"same_direction_{i}", [_person(1, forward, lateral, speed, 0.0)],
                 {"PASS_LEFT", "SLOW"}, note="a slower walker ahead of us: overtake or follow")


def _far_away(rng: random.Random, i: int) -> dict:
    forward = rng.uniform(11.0, 18.0)
    return _case(f"far_{i}", [_person(1, forward, rng.uniform(-0.5, 0.5), -1.0, 0.0)],
                 {"FOLLOW_WALKWAY", "PROCEED", "SLOW"},
                 note="someone far ahead: nothing to do yet")


def _beside_off_walkway(rng: random.Random, i: int) -> dict:
    side = rng.choice([1.0, -1.0])
    return _case(f"off_walkway_{i}", [_person(1, rng.uniform(2.0, 6.0),
                                              side * rng.uniform(2.6, 4.0))],
                 {"FOLLOW_WALKWAY", "PROCEED"},
                 note="someone standing well off the walkway")


def _obstacle(rng: random.Random, i: int) -> dict:
    forward = rng.uniform(2.5, 5.0)
    lateral = rng.choice([rng.uniform(0.35, 0.6), -rng.uniform(0.35, 0.6)])
    expected = {"PASS_RIGHT", "SLOW"} if lateral > 0 else {"PASS_LEFT", "SLOW"}
    return _case(f"obstacle_{i}", [_person(1, forward, lateral, label="obstacle")], expected,
                 walkway=rng.random() < 0.5, note="a box in our lane")


def _wait(rng: random.Random, i: int) -> dict:
    objects = rng.choice([[], [_person(1, 6.0, 0.2, -1.0, 0.0)], [_person(1, 5.0, 2.5)]])
    return _case(f"wait_{i}", objects, {"STOP"},
                 rng.choice(["wait here", "stop and wait", "hold on", "please pause"]),
                 note="the operator said wait")


def _behind(rng: random.Random, i: int) -> dict:
    return _case(f"behind_{i}", [_person(1, -rng.uniform(2.0, 5.0), rng.uniform(-0.5, 0.5),
                                         -1.0, 0.0)],
                 {"FOLLOW_WALKWAY", "PROCEED"}, note="someone behind us walking away")


def _sensor_trouble(rng: random.Random, i: int) -> dict:
    health = rng.choice([{"scan_ok": False}, {"camera_ok": False}, {"odom_ok": False}])
    return _case(f"sensor_{i}", [], {"SLOW", "STOP"}, health=health,
                 note="a sensor is stale: be careful")


def _beside_close(rng: random.Random, i: int) -> dict:
    side = rng.choice([1.0, -1.0])
    return _case(f"beside_{i}", [_person(1, rng.uniform(0.2, 0.8),
                                         side * rng.uniform(1.2, 1.5))],
                 {"SLOW", "STOP"}, note="someone standing right next to us")


TEMPLATES: dict[str, tuple[Callable[[random.Random, int], dict], int]] = {
    "empty": (_empty, 14),
    "approaching": (_approaching, 24),
    "approaching_right": (_approaching_on_our_right, 10),
    "crossing": (_crossing_soon, 20),
    "crossing_imminent": (_crossing_imminent, 12),
    "crossing_done": (_crossing_passed, 10),
    "standing": (_standing_in_lane, 18),
    "close": (_close_in_front, 12),
    "running_child": (_running_child, 12),
    "crowd": (_crowd, 12),
    "same_direction": (_same_direction, 12),
    "far": (_far_away, 8),
    "off_walkway": (_beside_off_walkway, 8),
    "obstacle": (_obstacle, 12),
    "wait": (_wait, 10),
    "behind": (_behind, 6),
    "sensor": (_sensor_trouble, 6),
    "beside": (_beside_close, 8),
}


def build_template_cases(seed: int = SEED) -> list[dict]:
    rng = random.Random(seed)
    cases = []
    for template, (make, count) in TEMPLATES.items():
        for i in range(count):
            case = make(rng, i)
            case["template"] = template
            cases.append(case)
    return cases


def write_eval_cases(path: Path = GENERATED_CASES, seed: int = SEED) -> list[dict]:
    cases = build_template_cases(seed)
    header = ("# Generated by `python -m reasonact_ros.reasoning.evaluation --write` "
              f"(seed {seed}).\n# Do not edit by hand: add hand-written cases to "
              "eval_cases_hand.yaml instead.\n")
    with open(path, "w", encoding="utf-8") as stream:
        stream.write(header)
        yaml.safe_dump({"cases": cases}, stream, sort_keys=False, width=99,
                       default_flow_style=None)
    return cases


def load_eval_cases(paths: Sequence[Path] | None = None) -> list[dict]:
    cases = []
    for path in paths or (GENERATED_CASES, HAND_CASES):
        with open(path, encoding="utf-8") as stream:
            loaded = yaml.safe_load(stream)["cases"]
        for case in loaded:
            case.setdefault("template", "hand")
            unknown = set(case["expected"]) - set(Behavior.__members__)
            if unknown:
                raise ValueError(f"case {case['name']}: unknown behaviours {unknown}")
        cases.extend(loaded)
    return cases


# --- scoring -------------------------------------------------------------------------------


def _percentile(samples: Sequence[float], q: float) -> float:
    return float(np.percentile(samples, q)) if samples else math.nan


def evaluate(policy_or_engine: Policy | ReasoningEngine, cases: Sequence[Mapping],
             limits: Limits | None = None, grounder: InstructionGrounder | None = None,
             progress: Callable[[int, Mapping, str], None] | None = None) -> dict:
    """Accuracy (the decided behaviour is in the case's acceptable set) and latency.

    A Policy is asked directly and its action validated; a rejected or failed
    answer counts as wrong (``accuracy``) and is also scored with the rules-free
    conservative fallback in ``accuracy_with_fallback``. A ReasoningEngine is
    scored on what ``step`` returns at once (rules, or a model answer only if one
    is already fresh), which is what the planner sees. ``progress(index, case,
    outcome)`` is told each case's behaviour, or why there is none.
    """
    limits = limits or getattr(policy_or_engine, "limits", None) or Limits()
    grounder = grounder or InstructionGrounder(load_places(), limits)
    validator = ActionValidator(limits)
    correct = correct_with_fallback = rejections = 0
    errors: Counter = Counter()
    latencies: list[float] = []
    by_template: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    confusion: Counter = Counter()
    failures = []
    is_engine = isinstance(policy_or_engine, ReasoningEngine)
    source = getattr(policy_or_engine, "source", DecisionSource.RULES)
    for index, case in enumerate(cases):
        scene = scene_from_case(case)
        intent: Intent | None = None
        instruction = case.get("instruction") or ""
        now = float(index) * 100.0
        if is_engine:
            policy_or_engine.clear_instruction()
            if instruction:
                policy_or_engine.set_instruction(instruction)
        elif instruction:
            try:
                intent = grounder.ground(instruction)
            except InstructionRefused:
                intent = None
        started = time.perf_counter()
        behavior, rejected, outcome = None, False, ""
        try:
            if is_engine:
                behavior = policy_or_engine.step(scene, now).decision.behavior.name
            else:
                action = policy_or_engine.propose(scene, intent, now)
                result = validator.validate(action, scene, intent, now, source,
                                            lambda now=now: default_decision(now, limits))
                rejected = result.rejected
                behavior = None if rejected else result.decision.behavior.name
                outcome = result.reason if rejected else behavior
        except Exception as error:  # noqa: BLE001 - a failed answer is scored, not fatal
            kind = getattr(error, "kind", type(error).__name__)
            errors[kind] += 1
            outcome = f"error {kind}: {error}"
        latencies.append((time.perf_counter() - started) * 1000.0)
        rejections += int(rejected)
        expected = set(case["expected"])
        hit = behavior in expected
        fallback_behavior = behavior or default_decision(now, limits).behavior.name
        correct += int(hit)
        correct_with_fallback += int(fallback_behavior in expected)
        stats = by_template[case.get("template", "hand")]
        stats[0] += int(hit)
        stats[1] += 1
        confusion[(case.get("template", "hand"), behavior or "none")] += 1
        if not hit:
            failures.append({"name": case["name"], "got": outcome or behavior,
                             "expected": sorted(expected)})
        if progress is not None:
            progress(index, case, outcome or str(behavior))
    n = len(cases)
    return {
        "cases": n,
        "accuracy": correct / n if n else math.nan,
        "accuracy_with_fallback": correct_with_fallback / n if n else math.nan,
        "latency_ms_p50": _percentile(latencies, 50),
        "latency_ms_p95": _percentile(latencies, 95),
        "rejections": rejections,
        "errors": dict(errors),
        "by_template": {k: round(v[0] / v[1], 3) for k, v in sorted(by_template.items())},
        "behaviours": {f"{t}:{b}": c for (t, b), c in sorted(confusion.items())},
        "failures": failures,
    }


def stratified_subset(cases: Sequence[Mapping], limit: int, seed: int = SEED) -> list:
    """Up to ``limit`` cases spread over all templates (round-robin), for slow back-ends."""
    rng = random.Random(seed)
    groups: dict[str, list] = defaultdict(list)
    for case in cases:
        groups[case.get("template", "hand")].append(case)
    for group in groups.values():
        rng.shuffle(group)
    chosen: list = []
    while len(chosen) < limit and any(groups.values()):
        for name in sorted(groups):
            if groups[name] and len(chosen) < limit:
                chosen.append(groups[name].pop())
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="regenerate eval_cases.yaml")
    parser.add_argument("--policy", choices=("rules", "local", "http"), default=None)
    parser.add_argument("--endpoint", default="", help="OpenAI-compatible URL for --policy http")
    parser.add_argument("--model", default="")
    parser.add_argument("--limit", type=int, default=0, help="score a stratified subset")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    if args.write:
        print(f"wrote {len(write_eval_cases())} cases to {GENERATED_CASES}")
    if args.policy is None:
        return 0
    cases = load_eval_cases()
    if args.limit:
        cases = stratified_subset(cases, args.limit)
    limits = Limits()
    if args.policy == "rules":
        from reasonact_ros.reasoning.policy import RulesPolicy

        report = evaluate(RulesPolicy(limits), cases, limits)
    else:
        from reasonact_ros.reasoning.llm import LLMPolicy

        def show(index, case, behavior):
            print(f"{index + 1}/{len(cases)} {case['name']}: {behavior} "
                  f"(expected {case['expected']})", file=sys.stderr, flush=True)

        if args.policy == "local":
            from reasonact_ros.reasoning.local_server import LocalLlamaServer

            with LocalLlamaServer() as server:
                policy = LLMPolicy(server.endpoint, timeout_s=args.timeout, limits=limits,
                                   source=DecisionSource.LOCAL)
                # The first call evaluates the few-shot prefix (~870 tokens); time it apart.
                started = time.perf_counter()
                policy.propose(scene_from_case({"objects": []}), None, 0.0)
                warmup_ms = (time.perf_counter() - started) * 1000.0
                report = evaluate(policy, cases, limits, progress=show)
                report["warmup_ms"] = warmup_ms
        else:
            policy = LLMPolicy(args.endpoint, model=args.model, timeout_s=args.timeout,
                               limits=limits)
            report = evaluate(policy, cases, limits, progress=show)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The action validator: nothing a policy says leaves it above the limits."""

import math
import random

import pytest

from reasonact_ros.reasoning.intent import Intent
from reasonact_ros.reasoning.validator import ActionValidator
from reasonact_ros.scene import (
    Behavior,
    DecisionSource,
    Limits,
    ObjectClass,
    Pose2D,
    Scene,
    TrackedObject,
    default_decision,
)

LIMITS = Limits(max_linear_speed=1.2, min_person_clearance=0.6, max_person_clearance=2.5)
SCENE = Scene(stamp=0.0, robot=Pose2D(), objects=(
    TrackedObject(7, ObjectClass.PEDESTRIAN, 3.0, 0.0, -1.0, 0.0),
    TrackedObject(9, ObjectClass.OBSTACLE, 5.0, 1.0),
))
NOW = 10.0


def fallback():
    return default_decision(NOW, LIMITS, rationale="fallback")


def validate(action, intent=None, limits=LIMITS):
    return ActionValidator(limits, validity_s=1.0).validate(
        action, SCENE, intent, NOW, DecisionSource.LLM, fallback)


def test_good_action_is_used_as_given():
    result = validate({"behavior": "pass_right", "max_speed": 0.6, "min_clearance": 1.2,
                       "target_id": 7, "thought": "keep right"})
    assert not result.rejected and not result.clamped and result.reason == ""
    d = result.decision
    assert (d.behavior, d.max_speed, d.min_clearance, d.target_id) == (
        Behavior.PASS_RIGHT, 0.6, 1.2, 7)
    assert d.source == DecisionSource.LLM and d.valid_until == NOW + 1.0
    assert d.rationale == "keep right"


@pytest.mark.parametrize("action, why", [
    ({"behavior": "FLY", "max_speed": 0.5, "min_clearance": 1.0}, "unknown behavior"),
    ({"behavior": 3, "max_speed": 0.5, "min_clearance": 1.0}, "behavior must be a string"),
    ({"behavior": "SLOW", "max_speed": float("nan"), "min_clearance": 1.0}, "finite"),
    ({"behavior": "SLOW", "max_speed": "0.5", "min_clearance": 1.0}, "must be a number"),
    ({"behavior": "SLOW", "max_speed": True, "min_clearance": 1.0}, "must be a number"),
    ({"behavior": "SLOW", "max_speed": 0.5}, "missing keys: min_clearance"),
    ({"behavior": "SLOW", "max_speed": 0.5, "min_clearance": 1.0, "speed_boost": 3},
     "unknown keys: speed_boost"),
    ({"behavior": "SLOW", "max_speed": 0.5, "min_clearance": 1.0, "target_id": 42},
     "not in the scene"),
    ({"behavior": "SLOW", "max_speed": 0.5, "min_clearance": 1.0, "target_id": 7.5},
     "target_id must be an integer"),
    ({"behavior": "SLOW", "max_speed": 0.5, "min_clearance": 1.0, "thought": ["x"]},
     "thought must be a string"),
    ("PROCEED at full speed", "must be a JSON object"),
    (None, "must be a JSON object"),
])
def test_malformed_actions_are_rejected_and_replaced_by_the_fallback(action, why):
    result = validate(action)
    assert result.rejected and why in result.reason
    assert result.decision.source == DecisionSource.FALLBACK
    assert result.decision.rationale.startswith("rejected:")


def test_out_of_range_numbers_are_clamped_to_limits_and_intent():
    intent = Intent(max_speed=0.8, min_distance=1.5)
    result = validate({"behavior": "PROCEED", "max_speed": 9.0, "min_clearance": 0.1}, intent)
    assert result.clamped and not result.rejected
    assert result.decision.max_speed == 0.8
    assert result.decision.min_clearance == 1.5
    # The instruction's distance is the floor no planner relief goes below.
    assert result.decision.clearance_floor == 1.5
    plain = validate({"behavior": "PROCEED", "max_speed": 1.0, "min_clearance": 1.2})
    assert plain.decision.clearance_floor == LIMITS.min_person_clearance
    high = validate({"behavior": "SLOW", "max_speed": -1.0, "min_clearance": 99.0})
    assert high.decision.max_speed == 0.0 and high.decision.min_clearance == 2.5


def test_stop_has_zero_speed_and_waiting_turns_moving_into_stop():
    stop = validate({"behavior": "STOP", "max_speed": 1.0, "min_clearance": 1.0})
    assert stop.decision.max_speed == 0.0 and stop.clamped
    waiting = validate({"behavior": "PROCEED", "max_speed": 1.0, "min_clearance": 1.0},
                       Intent(wait=True))
    assert waiting.decision.behavior == Behavior.STOP and waiting.decision.max_speed == 0.0


def test_text_is_cleaned_and_cut():
    result = validate({"behavior": "SLOW", "max_speed": 0.5, "min_clearance": 1.0,
                       "thought": "a\x00b\x1b[31m" + "x" * 1000})
    assert not result.rejected
    assert len(result.decision.rationale) <= 300
    assert "\x00" not in result.decision.rationale and "\x1b" not in result.decision.rationale


def _hostile_value(rng: random.Random):
    if rng.random() < 0.8:  # mostly well-typed numbers, in and out of range
        return rng.choice([rng.uniform(0.0, 1.0), rng.uniform(0.5, 2.0), rng.uniform(-3, 5)])
    return rng.choice([
        float("nan"), float("inf"), -float("inf"), 1e308, -1e308, 3.0, -5.0, 0.0, 0.7,
        rng.uniform(-100, 100), rng.randint(-10**6, 10**6), True, None, "1.0", "NaN",
        [1.0], {"x": 1}, 10**400, rng.random(), 2**63,
    ])


def _random_action(rng: random.Random):
    if rng.random() < 0.05:
        return rng.choice([None, 42, "STOP", [], ["behavior", "STOP"], b"{}", 1.5])
    names = [b.name for b in Behavior]
    behavior = rng.choice(names * 3 + [n.lower() for n in names] + [
        "TELEPORT", "", " proceed ", "Pass-Left", "DROP TABLE", None, 5, "STOP\x00"])
    action = {"behavior": behavior, "max_speed": _hostile_value(rng),
              "min_clearance": _hostile_value(rng)}
    if rng.random() < 0.5:
        action["target_id"] = rng.choice([-1, 7, 9, -1, 7, 9, 8, 7.0, "7", None, 10**30, True])
    if rng.random() < 0.3:
        action["thought"] = rng.choice(["ok", "\x00" * 50, "ignore limits " * 100, "go", 5])
    if rng.random() < 0.1:
        action[rng.choice(["speed", "override_limits", "max_speed_override"])] = 3.0
    if rng.random() < 0.1:
        del action[rng.choice(["behavior", "max_speed", "min_clearance"])]
    return action


def test_fuzz_every_result_is_within_limits_or_rejected():
    rng = random.Random(20261128)
    validator = ActionValidator(LIMITS, validity_s=1.0)
    counts = {"accepted": 0, "clamped": 0, "rejected": 0}
    for i in range(3000):
        intent = rng.choice([None, Intent(max_speed=0.5), Intent(min_distance=2.0),
                             Intent(wait=True), Intent(max_speed=0.9, min_distance=1.0)])
        result = validator.validate(_random_action(rng), SCENE, intent, NOW + i,
                                    DecisionSource.LLM,
                                    lambda i=i: default_decision(NOW + i, LIMITS))
        d = result.decision
        counts["rejected" if result.rejected else "clamped" if result.clamped
               else "accepted"] += 1
        assert isinstance(d.behavior, Behavior)
        assert math.isfinite(d.max_speed) and 0.0 <= d.max_speed <= LIMITS.max_linear_speed
        assert LIMITS.min_person_clearance <= d.min_clearance <= LIMITS.max_person_clearance
        assert d.target_id == -1 or SCENE.find(d.target_id) is not None
        if not result.rejected:
            if intent is not None and intent.max_speed is not None:
                assert d.max_speed <= intent.max_speed
            if intent is not None and intent.min_distance is not None:
                assert d.min_clearance >= intent.min_distance
            if intent is not None and intent.wait:
                assert d.behavior == Behavior.STOP
            if d.behavior == Behavior.STOP:
                assert d.max_speed == 0.0
    # The fuzz must exercise all three outcomes, or it proves little.
    assert all(n > 50 for n in counts.values()), counts

"""The gate between any policy (rules, a language model) and the planner.

Every action is checked before it becomes a ``Decision``. The policy:

Rejected (the action is dropped; the caller's fallback decision is used and the
reason reported):
- not a JSON object (mapping), or an unknown key, or a required key missing
  (``behavior``, ``max_speed``, ``min_clearance``);
- ``behavior`` not a string naming a ``Behavior`` member (case-insensitive);
- a number that is not an int/float (strings, bools, None, lists) or not finite;
- ``target_id`` not an integer, or naming an object not in the current scene
  (``-1`` means no target);
- ``thought``/``rationale`` not a string (long or control-character text is cut and
  cleaned without counting as a clamp).

Clamped (the action is used with the value bounded, ``clamped=True``):
- ``max_speed`` into ``[0, min(Limits.max_linear_speed, intent.max_speed)]``;
  STOP always gets 0;
- ``min_clearance`` into ``[max(min_person_clearance, intent.min_distance),
  max_person_clearance]``;
- while the operator asked to wait, any moving behaviour becomes STOP;

Out-of-range numbers are clamped rather than rejected because they carry a
usable, safe intention ("go slowly", "much room"); malformed values carry none.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from reasonact_ros.reasoning.intent import Intent
from reasonact_ros.scene import NO_TARGET, Behavior, Decision, DecisionSource, Limits, Scene

REQUIRED_KEYS = frozenset({"behavior", "max_speed", "min_clearance"})
OPTIONAL_KEYS = frozenset({"target_id", "thought", "rationale"})
ALLOWED_KEYS = REQUIRED_KEYS | OPTIONAL_KEYS
MAX_TEXT_CHARS = 300
MOVING_WHILE_WAITING = frozenset(Behavior) - {Behavior.STOP}


@dataclass(frozen=True)
class ValidationResult:
    decision: Decision
    rejected: bool
    clamped: bool
    reason: str  # empty when the action was used exactly as given


class InvalidActionError(ValueError):
    pass


def clean_text(value: str, limit: int = MAX_TEXT_CHARS) -> str:
    """Printable, single-line, at most ``limit`` characters."""
    printable = "".join(c if c.isprintable() else " " for c in value)
    return " ".join(printable.split())[:limit]


def parse_behavior(value: Any) -> Behavior:
    if isinstance(value, Behavior):
        return value
    if not isinstance(value, str):
        raise InvalidActionError(f"behavior must be a string, got {type(value).__name__}")
    name = value.strip().upper().replace("-", "_").replace(" ", "_")
    if name not in Behavior.__members__:
        raise InvalidActionError(f"unknown behavior {clean_text(value, 40)!r}")
    return Behavior[name]


def parse_number(key: str, value: Any) -> float:
    # bool is an int in Python, but "max_speed": true is not a speed.
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidActionError(f"{key} must be a number, got {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:  # a JSON integer with 400 digits
        raise InvalidActionError(f"{key} is too large") from None
    if not math.isfinite(number):
        raise InvalidActionError(f"{key} must be finite, got {number!r}")
    return number


def parse_target(value: Any, scene: Scene) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        # 7.0 from a JSON parser is fine; 7.5 is not an id.
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        else:
            raise InvalidActionError(f"target_id must be an integer, got {type(value).__name__}")
    target = int(value)
    if target != NO_TARGET and scene.find(target) is None:
        raise InvalidActionError(f"target_id {target} is not in the scene")
    return target


def action_from_decision(decision: Decision) -> dict:
    return {"behavior": decision.behavior.name, "max_speed": decision.max_speed,
            "min_clearance": decision.min_clearance, "target_id": decision.target_id,
            "rationale": decision.rationale}


class ActionValidator:
    """Checks and bounds actions; see the module docstring for clamp vs reject."""

    def __init__(self, limits: Limits, validity_s: float = 1.0):
        if not math.isfinite(validity_s) or validity_s <= 0.0:
            raise ValueError(f"validity_s must be finite and > 0, got {validity_s!r}")
        self.limits = limits
        self.validity_s = validity_s

    def speed_cap(self, intent: Intent | None) -> float:
        cap = self.limits.max_linear_speed
        if intent is not None and intent.max_speed is not None and math.isfinite(
                intent.max_speed):
            cap = min(cap, max(0.0, intent.max_speed))
        return cap

    def clearance_range(self, intent: Intent | None) -> tuple[float, float]:
        low, high = self.limits.min_person_clearance, self.limits.max_person_clearance
        if intent is not None and intent.min_distance is not None and math.isfinite(
                intent.min_distance):
            low = min(max(low, intent.min_distance), high)
        return low, high

    def validate(self, action: Mapping | Any, scene: Scene, intent: Intent | None, now: float,
                 source: DecisionSource, fallback: Callable[[], Decision]) -> ValidationResult:
        if isinstance(action, Decision):
            action = action_from_decision(action)
        try:
            decision, clamp_notes = self._check(action, scene, intent, now, source)
        except InvalidActionError as error:
            reason = f"rejected: {error}"
            replacement = fallback()
            rationale = clean_text(f"{reason}; {replacement.rationale}")
            return ValidationResult(dataclasses.replace(replacement, rationale=rationale),
                                    rejected=True, clamped=False, reason=reason)
        reason = ("clamped: " + "; ".join(clamp_notes)) if clamp_notes else ""
        return ValidationResult(decision, rejected=False, clamped=bool(clamp_notes),
                                reason=reason)

    def _check(self, action: Any, scene: Scene, intent: Intent | None, now: float,
               source: DecisionSource) -> tuple[Decision, list[str]]:
        if not isinstance(action, Mapping):
            raise InvalidActionError(f"action must be a JSON object, got {type(action).__name__}")
        keys = set()
        for key in action:
            if not isinstance(key, str):
                raise InvalidActionError("action keys must be strings")
            keys.add(key)
        unknown = keys - ALLOWED_KEYS
        if unknown:
            shown = ", ".join(sorted(clean_text(k, 30) for k in unknown)[:5])
            raise InvalidActionError(f"unknown keys: {shown}")
        missing = REQUIRED_KEYS - keys
        if missing:
            raise InvalidActionError(f"missing keys: {', '.join(sorted(missing))}")

        behavior = parse_behavior(action["behavior"])
        speed = parse_number("max_speed", action["max_speed"])
        clearance = parse_number("min_clearance", action["min_clearance"])
        target = parse_target(action.get("target_id", NO_TARGET), scene)
        texts = []
        for key in ("thought", "rationale"):
            value = action.get(key, "")
            if not isinstance(value, str):
                raise InvalidActionError(f"{key} must be a string, got {type(value).__name__}")
            if value:
                texts.append(value)
        if not math.isfinite(now):
            raise InvalidActionError(f"clock time must be finite, got {now!r}")

        notes = []
        if intent is not None and intent.wait and behavior in MOVING_WHILE_WAITING:
            notes.append(f"{behavior.name} → STOP while waiting as instructed")
            behavior = Behavior.STOP
        cap = 0.0 if behavior == Behavior.STOP else self.speed_cap(intent)
        bounded_speed = min(max(speed, 0.0), cap)
        if bounded_speed != speed:
            notes.append(f"max_speed {speed:.3g} → {bounded_speed:.3g}")
        low, high = self.clearance_range(intent)
        bounded_clearance = min(max(clearance, low), high)
        if bounded_clearance != clearance:
            notes.append(f"min_clearance {clearance:.3g} → {bounded_clearance:.3g}")
        rationale = clean_text(" ".join(texts))  # cleaning text is not a safety clamp

        decision = Decision(
            behavior=behavior,
            max_speed=bounded_speed,
            min_clearance=bounded_clearance,
            clearance_floor=low,
            valid_until=now + self.validity_s,
            source=source,
            target_id=target,
            rationale=rationale,
            stamp=now,
        )
        return decision, notes

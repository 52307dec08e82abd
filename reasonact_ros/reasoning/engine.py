"""The ReAct loop the reasoning node runs: thought → action → observation, never blocking.

Every ``step`` returns at once with a decision. The rules decide first, always.
When a language-model policy is configured, one call at a time runs in a
background thread; its answer is validated when it arrives and again against
each newer scene, and is used while it is fresh (``validity_s`` from the scene
it was asked about). A STOP from the rules always wins: a model may choose how
to pass someone, never whether to stop for someone in front of us.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from reasonact_ros.reasoning.facts import describe_scene, scene_facts
from reasonact_ros.reasoning.intent import (
    InstructionGrounder,
    InstructionRefused,
    Intent,
    load_places,
)
from reasonact_ros.reasoning.policy import Policy, RulesPolicy
from reasonact_ros.reasoning.validator import ActionValidator, ValidationResult
from reasonact_ros.scene import Behavior, Decision, DecisionSource, Limits, Scene, default_decision

LATENCY_SAMPLES = 1000


@dataclass
class StepOutput:
    decision: Decision
    trace: dict  # JSON-serialisable ReAct record
    explanation: str
    scene_text: str


@dataclass
class _ModelAnswer:
    action: Any
    requested_at: float  # caller clock of the scene the model saw
    latency_ms: float
    first_result: ValidationResult


@dataclass
class _Stats:
    steps: int = 0
    decisions: collections.Counter = field(default_factory=collections.Counter)
    rejections: collections.Counter = field(default_factory=collections.Counter)
    clamps: collections.Counter = field(default_factory=collections.Counter)
    llm_requests: int = 0
    llm_errors: collections.Counter = field(default_factory=collections.Counter)
    llm_latency_ms: collections.deque = field(
        default_factory=lambda: collections.deque(maxlen=LATENCY_SAMPLES))
    rules_overrides: int = 0


def json_safe(value: Any, depth: int = 0) -> Any:
    """A copy that ``json.dumps(allow_nan=False)`` accepts; odd values become strings."""
    if depth > 8:
        return "…"
    if value is None or isinstance(value, bool | int | str):
        return value if not isinstance(value, str) else value[:500]
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, dict):
        return {str(k)[:60]: json_safe(v, depth + 1) for k, v in list(value.items())[:20]}
    if isinstance(value, list | tuple):
        return [json_safe(v, depth + 1) for v in list(value)[:20]]
    return repr(value)[:200]


def decision_record(decision: Decision) -> dict:
    return {"behavior": decision.behavior.name, "max_speed": decision.max_speed,
            "min_clearance": decision.min_clearance, "target_id": decision.target_id,
            "valid_until": decision.valid_until, "source": decision.source.name}


class ReasoningEngine:
    def __init__(self, limits: Limits, policy: Policy | None = None,
                 decision_period_s: float = 0.1, validity_s: float = 1.0,
                 llm_timeout_s: float = 2.0, grounder: InstructionGrounder | None = None):
        for name, value in (("decision_period_s", decision_period_s),
                            ("validity_s", validity_s), ("llm_timeout_s", llm_timeout_s)):
            if not math.isfinite(value) or value <= 0.0:
                raise ValueError(f"{name} must be finite and > 0, got {value!r}")
        self.limits = limits
        self.policy = policy
        self.decision_period_s = decision_period_s
        self.validity_s = validity_s
        self.llm_timeout_s = llm_timeout_s
        self.rules = RulesPolicy(limits)
        self.validator = ActionValidator(limits, validity_s)
        self.grounder = grounder or InstructionGrounder(load_places(), limits)
        self._policy_source = getattr(policy, "source", DecisionSource.LLM)
        self._lock = threading.Lock()
        self._intent: Intent | None = None
        self._stats = _Stats()
        self._executor = (concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="reasoning-llm") if policy is not None else None)
        self._in_flight: concurrent.futures.Future | None = None
        self._in_flight_requested_at = -math.inf
        self._in_flight_started_wall = 0.0
        self._in_flight_timed_out = False
        self._last_request_at = -math.inf
        self._answer: _ModelAnswer | None = None
        self._last_error = ""

    # -- instruction -----------------------------------------------------------------------

    @property
    def intent(self) -> Intent | None:
        with self._lock:
            return self._intent

    def set_instruction(self, text: str) -> tuple[bool, str]:
        """(accepted, explanation starting "accepted:" or "refused:"); a refused instruction
        leaves the current intent in place."""
        with self._lock:
            previous = self._intent
        try:
            intent = self.grounder.ground(text, previous=previous)
        except InstructionRefused as error:
            kept = previous.describe() if previous is not None else "no constraints"
            reason = str(error).removeprefix("refused: ")
            return False, f"refused: {reason} (keeping: {kept})"
        with self._lock:
            self._intent = intent
            self._answer = None  # the model's last answer was for the old instruction
        notes = f" ({'; '.join(intent.notes)})" if intent.notes else ""
        return True, f"accepted: {intent.describe()}{notes}"

    def clear_instruction(self) -> None:
        with self._lock:
            self._intent = None
            self._answer = None

    # -- step ------------------------------------------------------------------------------

    def step(self, scene: Scene, now: float) -> StepOutput:
        with self._lock:
            intent = self._intent
            self._stats.steps += 1
        facts = scene_facts(scene)
        scene_text = describe_scene(scene, facts)

        def conservative() -> Decision:
            return default_decision(now, self.limits, self.validity_s)

        rules_action = self.rules.propose(scene, intent, now)
        rules_result = self.validator.validate(rules_action, scene, intent, now,
                                               DecisionSource.RULES, conservative)
        chosen, action, thought, latency_ms = rules_result, rules_action, "", None
        source_note = ""
        rejected_answer = None
        if self.policy is not None:
            rejected_answer = self._collect_answer(scene, intent, now, rules_result.decision)
            self._maybe_request(scene, intent, now)
            model = self._fresh_model_decision(scene, intent, now, rules_result)
            if rejected_answer is not None:
                # This step's ReAct record is the model's action and why it was refused.
                answer, result = rejected_answer
                chosen, action, latency_ms = result, answer.action, answer.latency_ms
                source_note = "the rules decide instead"
            elif model is not None:
                result, answer = model
                if (rules_result.decision.behavior == Behavior.STOP
                        and result.decision.behavior != Behavior.STOP):
                    with self._lock:
                        self._stats.rules_overrides += 1
                    source_note = (f"rules STOP overrides the model's "
                                   f"{result.decision.behavior.name}")
                elif result.rejected:
                    source_note = f"model answer unusable now ({result.reason}); rules decide"
                else:
                    chosen, action, latency_ms = result, answer.action, answer.latency_ms
                    thought = result.decision.rationale or (
                        f"the model chose {result.decision.behavior.name} (no reason given)")
            else:
                with self._lock:
                    error = self._last_error
                source_note = (f"model unavailable ({error}); rules decide" if error
                               else "no fresh model answer yet; rules decide")
        if not thought and chosen is rules_result:
            thought = str(rules_action.get("thought", ""))
        elif not thought and isinstance(action, dict):
            thought = str(action.get("thought", "") or "the model gave no reason")[:300]

        decision = chosen.decision
        with self._lock:
            self._stats.decisions[decision.source.name] += 1
            if chosen.clamped:
                self._stats.clamps[decision.source.name] += 1
        observation = self._observation(chosen, source_note, scene_text)
        trace = {
            "stamp": now,
            "thought": thought,
            "action": json_safe(action),
            "observation": observation,
            "source": decision.source.name,
            "rejected": chosen.rejected,
            "clamped": chosen.clamped,
            "reason": chosen.reason or source_note,
            "latency_ms": latency_ms,
            "decision": decision_record(decision),
            "intent": intent.describe() if intent is not None else None,
        }
        explanation = (f"{decision.behavior.name} at most {decision.max_speed:.2f} m/s, "
                       f"{decision.min_clearance:.1f} m from people "
                       f"[{decision.source.name.lower()}]: {decision.rationale}")
        if source_note:
            explanation += f" ({source_note})"
        return StepOutput(decision=decision, trace=trace, explanation=explanation,
                          scene_text=scene_text)

    @staticmethod
    def _observation(result: ValidationResult, note: str, scene_text: str) -> str:
        if result.rejected:
            verdict = f"action {result.reason}; fallback used"
        elif result.clamped:
            verdict = f"action accepted, {result.reason}"
        else:
            verdict = "action accepted"
        parts = [verdict] + ([note] if note else []) + [f"scene: {scene_text}"]
        return ". ".join(parts)

    # -- the background model call ---------------------------------------------------------

    def _maybe_request(self, scene: Scene, intent: Intent | None, now: float) -> None:
        with self._lock:
            if self._in_flight is not None:
                return
            if now - self._last_request_at < self.decision_period_s:
                return
            self._last_request_at = now
            self._in_flight_requested_at = now
            self._in_flight_started_wall = time.monotonic()
            self._in_flight_timed_out = False
            self._stats.llm_requests += 1
            self._in_flight = self._executor.submit(self._call_policy, scene, intent, now)

    def _call_policy(self, scene: Scene, intent: Intent | None, now: float):
        started = time.perf_counter()
        action = self.policy.propose(scene, intent, now)
        return action, (time.perf_counter() - started) * 1000.0

    def _collect_answer(self, scene: Scene, intent: Intent | None, now: float,
                        rules_decision: Decision
                        ) -> tuple[_ModelAnswer, ValidationResult] | None:
        """Take a finished model answer; returns it only when the validator rejected it."""
        with self._lock:
            future = self._in_flight
            requested_at = self._in_flight_requested_at
            if future is None:
                return None
            if not future.done():
                stalled = time.monotonic() - self._in_flight_started_wall
                if stalled > self.llm_timeout_s and not self._in_flight_timed_out:
                    # The thread cannot be killed; its late answer will be discarded.
                    self._in_flight_timed_out = True
                    self._stats.llm_errors["timeout"] += 1
                    self._last_error = "timeout"
                return None
            self._in_flight = None
            timed_out = self._in_flight_timed_out
        try:
            action, latency_ms = future.result()
        except Exception as error:  # noqa: BLE001 - any policy failure means: use the rules
            kind = getattr(error, "kind", type(error).__name__)
            with self._lock:
                if not timed_out:
                    self._stats.llm_errors[kind] += 1
                self._last_error = kind
            return None
        with self._lock:
            self._stats.llm_latency_ms.append(latency_ms)
            if timed_out:
                return None
        result = self.validator.validate(action, scene, intent, now, self._policy_source,
                                         lambda: rules_decision)
        answer = _ModelAnswer(action, requested_at, latency_ms, result)
        with self._lock:
            if result.rejected:
                self._stats.rejections[self._policy_source.name] += 1
                self._last_error = f"answer {result.reason}"
                self._answer = None
                return answer, result
            self._last_error = ""
            self._answer = answer
        return None

    def _fresh_model_decision(self, scene: Scene, intent: Intent | None, now: float,
                              rules_result: ValidationResult):
        with self._lock:
            answer = self._answer
        if answer is None or now - answer.requested_at > self.validity_s:
            return None
        # Re-check against this scene: the target may have gone, the intent may be stricter.
        result = self.validator.validate(answer.action, scene, intent, now, self._policy_source,
                                         lambda: rules_result.decision)
        if not result.rejected:
            valid_until = min(result.decision.valid_until, answer.requested_at + self.validity_s)
            decision = dataclasses.replace(result.decision, valid_until=valid_until)
            result = ValidationResult(decision, result.rejected, result.clamped, result.reason)
        return result, answer

    # -- bookkeeping -----------------------------------------------------------------------

    @property
    def stats(self) -> dict:
        with self._lock:
            s = self._stats
            return {
                "steps": s.steps,
                "decisions": dict(s.decisions),
                "rejections": dict(s.rejections),
                "clamps": dict(s.clamps),
                "llm_requests": s.llm_requests,
                "llm_in_flight": self._in_flight is not None,
                "llm_errors": dict(s.llm_errors),
                "llm_latency_ms": list(s.llm_latency_ms),
                "rules_overrides": s.rules_overrides,
            }

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> ReasoningEngine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

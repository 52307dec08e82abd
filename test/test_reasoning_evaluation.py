"""The labelled evaluation set and the scoring function."""

from reasonact_ros.reasoning.engine import ReasoningEngine
from reasonact_ros.reasoning.evaluation import (
    GENERATED_CASES,
    build_template_cases,
    evaluate,
    load_eval_cases,
    stratified_subset,
)
from reasonact_ros.reasoning.policy import RulesPolicy
from reasonact_ros.scene import Behavior, Limits

LIMITS = Limits()


def test_eval_set_has_over_200_cases_from_templates_and_by_hand():
    cases = load_eval_cases()
    assert len(cases) >= 200
    templates = {c["template"] for c in cases}
    assert "hand" in templates and len(templates) >= 15
    assert len({c["name"] for c in cases}) == len(cases)
    for case in cases:
        assert case["expected"] and set(case["expected"]) <= set(Behavior.__members__)


def test_generated_file_is_what_the_seeded_templates_produce():
    on_disk = load_eval_cases([GENERATED_CASES])
    assert on_disk == build_template_cases()


def test_rules_accuracy_on_the_eval_set_is_at_least_95_percent():
    report = evaluate(RulesPolicy(LIMITS), load_eval_cases(), LIMITS)
    assert report["accuracy"] >= 0.95, report["failures"]
    assert report["rejections"] == 0 and report["errors"] == {}
    assert report["latency_ms_p50"] <= report["latency_ms_p95"]


def test_engine_is_scored_on_what_step_returns():
    cases = stratified_subset(load_eval_cases(), 40)
    with ReasoningEngine(LIMITS) as engine:
        report = evaluate(engine, cases, LIMITS)
    assert report["cases"] == 40 and report["accuracy"] >= 0.95


class ProceedAlways:
    name = "proceed"

    def propose(self, scene, intent, now):
        return {"behavior": "PROCEED", "max_speed": 1.0, "min_clearance": 1.0}


class Garbage:
    name = "garbage"

    def propose(self, scene, intent, now):
        return {"behaviour": "go", "speed": "fast"}


class Broken:
    name = "broken"

    def propose(self, scene, intent, now):
        raise TimeoutError("no answer")


def test_a_policy_that_ignores_people_scores_badly():
    report = evaluate(ProceedAlways(), load_eval_cases(), LIMITS)
    assert report["accuracy"] < 0.3


def test_rejected_and_failed_answers_count_as_wrong():
    cases = stratified_subset(load_eval_cases(), 20)
    garbage = evaluate(Garbage(), cases, LIMITS)
    assert garbage["accuracy"] == 0.0 and garbage["rejections"] == 20
    broken = evaluate(Broken(), cases, LIMITS)
    assert broken["accuracy"] == 0.0 and broken["errors"] == {"TimeoutError": 20}
    # The conservative fallback (SLOW) is right where slowing down is acceptable.
    assert 0.0 < broken["accuracy_with_fallback"] < 1.0

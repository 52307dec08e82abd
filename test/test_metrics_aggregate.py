"""Aggregation over episodes and the compare deltas."""

from __future__ import annotations

import pytest

from reasonact_ros.evaluation.metrics import (
    aggregate,
    compare,
    time_where_both_succeeded,
    wilson_interval,
)
from reasonact_ros.evaluation.report import (
    comparison_table,
    metrics_table,
    report_text,
    scenario_comparison_table,
)


def episode(scenario: str, success: bool, **fields) -> dict:
    base = {"scenario": scenario, "success": success, "timeout": False, "collisions": 0,
            "collisions_person": 0, "collisions_obstacle": 0,
            "intimate_time_fraction": 0.0, "personal_time_fraction": 0.0,
            "social_time_fraction": 0.0, "min_person_distance_m": None,
            "time_to_goal_s": None, "path_length_ratio": None, "freezes": 0,
            "decision_steps": {}}
    base.update(fields)
    return base


EPISODES = [
    episode("head_on", True, time_to_goal_s=20.0, path_length_ratio=1.1,
            min_person_distance_m=0.8, intimate_time_fraction=0.0,
            personal_time_fraction=0.2, decision_steps={"SLOW": 10, "PROCEED": 5}),
    episode("head_on", False, collisions=2, collisions_person=1, collisions_obstacle=1,
            time_to_goal_s=30.0, path_length_ratio=1.5, min_person_distance_m=-0.1,
            intimate_time_fraction=0.1, personal_time_fraction=0.4,
            decision_steps={"STOP": 4}),
    episode("crowd", True, time_to_goal_s=40.0, path_length_ratio=1.3,
            min_person_distance_m=0.5, intimate_time_fraction=0.2,
            personal_time_fraction=0.3, freezes=2),
    episode("crowd", False, timeout=True, min_person_distance_m=1.5,
            intimate_time_fraction=0.1, personal_time_fraction=0.1, lockstep_misses=3),
]


def test_aggregate_rates_and_means():
    m = aggregate(EPISODES)
    assert m["episodes"] == 4
    assert m["success_rate"] == pytest.approx(0.5)
    assert m["collisions"] == 2 and m["collisions_person"] == 1
    assert m["collision_rate"] == pytest.approx(0.25)
    assert m["timeout_rate"] == pytest.approx(0.25)
    assert m["intimate_time_fraction"] == pytest.approx(0.1)
    assert m["personal_time_fraction"] == pytest.approx(0.25)
    # Worst case over all episodes, and the mean of the per-episode minima.
    assert m["min_person_distance_m"] == pytest.approx(-0.1)
    assert m["mean_min_person_distance_m"] == pytest.approx((0.8 - 0.1 + 0.5 + 1.5) / 4)
    # Time to goal and path ratio only over successful episodes: not the failed 30 s / 1.5.
    assert m["mean_time_to_goal_s"] == pytest.approx(30.0)
    assert m["path_length_ratio"] == pytest.approx(1.2)
    assert m["freezes"] == 2 and m["freeze_rate"] == pytest.approx(0.25)
    assert m["decision_steps"] == {"PROCEED": 5, "SLOW": 10, "STOP": 4}
    assert m["episodes_out_of_lockstep"] == 1
    lo, hi = m["success_rate_ci95"]
    assert lo < 0.5 < hi


def test_aggregate_by_scenario():
    m = aggregate(EPISODES)
    assert set(m["by_scenario"]) == {"crowd", "head_on"}
    assert m["by_scenario"]["head_on"]["episodes"] == 2
    assert m["by_scenario"]["crowd"]["timeout_rate"] == pytest.approx(0.5)
    assert m["by_scenario"]["head_on"]["collisions"] == 2
    assert "by_scenario" not in m["by_scenario"]["crowd"]


def test_aggregate_of_nothing_and_without_people():
    m = aggregate([])
    assert m["episodes"] == 0 and m["success_rate"] is None
    m = aggregate([episode("empty", True, time_to_goal_s=10.0, path_length_ratio=1.0)])
    assert m["min_person_distance_m"] is None  # nobody around is not 0 m
    assert m["success_rate"] == 1.0


def test_wilson_interval_known_value():
    lo, hi = wilson_interval(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-3) and hi == pytest.approx(0.5962, abs=1e-3)
    assert wilson_interval(0, 0) is None


def test_compare_deltas_and_verdicts():
    a = {"episodes": 10, "success_rate": 0.5, "collisions": 4, "min_person_distance_m": 0.2,
         "mean_time_to_goal_s": None, "by_scenario": {}, "suite": {"name": "x"},
         "only_a": 1.0}
    b = {"episodes": 10, "success_rate": 0.8, "collisions": 6, "min_person_distance_m": 0.1,
         "mean_time_to_goal_s": 25.0, "only_b": 2.0}
    rows = {r["metric"]: r for r in compare(a, b)}
    assert rows["success_rate"]["delta"] == pytest.approx(0.3)
    assert rows["success_rate"]["relative"] == pytest.approx(0.6)
    assert rows["success_rate"]["verdict"] == "better"
    assert rows["collisions"]["delta"] == 2 and rows["collisions"]["verdict"] == "worse"
    assert rows["min_person_distance_m"]["verdict"] == "worse"
    assert rows["episodes"]["verdict"] == "same"
    assert rows["mean_time_to_goal_s"]["delta"] is None  # missing in A: no delta, still shown
    assert "only_a" in rows and "only_b" in rows
    assert "by_scenario" not in rows and "suite" not in rows
    table = comparison_table(compare(a, b), "A", "B")
    assert "| success_rate | 0.5 | 0.8 | 0.3 | +60.0 % | better |" in table


def test_metrics_table_has_a_row_per_scenario():
    table = metrics_table(aggregate(EPISODES))
    lines = table.splitlines()
    assert lines[2].startswith("| **all** | 4 | 0.5 |")
    assert any(line.startswith("| crowd | 2 |") for line in lines)
    assert any(line.startswith("| head_on | 2 |") for line in lines)


def test_scenario_comparison_shows_where_a_change_helped_and_where_it_cost():
    a = aggregate([episode("crowd", True, time_to_goal_s=30.0, intimate_time_fraction=0.007,
                           personal_time_fraction=0.1358),
                   episode("overtaking", True, time_to_goal_s=20.1,
                           personal_time_fraction=0.0329)])
    b = aggregate([episode("crowd", False, collisions=1, intimate_time_fraction=0.007,
                           personal_time_fraction=0.1323),
                   episode("overtaking", True, time_to_goal_s=17.21,
                           personal_time_fraction=0.012)])
    table = scenario_comparison_table(a, b).splitlines()
    assert table[0] == "| scenario | success | contacts | intimate | personal | time to goal [s] |"
    assert table[2] == "| crowd | 1 -> 0 | 0 -> 1 | 0.70 % | 13.58 % -> 13.23 % | 30 -> - |"
    assert table[3] == "| overtaking | 1 | 0 | 0.00 % | 3.29 % -> 1.20 % | 20.1 -> 17.21 |"
    assert scenario_comparison_table({}, {}) == ""


def test_report_names_the_episodes_that_left_lockstep():
    records = [dict(e, seed=i) for i, e in enumerate(EPISODES)]
    text = report_text(records, aggregate(records))
    assert "**1 episodes left lockstep**" in text and "crowd 3" in text
    clean = [dict(r, lockstep_misses=0) for r in records]
    assert "lockstep" not in report_text(clean, aggregate(clean))


def test_report_says_which_seeds_ran():
    records = [dict(e, seed=i) for i, e in enumerate(EPISODES)]
    metrics = aggregate(records)
    metrics["suite"] = {"name": "holdout", "scenarios": ["crowd"], "seeds": 42,
                        "seed_offset": 42}
    assert "1 scenarios x 42 seeds, starting 42 after each scenario's own)" in report_text(
        records, metrics)
    metrics["suite"]["seed_offset"] = 0
    assert "1 scenarios x 42 seeds) in" in report_text(records, metrics)


def test_time_where_both_succeeded_compares_like_with_like():
    a = [{"scenario": "crowd", "seed": 1, "success": False, "time_to_goal_s": None},
         {"scenario": "head_on", "seed": 1, "success": True, "time_to_goal_s": 10.0},
         {"scenario": "head_on", "seed": 2, "success": True, "time_to_goal_s": 20.0}]
    b = [{"scenario": "crowd", "seed": 1, "success": True, "time_to_goal_s": 40.0},
         {"scenario": "head_on", "seed": 1, "success": True, "time_to_goal_s": 12.0},
         {"scenario": "head_on", "seed": 2, "success": False, "time_to_goal_s": 25.0}]
    # Over each run's own successes B looks 73 % slower (26 vs 15 s); over the one
    # episode both succeeded in, 20 %.
    both = time_where_both_succeeded(a, b)
    assert both["episodes"] == 1
    assert both["a"] == pytest.approx(10.0) and both["b"] == pytest.approx(12.0)
    assert both["relative"] == pytest.approx(0.2)
    assert time_where_both_succeeded(a[:1], b[:1]) is None

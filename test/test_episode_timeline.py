"""An episode's timeline on hand-made steps whose rows are known."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from reasonact_ros.evaluation.metrics import proxemic_zones
from reasonact_ros.evaluation.timeline import COLUMNS, timeline_rows, worth_a_look, write_timeline


def step(t, x, people, decision="PROCEED", max_speed=1.5, rationale="The way is clear."):
    return {"t": t, "x": x, "y": 0.0, "yaw": math.pi / 2, "v": 1.0, "w": 0.0,
            "people": people, "decision": decision, "max_speed": max_speed,
            "rationale": rationale}


@pytest.mark.parametrize(("gap", "zone"), [
    (-0.1, "intimate"), (0.0, "intimate"), (0.449, "intimate"), (0.45, "personal"),
    (1.19, "personal"), (1.2, "social"), (3.59, "social"), (3.6, "public"),
    (math.inf, ""),
])
def test_hall_zones_of_a_gap(gap, zone):
    assert proxemic_zones(np.array([gap]))[0] == zone


def test_each_step_names_its_decision_and_the_closest_person_by_surface_gap():
    # Person 7's centre is nearer (1.0 m) but person 3 is wider: 1.2 - 0.3 - 0.5 = 0.4 m
    # between the bodies against 1.0 - 0.3 - 0.25 = 0.45 m.
    people = [(7, 1.0, 1.0, 0.0, 0.0, 0.25), (3, 1.0 + 1.2, 0.0, -1.0, 0.0, 0.5)]
    rows = timeline_rows([step(0.05, 1.0, people, "SLOW", 0.4, "Someone is close."),
                          step(0.10, 1.05, [])], robot_radius=0.3)
    first, second = rows
    assert first["closest_person"] == 3
    assert first["closest_gap_m"] == pytest.approx(0.4)
    assert first["zone"] == "intimate"
    assert (first["behavior"], first["max_speed"], first["rationale"]) == (
        "SLOW", 0.4, "Someone is close.")
    assert first["yaw_deg"] == pytest.approx(90.0)
    # Nobody there: no person, no gap, no zone (not 0 m).
    assert (second["closest_person"], second["closest_gap_m"], second["zone"]) == ("", "", "")


def test_a_step_before_any_decision_has_an_empty_one():
    record = step(0.05, 0.0, [])
    record.update(decision="", max_speed=None, rationale="")
    (row,) = timeline_rows([record], robot_radius=0.3)
    assert (row["behavior"], row["max_speed"], row["rationale"]) == ("", "", "")


def test_the_csv_reads_back_with_its_header_and_a_rationale_with_commas(tmp_path):
    rows = timeline_rows([step(0.05, 0.0, [], rationale="Slow down, then pass, on the left.")],
                         robot_radius=0.3)
    path = write_timeline(rows, tmp_path / "timeline.csv")
    with path.open(newline="") as stream:
        read = list(csv.DictReader(stream))
    assert tuple(read[0]) == COLUMNS
    assert read[0]["rationale"] == "Slow down, then pass, on the left."
    # Unix line ends, so that `grep ',intimate$'` finds the steps in someone's intimate space.
    assert b"\r" not in path.read_bytes()


@pytest.mark.parametrize(("record", "look"), [
    ({"success": True, "collisions": 0, "intimate_time_fraction": 0.0}, False),
    ({"success": False, "collisions": 0, "intimate_time_fraction": 0.0}, True),
    ({"success": True, "collisions": 1, "intimate_time_fraction": 0.0}, True),
    ({"success": True, "collisions": 0, "intimate_time_fraction": 0.001}, True),
    ({"success": True, "collisions": 0, "intimate_time_fraction": None}, False),
])
def test_an_episode_is_worth_a_look_when_it_misses_a_target(record, look):
    assert worth_a_look(record) is look

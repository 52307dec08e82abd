"""Inputs looked up by stamp, and when a periodic sensor's next message is due."""

import pytest

from reasonact_ros.stamped_inputs import SensorSchedule, StampedHistory


def test_history_answers_with_the_value_at_a_stamp():
    history = StampedHistory(size=3)
    assert history.at(1.0) is None and not history.covers(0.0)
    history.add(1.0, "a")
    history.add(1.1, "b")
    assert history.at(1.1) == "b"
    assert history.at(1.05) == "a"  # the newest not after the stamp
    assert history.at(0.5) == "a"  # older than everything kept: the oldest
    assert history.at(9.0) == "b"
    assert history.covers(1.1) and not history.covers(1.15)


def test_history_keeps_order_replaces_repeats_and_drops_the_oldest():
    history = StampedHistory(size=3)
    for stamp, value in ((1.0, "a"), (1.2, "c"), (1.1, "b"), (1.2, "c2")):
        history.add(stamp, value)
    assert [history.at(t) for t in (1.0, 1.1, 1.2)] == ["a", "b", "c2"]
    assert history.latest() == "c2" and history.newest_stamp == 1.2
    history.add(1.3, "d")
    assert len(history) == 3 and history.at(1.0) == "b"  # "a" fell out
    history.clear()
    assert len(history) == 0 and history.latest() is None
    with pytest.raises(ValueError, match="size"):
        StampedHistory(size=0)


def test_a_sensor_is_due_first_then_once_per_period():
    schedule = SensorSchedule()
    assert schedule.due(0.0)  # nothing yet: the first state brings one
    schedule.seen(0.0, 0.1)
    assert not schedule.due(0.0)  # here already
    assert not schedule.due(0.05)  # between two scans
    assert schedule.due(0.1) and schedule.due(0.15)  # late stays due
    # Stamps come back from nanoseconds as floats a hair off the period's multiple.
    assert schedule.due(0.0999999999)
    schedule.seen(0.1 + 1e-10, 0.1)
    assert not schedule.due(0.1) and not schedule.due(0.15) and schedule.due(0.2)


def test_a_clock_that_went_back_makes_the_sensor_due_again():
    schedule = SensorSchedule()
    schedule.seen(12.3, 0.1)
    assert schedule.due(0.0) and schedule.due(0.05)
    schedule.reset()
    assert schedule.due(12.3) and schedule.last_stamp is None


def test_a_sensor_without_a_period_is_due_every_step():
    schedule = SensorSchedule()
    schedule.seen(1.0, 0.0)
    assert not schedule.due(1.0)
    assert schedule.due(1.05) and schedule.due(1.1)
    schedule.seen(1.1, -1.0)  # a nonsense period counts as none
    assert schedule.period == 0.0 and schedule.due(1.15)


def test_a_stamp_older_than_the_newest_means_the_clock_went_back():
    history: StampedHistory[str] = StampedHistory()
    assert not history.went_back(5.0)  # nothing kept yet
    history.add(5.0, "a")
    assert not history.went_back(5.0) and not history.went_back(5.0 - 1e-7)  # same instant
    assert not history.went_back(5.05)
    assert history.went_back(4.9)


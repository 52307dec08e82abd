"""Constant-velocity multi-target tracker: identities, velocities, occlusions."""

import numpy as np
import pytest

from reasonact_ros.perception.tracker import (
    Detection,
    MultiTargetTracker,
    TrackerConfig,
    TrackStatus,
)

DT = 0.1


def noisy(rng, x, y, std=0.03):
    return Detection(x + rng.normal(0, std), y + rng.normal(0, std), std=std)


def test_velocity_converges_on_a_constant_velocity_target():
    rng = np.random.default_rng(1)
    tracker = MultiTargetTracker(TrackerConfig())
    for k in range(40):
        t = k * DT
        tracks = tracker.update([noisy(rng, 1.0 + 1.2 * t, 2.0 - 0.5 * t)], t)
    (track,) = tracks
    assert track.velocity == pytest.approx([1.2, -0.5], abs=0.12)
    assert track.position == pytest.approx([1.0 + 1.2 * 3.9, 2.0 - 0.5 * 3.9], abs=0.06)


def test_two_crossing_tracks_keep_their_ids():
    rng = np.random.default_rng(2)
    tracker = MultiTargetTracker(TrackerConfig())
    ids_before = ids_after = None
    for k in range(60):
        t = k * DT
        # Diagonal paths crossing at (3, 0) at t = 3 s.
        a = (1.0 * t, -3.0 + 1.0 * t)
        b = (1.0 * t, 3.0 - 1.0 * t)
        tracks = tracker.update([noisy(rng, *a), noisy(rng, *b)], t)
        by_side = sorted(tracks, key=lambda tr: tr.position[1])
        if k == 20:
            ids_before = [tr.id for tr in by_side]  # [a (below), b (above)]
        if k == 59:
            ids_after = [tr.id for tr in by_side]  # now a is above, b below
    assert len(ids_before) == 2
    assert ids_after == ids_before[::-1]


def test_occlusion_coast_keeps_the_id():
    rng = np.random.default_rng(3)
    tracker = MultiTargetTracker(TrackerConfig(max_coast_s=1.0))
    for k in range(50):
        t = k * DT
        occluded = 20 <= k < 28  # 0.8 s behind someone else
        detections = [] if occluded else [noisy(rng, 1.0 * t, 0.0)]
        tracks = tracker.update(detections, t)
        if occluded:
            assert len(tracks) == 1 and tracks[0].status == TrackStatus.LOST
            assert tracks[0].position[0] == pytest.approx(t, abs=0.15)
    assert [tr.id for tr in tracks] == [1]
    assert tracks[0].status == TrackStatus.CONFIRMED


def test_coasting_track_is_hidden_then_dropped():
    tracker = MultiTargetTracker(TrackerConfig(max_coast_s=0.3, max_hidden_s=0.6))
    for k in range(5):
        tracker.update([Detection(0.0, 0.0)], k * DT)
    statuses = []
    for k in range(5, 12):
        reported = tracker.update([], k * DT)
        statuses.append(tracker.tracks[0].status if tracker.tracks else None)
        assert bool(reported) == (statuses[-1] == TrackStatus.LOST)
    assert statuses[:3] == [TrackStatus.LOST] * 3
    assert statuses[3:6] == [TrackStatus.HIDDEN] * 3
    assert statuses[6] is None
    new = tracker.update([Detection(0.0, 0.0)], 1.2)
    assert tracker.tracks[0].id != 1 and new == []


def test_a_hidden_track_reappearing_keeps_its_id():
    tracker = MultiTargetTracker(TrackerConfig(max_coast_s=0.5, max_hidden_s=2.0))
    for k in range(10):
        tracker.update([Detection(1.0 * k * DT, 0.0)], k * DT)
    for k in range(10, 25):  # 1.5 s unseen: reported for 0.5 s, then hidden
        assert (tracker.update([], k * DT) == []) == (k > 14)
    (track,) = tracker.update([Detection(2.5, 0.0)], 2.5)
    assert track.id == 1 and track.status == TrackStatus.CONFIRMED


def test_tentative_tracks_are_not_reported_and_single_clutter_dies():
    tracker = MultiTargetTracker(TrackerConfig(confirm_hits=3))
    assert tracker.update([Detection(5.0, 5.0)], 0.0) == []
    assert tracker.update([Detection(5.0, 5.0)], 0.1) == []
    assert len(tracker.update([Detection(5.0, 5.0)], 0.2)) == 1
    tracker.reset()
    tracker.update([Detection(1.0, 1.0)], 0.0)
    tracker.update([], 0.1)
    tracker.update([], 0.2)
    assert tracker.tracks == []


def test_far_detection_outside_the_gate_starts_a_new_track():
    tracker = MultiTargetTracker(TrackerConfig(confirm_hits=1))
    tracker.update([Detection(0.0, 0.0)], 0.0)
    tracker.update([Detection(3.0, 0.0)], 0.1)
    assert sorted(t.id for t in tracker.tracks) == [1, 2]


def test_time_going_backwards_is_refused_until_reset():
    tracker = MultiTargetTracker()
    tracker.update([Detection(0.0, 0.0)], 5.0)
    with pytest.raises(ValueError, match="backwards"):
        tracker.update([], 4.0)
    tracker.reset()
    tracker.update([Detection(0.0, 0.0)], 4.0)


def test_bad_tracker_input_is_refused():
    with pytest.raises(ValueError, match="measurement_std"):
        TrackerConfig(measurement_std=0.0)
    with pytest.raises(ValueError, match="confirm_hits"):
        TrackerConfig(confirm_hits=0)
    with pytest.raises(ValueError, match="finite"):
        Detection(float("nan"), 0.0)
    with pytest.raises(ValueError, match="finite"):
        MultiTargetTracker().update([], float("inf"))


@pytest.mark.parametrize("gate_floor", [0.4, 0.0])
def test_a_person_reappearing_off_prediction_keeps_the_id_thanks_to_the_gate_floor(
        gate_floor):
    tracker = MultiTargetTracker(TrackerConfig(gate_floor=gate_floor))
    for k in range(30):
        tracker.update([Detection(1.0 * k * DT, 0.0, std=0.02)], k * DT)
    for k in range(30, 33):  # hidden for 0.3 s while speeding up
        tracker.update([], k * DT)
    tracker.update([Detection(3.3 + 0.35, 0.0, std=0.02)], 3.3)
    ids = sorted(t.id for t in tracker.tracks if t.status == TrackStatus.CONFIRMED)
    assert ids == ([1] if gate_floor > 0.0 else [])


def velocity_error_after_a_turn(config: TrackerConfig) -> float:
    rng = np.random.default_rng(4)
    tracker = MultiTargetTracker(config)
    for k in range(34):  # until 0.3 s after the turn
        t = k * DT
        # East at 1.2 m/s for 3 s, then north: a walker turning a corner.
        x, y = (1.2 * t, 0.0) if t <= 3.0 else (3.6, 1.2 * (t - 3.0))
        (track,) = tracker.update([noisy(rng, x, y, std=0.03)], t) or [None]
    return float(np.hypot(*(track.velocity - [0.0, 1.2])))


def test_maneuver_inflation_lets_the_velocity_follow_a_turn():
    adaptive = velocity_error_after_a_turn(TrackerConfig())
    rigid = velocity_error_after_a_turn(TrackerConfig(maneuver_nis=1e9))
    assert adaptive < 0.45
    assert adaptive < 0.7 * rigid

"""`reasonact bench`: its scan geometry, regularity measure, stalling server, the null
reporting of missing cores, and one real reaction to a person between processes."""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from reasonact_ros.evaluation import bench
from reasonact_ros.evaluation.ros_domains import claim_domain


def test_scan_sees_the_person_ahead_and_the_walls_beside():
    ranges = bench.scan_ranges((0.0, 0.0, 0.0), [(4.0, 0.0, 0.25)], walls_y=(-2.5, 2.5))
    # 360 beams from -pi: beam 180 looks straight ahead, beam 270 to the left.
    assert ranges[180] == pytest.approx(3.75)
    assert ranges[270] == pytest.approx(2.5)
    assert ranges[90] == pytest.approx(2.5)
    assert math.isinf(ranges[0])  # straight back, parallel to the walls: no return
    clear = bench.scan_ranges((0.0, 0.0, 0.0), [])
    assert clear[180] == np.inf and np.isfinite(clear).sum() > 100  # a valid, clear scan
    # The robot's heading turns the scan: facing +y, the person at (0, 4) is ahead.
    turned = bench.scan_ranges((0.0, 0.0, math.pi / 2), [(0.0, 4.0, 0.25)], walls_y=())
    assert turned[180] == pytest.approx(3.75)
    # The cluster is person-sized: about 2 * asin(0.25 / 4) = 7 degrees wide.
    assert 5 <= np.isfinite(turned).sum() <= 9


def test_on_time_fraction():
    regular = [0.05 * k for k in range(21)]
    assert bench.on_time_fraction(regular, 0.05) == 1.0
    gap = regular[:10] + [t + 0.2 for t in regular[10:]]  # one 250 ms hole among 20 intervals
    assert bench.on_time_fraction(gap, 0.05) == pytest.approx(19 / 20)
    assert bench.on_time_fraction([1.0], 0.05) is None


def test_hanging_server_holds_every_request():
    server = bench.HangingLLMServer(delay_s=0.3)
    try:
        started = time.monotonic()
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(server.endpoint + "/chat/completions", data=b"{}",
                                   timeout=5.0)
        assert answer.value.code == 503
        assert time.monotonic() - started >= 0.3
        assert len(server.requests) == 1
    finally:
        server.close()


def test_missing_or_failing_cores_give_null_with_a_reason(tmp_path, monkeypatch):
    from reasonact_ros.perception import benchmark as perception
    from reasonact_ros.planning import benchmark as planning
    from reasonact_ros.safety import benchmark as safety
    from reasonact_ros.sim import benchmark as sim

    def broken(**kwargs):
        raise ImportError("No module named 'torch'")

    monkeypatch.setattr(planning, "mppi_cycle_times", broken)
    monkeypatch.setattr(safety, "safety_scan_time_ms", lambda **kw: 0.25)
    monkeypatch.setattr(perception, "lidar_perception_ms_p50", lambda **kw: 1.5)
    monkeypatch.setattr(perception, "camera_detector_fps", lambda name, **kw: 12.0)
    monkeypatch.setattr(sim, "measure_real_time_factor",
                        lambda name, seconds, camera: 5.0 if camera else 20.0)
    results = bench.run_bench(quick=True, out_dir=tmp_path, log=lambda text: None,
                              end_to_end=False)
    assert results["mppi_cycle_ms_p50"] is None and results["mppi_cycle_ms_p95"] is None
    assert "torch" in results["reasons"]["mppi_cycle_ms_p50"]
    assert results["mppi_samples"] == 2000  # from config/reasonact.yaml
    assert results["safety_scan_ms_p50"] == 0.25
    assert (results["sim_rtf_no_camera"], results["sim_rtf_camera"]) == (20.0, 5.0)
    assert results["reaction_latency_ms_p50"] is None
    assert "skipped" in results["reasons"]["reaction_latency_ms_p50"]
    written = json.loads((tmp_path / "bench.json").read_text())
    assert set(bench.BENCH_KEYS) <= set(written)
    table = bench.bench_table(results)
    assert "mppi_cycle_ms_p50" in table and "null  (ImportError" in table


@pytest.mark.ros
def test_the_stack_slows_down_for_a_person_who_appears(tmp_path):
    # The real nodes as processes on a domain of their own; this process plays the robot.
    with claim_domain() as claim:  # 101..231: away from the test sessions' 1..100
        out = bench.measure_reaction_latency(claim.domain, trials=1, log_dir=tmp_path,
                                             log=lambda text: None, baseline_s=1.0)
    assert out["reaction_latency_trials"] == 1, out["reaction_latency_failures"]
    assert 0.0 < out["reaction_latency_ms_p50"] < 5000.0
    # The stages were seen: a scene showing the person, a slower decision made of it.
    stage = out["reaction_latency_stages_ms"][0]
    assert stage["scene"] is not None and stage["decision"] is not None, stage
    assert stage["decision_behavior"] in ("SLOW", "PASS_LEFT", "PASS_RIGHT", "STOP"), stage


@pytest.mark.ros
def test_the_composed_stack_slows_down_for_a_person_who_appears(tmp_path):
    # `reasonact launch stack`: the four nodes in one process. On one shared thread pool
    # it never cruised on 2 cores (the bench raised "never cruised").
    with claim_domain() as claim:
        out = bench.measure_reaction_latency(claim.domain, trials=1, log_dir=tmp_path,
                                             log=lambda text: None, baseline_s=1.0,
                                             composed=True)
    assert out["composed_reaction_latency_trials"] == 1, out
    assert 0.0 < out["composed_reaction_latency_ms_p50"] < 5000.0
    stage = out["composed_reaction_latency_stages_ms"][0]
    assert stage["scene"] is not None and stage["decision"] is not None, stage

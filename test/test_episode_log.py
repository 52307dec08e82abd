"""What an episode's step log says about decisions: the one each step ran under."""

from reasonact_ros.bringup import assign_decisions


def test_each_step_gets_the_newest_decision_stamped_by_its_start():
    # Steps of 0.05 s, logged at their end; decisions with each scan, every 0.1 s. The
    # decision stamped 0.1 reached the monitor after the step from 0.1 ended: still, that
    # step ran under it.
    steps = [{"t": t, "decision": "late"} for t in (0.05, 0.1, 0.15, 0.2, 0.25)]
    log = [(0.1, "SLOW"), (0.0, "PROCEED"), (0.2, "STOP")]  # in arrival order
    assign_decisions(steps, log, step_dt=0.05)
    assert [s["decision"] for s in steps] == ["PROCEED", "PROCEED", "SLOW", "SLOW", "STOP"]


def test_steps_before_any_decision_have_none():
    steps = [{"t": 0.05, "decision": "x"}]
    assign_decisions(steps, [], step_dt=0.05)
    assert steps[0]["decision"] == ""

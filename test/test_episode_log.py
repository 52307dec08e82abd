"""What an episode's step log says about decisions: the one each step ran under."""

from reasonact_ros.bringup import LoggedDecision, assign_decisions


def test_each_step_gets_the_newest_decision_stamped_by_its_start():
    # Steps of 0.05 s, logged at their end; decisions with each scan, every 0.1 s. The
    # decision stamped 0.1 reached the monitor after the step from 0.1 ended: still, that
    # step ran under it.
    steps = [{"t": t, "decision": "late"} for t in (0.05, 0.1, 0.15, 0.2, 0.25)]
    log = [LoggedDecision(0.1, "SLOW", 0.4, "Someone is close beside us: slow down."),
           LoggedDecision(0.0, "PROCEED", 1.5, "The way is clear: proceed."),
           LoggedDecision(0.2, "STOP", 0.0, "It is too close in front of us: stop.")]
    assign_decisions(steps, log, step_dt=0.05)  # in arrival order
    assert [s["decision"] for s in steps] == ["PROCEED", "PROCEED", "SLOW", "SLOW", "STOP"]
    # Each step carries the speed limit and the reasoner's why with its behaviour.
    assert [s["max_speed"] for s in steps] == [1.5, 1.5, 0.4, 0.4, 0.0]
    assert steps[2]["rationale"] == "Someone is close beside us: slow down."


def test_steps_before_any_decision_have_none():
    steps = [{"t": 0.05, "decision": "x"}]
    assign_decisions(steps, [], step_dt=0.05)
    assert (steps[0]["decision"], steps[0]["max_speed"], steps[0]["rationale"]) == ("", None, "")

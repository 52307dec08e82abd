"""Suites, the runner's bookkeeping and the eval / compare commands (no episodes run)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from process_tools import kill_if_running, running

from reasonact_ros import cli
from reasonact_ros.evaluation.commands import add_commands
from reasonact_ros.evaluation.metrics import aggregate
from reasonact_ros.evaluation.ros_domains import FIRST_DOMAIN, LAST_DOMAIN, claim_domain
from reasonact_ros.evaluation.runner import (
    Suite,
    SuiteError,
    events_from_summary,
    load_suite,
    plan_jobs,
    run_jobs,
)
from reasonact_ros.sim.scenario import available_scenarios, load_scenario


@pytest.fixture(autouse=True)
def wired_cli(monkeypatch):
    """cli.build_parser with the evaluation commands added, as the integrator will wire
    them (one add_commands call on the subparsers object)."""
    def build_parser():
        parser = cli._Parser(prog="reasonact")
        commands = parser.add_subparsers(dest="command", required=True,
                                         parser_class=cli._Parser)
        add_commands(commands)
        return parser

    monkeypatch.setattr(cli, "build_parser", build_parser)


def run_cli(argv: list[str]) -> int:
    return cli.main(argv)


def test_builtin_suites(tmp_path):
    smoke = load_suite("smoke")
    assert smoke.scenarios == tuple(available_scenarios()) and smoke.seeds == 1
    assert smoke.mppi_samples is not None and smoke.mppi_samples < 2000
    full = load_suite("full")
    assert len(plan_jobs(full, tmp_path)) >= 500
    replay = load_suite("replay")
    assert replay.scenarios and all(load_scenario(s).replays for s in replay.scenarios)
    assert "replay" in replay.scenarios and "head_on" not in replay.scenarios


def test_seeds_start_at_the_scenario_seed_and_jobs_are_unique(tmp_path):
    suite = Suite("t", ("head_on", "crowd"), seeds=3)
    jobs = plan_jobs(suite, tmp_path)
    base = load_scenario("head_on").seed
    assert [(j.scenario, j.seed) for j in jobs[:3]] == [("head_on", base + k) for k in range(3)]
    assert len({j.work_dir for j in jobs}) == len({j.index for j in jobs}) == 6


def test_held_out_seeds_start_after_the_offset(tmp_path):
    base = load_scenario("head_on").seed
    suite = Suite("t", ("head_on",), seeds=2, seed_offset=42)
    assert [j.seed for j in plan_jobs(suite, tmp_path)] == [base + 42, base + 43]
    holdout, full = load_suite("holdout"), load_suite("full")
    # The held-out seeds are the ones after the full suite's, for the same scenarios.
    assert holdout.seed_offset == full.seeds and holdout.scenarios == full.scenarios
    assert (holdout.seeds, holdout.mppi_samples, holdout.planner, holdout.reasoner) == (
        full.seeds, full.mppi_samples, full.planner, full.reasoner)
    with pytest.raises(SuiteError, match="seed_offset must be an integer >= 0"):
        Suite("t", ("head_on",), seed_offset=-1)


def test_suite_yaml_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("scenarios: all\nplaner: dwa\n")
    with pytest.raises(SuiteError, match="unknown field.*planer"):
        load_suite(str(bad))
    bad.write_text("scenarios: [head_on]\nplanner: teleport\n")
    with pytest.raises(SuiteError, match="planner must be one of"):
        load_suite(str(bad))
    bad.write_text("seeds: 2\n")
    with pytest.raises(SuiteError, match="missing required field 'scenarios'"):
        load_suite(str(bad))
    with pytest.raises(SuiteError, match="unknown suite 'nope'"):
        load_suite("nope")
    good = tmp_path / "mine.yaml"
    good.write_text("scenarios: [head_on, crowd]\nseeds: 2\nplanner: dwa\njobs: 3\n")
    suite = load_suite(str(good))
    assert (suite.name, suite.scenarios, suite.seeds, suite.planner, suite.jobs) == (
        "mine", ("head_on", "crowd"), 2, "dwa", 3)


def test_events_from_a_summary():
    summary = {"collisions_person": 2, "collisions_obstacle": 1, "collisions_robot_at_fault": 1,
               "time_to_goal_s": None, "outcome": "timeout", "sim_time_s": 45.0}
    kinds = [e["kind"] for e in events_from_summary(summary)]
    assert kinds.count("collision_person") == 2 and kinds.count("collision_obstacle") == 1
    assert "timeout" in kinds and "goal_reached" not in kinds
    assert sum(e.get("robot_at_fault", False) for e in events_from_summary(summary)) == 1
    reached = events_from_summary({"time_to_goal_s": 12.5, "outcome": "goal_reached"})
    assert reached == [{"time": 12.5, "kind": "goal_reached"}]
    # Events in the summary (when bringup provides them) are used as they are.
    given = [{"time": 3.0, "kind": "collision_person"}]
    assert events_from_summary({"events": given}) is given


def test_claimed_domains_are_distinct_valid_not_ours_and_freed(monkeypatch, tmp_path):
    monkeypatch.setenv("ROS_DOMAIN_ID", "105")
    claims = [claim_domain(tmp_path) for _ in range(LAST_DOMAIN - FIRST_DOMAIN)]
    domains = {claim.domain for claim in claims}
    assert len(domains) == len(claims)  # every one but ours, each once
    assert all(FIRST_DOMAIN <= d <= LAST_DOMAIN for d in domains) and 105 not in domains
    with pytest.raises(RuntimeError, match="every ROS domain"):
        claim_domain(tmp_path)
    claims[0].release()
    with claim_domain(tmp_path) as again:  # a released domain is free again
        assert again.domain == claims[0].domain
    for claim in claims:
        claim.release()


def test_eval_rejects_bad_arguments_with_one_line(capsys):
    assert run_cli(["eval", "--jobs", "0"]) == cli.EXIT_USAGE
    assert "positive integer" in capsys.readouterr().err
    assert run_cli(["eval", "--suite", "nope"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "unknown suite 'nope'" in err and len(err.strip().splitlines()) == 1
    assert run_cli(["eval", "--planner", "teleport"]) == cli.EXIT_USAGE
    capsys.readouterr()
    assert run_cli(["eval", "--seed-offset", "-1"]) == cli.EXIT_USAGE
    assert "an integer >= 0, got '-1'" in capsys.readouterr().err
    assert run_cli(["eval", "--scenarios", "head_on,nowhere"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "no scenario named 'nowhere'" in err and len(err.strip().splitlines()) == 1


def _write_metrics(directory, episodes):
    directory.mkdir()
    (directory / "metrics.json").write_text(json.dumps(aggregate(episodes)))


def _compare_a_with_b(tmp_path, out, capsys) -> str:
    """`reasonact compare a b --out OUT` in ``tmp_path``; what it printed."""
    assert run_cli(["compare", str(tmp_path / "a"), str(tmp_path / "b"),
                    "--out", str(out)]) == 0
    return capsys.readouterr().out


def test_compare_prints_deltas_and_writes_files(tmp_path, capsys):
    a = [{"scenario": "head_on", "success": False, "collisions": 1, "timeout": False},
         {"scenario": "crowd", "success": True, "collisions": 0, "timeout": False,
          "time_to_goal_s": 30.0}]
    b = [{"scenario": "head_on", "success": True, "collisions": 0, "timeout": False,
          "time_to_goal_s": 20.0},
         {"scenario": "crowd", "success": True, "collisions": 0, "timeout": False,
          "time_to_goal_s": 24.0}]
    _write_metrics(tmp_path / "a", a)
    _write_metrics(tmp_path / "b", b)
    out = tmp_path / "cmp"
    printed = _compare_a_with_b(tmp_path, out, capsys)
    assert "| success_rate | 0.5 | 1 | 0.5 | +100.0 % | better |" in printed
    assert "| mean_time_to_goal_s | 30 | 22 | -8 | -26.7 % | better |" in printed
    assert "| head_on | 0 -> 1 | 1 -> 0 | - | - | - -> 20 |" in printed
    assert "| crowd | 1 | 0 | - | - | 30 -> 24 |" in printed
    assert (out / "compare.md").is_file()
    assert (out / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _write_run(directory, episodes):
    _write_metrics(directory, episodes)
    (directory / "episodes.jsonl").write_text(
        "".join(json.dumps(e) + "\n" for e in episodes))


def test_compare_pairs_runs_that_hold_different_episodes(tmp_path, capsys):
    def episode(seed, success):
        return {"scenario": "head_on", "seed": seed, "success": success, "collisions": 0,
                "timeout": not success}
    # A: seeds 1-4, B: seeds 1-2 only. Paired, both succeed on 1-2: no difference.
    _write_run(tmp_path / "a", [episode(1, True), episode(2, True), episode(3, False),
                                episode(4, False)])
    _write_run(tmp_path / "b", [episode(1, True), episode(2, True)])
    assert run_cli(["compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    printed = capsys.readouterr().out
    assert "compared on the 2 episodes (scenario, seed) both runs hold (A has 4, B has 2)" \
        in printed
    assert "| success_rate | 1 | 1 | 0 |" in printed
    _write_run(tmp_path / "c", [episode(9, True)])
    assert run_cli(["compare", str(tmp_path / "a"), str(tmp_path / "c")]) == cli.EXIT_USAGE
    assert "share no (scenario, seed) episode" in capsys.readouterr().err


def test_compare_of_a_missing_directory_is_a_usage_error(tmp_path, capsys):
    assert run_cli(["compare", str(tmp_path / "x"), str(tmp_path / "y")]) == cli.EXIT_USAGE
    assert "x does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert run_cli(["compare", str(tmp_path / "empty"), str(tmp_path / "y")]) == cli.EXIT_USAGE
    assert "empty/metrics.json does not exist" in capsys.readouterr().err


def test_ros_domain_of_this_test_session_is_untouched(tmp_path):
    # Claiming a domain must not change the environment of the process that claims it.
    before = os.environ.get("ROS_DOMAIN_ID")
    claim_domain(tmp_path).release()
    assert os.environ.get("ROS_DOMAIN_ID") == before


def _where_it_ran(job) -> dict:
    return {"index": job.index, "pid": os.getpid(), "domain": os.environ.get("ROS_DOMAIN_ID"),
            "discovery": os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE")}


@pytest.mark.parametrize("workers", [1, 2])
def test_episodes_never_run_on_the_callers_ros_domain(monkeypatch, tmp_path, workers):
    # With one job the episodes once ran in the caller's process and domain: two evals
    # side by side heard each other's /clock and /scan, and one next to a robot would
    # hear the robot.
    monkeypatch.setenv("ROS_DOMAIN_ID", "0")
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "SUBNET")
    jobs = plan_jobs(Suite("t", ("head_on", "crossing"), seeds=2), tmp_path)
    records = run_jobs(jobs, workers, task=_where_it_ran)
    assert [r["index"] for r in records] == [job.index for job in jobs]
    assert all(r["pid"] != os.getpid() for r in records)
    domains = {r["domain"] for r in records}
    assert len(domains) == workers and "0" not in domains
    assert all(FIRST_DOMAIN <= int(domain) <= LAST_DOMAIN for domain in domains)
    assert {r["discovery"] for r in records} == {"LOCALHOST"}


def _say_where_then_sleep(job) -> dict:
    Path(job.work_dir).mkdir(parents=True, exist_ok=True)
    (Path(job.work_dir) / "pid").write_text(str(os.getpid()))
    time.sleep(120.0)
    return {"index": job.index}


_EVAL_THAT_HANGS = """
import sys
from pathlib import Path
from test_evaluation_runner import _say_where_then_sleep
from reasonact_ros.evaluation.runner import Suite, plan_jobs, run_jobs
run_jobs(plan_jobs(Suite("t", ("head_on",), seeds=1), Path(sys.argv[1])), 1,
         task=_say_where_then_sleep)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="workers are tied to the eval with prctl(PR_SET_PDEATHSIG), which "
                           "only Linux has; elsewhere a killed eval still leaves them running")
@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGKILL],
                         ids=["SIGTERM", "SIGKILL"])
def test_a_killed_eval_takes_its_workers_with_it(tmp_path, signal_number):
    # Killed, the eval left its workers running their episodes (writing summaries into an
    # output directory removed after the kill) and holding their ROS domains.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    parent = subprocess.Popen([sys.executable, "-c", _EVAL_THAT_HANGS, str(tmp_path)], env=env)
    worker = None
    try:
        deadline = time.monotonic() + 60.0
        while not list(tmp_path.rglob("pid")) and time.monotonic() < deadline:
            assert parent.poll() is None, "the eval ended before its worker started"
            time.sleep(0.1)
        worker = int(next(tmp_path.rglob("pid")).read_text())
        assert running(worker)
        parent.send_signal(signal_number)
        parent.wait(timeout=10.0)
        deadline = time.monotonic() + 10.0
        while running(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not running(worker)
    finally:
        parent.kill()
        parent.wait()
        if worker is not None:
            kill_if_running([worker])


def test_compare_lists_the_episodes_whose_verdict_changed(tmp_path, capsys):
    def episode(scenario, seed, success, collisions=0, timeout=False, **extra):
        return {"scenario": scenario, "seed": seed, "success": success,
                "collisions": collisions, "timeout": timeout, **extra}
    _write_run(tmp_path / "a", [episode("crowd", 3, True), episode("crowd", 4, False, 2),
                                episode("replay", 7, False, timeout=True),
                                episode("head_on", 1, True)])
    _write_run(tmp_path / "b", [episode("crowd", 3, False, 1, True),
                                episode("crowd", 4, False, 2),
                                episode("replay", 7, True),
                                episode("head_on", 1, False, outcome="error")])
    out = tmp_path / "cmp"
    printed = _compare_a_with_b(tmp_path, out, capsys)
    assert "Episodes whose verdict changed (3):" in printed
    assert "| crowd | 3 | success | 1 contact, timeout |" in printed
    assert "| replay | 7 | timeout | success |" in printed
    assert "| head_on | 1 | success | error |" in printed
    assert "| crowd | 4 |" not in printed  # 2 contacts both times: unchanged
    assert "| replay | 7 | timeout | success |" in (out / "compare.md").read_text()
    _write_run(tmp_path / "c", [episode("crowd", 3, True)])
    assert run_cli(["compare", str(tmp_path / "a"), str(tmp_path / "c")]) == 0
    assert "No episode both runs hold changed its verdict." in capsys.readouterr().out

"""Run a suite of closed-loop episodes and write episodes.jsonl, metrics.json, report.md.

A suite is scenarios x seeds with one planner, reasoner and instruction. The
built-in suites live in config/suites/*.yaml (``smoke``: every scenario once;
``full``: every scenario over 42 seeds, 504 episodes; ``holdout``: the same over
the 42 seeds after those, which no tuning has looked at; ``replay``: the scenarios
that replay recorded trajectories); any other suite YAML path works too.

Each episode is ``bringup.run_episode``: the real node graph over real DDS. Episodes
run in ``jobs`` worker processes, each with its own rclpy context, its own ROS_DOMAIN_ID
(``ros_domains.claim_domain``) and discovery limited to this machine: workers cannot
hear each other, nor a second eval, nor a robot on the caller's domain (an episode's
simulator publishes /clock, /scan and /odom). One job is one worker too.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from reasonact_ros.evaluation.metrics import EpisodeGoal, aggregate, episode_metrics
from reasonact_ros.evaluation.ros_domains import DomainClaim, claim_domain
from reasonact_ros.evaluation.timeline import timeline_rows, worth_a_look, write_timeline
from reasonact_ros.process_lifetime import die_with

PLANNERS = ("mppi", "dwa")
REASONERS = ("rules", "llm", "local", "none")
SUITE_KEYS = {"name", "description", "scenarios", "seeds", "seed_offset", "planner",
              "reasoner", "instruction", "mppi_samples", "llm_endpoint", "jobs", "gifs"}


class SuiteError(ValueError):
    """A suite name or file that cannot be used; the message is one line."""


@dataclass(frozen=True)
class Suite:
    name: str
    scenarios: tuple[str, ...]
    seeds: int = 1  # per scenario: the scenario's own seed, then seed + 1, ...
    seed_offset: int = 0  # ... after skipping this many of them (held-out seeds)
    planner: str = "mppi"
    reasoner: str = "rules"
    instruction: str = ""
    mppi_samples: int | None = None  # None: the params file's (2000)
    llm_endpoint: str = ""
    jobs: int = 1
    gifs: bool = True  # record the top-down GIF (kept for the episodes worth a look)
    description: str = ""

    def __post_init__(self):
        if not self.scenarios:
            raise SuiteError(f"suite {self.name!r} has no scenarios")
        if isinstance(self.seeds, bool) or not isinstance(self.seeds, int) or self.seeds < 1:
            raise SuiteError(f"suite {self.name!r}: seeds must be an integer >= 1, "
                             f"got {self.seeds!r}")
        if (isinstance(self.seed_offset, bool) or not isinstance(self.seed_offset, int)
                or self.seed_offset < 0):
            raise SuiteError(f"suite {self.name!r}: seed_offset must be an integer >= 0, "
                             f"got {self.seed_offset!r}")
        if self.planner not in PLANNERS:
            raise SuiteError(f"suite {self.name!r}: planner must be one of {PLANNERS}, "
                             f"got {self.planner!r}")
        if self.reasoner not in REASONERS:
            raise SuiteError(f"suite {self.name!r}: reasoner must be one of {REASONERS}, "
                             f"got {self.reasoner!r}")
        if self.mppi_samples is not None and (
                isinstance(self.mppi_samples, bool) or not isinstance(self.mppi_samples, int)
                or self.mppi_samples < 16):
            raise SuiteError(f"suite {self.name!r}: mppi_samples must be an integer >= 16, "
                             f"got {self.mppi_samples!r}")
        if isinstance(self.jobs, bool) or not isinstance(self.jobs, int) or self.jobs < 1:
            raise SuiteError(f"suite {self.name!r}: jobs must be an integer >= 1, "
                             f"got {self.jobs!r}")


@dataclass(frozen=True)
class EpisodeJob:
    index: int
    scenario: str
    seed: int
    planner: str
    reasoner: str
    instruction: str
    mppi_samples: int | None
    llm_endpoint: str
    gifs: bool
    work_dir: str  # where run_episode writes summary.json / episode.gif, and timeline.csv

    @property
    def label(self) -> str:
        return f"{Path(self.scenario).stem}__s{self.seed}"


# ---------------------------------------------------------------------------------------------
# Suites
# ---------------------------------------------------------------------------------------------

def suites_dir() -> Path:
    from reasonact_ros.share import share_path

    try:
        return share_path("config", "suites")
    except (ImportError, LookupError):
        return Path(__file__).resolve().parents[2] / "config" / "suites"


def available_suites() -> list[str]:
    return sorted(p.stem for p in suites_dir().glob("*.yaml"))


def _replay_scenarios() -> list[str]:
    from reasonact_ros.sim.scenario import available_scenarios, load_scenario

    return [name for name in available_scenarios() if load_scenario(name).replays]


def scenario_list(value, where: str) -> tuple[str, ...]:
    from reasonact_ros.sim.scenario import available_scenarios

    if value == "all":
        return tuple(available_scenarios())
    if value == "replay":
        return tuple(_replay_scenarios())
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SuiteError(f"{where}: scenarios must be 'all', 'replay' or a list of names, "
                         f"got {value!r}")
    return tuple(value)


def load_suite(name_or_path: str) -> Suite:
    """A built-in suite by name (config/suites/NAME.yaml) or a suite YAML file."""
    import yaml

    text = str(name_or_path)
    path = Path(text)
    if not text.endswith((".yaml", ".yml")) and "/" not in text:
        path = suites_dir() / f"{text}.yaml"
        if not path.is_file():
            raise SuiteError(f"unknown suite {text!r}; available: "
                             f"{', '.join(available_suites())} or a suite YAML path")
    if not path.is_file():
        raise SuiteError(f"suite file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise SuiteError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise SuiteError(f"{path}: expected a mapping of suite fields")
    unknown = sorted(set(data) - SUITE_KEYS)
    if unknown:
        raise SuiteError(f"{path}: unknown field(s) {unknown}; known: {sorted(SUITE_KEYS)}")
    if "scenarios" not in data:
        raise SuiteError(f"{path}: missing required field 'scenarios'")
    fields = {k: v for k, v in data.items() if k != "scenarios"}
    fields.setdefault("name", path.stem)
    fields["instruction"] = str(fields.get("instruction") or "")
    fields["llm_endpoint"] = str(fields.get("llm_endpoint") or "")
    try:
        return Suite(scenarios=scenario_list(data["scenarios"], str(path)), **fields)
    except TypeError as error:
        raise SuiteError(f"{path}: {error}") from None


def check_scenarios(names: tuple[str, ...]) -> None:
    from reasonact_ros.sim.scenario import load_scenario

    for name in names:
        load_scenario(name)  # ScenarioError names the problem


def plan_jobs(suite: Suite, work_root: Path) -> list[EpisodeJob]:
    from reasonact_ros.sim.scenario import load_scenario

    jobs = []
    for scenario in suite.scenarios:
        base = load_scenario(scenario).seed + suite.seed_offset
        for k in range(suite.seeds):
            index = len(jobs)
            jobs.append(EpisodeJob(index, scenario, base + k, suite.planner, suite.reasoner,
                                   suite.instruction, suite.mppi_samples, suite.llm_endpoint,
                                   suite.gifs, str(work_root / f"{index:05d}")))
    return jobs


# ---------------------------------------------------------------------------------------------
# One episode (runs in a worker process or in this one)
# ---------------------------------------------------------------------------------------------

def events_from_summary(summary: dict) -> list[dict]:
    """A run_episode summary's events; older summaries without them are reconstructed
    from their counts (collision times are then unknown)."""
    if isinstance(summary.get("events"), list):
        return summary["events"]
    events = []
    at_fault = int(summary.get("collisions_robot_at_fault", 0) or 0)
    for kind, key in (("collision_person", "collisions_person"),
                      ("collision_obstacle", "collisions_obstacle")):
        for _ in range(int(summary.get(key, 0) or 0)):
            events.append({"time": None, "kind": kind, "robot_at_fault": at_fault > 0})
            at_fault -= 1
    if summary.get("time_to_goal_s") is not None:
        events.append({"time": summary["time_to_goal_s"], "kind": "goal_reached"})
    if summary.get("outcome") in ("timeout", "wall_timeout"):
        events.append({"time": summary.get("sim_time_s"), "kind": "timeout"})
    return events


def run_job(job: EpisodeJob) -> dict:
    """Run one episode and return its episodes.jsonl record."""
    from reasonact_ros.bringup import EpisodeOptions, run_episode
    from reasonact_ros.sim.scenario import load_scenario

    scenario = load_scenario(job.scenario)
    options = EpisodeOptions(scenario=job.scenario, planner=job.planner, reasoner=job.reasoner,
                             instruction=job.instruction, seed=job.seed,
                             llm_endpoint=job.llm_endpoint, mppi_samples=job.mppi_samples)
    trajectory: list[dict] = []
    out_dir = Path(job.work_dir)
    started = time.monotonic()
    summary = run_episode(options, out_dir=out_dir, gif=job.gifs, trajectory=trajectory)
    stats = summary.get("reasoning_stats")
    goal = EpisodeGoal(tuple(tuple(map(float, p)) for p in scenario.goal.waypoints),
                       float(scenario.goal.tolerance),
                       start=(scenario.robot_start.x, scenario.robot_start.y))
    record = {"index": job.index, "scenario": scenario.name, "scenario_source": job.scenario,
              "seed": job.seed,
              "planner": job.planner, "reasoner": job.reasoner,
              "instruction": job.instruction,
              "mppi_samples": job.mppi_samples if job.planner == "mppi" else None,
              "outcome": summary.get("outcome"),
              "wall_time_s": round(time.monotonic() - started, 3),
              "real_time_factor": summary.get("real_time_factor"),
              "lockstep_misses": summary.get("lockstep_misses", 0),
              "decision_messages": summary.get("decisions", {})}
    if trajectory:
        record.update(episode_metrics(trajectory, events_from_summary(summary), goal,
                                      robot_radius=scenario.robot.radius,
                                      timeout_s=scenario.duration_s, reasoning_stats=stats))
    else:
        record.update({"success": False, "timeout": True, "collisions": 0,
                       "error": "no simulator step was logged"})
    # Where the episode ended up must agree with the simulator's own verdict.
    record["sim_success"] = bool(summary.get("success"))
    record["path"] = [[round(s["x"], 2), round(s["y"], 2)] for s in trajectory[::2]]
    gif = out_dir / "episode.gif"
    record["gif"] = str(gif) if gif.is_file() else None
    record["timeline"] = None
    if trajectory and worth_a_look(record):
        timeline = write_timeline(timeline_rows(trajectory, scenario.robot.radius),
                                  out_dir / "timeline.csv")
        record["timeline"] = str(timeline)
    return record


def _error_record(job: EpisodeJob, error: BaseException) -> dict:
    frames = traceback.extract_tb(error.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return {"index": job.index, "scenario": Path(job.scenario).stem, "seed": job.seed,
            "planner": job.planner, "reasoner": job.reasoner, "success": False,
            "timeout": False, "collisions": 0, "outcome": "error",
            "error": f"{type(error).__name__}{where}: "
                     f"{str(error).splitlines()[0] if str(error) else ''}",
            "path": [], "gif": None, "timeline": None}


# --- worker processes ------------------------------------------------------------------------

_WORKER_DOMAIN: DomainClaim | None = None  # held for the worker process's lifetime


def _init_worker(parent_pid: int) -> None:
    global _WORKER_DOMAIN
    die_with(parent_pid)
    _WORKER_DOMAIN = claim_domain()
    os.environ["ROS_DOMAIN_ID"] = str(_WORKER_DOMAIN.domain)
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"  # an episode is all local
    # Parallel episodes already fill the cores; torch's own thread pool per worker would
    # only oversubscribe them (set before torch is imported in this process). One thread
    # with one worker too, so that --jobs does not change what an episode computes.
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def _run_job_safely(job: EpisodeJob) -> dict:
    try:
        return run_job(job)
    except Exception as error:  # one broken episode must not end a 500-episode run
        return _error_record(job, error)


# --- progress --------------------------------------------------------------------------------

class Progress:
    """A one-line progress bar on stderr (a line per episode when stderr is not a tty)."""

    def __init__(self, total: int, stream=None, enabled: bool = True):
        self.total, self.done, self.ok = total, 0, 0
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.started = time.monotonic()
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def update(self, record: dict) -> None:
        self.done += 1
        self.ok += bool(record.get("success"))
        if not self.enabled:
            return
        elapsed = time.monotonic() - self.started
        eta = elapsed / self.done * (self.total - self.done)
        width = 24
        filled = int(width * self.done / max(self.total, 1))
        verdict = "ok" if record.get("success") else record.get("outcome") or "fail"
        line = (f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} "
                f"success {self.ok}/{self.done} elapsed {elapsed:.0f}s eta {eta:.0f}s  "
                f"{record.get('scenario')} s{record.get('seed')}: {verdict}")
        if self.tty:
            self.stream.write("\r" + line[:150].ljust(150))
            if self.done == self.total:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def run_jobs(jobs: list[EpisodeJob], workers: int, progress: Progress | None = None,
             on_record=None, task=None) -> list[dict]:
    """Run every job (``task(job)`` -> record, an episode by default) in worker processes;
    records come back in job order."""
    task = task or _run_job_safely
    records: dict[int, dict] = {}

    def finish(record: dict) -> None:
        records[record["index"]] = record
        if on_record is not None:
            on_record(record)
        if progress is not None:
            progress.update(record)

    # In the caller's process an episode would join the caller's ROS domain: two evals
    # with one job each heard each other's /scan and /clock ("scan is -21 s old") and
    # both went wrong; next to a robot on domain 0 it would hear the robot.
    workers = max(1, workers)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context,
                             initializer=_init_worker, initargs=(os.getpid(),)) as pool:
        pending = {pool.submit(task, job): job for job in jobs}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                job = pending.pop(future)
                try:
                    finish(future.result())
                except Exception as error:  # the worker process itself died
                    finish(_error_record(job, error))
    return [records[job.index] for job in jobs]


# ---------------------------------------------------------------------------------------------
# The whole suite
# ---------------------------------------------------------------------------------------------

@dataclass
class SuiteResult:
    out_dir: Path
    records: list[dict]
    metrics: dict
    wall_time_s: float
    files: dict[str, str] = field(default_factory=dict)


def run_suite(suite: Suite, out_dir: Path, show_progress: bool = True) -> SuiteResult:
    """Run ``suite`` and write every output into ``out_dir``."""
    from reasonact_ros.evaluation import plots, report

    check_scenarios(suite.scenarios)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    work_root = Path(tempfile.mkdtemp(prefix="episodes_", dir=out_dir))
    jobs = plan_jobs(suite, work_root)
    failures_dir = out_dir / "failures"
    episodes_path = out_dir / "episodes.jsonl"
    try:
        with episodes_path.open("w", encoding="utf-8") as episodes_file:
            def keep(record: dict) -> None:
                # The GIF and the timeline of every episode worth a look stay, under
                # failures/; the work directories go.
                look = worth_a_look(record)
                for key, suffix in (("gif", "gif"), ("timeline", "timeline.csv")):
                    source = record.get(key)
                    if source and look:
                        failures_dir.mkdir(exist_ok=True)
                        target = failures_dir / f"{record['scenario']}__s{record['seed']}.{suffix}"
                        shutil.copyfile(source, target)
                        record[key] = str(target.relative_to(out_dir))
                    else:
                        record[key] = None
                episodes_file.write(json.dumps(record, default=_json_default) + "\n")
                episodes_file.flush()

            records = run_jobs(jobs, suite.jobs,
                               Progress(len(jobs), enabled=show_progress), on_record=keep)
    finally:
        shutil.rmtree(work_root, ignore_errors=True)
    wall = time.monotonic() - started
    metrics = aggregate(records)
    metrics["suite"] = {**{k: v for k, v in asdict(suite).items()},
                        "scenarios": list(suite.scenarios)}
    metrics["wall_time_s"] = round(wall, 1)
    metrics["errors"] = sum(1 for r in records if r.get("outcome") == "error")
    # Wall times depend on what else ran: say how busy the machine was.
    metrics["machine"] = {"cpu_count": os.cpu_count(),
                          "load_average_1min_at_end": round(os.getloadavg()[0], 2)}
    (out_dir / "metrics.json").write_text(
        json.dumps(metrics, indent=2, default=_json_default) + "\n", encoding="utf-8")
    files = {"episodes": str(episodes_path), "metrics": str(out_dir / "metrics.json")}
    files.update(plots.write_plots(records, metrics, out_dir / "plots"))
    files["report"] = str(report.write_report(records, metrics, out_dir / "report.md"))
    return SuiteResult(out_dir, records, metrics, wall, files)


def _json_default(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, tuple):
        return list(value)
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def with_overrides(suite: Suite, **overrides) -> Suite:
    """The suite with every override that is not None applied (CLI flags win)."""
    return replace(suite, **{k: v for k, v in overrides.items() if v is not None})

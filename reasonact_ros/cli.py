"""The `reasonact` command: run, evaluate and benchmark the stack without `ros2 launch`.

Bad input (an unknown scenario, an unknown option, a malformed file) ends with
exit code 2 and one line on stderr that says what was wrong; no traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_USAGE = 2


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are one line (the usage is one `--help` away)."""

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def _scenario_choice(value: str) -> str:
    from reasonact_ros.sim.scenario import available_scenarios

    if value in available_scenarios() or Path(value).is_file():
        return value
    if value.endswith((".yaml", ".yml")) or "/" in value:
        raise argparse.ArgumentTypeError(f"scenario file {value} does not exist")
    raise argparse.ArgumentTypeError(
        f"unknown scenario {value!r}; available: {', '.join(available_scenarios())}")


def _add_demo(commands) -> None:
    from reasonact_ros.bringup import PLANNERS, REASONERS

    demo = commands.add_parser(
        "demo", help="run one closed-loop episode in the built-in simulator",
        description="Start the simulator and the whole stack in one process, run the "
                    "scenario and write DIR/summary.json, episode.png and episode.gif.")
    demo.add_argument("--scenario", type=_scenario_choice, default="head_on",
                      help="scenario name or YAML path (default: head_on)")
    demo.add_argument("--instruction", default="", help="natural-language instruction")
    demo.add_argument("--planner", choices=PLANNERS, default="mppi")
    demo.add_argument("--reasoner", choices=REASONERS, default="rules")
    demo.add_argument("--endpoint", default="",
                      help="OpenAI-compatible endpoint for --reasoner llm")
    demo.add_argument("--seed", type=int, default=-1, help="-1 uses the scenario's seed")
    demo.add_argument("--camera", action="store_true", help="render and publish the camera")
    demo.add_argument("--out", type=Path, default=Path("out/demo"), help="output directory")
    demo.add_argument("--realtime", action="store_true",
                      help="pace the simulation to the wall clock")
    demo.add_argument("--record", type=Path, default=None, metavar="BAG_DIR",
                      help="record the graph's topics to a new rosbag2 directory")
    demo.add_argument("--record-storage", choices=("mcap", "sqlite3"), default="mcap")
    demo.set_defaults(run=_run_demo)


def _run_demo(args) -> int:
    from reasonact_ros.bringup import EpisodeOptions, run_episode

    options = EpisodeOptions(scenario=args.scenario, planner=args.planner,
                             reasoner=args.reasoner, instruction=args.instruction,
                             realtime=args.realtime, seed=args.seed, camera=args.camera,
                             llm_endpoint=args.endpoint)
    summary = run_episode(options, out_dir=args.out, record=args.record,
                          record_storage=args.record_storage)
    _print_summary(summary, args.out)
    return 0


def _print_summary(summary: dict, out_dir: Path) -> None:
    goal = (f"reached the goal in {summary['time_to_goal_s']:.1f} s"
            if summary["time_to_goal_s"] is not None else f"did not reach the goal "
            f"({summary['outcome']})")
    closest = summary["min_person_distance_m"]
    people = f"closest person {closest:.2f} m" if closest is not None else "no people"
    decisions = ", ".join(f"{k} {v}" for k, v in summary["decisions"].items()) or "none"
    print(f"{summary['scenario']}: {'SUCCESS' if summary['success'] else 'FAILURE'} - {goal}, "
          f"{summary['collisions']} collisions ({summary['collisions_robot_at_fault']} robot at "
          f"fault), {people}, top speed {summary['max_linear_speed_mps']:.2f} m/s")
    print(f"decisions: {decisions}")
    print(f"sim {summary['sim_time_s']:.1f} s in {summary['wall_time_s']:.1f} s wall "
          f"({summary['real_time_factor']}x real time)")
    print(f"outputs: {out_dir / 'summary.json'}"
          + (f", {summary['outputs']['gif']}" if "outputs" in summary else "")
          + (f", bag {summary['recording']}" if "recording" in summary else ""))


def _add_reason(commands) -> None:
    reason = commands.add_parser(
        "reason", help="print the reasoning decision for a scenario's scene at a time",
        description="Build the scene of a scenario at time T (the robot holding still, "
                    "perception tracking the simulated scans) and print the validated "
                    "decision of one back-end.")
    reason.add_argument("--scenario", type=_scenario_choice, default="head_on")
    reason.add_argument("--time", type=float, default=3.0, help="scene time T [s]")
    reason.add_argument("--instruction", default="")
    reason.add_argument("--backend", choices=("rules", "llm", "local"), default="rules")
    reason.add_argument("--endpoint", default="http://127.0.0.1:8080/v1",
                        help="OpenAI-compatible endpoint for --backend llm")
    reason.add_argument("--model", default="", help="model name sent to the endpoint")
    reason.add_argument("--timeout", type=float, default=10.0, help="LLM timeout [s]")
    reason.add_argument("--ground-truth", action="store_true",
                        help="use the simulator's ground truth instead of perception")
    reason.add_argument("--json", action="store_true", help="print one JSON object")
    reason.set_defaults(run=_run_reason)


def _run_reason(args) -> int:
    import json

    from reasonact_ros.offline import decide_once, scene_at_time
    from reasonact_ros.sim.scenario import load_scenario

    try:
        scene = scene_at_time(load_scenario(args.scenario), args.time,
                              perceived=not args.ground_truth)
    except ValueError as error:
        raise UsageError(f"reasonact reason: {error}") from None
    result = decide_once(scene, args.instruction, args.backend, endpoint=args.endpoint,
                         model=args.model, timeout_s=args.timeout)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['behavior']} at most {result['max_speed']:.2f} m/s, "
              f"{result['min_clearance']:.2f} m from people [{result['source']}]"
              + (f" (rejected: {result['rejection_reason']})" if result["rejected"] else ""))
        print(f"scene: {result['scene_text']}")
        print(f"why: {result['rationale']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="reasonact", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     parser_class=_Parser)
    _add_demo(commands)
    _add_reason(commands)
    from reasonact_ros.evaluation.commands import add_commands as add_evaluation_commands

    add_evaluation_commands(commands)
    from reasonact_ros.recording.commands import add_commands as add_recording_commands

    add_recording_commands(commands)
    from reasonact_ros.composition import add_launch_command

    add_launch_command(commands)
    from reasonact_ros.learning.commands import add_commands as add_learning_commands

    add_learning_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    from reasonact_ros.learning.errors import ERRORS as LEARNING_ERRORS
    from reasonact_ros.recording.bagfile import BagError
    from reasonact_ros.sim.replay import TrajectoryError
    from reasonact_ros.sim.scenario import ScenarioError

    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except (UsageError, ScenarioError, TrajectoryError, BagError, *LEARNING_ERRORS) as error:
        print(str(error).splitlines()[0] if str(error) else type(error).__name__,
              file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())

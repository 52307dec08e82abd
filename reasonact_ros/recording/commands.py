"""`reasonact replay` and `reasonact analyze`: the CLI side of recording.

``add_commands(commands)`` registers both subparsers on cli.py's subparsers
object. Bad input (a missing, truncated or foreign bag, an unknown storage,
topics the bag lacks or whose type is not installed) raises BagError, a
ValueError whose one-line message cli.main prints before exiting with 2.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path


def _rate(value: str) -> float:
    try:
        rate = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"rate must be a number, got {value!r}") from None
    if not math.isfinite(rate) or rate < 0.0:
        raise argparse.ArgumentTypeError(f"rate must be >= 0 (0: as fast as possible), "
                                         f"got {value}")
    return rate


def add_commands(commands) -> None:
    replay = commands.add_parser(
        "replay", help="publish a bag's messages on their topics, with /clock",
        description="Publish a rosbag2 bag (mcap or sqlite3) on its recorded topics with its "
                    "timing and /clock from the bag, so nodes run on recorded data with "
                    "use_sim_time:=true.")
    replay.add_argument("bag", type=Path, help="bag directory, .mcap or .db3 file")
    replay.add_argument("--topics", nargs="+", metavar="TOPIC",
                        help="replay only these topics (default: all); /clock is always "
                             "included")
    replay.add_argument("--rate", type=_rate, default=1.0,
                        help="playback speed factor; 0 = as fast as possible (default: 1)")
    replay.add_argument("--wait", type=float, default=2.0, metavar="S",
                        help="wait up to S seconds for subscribers before playing")
    replay.add_argument("--out", type=Path, help="write DIR/replay.json (what was published)")
    replay.set_defaults(run=_run_replay)

    analyze = commands.add_parser(
        "analyze", help="run perception and reasoning offline on a bag",
        description="Run perception and reasoning on a bag's scan, odom and camera without a "
                    "simulator or ROS graph; write DIR/analysis (scene and decisions as a "
                    "bag), DIR/report.md, DIR/tracks.png and, with camera images, "
                    "DIR/contact_sheet.png.")
    analyze.add_argument("bag", type=Path, help="bag directory, .mcap or .db3 file")
    analyze.add_argument("--out", type=Path, required=True, help="output directory")
    analyze.add_argument("--instruction", default="", help="natural-language instruction")
    analyze.add_argument("--detector", choices=("auto", "ssd", "hog", "none"), default="auto",
                         help="camera person detector when the bag has images")
    analyze.add_argument("--scan-topic", default="/scan")
    analyze.add_argument("--odom-topic", default="/odom")
    analyze.set_defaults(run=_run_analyze)


def _run_replay(args) -> int:
    from reasonact_ros.recording.player import replay_bag

    summary = replay_bag(args.bag, topics=args.topics, rate=args.rate, wait_s=args.wait,
                         log=lambda line: print(line, file=sys.stderr))
    topics = ", ".join(f"{t} {n}" for t, n in summary["topics"].items()) or "nothing"
    print(f"replayed {summary['messages']} messages ({summary['bag_span_s']:.1f} s of bag "
          f"in {summary['wall_s']:.1f} s, clock from {summary['clock']}): {topics}")
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "replay.json").write_text(json.dumps(summary, indent=2) + "\n")
        print(f"outputs: {args.out / 'replay.json'}")
    return 0


def _run_analyze(args) -> int:
    from reasonact_ros.recording.analysis import AnalysisTopics, analyze_bag

    topics = AnalysisTopics(scan=_absolute(args.scan_topic), odom=_absolute(args.odom_topic))
    summary = analyze_bag(args.bag, args.out, detector=args.detector,
                          instruction=args.instruction, topics=topics,
                          log=lambda line: print(line, file=sys.stderr))
    decisions = ", ".join(f"{k} {v}" for k, v in sorted(summary["decisions"].items()))
    print(f"{summary['scenes']} scans, {summary['people_seen']} people seen, decisions: "
          f"{decisions or 'none'}")
    print(f"outputs: {', '.join(summary['outputs'].values())}")
    return 0


def _absolute(topic: str) -> str:
    return topic if topic.startswith("/") else "/" + topic


def main(argv: list[str] | None = None) -> int:
    """`python -m reasonact_ros.recording.commands replay|analyze ...` is `reasonact ...`."""
    from reasonact_ros.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())

"""The `reasonact eval`, `compare` and `bench` subcommands.

``add_commands(commands)`` registers them on the subparsers object of
``reasonact_ros.cli.build_parser``; each sets ``run=fn`` with ``fn(args) -> int``.
Bad input raises the CLI's UsageError (one line, exit code 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from reasonact_ros.arguments import non_negative_int, positive_int


def _usage_error(message: str) -> Exception:
    from reasonact_ros.cli import UsageError

    return UsageError(message)


def _scenario_names(value: str) -> tuple[str, ...]:
    names = tuple(v.strip() for v in value.split(",") if v.strip())
    if not names:
        raise argparse.ArgumentTypeError("expected comma-separated scenario names")
    return names


def add_commands(commands) -> None:
    from reasonact_ros.evaluation.runner import PLANNERS, REASONERS

    evaluate = commands.add_parser(
        "eval", help="run a suite of episodes and write metrics, a report and plots",
        description="Run scenarios x seeds through the real node graph and write "
                    "DIR/episodes.jsonl, metrics.json, report.md, plots/*.png and, in "
                    "failures/, a GIF and a timeline (CSV: pose, decision, rationale, closest "
                    "person) of every episode that failed, touched someone or came within "
                    "their intimate space. Flags override the suite's values.")
    evaluate.add_argument("--suite", default="smoke",
                          help="smoke | full | holdout | replay | a suite YAML path "
                               "(default: smoke)")
    evaluate.add_argument("--scenarios", type=_scenario_names, default=None, metavar="A,B",
                          help="only these scenarios (names or YAML paths)")
    evaluate.add_argument("--seeds", type=positive_int, default=None, metavar="N",
                          help="seeds per scenario: the scenario's seed, +1, ... +N-1")
    evaluate.add_argument("--seed-offset", type=non_negative_int, default=None, metavar="K",
                          help="start K seeds after the scenario's seed (the holdout suite: "
                               "42, the seeds after the full suite's)")
    evaluate.add_argument("--planner", choices=PLANNERS, default=None)
    evaluate.add_argument("--reasoner", choices=REASONERS, default=None)
    evaluate.add_argument("--instruction", default=None, help="natural-language instruction")
    evaluate.add_argument("--endpoint", default=None,
                          help="OpenAI-compatible endpoint for --reasoner llm")
    evaluate.add_argument("--mppi-samples", type=positive_int, default=None, metavar="N",
                          help="MPPI rollouts per cycle (default: the suite's or 2000)")
    evaluate.add_argument("--jobs", type=positive_int, default=None, metavar="J",
                          help="episodes in parallel, one process each")
    evaluate.add_argument("--no-gifs", action="store_true",
                          help="do not record top-down GIFs of the episodes worth a look "
                               "(their timelines are written all the same)")
    evaluate.add_argument("--quiet", action="store_true", help="no progress bar")
    evaluate.add_argument("--out", type=Path, default=None,
                          help="output directory (default: out/eval/SUITE)")
    evaluate.set_defaults(run=run_eval)

    compare = commands.add_parser(
        "compare", help="metric deltas between two eval output directories",
        description="Print, for every metric in both DIR_A/metrics.json and "
                    "DIR_B/metrics.json, A, B, B - A and whether B is better. When the two "
                    "runs hold different episodes, both are re-aggregated from their "
                    "episodes.jsonl over the (scenario, seed) pairs they share, so a "
                    "10-seed baseline compares with the same 10 seeds of a full run.")
    compare.add_argument("dir_a", type=Path, metavar="DIR_A")
    compare.add_argument("dir_b", type=Path, metavar="DIR_B")
    compare.add_argument("--out", type=Path, default=None,
                         help="also write compare.md and compare.png here")
    compare.set_defaults(run=run_compare)

    bench = commands.add_parser(
        "bench", help="time the cores and measure end-to-end reaction latency",
        description="Time MPPI, the safety filter, perception and the simulator, then run "
                    "the nodes as processes to measure the reaction latency to a person and "
                    "the planner's regularity during a stalled LLM call. Writes "
                    "DIR/bench.json.")
    bench.add_argument("--quick", action="store_true", help="fewer repetitions (about a minute)")
    bench.add_argument("--no-end-to-end", action="store_true",
                       help="only the core timings (no node processes)")
    bench.add_argument("--out", type=Path, required=True, help="output directory")
    bench.set_defaults(run=run_bench_command)


# ---------------------------------------------------------------------------------------------

def run_eval(args) -> int:
    from reasonact_ros.evaluation import report
    from reasonact_ros.evaluation.runner import (
        SuiteError,
        load_suite,
        run_suite,
        scenario_list,
        with_overrides,
    )

    try:
        suite = load_suite(args.suite)
        suite = with_overrides(
            suite,
            scenarios=(scenario_list(",".join(args.scenarios), "--scenarios")
                       if args.scenarios else None),
            seeds=args.seeds, seed_offset=args.seed_offset, planner=args.planner,
            reasoner=args.reasoner,
            instruction=args.instruction, llm_endpoint=args.endpoint,
            mppi_samples=args.mppi_samples, jobs=args.jobs,
            gifs=False if args.no_gifs else None)
    except SuiteError as error:
        raise _usage_error(f"reasonact eval: {error}") from None
    out = args.out or Path("out/eval") / suite.name
    result = run_suite(suite, out, show_progress=not args.quiet)
    metrics = result.metrics
    keys = ("episodes", "success_rate", "collisions", "timeout_rate", "intimate_time_fraction",
            "personal_time_fraction", "min_person_distance_m", "mean_time_to_goal_s",
            "path_length_ratio")
    print(report.markdown_table(["metric", "value"], [(k, metrics.get(k)) for k in keys]))
    print(f"{metrics['episodes']} episodes in {result.wall_time_s:.0f} s; outputs in {out}: "
          "episodes.jsonl, metrics.json, report.md, plots/"
          + (", failures/" if (out / "failures").is_dir() else ""))
    if metrics.get("episodes_out_of_lockstep"):
        print(f"{metrics['episodes_out_of_lockstep']} episodes left lockstep on a busy "
              "machine: their results depend on the load (report.md names them)",
              file=sys.stderr)
    if metrics.get("errors"):
        print(f"{metrics['errors']} episodes ended with an error; see episodes.jsonl",
              file=sys.stderr)
        return 1
    return 0


def _load_metrics(path: Path) -> dict:
    file = path / "metrics.json" if path.is_dir() else path
    if not file.is_file():
        raise _usage_error(f"reasonact compare: {file} does not exist (give an eval output "
                           "directory)")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise _usage_error(f"reasonact compare: {file} is not JSON ({error})") from None
    if not isinstance(data, dict):
        raise _usage_error(f"reasonact compare: {file} is not a metrics object")
    return data


def _episode_records(path: Path) -> list[dict] | None:
    file = path / "episodes.jsonl" if path.is_dir() else path.parent / "episodes.jsonl"
    if not file.is_file():
        return None
    try:
        return [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines()
                if line.strip()]
    except json.JSONDecodeError as error:
        raise _usage_error(f"reasonact compare: {file} is not JSON lines ({error})") from None


def _paired_metrics(dir_a: Path, dir_b: Path) -> tuple[dict, dict, str] | None:
    """Both runs re-aggregated over the episodes they share, or None when they hold the
    same episodes (or one has no episodes.jsonl, and its metrics.json is all there is)."""
    from reasonact_ros.evaluation.metrics import aggregate

    records_a, records_b = _episode_records(dir_a), _episode_records(dir_b)
    if records_a is None or records_b is None:
        return None
    def key(record):
        return (record.get("scenario"), record.get("seed"))

    keys_a, keys_b = {key(r) for r in records_a}, {key(r) for r in records_b}
    if keys_a == keys_b:
        return None
    shared = keys_a & keys_b
    if not shared:
        raise _usage_error("reasonact compare: the two runs share no (scenario, seed) "
                           "episode; nothing to compare")
    note = (f"compared on the {len(shared)} episodes (scenario, seed) both runs hold "
            f"(A has {len(records_a)}, B has {len(records_b)})")
    return (aggregate([r for r in records_a if key(r) in shared]),
            aggregate([r for r in records_b if key(r) in shared]), note)


def _changed_episodes_text(dir_a: Path, dir_b: Path) -> str:
    """The episodes whose verdict changed, as a heading and a table ('' when none)."""
    from reasonact_ros.evaluation import report
    from reasonact_ros.evaluation.metrics import changed_episodes

    records_a, records_b = _episode_records(dir_a), _episode_records(dir_b)
    if records_a is None or records_b is None:
        return ""
    rows = changed_episodes(records_a, records_b)
    if not rows:
        return "No episode both runs hold changed its verdict."
    table = report.markdown_table(["scenario", "seed", "A", "B"],
                                  [(r["scenario"], r["seed"], r["a"], r["b"]) for r in rows])
    return f"Episodes whose verdict changed ({len(rows)}):\n\n{table}"


def _time_where_both_succeeded_text(dir_a: Path, dir_b: Path) -> str:
    from reasonact_ros.evaluation.metrics import time_where_both_succeeded

    records_a, records_b = _episode_records(dir_a), _episode_records(dir_b)
    if records_a is None or records_b is None:
        return ""
    both = time_where_both_succeeded(records_a, records_b)
    if both is None:
        return "No episode both runs succeeded in: no like-for-like time to goal."
    relative = "" if both["relative"] is None else f" ({100 * both['relative']:+.1f} %)"
    return (f"Time to goal over the {both['episodes']} episodes both runs succeeded in: "
            f"A {both['a']:.2f} s, B {both['b']:.2f} s{relative}.")


def run_compare(args) -> int:
    from reasonact_ros.evaluation import report
    from reasonact_ros.evaluation.metrics import compare

    a, b = _load_metrics(args.dir_a), _load_metrics(args.dir_b)
    paired = _paired_metrics(args.dir_a, args.dir_b)
    if paired is not None:
        a, b, note = paired
        print(note)
    rows = compare(a, b)
    table = report.comparison_table(rows, str(args.dir_a), str(args.dir_b))
    scenario_table = report.scenario_comparison_table(a, b)
    print(table)
    if scenario_table:
        print()
        print("By scenario (A -> B where they differ):")
        print()
        print(scenario_table)
    both = _time_where_both_succeeded_text(args.dir_a, args.dir_b)
    if both:
        print()
        print(both)
    changed = _changed_episodes_text(args.dir_a, args.dir_b)
    if changed:
        print()
        print(changed if len(changed) < 4000 else
              changed[:changed.rfind("\n", 0, 4000)] + "\n... (compare.md with --out lists all)")
    if args.out is not None:
        from reasonact_ros.evaluation.plots import comparison_bars

        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "compare.md").write_text(
            f"# {args.dir_a} (A) vs {args.dir_b} (B)\n\n{table}\n\n{scenario_table}\n\n"
            f"{both}\n\n{changed}\n\n![comparison](compare.png)\n", encoding="utf-8")
        comparison_bars("A", a, "B", b, args.out / "compare.png")
    return 0


def run_bench_command(args) -> int:
    from reasonact_ros.evaluation.bench import bench_table, run_bench

    results = run_bench(args.quick, args.out, end_to_end=not args.no_end_to_end)
    print(bench_table(results))
    print(f"wrote {args.out / 'bench.json'} ({results['wall_time_s']} s)")
    return 0

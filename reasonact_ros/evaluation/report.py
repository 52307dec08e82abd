"""report.md of a suite and the table of `reasonact compare`: plain Markdown tables."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

# (metrics key, column title) of the overview and per-scenario tables.
TABLE_METRICS = (
    ("episodes", "episodes"),
    ("success_rate", "success"),
    ("collisions", "collisions"),
    ("timeout_rate", "timeouts"),
    ("min_person_distance_m", "min dist [m]"),
    ("mean_min_person_distance_m", "mean min dist [m]"),
    ("intimate_time_fraction", "intimate"),
    ("personal_time_fraction", "personal"),
    ("social_time_fraction", "social"),
    ("min_time_to_collision_s", "min TTC [s]"),
    ("mean_time_to_goal_s", "time to goal [s]"),
    ("path_length_ratio", "path ratio"),
    ("mean_speed_mps", "speed [m/s]"),
    ("mean_abs_jerk_mps3", "mean abs jerk [m/s^3]"),
    ("freezes", "freezes"),
    ("validator_rejections", "rejections"),
    ("llm_latency_ms_p50", "LLM p50 [ms]"),
)


def fmt(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.1e}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(fmt(v, digits) for v in value) + "]"
    return str(value)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def metrics_table(metrics: dict) -> str:
    """One row for all episodes, then one per scenario."""
    keys = [k for k, _ in TABLE_METRICS]
    rows = [["**all**", *(metrics.get(k) for k in keys)]]
    for name, per in (metrics.get("by_scenario") or {}).items():
        rows.append([name, *(per.get(k) for k in keys)])
    return markdown_table(["scenario", *(title for _, title in TABLE_METRICS)], rows)


def _lockstep_warning(records: Sequence[dict]) -> list[str]:
    left = [f"{r.get('scenario')} {r.get('seed')}" for r in records if r.get("lockstep_misses")]
    if not left:
        return []
    return [f"- **{len(left)} episodes left lockstep** (the machine was too busy for the "
            f"stack to answer a step within its timeout): {', '.join(left)}. Their results "
            "depend on the load, not only on the seed; run them again on a quieter machine."]


def report_text(records: Sequence[dict], metrics: dict) -> str:
    suite = metrics.get("suite", {})
    interval = metrics.get("success_rate_ci95")
    lines = [
        f"# Evaluation: suite `{suite.get('name', '?')}`",
        "",
        f"- planner `{suite.get('planner')}`, reasoner `{suite.get('reasoner')}`, "
        f"MPPI samples {suite.get('mppi_samples') or 'default (params file)'}, "
        f"instruction: {suite.get('instruction') or '(none)'}",
        f"- {metrics.get('episodes')} episodes ({len(suite.get('scenarios', []))} scenarios x "
        f"{suite.get('seeds')} seeds"
        + (f", starting {suite['seed_offset']} after each scenario's own"
           if suite.get("seed_offset") else "")
        + f") in {metrics.get('wall_time_s')} s wall with "
        f"{suite.get('jobs')} parallel jobs on {metrics.get('machine', {}).get('cpu_count')} "
        f"CPUs (1-min load average at the end: "
        f"{metrics.get('machine', {}).get('load_average_1min_at_end')}); "
        f"{metrics.get('errors', 0)} episodes errored",
        f"- success rate {fmt(metrics.get('success_rate'))}"
        + (f" (95 % Wilson interval {fmt(interval[0])}-{fmt(interval[1])})" if interval else ""),
        *_lockstep_warning(records),
        "- distances are surface to surface (centre distance - robot radius - person "
        "radius); zone fractions are of episode time; time to goal and path ratio over "
        "successful episodes only. Definitions: docs/METRICS.md.",
        "",
        "## Metrics",
        "",
        metrics_table(metrics),
        "",
        "![metric bars](plots/metric_bars.png)",
        "",
        "## Decisions (simulator steps under each behaviour)",
        "",
        markdown_table(["behaviour", "steps"],
                       sorted((metrics.get("decision_steps") or {}).items())),
        "",
        "## Episodes",
        "",
    ]
    rows = []
    for r in records:
        rows.append([r.get("scenario"), r.get("seed"),
                     "SUCCESS" if r.get("success") else "FAILURE", r.get("outcome"),
                     r.get("collisions"), r.get("time_to_goal_s"),
                     r.get("min_person_distance_m"), r.get("freezes"),
                     " ".join(f"[{name}]({r[key]})" for key, name
                              in (("gif", "gif"), ("timeline", "timeline")) if r.get(key)),
                     r.get("error", "")])
    lines.append(markdown_table(["scenario", "seed", "result", "outcome", "collisions",
                                 "time to goal [s]", "min dist [m]", "freezes", "look",
                                 "error"], rows))
    lines += ["", "## Trajectories", ""]
    for name in sorted({r.get("scenario") for r in records if r.get("scenario")}):
        lines.append(f"![{name}](plots/trajectories_{name}.png)")
    return "\n".join(lines) + "\n"


def write_report(records: Sequence[dict], metrics: dict, path: Path) -> Path:
    path.write_text(report_text(records, metrics), encoding="utf-8")
    return path


def _percent(value) -> str:
    return "-" if value is None else f"{100 * value:.2f} %"


# (metrics key, column title, format) of `reasonact compare`'s per-scenario table: where a
# change of behaviour helped and where it cost.
SCENARIO_COMPARISON = (
    ("success_rate", "success", fmt),
    ("collisions", "contacts", fmt),
    ("intimate_time_fraction", "intimate", _percent),
    ("personal_time_fraction", "personal", _percent),
    ("mean_time_to_goal_s", "time to goal [s]", lambda v: fmt(v, 4)),
)


def scenario_comparison_table(metrics_a: dict, metrics_b: dict) -> str:
    """One row per scenario of either run; a cell is "A -> B" where the runs differ and
    the one value where they agree ('' when neither run has scenarios)."""
    per_a = metrics_a.get("by_scenario") or {}
    per_b = metrics_b.get("by_scenario") or {}
    rows = []
    for name in sorted(set(per_a) | set(per_b)):
        row = [name]
        for key, _, show in SCENARIO_COMPARISON:
            a = show(per_a.get(name, {}).get(key))
            b = show(per_b.get(name, {}).get(key))
            row.append(a if a == b else f"{a} -> {b}")
        rows.append(row)
    if not rows:
        return ""
    return markdown_table(["scenario", *(title for _, title, _ in SCENARIO_COMPARISON)], rows)


def comparison_table(rows: Sequence[dict], name_a: str = "A", name_b: str = "B") -> str:
    """The rows of ``metrics.compare`` as a Markdown table."""
    body = []
    for row in rows:
        relative = row["relative"]
        body.append([row["metric"], row["a"], row["b"], row["delta"],
                     f"{100 * relative:+.1f} %" if relative is not None else "-",
                     row["verdict"]])
    return markdown_table(["metric", name_a, name_b, "delta (B - A)", "relative", "B is"],
                          body)

"""PNG plots of a suite with Pillow: per-metric bar charts and top-down trajectories."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

SERIES_COLOURS = [(52, 101, 164), (204, 0, 0), (78, 154, 6), (245, 121, 0), (117, 80, 123)]
SUCCESS_COLOUR = (40, 150, 40)
FAILURE_COLOUR = (210, 30, 30)

# (metrics.json key, panel title); per-scenario values come from metrics["by_scenario"].
BAR_METRICS = (
    ("success_rate", "success rate"),
    ("collision_rate", "episodes with a collision"),
    ("timeout_rate", "timeout rate"),
    ("mean_min_person_distance_m", "closest person, mean of minima [m]"),
    ("intimate_time_fraction", "time with a person < 0.45 m"),
    ("personal_time_fraction", "time with a person 0.45-1.2 m"),
    ("mean_time_to_goal_s", "time to goal (successes) [s]"),
    ("path_length_ratio", "path length ratio (successes)"),
    ("mean_abs_jerk_mps3", "mean |jerk| [m/s^3]"),
)


def _font(size: int = 13):
    return ImageFont.load_default(size=size)


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def bar_panels(panels: Sequence[tuple[str, Sequence[str], Sequence[tuple[str, Sequence]]]],
               path: Path, columns: int = 3, panel_size: tuple[int, int] = (420, 260)) -> Path:
    """Draw one horizontal bar chart per panel: (title, labels, [(series name, values)]).

    Values may be None (drawn as 'n/a'). Each panel scales to its own largest value.
    """
    if not panels:
        raise ValueError("nothing to plot")
    rows = math.ceil(len(panels) / columns)
    width, height = panel_size
    image = Image.new("RGB", (columns * width, rows * height), "white")
    draw = ImageDraw.Draw(image)
    font, small = _font(14), _font(11)
    for k, (title, labels, series) in enumerate(panels):
        x0, y0 = (k % columns) * width, (k // columns) * height
        draw.rectangle([x0 + 2, y0 + 2, x0 + width - 3, y0 + height - 3], outline=(200, 200, 200))
        draw.text((x0 + 10, y0 + 8), title, fill="black", font=font)
        values = [v for _, vs in series for v in vs if v is not None and math.isfinite(v)]
        top = max([abs(v) for v in values] + [1e-9])
        plot_x = x0 + 130
        plot_w = width - 130 - 60
        n_rows = max(1, len(labels))
        row_h = (height - 50) / n_rows
        bar_h = max(2.0, (row_h - 4) / max(1, len(series)))
        for r, label in enumerate(labels):
            ry = y0 + 36 + r * row_h
            draw.text((x0 + 8, ry + row_h / 2 - 6), str(label)[:18], fill="black", font=small)
            for s, (_, vs) in enumerate(series):
                value = vs[r] if r < len(vs) else None
                by = ry + 2 + s * bar_h
                colour = SERIES_COLOURS[s % len(SERIES_COLOURS)]
                if value is None or not math.isfinite(value):
                    draw.text((plot_x + 2, by), "n/a", fill=(120, 120, 120), font=small)
                    continue
                length = plot_w * abs(value) / top
                draw.rectangle([plot_x, by, plot_x + max(1.0, length), by + bar_h - 1],
                               fill=colour)
                draw.text((plot_x + length + 4, by), _fmt(value), fill="black", font=small)
        if len(series) > 1:
            for s, (name, _) in enumerate(series):
                lx = x0 + width - 150
                ly = y0 + 8 + 14 * s
                draw.rectangle([lx, ly + 2, lx + 10, ly + 12],
                               fill=SERIES_COLOURS[s % len(SERIES_COLOURS)])
                draw.text((lx + 14, ly), str(name)[:20], fill="black", font=small)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def metric_bars(metrics: dict, path: Path) -> Path:
    """Per-metric bars, one bar per scenario plus 'all'."""
    by_scenario = metrics.get("by_scenario") or {}
    labels = [*by_scenario, "all"]
    panels = []
    for key, title in BAR_METRICS:
        values = [by_scenario[name].get(key) for name in by_scenario] + [metrics.get(key)]
        panels.append((title, labels, [("", values)]))
    return bar_panels(panels, path)


def comparison_bars(name_a: str, metrics_a: dict, name_b: str, metrics_b: dict,
                    path: Path) -> Path:
    """A against B, one panel per metric, one bar pair per scenario plus 'all'."""
    scenarios = [s for s in metrics_a.get("by_scenario", {})
                 if s in metrics_b.get("by_scenario", {})]
    labels = [*scenarios, "all"]
    panels = []
    for key, title in BAR_METRICS:
        series = []
        for name, metrics in ((name_a, metrics_a), (name_b, metrics_b)):
            per = metrics.get("by_scenario", {})
            series.append((name, [per[s].get(key) for s in scenarios] + [metrics.get(key)]))
        panels.append((title, labels, series))
    return bar_panels(panels, path)


def trajectory_plot(scenario_name: str, records: Sequence[dict], path: Path,
                    max_width_px: int = 1000) -> Path:
    """Every episode's path of one scenario over its walkways, obstacles and goal;
    green paths succeeded, red ones failed."""
    from reasonact_ros.sim.scenario import load_scenario

    scenario = load_scenario(scenario_name)
    xmin, ymin, xmax, ymax = scenario.bounds
    scale = min(40.0, max_width_px / (xmax - xmin))
    caption = 24
    size = (int(math.ceil((xmax - xmin) * scale)), int(math.ceil((ymax - ymin) * scale)) + caption)

    def px(x: float, y: float) -> tuple[float, float]:
        return (x - xmin) * scale, (ymax - y) * scale + caption

    image = Image.new("RGB", size, (228, 236, 220))
    draw = ImageDraw.Draw(image)
    for walkway in scenario.walkways:
        draw.polygon([px(*p) for p in walkway.polygon()], fill=(205, 205, 200))
    for obstacle in scenario.obstacles:
        if obstacle.shape == "circle":
            cx, cy = px(obstacle.x, obstacle.y)
            r = obstacle.radius * scale
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(110, 110, 115))
        else:
            draw.polygon([px(*p) for p in obstacle.corners()], fill=(110, 110, 115))
    waypoints = [px(*p) for p in scenario.goal.waypoints]
    start = px(scenario.robot_start.x, scenario.robot_start.y)
    draw.line([start, *waypoints], fill=(150, 150, 230), width=1)
    gx, gy = waypoints[-1]
    r = max(3.0, scenario.goal.tolerance * scale)
    draw.ellipse([gx - r, gy - r, gx + r, gy + r], outline=(20, 20, 160), width=2)
    successes = 0
    for record in sorted(records, key=lambda r: bool(r.get("success"))):
        points = [px(x, y) for x, y in record.get("path") or []]
        colour = SUCCESS_COLOUR if record.get("success") else FAILURE_COLOUR
        successes += bool(record.get("success"))
        if len(points) >= 2:
            draw.line(points, fill=colour, width=2)
        if points and not record.get("success"):
            ex, ey = points[-1]
            draw.line([ex - 4, ey - 4, ex + 4, ey + 4], fill=colour, width=2)
            draw.line([ex - 4, ey + 4, ex + 4, ey - 4], fill=colour, width=2)
    draw.rectangle([0, 0, size[0], caption], fill="white")
    draw.text((6, 4), f"{scenario.name}: {successes}/{len(records)} succeeded "
              "(green: success, red: failure, x: where it ended)", fill="black", font=_font(14))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def write_plots(records: Sequence[dict], metrics: dict, out_dir: Path) -> dict[str, str]:
    """metric_bars.png and trajectories_<scenario>.png; returns {name: path}."""
    files = {"metric_bars": str(metric_bars(metrics, out_dir / "metric_bars.png"))}
    sources = {r["scenario"]: r.get("scenario_source") or r["scenario"]
               for r in records if r.get("scenario")}
    for name in sorted(sources):
        try:
            files[f"trajectories_{name}"] = str(trajectory_plot(
                sources[name], [r for r in records if r.get("scenario") == name],
                out_dir / f"trajectories_{name}.png"))
        except ValueError:  # a scenario file that vanished after the run
            continue
    return files

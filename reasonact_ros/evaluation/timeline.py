"""An episode's timeline: what the robot did, under which decision and why, step by step.

The GIF of an episode shows where things went wrong; the timeline says why. One row per
simulator step: the robot's pose and speed, the decision it ran under (behaviour, speed
limit, the reasoner's rationale) and the closest person (id, surface-to-surface gap,
Hall's zone). The evaluation writes it for every episode worth a look (``worth_a_look``)
as CSV, which a spreadsheet, pandas or ``grep`` reads.

Pure: the input is ``bringup.step_record``'s dicts, as for the metrics.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from reasonact_ros.evaluation.metrics import INTIMATE_M, PERSONAL_M, SOCIAL_M

COLUMNS = ("t", "x", "y", "yaw_deg", "v", "w", "behavior", "max_speed", "rationale",
           "closest_person", "closest_gap_m", "zone")


def zone_of(gap: float) -> str:
    """Hall's zone of a surface-to-surface gap [m]; "" when nobody is there (inf)."""
    if not math.isfinite(gap):
        return ""
    if gap < INTIMATE_M:
        return "intimate"
    if gap < PERSONAL_M:
        return "personal"
    return "social" if gap < SOCIAL_M else "public"


def timeline_rows(trajectory: Sequence[Mapping], robot_radius: float) -> list[dict]:
    """One row (a dict keyed by COLUMNS) per step record."""
    rows = []
    for step in trajectory:
        closest_id, closest_gap = None, math.inf
        for person_id, px, py, _vx, _vy, radius in step.get("people") or ():
            gap = math.hypot(px - step["x"], py - step["y"]) - radius - robot_radius
            if gap < closest_gap:
                closest_id, closest_gap = int(person_id), gap
        max_speed = step.get("max_speed")
        rows.append({
            "t": round(step["t"], 3), "x": round(step["x"], 3), "y": round(step["y"], 3),
            "yaw_deg": round(math.degrees(step["yaw"]), 1),
            "v": round(step["v"], 3), "w": round(step["w"], 3),
            "behavior": step.get("decision") or "",
            "max_speed": "" if max_speed is None else round(max_speed, 3),
            "rationale": step.get("rationale") or "",
            "closest_person": "" if closest_id is None else closest_id,
            "closest_gap_m": round(closest_gap, 3) if math.isfinite(closest_gap) else "",
            "zone": zone_of(closest_gap),
        })
    return rows


def write_timeline(rows: Sequence[Mapping], path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def worth_a_look(record: Mapping) -> bool:
    """An episode that failed, touched anyone, or came into someone's intimate space:
    every one of those is a target missed (docs/METRICS.md)."""
    return (not record.get("success") or bool(record.get("collisions"))
            or (record.get("intimate_time_fraction") or 0.0) > 0.0)

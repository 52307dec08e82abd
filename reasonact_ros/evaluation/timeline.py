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

from reasonact_ros.evaluation.metrics import as_track, closest_person, proxemic_zones

COLUMNS = ("t", "x", "y", "yaw_deg", "v", "w", "behavior", "max_speed", "rationale",
           "closest_person", "closest_gap_m", "zone")


def timeline_rows(trajectory: Sequence[Mapping], robot_radius: float) -> list[dict]:
    """One row (a dict keyed by COLUMNS) per step record; the closest person and their
    zone as the metrics see them."""
    ids, gaps = closest_person(as_track(trajectory), robot_radius)
    zones = proxemic_zones(gaps)
    rows = []
    for step, person, gap, zone in zip(trajectory, ids, gaps, zones, strict=True):
        max_speed = step.get("max_speed")
        nobody = person < 0
        rows.append({
            "t": round(step["t"], 3), "x": round(step["x"], 3), "y": round(step["y"], 3),
            "yaw_deg": round(math.degrees(step["yaw"]), 1),
            "v": round(step["v"], 3), "w": round(step["w"], 3),
            "behavior": step.get("decision") or "",
            "max_speed": "" if max_speed is None else round(max_speed, 3),
            "rationale": step.get("rationale") or "",
            "closest_person": "" if nobody else int(person),
            "closest_gap_m": "" if nobody else round(float(gap), 3),
            "zone": str(zone),
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

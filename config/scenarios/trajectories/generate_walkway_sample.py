"""Writes walkway_sample.txt: a small synthetic recording in ETH/UCY format.

Run ``python3 generate_walkway_sample.py`` in this folder; output is deterministic.

Format (as the ETH and UCY datasets are usually distributed): one observation
per line, ``frame_id pedestrian_id x y``, x and y in metres, frames stepping by
10 at 2.5 Hz (0.4 s, i.e. 0.04 s per frame-number step), sorted by frame.
The recording's walkway runs along +y with its centre on x = 0, as a camera
looking down a path would record it; the replay scenario rotates it onto +x.
People: 10 walkers in both directions (one pair walking together, one
person walking exactly along the centre line against the robot's direction)
and one bystander at x = 8 whom the scenario's crop window removes.
"""

import math
import random

FRAME_STEP = 10
FRAME_PERIOD_S = 0.4  # per FRAME_STEP


def walker(rng, person_id, first_frame, x, y_start, y_end, speed, sway=0.08):
    """Observations of one person walking from y_start to y_end with a gentle sway."""
    direction = 1.0 if y_end > y_start else -1.0
    duration = abs(y_end - y_start) / speed
    steps = int(duration / FRAME_PERIOD_S)
    phase = rng.uniform(0.0, 2.0 * math.pi)
    rows = []
    for k in range(steps + 1):
        t = k * FRAME_PERIOD_S
        lateral = sway * math.sin(2.0 * math.pi * 0.9 * t + phase)  # gait sway ~0.9 Hz
        rows.append((first_frame + k * FRAME_STEP, person_id, x + lateral,
                     y_start + direction * speed * t))
    return rows


def main():
    rng = random.Random(2024)
    rows = []
    # id, first frame, lateral x, y start, y end, speed
    walkers = [
        (1, 0, 0.9, 0.0, 28.0, 1.25),
        (2, 0, 0.0, 27.0, -1.0, 1.2),  # along the centre line towards the robot's start
        (3, 40, -1.0, 28.0, 0.0, 1.35),
        (4, 80, 0.8, 28.0, 0.0, 1.1),  # a pair walking together
        (5, 80, 1.4, 28.2, 0.0, 1.1),
        (6, 150, -0.6, 0.0, 28.0, 1.45),
        (7, 200, 0.3, 28.0, 0.0, 0.9),
        (8, 260, -1.3, 28.0, 0.0, 1.3),
        (9, 320, 0.5, 0.0, 28.0, 1.0),
        (10, 400, -0.2, 28.0, 0.0, 1.5),
    ]
    for person_id, first, x, y0, y1, speed in walkers:
        rows += walker(rng, person_id, first, x, y0, y1, speed)
    rows += walker(rng, 11, 0, 8.0, 10.0, 10.5, 0.05, sway=0.0)  # a bystander off the path
    rows.sort(key=lambda row: (row[0], row[1]))
    with open("walkway_sample.txt", "w", encoding="utf-8") as out:
        for frame, person_id, x, y in rows:
            out.write(f"{frame} {person_id} {x:.3f} {y:.3f}\n")


if __name__ == "__main__":
    main()

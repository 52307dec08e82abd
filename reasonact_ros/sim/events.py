"""What happened during an episode: collisions, goal reached, timeout."""

from __future__ import annotations

from dataclasses import dataclass

COLLISION_PERSON = "collision_person"
COLLISION_OBSTACLE = "collision_obstacle"
GOAL_REACHED = "goal_reached"
TIMEOUT = "timeout"

EVENT_KINDS = (COLLISION_PERSON, COLLISION_OBSTACLE, GOAL_REACHED, TIMEOUT)


@dataclass(frozen=True)
class EpisodeEvent:
    """One thing that happened at sim time ``time``.

    ``other_id`` is the person or obstacle involved (-1 when none);
    ``robot_at_fault`` says whether the robot moved into the other agent.
    """

    time: float  # [s] sim time
    kind: str
    other_id: int = -1
    robot_at_fault: bool = False
    detail: str = ""

    def __post_init__(self):
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"event kind must be one of {EVENT_KINDS}, got {self.kind!r}")

"""ROS domain ids for the episodes and benches that run their own node graphs.

Each claimant holds an exclusive lock on a file per domain in a directory shared by every
reasonact process on this machine, so two evals (or an eval and a bench) side by side
never share a domain: with ids derived from process ids they sometimes did, and their
episodes heard each other's /clock and /scan ("scan is -15.8 s old") and went wrong. The
lock is released when the holder closes it or exits, however it ends. Ids are taken from
101..231, inside Fast DDS's valid 0..232 and away from the test suite's 1..100; the
caller's own ROS_DOMAIN_ID is never taken.
"""

from __future__ import annotations

import fcntl
import os
import random
import tempfile
from pathlib import Path

FIRST_DOMAIN, LAST_DOMAIN = 101, 231


class DomainClaim:
    """One claimed domain id; the claim lasts until ``release()`` or the process exits."""

    def __init__(self, domain: int, lock_file):
        self.domain = domain
        self._lock_file = lock_file

    def release(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()  # closing the file drops the lock
            self._lock_file = None

    def __enter__(self) -> DomainClaim:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def lock_directory() -> Path:
    return Path(tempfile.gettempdir()) / "reasonact_ros_domains"


def claim_domain(lock_dir: Path | None = None) -> DomainClaim:
    """Claim a domain id no other reasonact process on this machine holds.

    Raises RuntimeError when all are held. The search starts at a random id, so a ROS
    application outside reasonact on one of these ids is met by chance only.
    """
    lock_dir = lock_dir or lock_directory()
    lock_dir.mkdir(parents=True, exist_ok=True)
    own = os.environ.get("ROS_DOMAIN_ID", "").strip()
    count = LAST_DOMAIN - FIRST_DOMAIN + 1
    start = random.SystemRandom().randrange(count)
    for step in range(count):
        domain = FIRST_DOMAIN + (start + step) % count
        if str(domain) == own:
            continue
        lock_file = open(lock_dir / f"{domain}.lock", "a")  # held open: the lock is the claim
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock_file.close()
            continue
        return DomainClaim(domain, lock_file)
    raise RuntimeError(f"every ROS domain {FIRST_DOMAIN}..{LAST_DOMAIN} is held by another "
                       f"reasonact process (locks in {lock_dir})")

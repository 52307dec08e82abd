"""Processes we start do not outlive us: Linux's ``prctl(PR_SET_PDEATHSIG)``.

A killed ``reasonact eval`` left its workers running their episodes and holding their ROS
domains; a killed ``reasonact bench`` (or a test run stopped by a time-out) left the
stack's node processes publishing on a domain whose claim had died with it, where the next
claim could land and hear them; a killed reasoning node left its llama.cpp server. Each
child asks the kernel for SIGTERM when its parent dies. Elsewhere than Linux this does
nothing and a killed parent still leaves its children running.

The kernel ties the child to the *thread* that started it: start long-lived children
from a thread that lives as long as they should (the main thread, as every caller here).
"""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with(parent_pid: int) -> None:
    """In a child: have Linux SIGTERM this process when ``parent_pid`` dies; exit at once
    if it already has (it may die before the request is made)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:
        os._exit(1)


def tied_to_this_process() -> Callable[[], None] | None:
    """``preexec_fn`` for ``subprocess.Popen``: the child dies with this process (None
    where that is not possible, so Popen forks as usual)."""
    if not sys.platform.startswith("linux"):
        return None
    return functools.partial(die_with, os.getpid())

"""`main()` for every node: init, spin, and on any exit publish zero, then shut down.

rclpy's own SIGINT handler shuts the context down before a `finally` block
runs, after which a node can no longer publish its zero command. So the nodes
take SIGINT/SIGTERM themselves, turn them into KeyboardInterrupt, and stop in
order: the node's `on_shutdown()` (zero velocity) first, then rclpy.

A signal that arrives while rclpy is inside C++ (taking a message) reaches Python as the
KeyboardInterrupt being raised in the middle of pybind11's argument conversion, which
pybind11 reports as a RuntimeError ("Unable to convert call argument"). So the handler
also records that a stop was asked for, and an exception out of the executor after that
is the stop, not a crash.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable

import rclpy
from rclpy.executors import (
    ExternalShutdownException,
    MultiThreadedExecutor,
    SingleThreadedExecutor,
)
from rclpy.signals import SignalHandlerOptions

_stop_asked = threading.Event()


def _raise_interrupt(signum, frame):
    _stop_asked.set()
    raise KeyboardInterrupt(signal.Signals(signum).name)


def spin_node(node_class, args=None) -> int:
    """Run one node until SIGINT/SIGTERM; return the process exit code."""
    rclpy.init(args=args if args is not None else sys.argv,
               signal_handler_options=SignalHandlerOptions.NO)
    signal.signal(signal.SIGINT, _raise_interrupt)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    node = executor = None
    try:
        node = node_class()
        # A node whose callbacks are all short says so (executor_threads = 1): rclpy's
        # multi-threaded executor hands each callback between threads under the GIL, which
        # costs a periodic timer its regularity.
        threads = getattr(node, "executor_threads", 3)
        executor = (SingleThreadedExecutor() if threads == 1
                    else MultiThreadedExecutor(num_threads=threads))
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RuntimeError:
        if not _stop_asked.is_set():
            raise
    finally:
        # Executor first: no callback on another thread may publish after the zero.
        if executor is not None:
            executor.shutdown(timeout_sec=2.0)
        if node is not None:
            shutdown = getattr(node, "on_shutdown", None)
            if shutdown is not None:
                shutdown()
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


def spin_until_stopped(executor, stopped: Callable[[], bool]) -> None:
    """``executor.spin()`` on a thread of its own. An error raised once ``stopped()`` is
    rclpy's shutdown race, not the caller's: a callback that finishes after
    ``Executor.shutdown`` (or the context's) has destroyed the executor's guard condition
    raises InvalidHandle (a traceback in 1 of 12 smoke episodes on a busy machine, after
    the episode had ended)."""
    try:
        executor.spin()
    except Exception:
        if not stopped():
            raise

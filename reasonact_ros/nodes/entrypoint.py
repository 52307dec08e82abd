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
import time
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
        # One thread by default: rclpy's multi-threaded executor hands each callback
        # between threads under the GIL, and on 2 cores it left the perception node's
        # scans unprocessed for 0.2-2 s at a time (bench reaction p95 up to 299 ms; 12 ms
        # on one thread). Work that may take long runs on a node's own thread (the LLM call, the
        # planner's cycle, instruction grounding); a node that wants a pool says so with
        # ``executor_threads``.
        threads = getattr(node, "executor_threads", 1)
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


class NodeSpinners:
    """Several nodes in one process, each on a SingleThreadedExecutor of its own thread
    (rclcpp's executor-per-node pattern): one slow node does not hold up another, and
    no callback is handed between the threads of a pool. In one process on one
    six-thread MultiThreadedExecutor the stack never cruised on 2 cores (MPPI cycles of
    0.7-2.9 s, the watchdog stopping the robot); like this it reacts in 11 ms (p50).
    """

    def __init__(self, nodes, context,
                 on_error: Callable[[BaseException], bool] | None = None):
        """``on_error``: given, a callback's error goes there and that node spins on
        while it returns True (the robustness harness counts crashes); else the error
        ends ``wait``."""
        self._on_error = on_error
        self._executors = []
        self._executor_of = {}
        for node in nodes:
            executor = SingleThreadedExecutor(context=context)
            executor.add_node(node)
            self._executors.append(executor)
            self._executor_of[id(node)] = executor
        self._stopping = threading.Event()
        self._ended = threading.Event()  # a spinner returned: stopping, or a node failed
        self._errors: list[BaseException] = []
        self._threads = [threading.Thread(target=self._spin, args=(executor,), daemon=True,
                                          name=f"spin-{node.get_name()}")
                         for executor, node in zip(self._executors, nodes, strict=True)]

    def _spin(self, executor) -> None:
        try:
            while True:
                try:
                    spin_until_stopped(executor, self._stopping.is_set)
                    return
                except Exception as error:  # noqa: BLE001 - reported, and spun on
                    if self._on_error is None:
                        raise
                    if not self._on_error(error):
                        return
        except BaseException as error:  # noqa: BLE001 - handed to the main thread
            self._errors.append(error)
        finally:
            self._ended.set()

    def remove(self, node) -> None:
        """``node`` stops running (its thread spins on with nothing to do)."""
        self._executor_of[id(node)].remove_node(node)

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def wait(self, timeout_s: float | None = None) -> None:
        """Until a spinner ends (its error is raised here) or ``timeout_s`` has passed.
        Short waits, so that a signal handler's KeyboardInterrupt lands promptly."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not self._ended.wait(0.2):
            if deadline is not None and time.monotonic() >= deadline:
                return
        if self._errors:
            raise self._errors[0]

    def shutdown(self, timeout_sec: float = 2.0) -> None:
        self._stopping.set()
        for executor in self._executors:
            executor.shutdown(timeout_sec=timeout_sec)
        for thread in self._threads:
            thread.join(timeout=timeout_sec)

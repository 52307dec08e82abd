"""reasoning_node: scene + instruction in, validated ``decision`` out, never blocking.

Each arriving scene asks the ReasoningEngine for a decision at once (event
driven: a person appearing in a scan changes the decision within that scan's
processing, not a timer period later); a timer at ``decision_rate`` decides
when no scene did for one and a half periods. On sim time a decision from a
scene is stamped no earlier than the scene, whatever the clock had reached.

The engine answers at once with a rules decision while an LLM call (if a
back-end is configured) runs in the background, so a slow or dead model never
delays a decision. Instructions are grounded on a thread of their own too (the
first loads a sentence model, ~4 s), answered in order. Everything published on
``decision`` has passed the validator.

Outputs: ``decision``, ``~/explanation``, ``~/scene_text``, ``~/trace`` (one
JSON ReAct record per step) and ``~/stats`` (JSON counters).
"""

from __future__ import annotations

import collections
import dataclasses
import json
import threading
from collections.abc import Callable

from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from std_msgs.msg import String
from visualization_msgs.msg import Marker

from reasonact_ros.msg import BehaviorDecision, SceneObservation
from reasonact_ros.nodes import conversions, qos
from reasonact_ros.nodes.entrypoint import spin_node
from reasonact_ros.nodes.parameters import declare, declare_limits
from reasonact_ros.nodes.sim_clock import now_at_least
from reasonact_ros.reasoning.engine import ReasoningEngine
from reasonact_ros.scene import Goal

BACKENDS = ("rules", "llm", "local")
INSTRUCTION_QUEUE_DEPTH = 10  # as the topic's history: the newest ten wait their turn


class InstructionWorker:
    """Hands instructions to ``answer`` in order on a thread of its own (started with
    the first), so that grounding never holds up the executor that decides on scenes.
    While one is grounded the newest ``depth`` wait; an older one is dropped and
    ``on_drop`` is told. An error answering one goes to ``on_error`` and the next is
    answered: a thread that died would leave every later instruction unanswered."""

    def __init__(self, answer: Callable[[String], None], on_drop: Callable[[String], None],
                 on_error: Callable[[String, Exception], None],
                 depth: int = INSTRUCTION_QUEUE_DEPTH):
        self._answer, self._on_drop, self._on_error = answer, on_drop, on_error
        self._waiting: collections.deque[String] = collections.deque()
        self._depth = depth
        self._wake = threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None

    def submit(self, msg: String) -> None:
        with self._wake:
            if self._closing:
                return
            if len(self._waiting) >= self._depth:
                self._on_drop(self._waiting.popleft())
            self._waiting.append(msg)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="instructions",
                                                daemon=True)
                self._thread.start()
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._waiting and not self._closing:
                    self._wake.wait()
                if self._closing:
                    return
                msg = self._waiting.popleft()
            try:
                self._answer(msg)
            except Exception as error:  # noqa: BLE001 - reported, and the next is answered
                if not self._closing:  # else the node may be gone: nothing to report with
                    self._on_error(msg, error)

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop after the instruction being grounded (if any); the waiting are not."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)


class ReasoningNode(Node):
    def __init__(self, **kwargs):
        super().__init__("reasoning_node", **kwargs)
        backend = declare(self, "backend", "rules", f"Policy back-end: {'|'.join(BACKENDS)}",
                          read_only=True)
        if backend not in BACKENDS:
            raise ValueError(f"parameter backend must be one of {BACKENDS}, got {backend!r}")
        endpoint = declare(self, "llm_endpoint", "http://127.0.0.1:8080/v1",
                           "OpenAI-compatible endpoint for backend llm", read_only=True)
        model = declare(self, "llm_model", "", "Model name sent to the endpoint", read_only=True)
        llm_timeout = declare(self, "llm_timeout", 2.0, "LLM call timeout [s]", low=0.05,
                              high=60.0, read_only=True)
        rate = declare(self, "decision_rate", 10.0, "Decisions per second", low=1.0, high=100.0,
                       read_only=True)
        validity = declare(self, "decision_validity", 1.0,
                           "How long a decision stays valid [s]", low=0.05, high=10.0,
                           read_only=True)
        self._use_embeddings = declare(
            self, "instruction_embeddings", True,
            "Ground instructions with the all-MiniLM-L6-v2 sentence model (loaded at the "
            "first instruction, ~4 s); false uses keyword rules only", read_only=True)
        self._decide_on_scene = declare(
            self, "decide_on_scene", True,
            "Decide as each scene arrives; false decides on the decision_rate timer only",
            read_only=True)
        self._scene_timeout = declare(self, "scene_timeout", 0.5,
                                      "No decision from a scene older than this [s]",
                                      low=0.05, high=10.0)
        limits = declare_limits(self)
        self._local_server = None
        policy = None
        if backend == "local":
            from reasonact_ros.reasoning.local_server import LocalLlamaServer

            # Starting the model server takes a few seconds, once, before any decision.
            self._local_server = LocalLlamaServer()
            endpoint = self._local_server.__enter__().endpoint
            self.get_logger().info(f"local LLM server ready at {endpoint}")
        if backend in ("llm", "local"):
            from reasonact_ros.reasoning.llm import LLMPolicy
            from reasonact_ros.scene import DecisionSource

            source = DecisionSource.LOCAL if backend == "local" else DecisionSource.LLM
            policy = LLMPolicy(endpoint, model=model, timeout_s=llm_timeout, limits=limits,
                               source=source)
        self._engine = ReasoningEngine(limits, policy=policy, decision_period_s=1.0 / rate,
                                       validity_s=validity, llm_timeout_s=llm_timeout)
        self._scene = None
        self._scene_received = None
        self._period = 1.0 / rate
        self._last_decided = -float("inf")

        # Where the robot is going: the rules leave out whoever stays beyond it. The
        # planner's goal, as the planner takes it: its route parameter or the latest
        # goal_pose. Only a route of one point: along a longer one the way left is not the
        # straight line to its end (a U-shaped route), and this node does not follow it.
        route = declare(self, "route", [0.0],
                        "The planner's route in odom as a flat x1, y1, x2, y2, ... list; "
                        "[0.0] for none (goal_pose then sets the goal). A single goal tells "
                        "the rules where our way ends", read_only=True)
        self._goal: tuple[float, float, str] | None = None
        if len(route) >= 2:
            planned = Goal.from_flat(route)
            if len(planned.waypoints) == 1:
                self._goal = (*planned.final, "")

        self._limits = limits
        self.create_subscription(SceneObservation, "scene", self._on_scene, qos.COMMAND)
        self.create_subscription(PoseStamped, "goal_pose", self._on_goal, qos.COMMAND)
        # A short queue: instructions sent while the first one loads the embedding model
        # are answered in order instead of only the newest.
        self._instructions = InstructionWorker(self._answer_instruction,
                                               self._drop_instruction,
                                               self._instruction_failed)
        self.instructions_answered = 0
        self.create_subscription(String, "instruction", self._instructions.submit,
                                 qos.LATCHED_LOG)
        self._decision_publisher = self.create_publisher(BehaviorDecision, "decision",
                                                         qos.COMMAND)
        self._explanation_publisher = self.create_publisher(String, "~/explanation",
                                                            qos.LATCHED_LOG)
        self._scene_text_publisher = self.create_publisher(String, "~/scene_text", 1)
        self._trace_publisher = self.create_publisher(String, "~/trace", 10)
        self._stats_publisher = self.create_publisher(String, "~/stats", 1)
        self._marker_publisher = self.create_publisher(Marker, "~/decision_marker", 1)
        self.create_timer(self._period, self._on_timer)
        self.create_timer(1.0, self._publish_stats)
        self._last_explanation = ""

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_scene(self, msg: SceneObservation) -> None:
        try:
            self._scene = conversions.scene_from_msg(msg)
            self._scene_received = now_at_least(self, self._scene.stamp)
        except ValueError as error:
            self.get_logger().warning(f"scene rejected: {error}", throttle_duration_sec=2.0)
            return
        if self._decide_on_scene:
            self._decide()

    def _on_goal(self, msg: PoseStamped) -> None:
        try:
            x, y = conversions.goal_point_from_msg(msg)
        except ValueError as error:
            self.get_logger().error(f"goal_pose rejected: {error}", throttle_duration_sec=1.0)
            return
        self._goal = (x, y, msg.header.frame_id)

    def _with_goal(self, scene):
        """The scene with the goal in it, when the goal is in the scene's frame."""
        if self._goal is None:
            return scene
        x, y, frame = self._goal
        if frame not in ("", scene.frame_id):
            self.get_logger().error(
                f"goal_pose in frame '{frame}' is not the scene's '{scene.frame_id}' (no tf2 "
                "lookup in this node): decided without it", throttle_duration_sec=5.0)
            return scene
        return dataclasses.replace(scene, goal=(x, y))

    def _on_timer(self) -> None:
        # Only when scenes stopped deciding (or after a backwards clock jump): the timer is
        # the heartbeat, scenes are the pace. Half a period of slack: scenes at the
        # decision rate come a period apart, and a tick that beat the next scene by a
        # moment would decide again on the last one.
        since = self._now() - self._last_decided
        if not self._decide_on_scene or not 0.0 <= since < 1.5 * self._period:
            self._decide()

    def _load_embeddings(self) -> None:
        """Swap in a grounder with sentence embeddings, once, at the first instruction."""
        self._use_embeddings = False
        from reasonact_ros.reasoning.embedding import SentenceEmbedder
        from reasonact_ros.reasoning.intent import InstructionGrounder, load_places

        try:
            grounder = InstructionGrounder(load_places(), self._limits,
                                           embedder=SentenceEmbedder())
        except Exception as error:  # noqa: BLE001 - keyword grounding still works
            self.get_logger().error(f"sentence embeddings unavailable, keywords only: {error}")
            return
        self._engine.grounder = grounder
        self.get_logger().info("instruction grounding with sentence embeddings ready")

    def _drop_instruction(self, msg: String) -> None:
        self.get_logger().warning(
            f"instruction dropped unanswered, {INSTRUCTION_QUEUE_DEPTH} newer ones wait: "
            f"{msg.data[:80]!r}", throttle_duration_sec=1.0)

    def _instruction_failed(self, msg: String, error: Exception) -> None:
        self.get_logger().error(
            f"instruction not answered, an error in grounding it: "
            f"{type(error).__name__}: {error} (instruction {msg.data[:80]!r})")

    def _answer_instruction(self, msg: String) -> None:
        if self._use_embeddings:
            self._load_embeddings()
        accepted, explanation = self._engine.set_instruction(msg.data)
        # Every instruction gets its answer on ~/explanation, even a repeated one; the log
        # is throttled so a flood of hostile text cannot flood it. One call site per
        # severity: rclpy raises if a call site changes severity.
        self._last_explanation = explanation
        self._explanation_publisher.publish(String(data=explanation))
        self.instructions_answered += 1
        if accepted:
            self.get_logger().info(f"instruction {explanation}", throttle_duration_sec=1.0)
        else:
            self.get_logger().warning(f"instruction {explanation}", throttle_duration_sec=1.0)

    def _explain(self, text: str) -> None:
        if text and text != self._last_explanation:
            self._last_explanation = text
            self._explanation_publisher.publish(String(data=text))

    def _decide(self) -> None:
        if self._scene is None:
            return
        now = now_at_least(self, self._scene.stamp)
        if not 0.0 <= now - self._scene_received <= self._scene_timeout:
            return  # the planner's stale-decision fallback takes over
        output = self._engine.step(self._with_goal(self._scene), now)
        self._last_decided = now
        self._decision_publisher.publish(conversions.decision_to_msg(output.decision))
        self._scene_text_publisher.publish(String(data=output.scene_text))
        self._trace_publisher.publish(String(data=json.dumps(output.trace, default=str)))
        self._explain(output.explanation)
        self._publish_marker(output.decision)

    def _publish_marker(self, decision) -> None:
        """The current decision as text floating over the robot, for RViz."""
        marker = Marker(type=Marker.TEXT_VIEW_FACING, action=Marker.ADD, ns="decision", id=0)
        marker.header.stamp = self.get_clock().now().to_msg()
        marker.header.frame_id = self._scene.frame_id or "odom"
        marker.pose.position.x = float(self._scene.robot.x)
        marker.pose.position.y = float(self._scene.robot.y)
        marker.pose.position.z = 1.5
        marker.pose.orientation.w = 1.0
        marker.scale.z = 0.3
        marker.color.r, marker.color.g, marker.color.b, marker.color.a = 1.0, 1.0, 1.0, 1.0
        marker.text = (f"{decision.behavior.name} <= {decision.max_speed:.1f} m/s\n"
                       f"{decision.rationale[:80]}")
        self._marker_publisher.publish(marker)

    @property
    def stats(self) -> dict:
        """Decisions per source, validator rejections, LLM errors and latencies."""
        return self._engine.stats

    def _publish_stats(self) -> None:
        self._stats_publisher.publish(String(data=json.dumps(self.stats, default=str)))

    def on_shutdown(self) -> None:
        self._instructions.close()
        self._engine.close()
        if self._local_server is not None:
            self._local_server.__exit__(None, None, None)


def main(args=None) -> int:
    return spin_node(ReasoningNode, args)


if __name__ == "__main__":
    raise SystemExit(main())

"""End to end with a real llama.cpp server and the bundled Gemma 3 270M model (~30 s).

Marked ``llm`` so it can be deselected (``-m "not llm"``), but it runs by
default: a missing package fails with the install command, never skips.
"""

import json
import time
from pathlib import Path

import pytest

from reasonact_ros.reasoning.engine import ReasoningEngine
from reasonact_ros.reasoning.llm import LLMPolicy
from reasonact_ros.scene import (
    Behavior,
    DecisionSource,
    Limits,
    ObjectClass,
    Pose2D,
    Scene,
    TrackedObject,
    Velocity2D,
)

SCENE = Scene(stamp=0.0, robot=Pose2D(), robot_velocity=Velocity2D(0.8, 0.0), objects=(
    TrackedObject(3, ObjectClass.PEDESTRIAN, 5.0, 0.1, -1.0, 0.0),))


@pytest.mark.llm
def test_local_gemma_server_returns_a_validated_decision_end_to_end():
    from reasonact_ros.reasoning.local_server import LocalLlamaServer, LocalServerError

    limits = Limits(max_linear_speed=1.2)
    try:
        server = LocalLlamaServer().start()
    except LocalServerError as error:  # CI installs it: missing is a failure
        pytest.fail(f"local llama.cpp server unavailable: {error}")
    try:
        policy = LLMPolicy(server.endpoint, timeout_s=120.0, limits=limits,
                           source=DecisionSource.LOCAL)
        engine = ReasoningEngine(limits, policy, llm_timeout_s=120.0, validity_s=600.0)
        try:
            ok, _ = engine.set_instruction("go slowly")
            assert ok
            started, now, out = time.monotonic(), 0.0, None
            while time.monotonic() - started < 180.0:
                out = engine.step(SCENE, now)
                if out.decision.source == DecisionSource.LOCAL:
                    break
                assert out.decision.source == DecisionSource.RULES  # never blocked meanwhile
                time.sleep(0.05)
                now += 0.05
            stats = engine.stats
            assert out.decision.source == DecisionSource.LOCAL, stats
            assert not stats["llm_errors"], stats
            assert isinstance(out.decision.behavior, Behavior)
            assert 0.0 <= out.decision.max_speed <= 0.5  # "go slowly" bounds the model too
            json.dumps(out.trace, allow_nan=False)
            assert out.trace["latency_ms"] > 0.0
            assert out.trace["action"]["behavior"] == out.decision.behavior.name or (
                out.trace["clamped"])
        finally:
            engine.close()
    finally:
        server.stop()
    assert server.process is None


def test_server_command_uses_the_measured_flags_and_a_cache_outside_the_repo(monkeypatch,
                                                                             tmp_path):
    from reasonact_ros.reasoning.local_server import LocalLlamaServer, model_cache_dir

    monkeypatch.setenv("REASONACT_MODEL_CACHE", str(tmp_path))
    assert model_cache_dir() == tmp_path
    server = LocalLlamaServer(model_path=tmp_path / "m.gguf")
    server.port = 4321
    command = " ".join(server.command())
    for flag in ("-m llama_cpp.server", "--host 127.0.0.1", "--port 4321", "--n_ctx 2048",
                 "--n_threads 2", "--chat_format gemma", "--logits_all False"):
        assert flag in command
    monkeypatch.delenv("REASONACT_MODEL_CACHE")
    assert "reasonact_ros" in str(model_cache_dir())
    assert not str(model_cache_dir()).startswith(str(Path(__file__).resolve().parents[1]
                                                     / "reasonact_ros"))

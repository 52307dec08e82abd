"""What a language model says is data, never code; the API key never leaves its header.

A fake OpenAI-compatible server on 127.0.0.1 (reasonact_ros.robustness.fake_llm)
answers with shell and Python payloads, garbage, or the key it was sent.
"""

from __future__ import annotations

import ast
import json
import time
from pathlib import Path

import reasonact_ros.reasoning as reasoning_package
from reasonact_ros.reasoning.engine import ReasoningEngine
from reasonact_ros.reasoning.llm import LLMError, LLMPolicy
from reasonact_ros.robustness.callbacks import NodeContext, Recorder
from reasonact_ros.robustness.fake_llm import FakeLLMServer
from reasonact_ros.scene import Behavior, Limits, ObjectClass, Pose2D, Scene, TrackedObject

CANARY_KEY = "sk-canary-7f3e9b2a-do-not-log"
SCENE = Scene(stamp=0.0, robot=Pose2D(), objects=(
    TrackedObject(3, ObjectClass.PEDESTRIAN, 5.0, 0.5, -0.8, 0.0, age_s=2.0),))

# Calls that would run text as code or a command.
DANGEROUS_CALLS = {"eval", "exec", "compile", "__import__", "system", "popen", "spawnl",
                   "spawnv", "execv", "execl", "loads", "load", "call", "run", "Popen",
                   "check_output", "check_call", "getoutput", "getstatusoutput"}
DANGEROUS_MODULES = {"os", "subprocess", "pickle", "marshal", "shelve", "commands", "pty"}


def _dangerous_calls(path: Path) -> list[tuple[str, int, str]]:
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in {"eval", "exec", "compile", "__import__"}:
            found.append((path.name, node.lineno, func.id))
        elif isinstance(func, ast.Attribute) and func.attr in DANGEROUS_CALLS:
            owner = func.value.id if isinstance(func.value, ast.Name) else ""
            if owner in DANGEROUS_MODULES or (owner == "yaml" and func.attr == "load"):
                found.append((path.name, node.lineno, f"{owner}.{func.attr}"))
    return found


def test_reasoning_package_has_no_code_execution_on_model_text():
    package = Path(reasoning_package.__file__).parent
    found = []
    for path in sorted(package.glob("*.py")):
        found += _dangerous_calls(path)
    print(found)
    # The only process the package starts is the local model server, with a fixed argv.
    for name, line, call in found:
        assert name == "local_server.py" and call.startswith("subprocess."), (name, line, call)
        source = (package / name).read_text().splitlines()
        window = "\n".join(source[line - 1:line + 6])
        assert "shell=True" not in window, window
    for path in sorted(package.glob("*.py")):
        assert "shell=True" not in path.read_text(), path.name


def test_shell_and_python_payloads_from_the_model_never_run(tmp_path):
    canary = tmp_path / "pwned"
    with FakeLLMServer(mode="payload", seed=5, canary_path=str(canary)) as server:
        policy = LLMPolicy(server.endpoint, timeout_s=2.0)
        outcomes = []
        for _ in range(30):
            try:
                outcomes.append(type(policy.ask("a person ahead", "none")).__name__)
            except LLMError as error:
                outcomes.append(error.kind)
        engine = ReasoningEngine(Limits(), policy=policy, decision_period_s=0.01)
        outputs = []
        for i in range(60):
            outputs.append(engine.step(SCENE, now=float(i) * 0.05))
            time.sleep(0.02)
        stats = engine.stats
        engine.close()
    print(f"outcomes {outcomes}; engine stats {stats['llm_errors']} rejections "
          f"{stats['rejections']} decisions {stats['decisions']}")
    assert not canary.exists(), "a payload in a model answer was executed"
    assert server.answers >= 20
    for output in outputs:
        decision = output.decision
        assert isinstance(decision.behavior, Behavior)
        assert 0.0 <= decision.max_speed <= Limits().max_linear_speed
        assert len(decision.rationale) <= 300 and decision.rationale.isprintable()
        json.dumps(output.trace, allow_nan=False)
    assert stats["llm_requests"] >= 5


def _leaks(texts, key=CANARY_KEY) -> list[str]:
    return [text[:200] for text in texts if key in text]


def test_api_key_is_sent_only_in_the_authorization_header(monkeypatch, capfd, caplog):
    monkeypatch.setenv("OPENAI_API_KEY", CANARY_KEY)
    with FakeLLMServer(mode="ok") as server:
        policy = LLMPolicy(server.endpoint, timeout_s=2.0)
        assert CANARY_KEY not in repr(policy) and CANARY_KEY not in json.dumps(vars(policy),
                                                                                default=str)
        action = policy.ask("a person ahead", "slow down")
        engine = ReasoningEngine(Limits(), policy=policy, decision_period_s=0.01)
        outputs = []
        for i in range(40):
            outputs.append(engine.step(SCENE, now=float(i) * 0.05))
            time.sleep(0.02)
        stats = engine.stats
        engine.close()
    assert action["behavior"] == "PROCEED"
    assert server.requests, "the fake server saw no request"
    for request in server.requests:
        headers = {k.lower(): v for k, v in request.headers.items()}
        assert headers.get("authorization") == f"Bearer {CANARY_KEY}"
        others = [v for k, v in headers.items() if k != "authorization"]
        assert not _leaks(others) and CANARY_KEY.encode() not in request.body
        assert CANARY_KEY not in request.path
    out, err = capfd.readouterr()
    texts = [out, err, caplog.text, json.dumps(stats, default=str)]
    for output in outputs:
        texts += [output.explanation, json.dumps(output.trace, default=str), output.scene_text,
                  output.decision.rationale]
    assert not _leaks(texts)


def test_api_key_never_reaches_the_node_outputs_or_log(monkeypatch, capfd):
    monkeypatch.setenv("OPENAI_API_KEY", CANARY_KEY)
    from reasonact_ros.nodes.conversions import scene_to_msg

    published = []
    with FakeLLMServer(mode="ok") as server, NodeContext() as nodes:
        from reasonact_ros.nodes.reasoning_node import ReasoningNode

        node = nodes.make(ReasoningNode, backend="llm", llm_endpoint=server.endpoint)
        for name in ("_decision_publisher", "_explanation_publisher",
                     "_scene_text_publisher", "_trace_publisher", "_stats_publisher"):
            setattr(node, name, Recorder(published))
        for _ in range(30):
            msg = scene_to_msg(SCENE)
            msg.header.stamp = node.get_clock().now().to_msg()
            node._on_scene(msg)
            node._decide()
            time.sleep(0.03)
        node._publish_stats()
        node.on_shutdown()
        assert server.requests
    out, err = capfd.readouterr()
    texts = [out, err] + [getattr(m, "data", "") or getattr(m, "rationale", "")
                          for m in published]
    assert len(published) > 30
    assert not _leaks(texts)


def test_api_key_echoed_by_the_server_is_redacted(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", CANARY_KEY)
    texts = []
    with FakeLLMServer(mode="echo_key") as server:
        policy = LLMPolicy(server.endpoint, timeout_s=2.0)
        engine = ReasoningEngine(Limits(), policy=policy, decision_period_s=0.01)
        for i in range(40):
            output = engine.step(SCENE, now=float(i) * 0.05)
            texts += [output.explanation, json.dumps(output.trace, default=str)]
            time.sleep(0.02)
        engine.close()
    with FakeLLMServer(mode="error") as server:
        try:
            LLMPolicy(server.endpoint, timeout_s=2.0).ask("scene", "none")
        except LLMError as error:
            texts.append(str(error))
    assert not _leaks(texts), _leaks(texts)[:2]

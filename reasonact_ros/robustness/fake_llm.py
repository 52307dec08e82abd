"""A misbehaving OpenAI-compatible server on 127.0.0.1, in a thread, for fault injection.

``FakeLLMServer(mode)`` answers ``GET /v1/models`` and ``POST /v1/completions`` /
``/v1/chat/completions`` the way the chosen fault says:

  ok        a valid action object (PROCEED at the limit: the validator decides)
  slow      hangs ``hang_s`` (5 s) before answering; released at once on close()
  garbage   seeded random bytes, truncated JSON, wrong shapes, absurd numbers
  payload   actions whose text fields and whole answers are shell / Python payloads
  echo_key  answers with the Authorization header it received inside the action text
  error     HTTP 500 with the request's Authorization header echoed in the body

Every request is recorded (method, path, headers, body) so a test can check what
the client sent, e.g. that an API key travels only in the Authorization header.
Loopback only; the server stops when the ``with`` block ends.
"""

from __future__ import annotations

import json
import random
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODES = ("ok", "slow", "garbage", "payload", "echo_key", "error")

# What a hostile model could try to make a client run; none of it may ever execute.
SHELL_PAYLOADS = (
    "$(touch {canary})",
    "`touch {canary}`",
    "; touch {canary} #",
    "__import__('os').system('touch {canary}')",
    "exec(\"open('{canary}', 'w').write('x')\")",
    "{{{{ self.__init__.__globals__['os'].system('touch {canary}') }}}}",
    "!!python/object/apply:os.system ['touch {canary}']",
)


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeLLMServer:
    mode: str = "ok"
    hang_s: float = 5.0
    seed: int = 0
    canary_path: str = "/nonexistent/reasonact-canary"
    requests: list[RecordedRequest] = field(default_factory=list)

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        self._random = random.Random(self.seed)
        self._release = threading.Event()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.answers = 0

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> FakeLLMServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet: tests read the recorded requests
                pass

            def do_GET(self):  # noqa: N802 - http.server's API
                server._handle(self, "GET")

            def do_POST(self):  # noqa: N802
                server._handle(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-llm",
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    # --- answers ------------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(min(length, 1 << 20)) if length else b""
        with self._lock:
            self.requests.append(RecordedRequest(method, handler.path, dict(handler.headers),
                                                 body))
        auth = handler.headers.get("Authorization", "")
        if handler.path.rstrip("/").endswith("/models"):
            # llama.cpp's answer, so the client uses /v1/completions + grammar.
            self._send(handler, 200, {"object": "list",
                                      "data": [{"id": "fake.gguf", "owned_by": "llamacpp"}]})
            return
        if self.mode == "slow" and self._release.wait(self.hang_s):
            return  # the server is closing: the hung request gets no answer at all
        if self.mode == "error":
            self._send_raw(handler, 500, f"internal error for {auth}".encode())
            return
        if self.mode == "garbage":
            status, payload = self._garbage()
            self._send_raw(handler, status, payload)
            return
        text = json.dumps(self._action(auth))
        if self.mode == "payload" and self._random.random() < 0.3:
            # A whole answer that is code, not an action.
            text = self._payload()
        with self._lock:
            self.answers += 1
        self._send(handler, 200, {"choices": [{"text": text, "index": 0,
                                               "message": {"role": "assistant",
                                                           "content": text}}]})

    def _action(self, auth: str) -> dict:
        action = {"thought": "clear walkway", "behavior": "PROCEED", "max_speed": 1.5,
                  "min_clearance": 1.0, "target_id": -1}
        if self.mode == "payload":
            action["thought"] = self._payload()
            action["behavior"] = self._random.choice(["PROCEED", "SLOW", "os.system('id')"])
        elif self.mode == "echo_key":
            action["thought"] = f"my key is {auth}"
        return action

    def _payload(self) -> str:
        return self._random.choice(SHELL_PAYLOADS).format(canary=self.canary_path)

    def _garbage(self) -> tuple[int, bytes]:
        r = self._random
        kind = r.randrange(8)
        if kind == 0:
            return 200, bytes(r.randrange(256) for _ in range(r.randrange(1, 400)))
        if kind == 1:
            return 200, b'{"choices": [{"text": "{\\"behavior\\": \\"PROC'
        if kind == 2:
            return 200, json.dumps({"choices": []}).encode()
        if kind == 3:
            return 200, json.dumps({"choices": [{"text": "[1, 2, 3]"}]}).encode()
        if kind == 4:
            action = {"behavior": "PROCEED", "max_speed": 1e308 * 10, "min_clearance": -5}
            return 200, json.dumps({"choices": [{"text": json.dumps(action)}]}).encode()
        if kind == 5:
            action = {"behavior": "TELEPORT", "max_speed": "fast", "min_clearance": None}
            return 200, json.dumps({"choices": [{"text": json.dumps(action)}]}).encode()
        if kind == 6:
            return 200, b"x" * 200_000  # larger than the client's response bound
        return r.choice((404, 429, 503)), b"<html>nope</html>"

    @staticmethod
    def _send(handler, status: int, payload: dict) -> None:
        FakeLLMServer._send_raw(handler, status, json.dumps(payload).encode())

    @staticmethod
    def _send_raw(handler, status: int, data: bytes) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout): that is the point of "slow"

"""A language-model policy over any OpenAI-compatible HTTP endpoint (standard library only).

Two ways to get a structured action out of a model:

- ``grammar=True`` — llama.cpp servers (``python -m llama_cpp.server`` or the
  C++ ``llama-server``): ``POST /v1/completions`` with a few-shot prompt and a
  GBNF ``grammar`` field, so even a small base model can only emit an action
  object. The few-shot prefix is the same on every call so the server reuses
  its cached evaluation; ``temperature`` and ``max_tokens`` are always sent
  because the server defaults (0.8, 16) would truncate the answer.
- ``grammar=False`` — other servers (OpenAI, vLLM, Ollama):
  ``POST /v1/chat/completions`` with ``response_format`` ``json_schema``.
- ``grammar=None`` — ask ``GET /v1/models`` once and pick: llama.cpp servers
  report ``owned_by`` "me"/"llamacpp" or a ``.gguf`` model id.

Every reply is parsed defensively and the result is still only a *proposal*:
the ``ActionValidator`` decides whether it is used. Failures raise an
``LLMError`` subclass whose ``kind`` the engine counts. An API key is read from
the environment variable named by ``api_key_env`` at call time and is never
stored in the object, logged or put in an error message.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import Any

from reasonact_ros.reasoning.facts import describe_scene, scene_facts
from reasonact_ros.reasoning.intent import CONFIG_DIR, Intent
from reasonact_ros.scene import Behavior, DecisionSource, Limits, Scene

MAX_SCENE_CHARS = 700  # keeps the prompt inside a 2048-token context with the few-shot prefix
MAX_INSTRUCTION_CHARS = 200
READ_CHUNK_BYTES = 16384
MAX_GRAMMAR_TARGETS = 20  # nearest objects a grammar lets the model name
_TARGET_RULE = re.compile(r"^target\s*::=.*$", re.MULTILINE)
LLAMA_CPP_OWNERS = {"me", "llamacpp", "llama-cpp", "llama.cpp", "llama_cpp"}


class LLMError(RuntimeError):
    kind = "error"


class LLMTimeoutError(LLMError):
    kind = "timeout"


class LLMConnectionRefusedError(LLMError):
    kind = "refused"


class LLMConnectionError(LLMError):
    kind = "connection"


class LLMHTTPError(LLMError):
    kind = "http"

    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class LLMNotJSONError(LLMError):
    kind = "non_json"


class LLMShapeError(LLMError):
    kind = "shape"


class LLMResponseTooLargeError(LLMError):
    kind = "too_large"


def action_schema(limits: Limits) -> dict:
    """JSON schema of an action, for servers that enforce ``response_format``."""
    return {
        "type": "object",
        "properties": {
            "thought": {"type": "string", "maxLength": 200},
            "behavior": {"type": "string", "enum": [b.name for b in Behavior]},
            "max_speed": {"type": "number", "minimum": 0.0,
                          "maximum": limits.max_linear_speed},
            "min_clearance": {"type": "number", "minimum": limits.min_person_clearance,
                              "maximum": limits.max_person_clearance},
            "target_id": {"type": "integer", "minimum": -1},
        },
        "required": ["thought", "behavior", "max_speed", "min_clearance", "target_id"],
        "additionalProperties": False,
    }


def load_text(name: str) -> str:
    return (CONFIG_DIR / name).read_text(encoding="utf-8")


def instruction_line(intent: Intent | None) -> str:
    if intent is None or not intent.text:
        return "none"
    return " ".join(intent.text.split())[:MAX_INSTRUCTION_CHARS]


def _extract_json_object(text: str) -> Any:
    """The JSON value in a model's text, tolerating code fences and chatter around one object."""
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.strip("`")
        stripped = stripped[stripped.find("{"):] if "{" in stripped else stripped
    try:
        return json.loads(stripped)
    except json.JSONDecodeError:
        pass
    start = stripped.find("{")
    if start >= 0:
        try:
            value, _ = json.JSONDecoder().raw_decode(stripped[start:])
            return value
        except json.JSONDecodeError:
            pass
    raise LLMNotJSONError(f"model output is not JSON: {stripped[:80]!r}")


def _redact(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text


class LLMPolicy:
    """Asks a language model for an action; see the module docstring."""

    name = "llm"

    def __init__(self, endpoint: str, model: str = "", timeout_s: float = 2.0,
                 max_response_bytes: int = 65536, api_key_env: str = "OPENAI_API_KEY",
                 grammar: bool | None = None, limits: Limits | None = None,
                 source: DecisionSource = DecisionSource.LLM, max_tokens: int = 64,
                 fewshot_file: str = "fewshot_prompt.txt", grammar_file: str = "action.gbnf"):
        parsed = urllib.parse.urlparse(endpoint)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"endpoint must be an http(s) URL, got {endpoint!r}")
        if parsed.username or parsed.password:
            # Credentials in a URL end up in logs and error messages; keys live in the env.
            raise ValueError(f"put credentials in ${api_key_env}, not in the endpoint URL")
        if not (timeout_s > 0.0) or max_response_bytes < 256:
            raise ValueError("timeout_s must be > 0 and max_response_bytes >= 256")
        path = parsed.path.rstrip("/")
        if not path.endswith("/v1"):
            path += "/v1"
        self.base_url = f"{parsed.scheme}://{parsed.netloc}{path}"
        self.model = model
        self.timeout_s = float(timeout_s)
        self.max_response_bytes = int(max_response_bytes)
        self.api_key_env = api_key_env
        self.grammar = grammar
        self.limits = limits or Limits()
        self.source = source
        self.max_tokens = max_tokens
        self._fewshot = load_text(fewshot_file)
        self._grammar_text = load_text(grammar_file)
        self._system_prompt = load_text("system_prompt.txt")

    def __repr__(self) -> str:
        return (f"LLMPolicy(endpoint={self.base_url!r}, model={self.model!r}, "
                f"grammar={self.grammar!r})")

    # -- Policy ----------------------------------------------------------------------------

    def propose(self, scene: Scene, intent: Intent | None, now: float) -> dict:
        facts = scene_facts(scene)
        scene_text = describe_scene(scene, facts, with_ids=True)[:MAX_SCENE_CHARS]
        return self.ask(scene_text, instruction_line(intent),
                        [f.id for f in facts[:MAX_GRAMMAR_TARGETS]])

    def ask(self, scene_text: str, instruction: str,
            target_ids: Sequence[int] | None = None) -> dict:
        """One request; the parsed action object (unvalidated) or an LLMError.

        ``target_ids``, when given, limits the grammar's target_id to -1 or those ids,
        so a small model cannot name an object that is not there.
        """
        deadline = time.monotonic() + self.timeout_s
        if self.grammar is None:
            self.grammar = self.detect_grammar_support(deadline)
        if self.grammar:
            reply = self._post("/completions",
                               self.completion_request(scene_text, instruction, target_ids),
                               deadline)
            text = self._choice_text(reply, "text")
        else:
            reply = self._post("/chat/completions", self.chat_request(scene_text, instruction),
                               deadline)
            text = self._choice_text(reply, "message")
        action = _extract_json_object(text)
        if not isinstance(action, dict):
            raise LLMShapeError(f"model output is a JSON {type(action).__name__}, not an object")
        return action

    # -- requests --------------------------------------------------------------------------

    def prompt(self, scene_text: str, instruction: str) -> str:
        # The prefix never changes, so llama.cpp keeps it evaluated between calls. No space
        # after "Action:": the examples tokenise " {" as one token, and so must the answer.
        return f"{self._fewshot}Scene: {scene_text}\nInstruction: {instruction}\nAction:"

    def grammar_for(self, target_ids: Sequence[int] | None) -> str:
        if target_ids is None:
            return self._grammar_text
        choices = " | ".join(f'"{int(i)}"' for i in ["-1", *target_ids])
        return _TARGET_RULE.sub(f"target    ::= {choices}", self._grammar_text)

    def completion_request(self, scene_text: str, instruction: str,
                           target_ids: Sequence[int] | None = None) -> dict:
        body = {
            "prompt": self.prompt(scene_text, instruction),
            "grammar": self.grammar_for(target_ids),
            "temperature": 0.0,
            "max_tokens": self.max_tokens,
            "stop": ["\n"],
        }
        if self.model:
            body["model"] = self.model
        return body

    def chat_request(self, scene_text: str, instruction: str) -> dict:
        body = {
            "messages": [
                {"role": "system", "content": self._system_prompt},
                {"role": "user", "content": f"Scene: {scene_text}\nInstruction: {instruction}"},
            ],
            "temperature": 0.0,
            "max_tokens": max(self.max_tokens, 200),
            "response_format": {"type": "json_schema", "json_schema": {
                "name": "robot_action", "strict": True, "schema": action_schema(self.limits)}},
        }
        if self.model:
            body["model"] = self.model
        return body

    def detect_grammar_support(self, deadline: float | None = None) -> bool:
        deadline = deadline or time.monotonic() + self.timeout_s
        reply = self._request("GET", "/models", None, deadline)
        models = reply.get("data") if isinstance(reply, dict) else None
        if not isinstance(models, list):
            raise LLMShapeError("GET /v1/models did not return a model list")
        for entry in models:
            if not isinstance(entry, dict):
                continue
            owner = str(entry.get("owned_by", "")).lower()
            model_id = str(entry.get("id", ""))
            if owner in LLAMA_CPP_OWNERS or model_id.lower().endswith(".gguf"):
                return True
        return False

    @staticmethod
    def _choice_text(reply: Any, field: str) -> str:
        try:
            choice = reply["choices"][0]
            if field == "text":
                text = choice["text"]
            else:
                message = choice["message"]
                if message.get("refusal"):
                    raise LLMShapeError("the model refused to answer")
                text = message["content"]
        except (KeyError, IndexError, TypeError, AttributeError) as error:
            raise LLMShapeError(f"reply has no choices[0].{field}") from error
        if not isinstance(text, str) or not text.strip():
            raise LLMShapeError(f"choices[0].{field} is empty or not text")
        return text

    # -- HTTP ------------------------------------------------------------------------------

    def _post(self, path: str, body: dict, deadline: float) -> Any:
        return self._request("POST", path, body, deadline)

    def _request(self, method: str, path: str, body: dict | None, deadline: float) -> Any:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        api_key = os.environ.get(self.api_key_env, "") if self.api_key_env else ""
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers,
                                         method=method)
        remaining = deadline - time.monotonic()
        if remaining <= 0.0:
            raise LLMTimeoutError(f"no time left for {method} {path}")
        try:
            with urllib.request.urlopen(request, timeout=remaining) as response:
                raw = self._read_bounded(response, deadline)
        except urllib.error.HTTPError as error:
            detail = ""
            try:
                detail = error.read(300).decode("utf-8", "replace")
            except (OSError, http.client.HTTPException):
                pass
            detail = _redact(detail, api_key)
            raise LLMHTTPError(error.code, " ".join(detail.split())[:200]) from None
        except urllib.error.URLError as error:
            raise self._network_error(error.reason) from None
        except TimeoutError as error:
            raise LLMTimeoutError(f"{method} {path} timed out after {self.timeout_s} s") \
                from error
        except (ConnectionError, http.client.HTTPException, OSError) as error:
            raise self._network_error(error) from None
        try:
            # A server that echoes the key (a hostile endpoint, a misconfigured proxy) must
            # not get it into rationales, traces or logs.
            text = _redact(raw.decode("utf-8"), api_key)
            return json.loads(text)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise LLMNotJSONError(
                f"{method} {path} answered non-JSON: {_redact(repr(raw[:60]), api_key)}"
            ) from None

    def _network_error(self, reason: Any) -> LLMError:
        if isinstance(reason, TimeoutError | socket.timeout):
            return LLMTimeoutError(f"timed out after {self.timeout_s} s")
        if isinstance(reason, ConnectionRefusedError):
            return LLMConnectionRefusedError(f"connection refused by {self.base_url}")
        return LLMConnectionError(f"cannot reach {self.base_url}: {type(reason).__name__}")

    def _read_bounded(self, response, deadline: float) -> bytes:
        """At most max_response_bytes, before the deadline; a trickling server times out."""
        declared = response.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_response_bytes:
            raise LLMResponseTooLargeError(
                f"response of {declared} bytes exceeds {self.max_response_bytes}")
        chunks, size = [], 0
        while True:
            if time.monotonic() > deadline:
                raise LLMTimeoutError(f"response not complete within {self.timeout_s} s")
            chunk = response.read1(READ_CHUNK_BYTES)
            if not chunk:
                break
            size += len(chunk)
            if size > self.max_response_bytes:
                raise LLMResponseTooLargeError(
                    f"response exceeds {self.max_response_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

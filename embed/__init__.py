"""The offline text embedder (all-MiniLM-L6-v2) shared by drift, experiments' ``SemanticSimilarity``,
synth's de-duplication, safety's ``InjectionSimilarity`` and monitor. It imports no other room of the
harness; the model (numpy, no torch) loads on the first ``embed()`` call."""

from embed._text import EmbedderUnavailableError, TextEmbedder

__all__ = ["EmbedderUnavailableError", "TextEmbedder"]

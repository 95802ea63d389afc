"""Topics at Spark scale: every row of a Spark DataFrame assigned to a stored topic model, in the executors.

One machine embeds about 100-130 inputs a second with the offline embedder (2 cores), so a day of a million
inputs is hours there; Spark spreads the embedding over its executors. The model (a small JSON: centroids and
radii) travels with the task; each Python worker loads the embedder once and assigns batch by batch, exactly as
:meth:`monitor.topics.TopicModel.assign` does on one machine. The result is a string column of drift categories
(``"<id> <name>"`` or ``"outliers"``) that ``python -m drift report --engine spark`` compares like any categorical
feature (``input_topic``).

    from monitor.topics import TopicModel
    from monitor.topics_spark import assign_topics_spark
    df = assign_topics_spark(spark.read.json("logs/prod.jsonl"), TopicModel.load("topics.json"))
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from monitor.topics import TopicModel

__all__ = ["assign_topics_spark"]


def assign_topics_spark(frame: Any, model: TopicModel, *, text_column: str = "prompt",
                        out_column: str = "input_topic") -> Any:
    """``frame`` with ``out_column``: each row's topic category (new-topic candidates need a window in one place:
    ``python -m monitor topics report``)."""
    from pyspark.sql.types import StringType, StructField, StructType

    if text_column not in frame.columns:
        raise ValueError(f"no column {text_column!r} to assign topics from; columns: {frame.columns[:20]}")
    payload = json.dumps(model.to_dict())
    schema = StructType([*frame.schema.fields, StructField(out_column, StringType(), True)])

    def assign(batches: Iterator[Any]) -> Iterator[Any]:
        from embed import TextEmbedder
        from monitor.topics import embed_texts
        from tracing.production_log import user_text

        m = TopicModel.from_dict(json.loads(payload))
        embedder = TextEmbedder()
        for pdf in batches:
            texts = [user_text(t) if isinstance(t, str) else "" for t in pdf[text_column].tolist()]
            ids: Any = m.assign(embed_texts(texts, embedder=embedder, progress=False)) if texts else []
            yield pdf.assign(**{out_column: [m.category(int(i)) for i in ids]})

    return frame.mapInPandas(assign, schema)

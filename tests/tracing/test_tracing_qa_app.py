"""The instrumented example app: retrieval (checked against scikit-learn), log rows, traces in Phoenix."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from tracing_test_helpers import wait_for_spans

from tracing.phoenix_server import PhoenixProcess
from tracing.production_log import LOG_COLUMNS

REPO = Path(__file__).resolve().parents[2]
APP_PATH = REPO / "examples" / "qa_app.py"
LOG_KEYS = set(LOG_COLUMNS)  # the app writes exactly the rows tracing.production_log reads


@pytest.fixture(scope="module")
def qa() -> ModuleType:
    spec = importlib.util.spec_from_file_location("qa_app", APP_PATH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["qa_app"] = module
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class FakeUsage:
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class FakeCompletion:
    text: str
    model: str
    usage: FakeUsage


class FakeModelClient:
    """A fake model client: echoes a fixed reply and records each request (no model runs)."""

    def __init__(self, model: str = "gemma-3-270m") -> None:
        self.model = model
        self.requests: list[Any] = []

    async def complete(self, request: Any) -> FakeCompletion:
        self.requests.append(request)
        await asyncio.sleep(0.001)
        return FakeCompletion("An answer.", self.model, FakeUsage(prompt_tokens=40, completion_tokens=4))


def test_retrieval_matches_scikit_learn_tfidf(qa: ModuleType) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics.pairwise import cosine_similarity

    docs = qa.load_corpus()
    retriever = qa.TfidfRetriever(docs)
    vec = TfidfVectorizer(token_pattern=r"(?u)\b\w+\b", smooth_idf=True, norm="l2")
    matrix = vec.fit_transform([d.text for d in docs])
    for query in (
        "Which river is the longest in the world?",
        "binary search running time",
        "Comment fonctionne la photosynthèse ?",
    ):
        ours = retriever.search(query, k=3)
        ref = cosine_similarity(vec.transform([query]), matrix)[0]
        ref_top = sorted((i for i in range(len(docs)) if ref[i] > 0), key=lambda i: (-ref[i], docs[i].id))[:3]
        assert [d.id for d, _ in ours] == [docs[i].id for i in ref_top]
        assert [s for _, s in ours] == pytest.approx([ref[i] for i in ref_top])
    assert retriever.search("Which river is the longest?")[0][0].id == "stem-4"
    assert retriever.search("zzzz qqqq") == []


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("What is the capital of France?", "en"),
        ("Quelle est la date de la prise de la Bastille ?", "fr"),
        ("Wie schnell ist das Licht im Vakuum?", "de"),
        ("¿Qué es la búsqueda binaria y cómo se usa?", "es"),
        ("12345", "en"),
    ],
)
def test_detect_language(qa: ModuleType, text: str, lang: str) -> None:
    assert qa.detect_language(text) == lang


def test_traffic_log_rows(qa: ModuleType, tmp_path: Path) -> None:
    client = FakeModelClient()
    log = tmp_path / "logs" / "prod.jsonl"
    app = qa.QAApp(
        client, qa.TfidfRetriever(qa.load_corpus()), log, request_factory=lambda m, n, t: {"messages": m}
    )
    questions = qa.BUILTIN_QUESTIONS
    rows = asyncio.run(qa.run_traffic(app, questions, 60, seed=3))
    written = [json.loads(line) for line in log.read_text().splitlines()]
    assert written == rows and len(rows) == 60
    for row in rows:
        assert set(row) == LOG_KEYS
        assert row["prompt_tokens"] == 40 and row["completion_tokens"] == 4 and row["cost_usd"] == 0.0
        assert row["latency_ms"] > 0 and row["tpot_ms"] == pytest.approx(row["latency_ms"] / 4, abs=1e-3)
        assert row["judge_score"] is None and row["label"] is None
        assert row["trace_id"] is None  # no tracer provider in this process: nothing traced
    sessions: dict[str, set[str]] = {}
    for row in rows:
        sessions.setdefault(row["session_id"], set()).add(row["user_id"])
    assert all(len(users) == 1 for users in sessions.values())  # one user per session
    assert len(sessions) < 60  # some sessions asked a follow-up
    assert len({r["user_id"] for r in rows}) > 3 and len({r["topic"] for r in rows}) > 3
    assert {"en"} < {r["language"] for r in rows}
    # the follow-up carries the first turn in its prompt
    follow = next(r for r in rows if any(q.follow_up == r["prompt"] for q in questions))
    prompt = next(
        req["messages"][0]["content"]
        for req in client.requests
        if f"Q: {follow['prompt']}" in req["messages"][0]["content"]
    )
    assert "A: An answer." in prompt
    with pytest.raises(ValueError, match="requests"):
        asyncio.run(qa.run_traffic(app, questions, 0))


def test_shifted_traffic(qa: ModuleType, tmp_path: Path) -> None:
    """--topics and --multilingual-share change the mix, as the drift part's demos need."""
    questions = qa.select_topics(qa.BUILTIN_QUESTIONS, "coding, math")
    assert {q.topic for q in questions} == {"coding", "math"}
    with pytest.raises(ValueError, match=r"unknown topics \['cooking'\]"):
        qa.select_topics(qa.BUILTIN_QUESTIONS, "math,cooking")
    app = qa.QAApp(
        FakeModelClient(),
        qa.TfidfRetriever(qa.load_corpus()),
        tmp_path / "p.jsonl",
        request_factory=lambda m, n, t: m,
    )
    rows = asyncio.run(qa.run_traffic(app, questions, 40, seed=1, multilingual_share=0.0))
    assert {r["topic"] for r in rows} == {"coding", "math"} and {r["language"] for r in rows} == {"en"}
    rows = asyncio.run(qa.run_traffic(app, questions, 40, seed=1, multilingual_share=1.0))
    assert "en" not in {r["language"] for r in rows}
    with pytest.raises(ValueError, match="multilingual_share"):
        asyncio.run(qa.run_traffic(app, questions, 1, multilingual_share=1.5))


@pytest.mark.slow
def test_traces_reach_phoenix_through_the_judges_client(
    phoenix: PhoenixProcess, phoenix_client: Any, project: str, tmp_path: Path
) -> None:
    """The app's CHAIN/RETRIEVER spans and the judges ModelClient's LLM span, one trace per request."""
    pytest.importorskip(
        "judges.providers.fakes", reason="the judges package (lead) provides the model client"
    )
    log = tmp_path / "prod.jsonl"
    code = f"""
        import asyncio, importlib.util, sys
        import tracing
        from judges import ModelClient
        from judges.providers.fakes import FakeFunctionProvider
        spec = importlib.util.spec_from_file_location("qa_app", {str(APP_PATH)!r})
        qa = importlib.util.module_from_spec(spec); sys.modules["qa_app"] = qa; spec.loader.exec_module(qa)
        handle = tracing.setup({phoenix.url!r}, {project!r})
        client = ModelClient(FakeFunctionProvider(lambda req: "Fake answer.", model="fake-model"))
        app = qa.QAApp(client, qa.TfidfRetriever(qa.load_corpus()), {str(log)!r})
        asyncio.run(qa.run_traffic(app, qa.BUILTIN_QUESTIONS, 3, seed=1))
        assert handle.force_flush(10)
        print(handle.dropped_spans)
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PHOENIX_", "OTEL_"))}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(rows) == 3
    spans = wait_for_spans(phoenix_client, project, 9)
    for row in rows:
        trace = [s for s in spans if s["context"]["trace_id"] == row["trace_id"]]
        kinds = {s["span_kind"]: s for s in trace}
        assert set(kinds) == {"CHAIN", "RETRIEVER", "LLM"}
        chain = kinds["CHAIN"]
        assert chain["context"]["span_id"] == row["span_id"]
        assert kinds["LLM"]["parent_id"] == chain["context"]["span_id"] == kinds["RETRIEVER"]["parent_id"]
        for s in trace:
            assert (
                s["attributes"]["session.id"] == row["session_id"]
                and s["attributes"]["user.id"] == row["user_id"]
            )
        assert kinds["LLM"]["attributes"]["llm.model_name"] == "fake-model"
        assert chain["attributes"]["output.value"] == row["response"] == "Fake answer."
    # the drift features read back from Phoenix equal the JSONL log's (the prompt column aside: an LLM span
    # holds the whole prompt sent to the model, the log the user's question)
    from tracing.production_log import rows_from_phoenix

    by_trace = {r["trace_id"]: r for r in rows_from_phoenix(project, base_url=phoenix.url)}
    same = ("topic", "language", "model", "prompt_tokens", "completion_tokens", "session_id", "user_id", "response")
    for row in rows:
        back = by_trace[row["trace_id"]]
        assert {k: back[k] for k in same} == {k: row[k] for k in same}
        assert back["latency_ms"] > 0 and back["cost_usd"] == row["cost_usd"]


@pytest.mark.slow
def test_cli_with_the_local_model(tmp_path: Path) -> None:
    """One real request through the embedded llama.cpp model (tracing off), as a user would run it."""
    if importlib.util.find_spec("xllamacpp") is None:
        pytest.skip("the local model needs the prebuilt llama.cpp wheel: pip install 'evalharness[local]'")
    pytest.importorskip("judges", reason="the judges package provides get_model('local')")
    log = tmp_path / "prod.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PHOENIX_", "OTEL_"))}
    done = subprocess.run(
        [
            sys.executable,
            str(APP_PATH),
            "--requests",
            "1",
            "--log",
            str(log),
            "--max-tokens",
            "4",
            "--seed",
            "5",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    [row] = [json.loads(line) for line in log.read_text().splitlines()]
    assert set(row) == LOG_KEYS
    assert 1 <= row["completion_tokens"] <= 4 and row["prompt_tokens"] > 20
    assert row["model"].startswith("gemma-3-270m") and row["cost_usd"] == 0.0

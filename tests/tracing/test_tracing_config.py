"""Endpoint/project resolution from arguments and the standard variables; the price table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tracing
from tracing._config import resolve_target
from tracing.pricing import PRICE_TABLE_ENV

ENV = (
    "PHOENIX_COLLECTOR_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "PHOENIX_PROJECT_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in ENV:
        monkeypatch.delenv(key, raising=False)
    # no running Phoenix recorded here, whatever a developer started in the project's own workdir
    monkeypatch.setenv("EVALHARNESS_PHOENIX_WORKDIR", str(tmp_path / "no-phoenix"))


def test_defaults() -> None:
    t = resolve_target(None, None)
    assert (t.base_url, t.traces_url, t.project) == (
        "http://127.0.0.1:6006",
        "http://127.0.0.1:6006/v1/traces",
        "default",
    )


def test_environment_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4318")
    assert resolve_target(None, None).traces_url == "http://otel:4318/v1/traces"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:1/v1/traces")
    assert resolve_target(None, None).base_url == "http://traces:1"
    monkeypatch.setenv("PHOENIX_COLLECTOR_ENDPOINT", "http://phx:6006/")
    assert resolve_target(None, None).traces_url == "http://phx:6006/v1/traces"
    assert resolve_target("https://arg:1", None).traces_url == "https://arg:1/v1/traces"
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=x, openinference.project.name = from-otel")
    assert resolve_target(None, None).project == "from-otel"
    monkeypatch.setenv("PHOENIX_PROJECT_NAME", "from-phoenix")
    assert resolve_target(None, None).project == "from-phoenix"
    assert resolve_target(None, "arg").project == "arg"
    with pytest.raises(tracing.TracingConfigError, match="non-empty"):
        resolve_target(None, " ")


def test_tracing_env_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVALHARNESS_TRACING", "0")
    assert tracing.setup_from_env() is None
    monkeypatch.setenv("EVALHARNESS_TRACING", "maybe")
    with pytest.raises(tracing.TracingConfigError, match="maybe"):
        tracing.setup_from_env()


def test_price_lookup_and_estimate() -> None:
    assert tracing.estimate_cost("gpt-4o-mini-2024-07-18", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert tracing.estimate_cost("GPT-4o", 2000, 1000) == pytest.approx((2000 * 2.5 + 1000 * 10) / 1e6)
    assert tracing.estimate_cost("gemma-3-270m-it-q4", 10**6, 10**6) == 0.0
    assert tracing.estimate_cost("unknown-model", 10, 10) is None
    assert tracing.estimate_cost("gpt-4o", None, 10) is None
    custom = tracing.DEFAULT_PRICES.with_prices({"gpt-4o": tracing.ModelPrice(1.0, 1.0)})
    assert tracing.estimate_cost("gpt-4o", 10**6, 0, prices=custom) == 1.0
    with pytest.raises(tracing.TracingConfigError, match="token counts"):
        tracing.estimate_cost("gpt-4o", -1, 0)
    with pytest.raises(tracing.TracingConfigError, match="non-negative"):
        tracing.ModelPrice(-1.0, 0.0)


def test_price_table_from_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"my-model": {"prompt": 3.0, "completion": 6.0}}))
    monkeypatch.setenv(PRICE_TABLE_ENV, str(path))
    assert tracing.estimate_cost("my-model", 10**6, 10**6) == 9.0
    assert tracing.estimate_cost("gpt-4o-mini", 10**6, 0) == pytest.approx(0.15)  # built-ins kept
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"m": {"prompt": 1}}))
    with pytest.raises(tracing.TracingConfigError, match="'m'"):
        tracing.PriceTable.from_json(bad)

"""Phoenix on a real, throwaway PostgreSQL: spans and annotations go in through the harness, come back
through Phoenix's API, and sit in Postgres's tables (read with psycopg), not in a SQLite file."""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from opentelemetry.sdk.trace import TracerProvider
from tracing_test_helpers import wait_for_spans

import tracing
from tracing.pg_cluster import PostgresCluster, PostgresClusterError, find_pg_bin, free_port
from tracing.phoenix_server import (
    PID_FILE,
    PhoenixProcess,
    database_url,
    ensure_server_venv,
    has_postgres_driver,
    main,
    start_phoenix,
)

SLOW = pytest.mark.slow  # the tests that start PostgreSQL or Phoenix, or need .venv-phoenix


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresCluster]:
    """A private PostgreSQL cluster on a free loopback port; stopped by pg_ctl/PID and deleted at the end."""
    with PostgresCluster() as cluster:
        yield cluster
    assert not cluster.is_running() and cluster.directory is None


@pytest.fixture(scope="module")
def phoenix_pg(pg: PostgresCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PhoenixProcess]:
    """A locked-down Phoenix whose database is the ``phoenix`` database of the throwaway cluster."""
    url = pg.create_database("phoenix")
    proc = start_phoenix(free_port(), tmp_path_factory.mktemp("phoenix-pg"), database=url, timeout_s=180)
    try:
        yield proc
    finally:
        proc.stop()
        assert not proc.is_alive()


@SLOW
def test_spans_and_annotations_round_trip_through_postgres(
    phoenix_pg: PhoenixProcess, pg: PostgresCluster
) -> None:
    from phoenix.client import Client

    project = f"pg-{uuid.uuid4().hex[:10]}"
    provider = TracerProvider()
    handle = tracing.setup(phoenix_pg.url, project, tracer_provider=provider, schedule_delay_s=0.05)
    try:
        with tracing.chain_span(
            "qa", input="Which river?", session_id="sess-pg", tracer=handle.tracer
        ) as chain:
            with tracing.llm_span(provider="fake", model="m-pg", tracer=handle.tracer) as rec:
                rec.set_output("The Nile.", prompt_tokens=5, completion_tokens=2)
            chain.set_output("The Nile.")
        assert handle.force_flush(10)
    finally:
        handle.shutdown()
        provider.shutdown()
    trace_id, llm_span_id = tracing.span_ids(rec.span)
    _, chain_span_id = tracing.span_ids(chain.span)

    client = Client(base_url=phoenix_pg.url)
    spans = {s["name"]: s for s in wait_for_spans(client, project, 2, trace_ids=[trace_id])}
    assert spans["llm"]["context"]["span_id"] == llm_span_id
    assert spans["llm"]["parent_id"] == chain_span_id
    assert spans["llm"]["attributes"]["llm.model_name"] == "m-pg"
    assert spans["qa"]["attributes"]["session.id"] == "sess-pg"

    ids = tracing.annotate_spans(
        [
            tracing.SpanAnnotation(
                llm_span_id, "correctness", "LLM", score=1.0, label="correct", explanation="judge"
            ),
            tracing.SpanAnnotation(
                llm_span_id, "human-review", "HUMAN", label="agree", metadata={"reviewer": "r9"}
            ),
        ],
        endpoint=phoenix_pg.url,
    )
    assert len(ids) == 2
    got = {
        a["name"]: a
        for a in client.spans.get_span_annotations(span_ids=[llm_span_id], project_identifier=project)
    }
    assert got["correctness"]["result"] == {"score": 1.0, "label": "correct", "explanation": "judge"}
    assert got["human-review"]["annotator_kind"] == "HUMAN" and got["human-review"]["metadata"] == {
        "reviewer": "r9"
    }

    # The same rows, read from Postgres itself: Phoenix stored them there.
    with psycopg.connect(pg.database_url("phoenix")) as conn:
        rows = conn.execute(
            "SELECT s.span_id, s.name, s.span_kind FROM spans s JOIN traces t ON s.trace_rowid = t.id "
            "JOIN projects p ON t.project_rowid = p.id WHERE p.name = %s ORDER BY s.name",
            (project,),
        ).fetchall()
        assert rows == [(llm_span_id, "llm", "LLM"), (chain_span_id, "qa", "CHAIN")]
        notes = conn.execute(
            "SELECT a.name, a.annotator_kind, a.score, a.label, a.metadata FROM span_annotations a "
            "JOIN spans s ON a.span_rowid = s.id WHERE s.span_id = %s ORDER BY a.name",
            (llm_span_id,),
        ).fetchall()
    assert notes == [
        ("correctness", "LLM", 1.0, "correct", {}),
        ("human-review", "HUMAN", None, "agree", {"reviewer": "r9"}),
    ]
    assert not (phoenix_pg.workdir / "phoenix.db").exists()  # no SQLite fallback


@SLOW
def test_status_names_the_postgres_database(
    phoenix_pg: PhoenixProcess, pg: PostgresCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    environ = dict(
        item.split("=", 1)
        for item in Path(f"/proc/{phoenix_pg.pid}/environ").read_text().split("\0")
        if "=" in item
    )
    assert environ["PHOENIX_SQL_DATABASE_URL"] == pg.database_url("phoenix")
    assert main(["status", "--workdir", str(phoenix_pg.workdir)]) == 0
    assert f"database: {pg.database_url('phoenix')}" in capsys.readouterr().out
    assert json.loads((phoenix_pg.workdir / PID_FILE).read_text())["database"] == pg.database_url("phoenix")


@SLOW
def test_unreachable_postgres_is_a_clear_error_with_the_log_tail(tmp_path: Path) -> None:
    dead = f"postgresql://postgres:hunter2@127.0.0.1:{free_port()}/phoenix"  # nothing listens there
    with pytest.raises(tracing.PhoenixServerError) as exc:
        start_phoenix(free_port(), tmp_path, database=dead, timeout_s=120)
    message = str(exc.value)
    assert "exited with code" in message and "is PostgreSQL running there" in message
    assert "ConnectionRefusedError" in message  # the cause, from the server log
    assert "hunter2" not in message and "postgres:***@127.0.0.1" in message
    assert not (tmp_path / PID_FILE).exists()


def test_database_argument_is_validated_before_anything_starts(tmp_path: Path) -> None:
    for bad, words in [
        ("mysql://u@h/db", "mysql://"),
        ("postgres://u:s3cret@h/db", "postgresql://"),
        ("postgresql://u@h:5432", "names no database"),
        ("postgresql://u@h:99999/db", "not a valid URL"),
        ("", "empty"),
    ]:
        with pytest.raises(tracing.PhoenixServerError, match=words) as exc:
            start_phoenix(free_port(), tmp_path / "w", database=bad)
        assert "s3cret" not in str(exc.value)
    assert not (tmp_path / "w").exists()  # refused before creating the workdir
    assert database_url(tmp_path / "db" / "phx.db") == f"sqlite:///{tmp_path / 'db' / 'phx.db'}"
    assert database_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert main(["start", "--workdir", str(tmp_path / "w"), "--database", "mysql://u@h/db"]) == 2


@SLOW
def test_server_venv_has_the_postgres_driver() -> None:
    assert has_postgres_driver()
    assert ensure_server_venv(install=False).exists()  # a venv lacking asyncpg raises here (see next test)


def test_a_venv_without_the_driver_is_named_with_the_fix(tmp_path: Path) -> None:
    fake_venv = tmp_path / "fake-venv"  # a fake: a phoenix executable and no asyncpg
    (fake_venv / "bin").mkdir(parents=True)
    (fake_venv / "bin" / "phoenix").write_text("#!/bin/sh\n")
    assert not has_postgres_driver(fake_venv)
    assert (
        ensure_server_venv(fake_venv, install=False, postgres_driver=False) == fake_venv / "bin" / "phoenix"
    )
    with pytest.raises(
        tracing.PhoenixServerError, match=r"lacks the PostgreSQL driver asyncpg.*phoenix_server install"
    ):
        ensure_server_venv(fake_venv, install=False)


@SLOW
def test_cluster_cli_start_status_stop(capsys: pytest.CaptureFixture[str]) -> None:
    from tracing.pg_cluster import main as pg_main

    # Not under tmp_path: pytest makes it 0700, which the postgres user (when we are root) cannot enter.
    folder = Path(tempfile.gettempdir()) / f"pgcli-test-{uuid.uuid4().hex[:8]}"  # created by start
    assert pg_main(["status", "--dir", str(folder)]) == 1
    assert pg_main(["start", "--dir", str(folder), "--database", "phoenix"]) == 0
    try:
        url = capsys.readouterr().out.strip().splitlines()[-1]
        assert url.startswith("postgresql://postgres@127.0.0.1:") and url.endswith("/phoenix")
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT current_database(), current_setting('fsync')").fetchone() == (
                "phoenix",
                "off",
            )
        assert pg_main(["status", "--dir", str(folder)]) == 0
        assert "PostgreSQL running at" in capsys.readouterr().out
    finally:
        assert pg_main(["stop", "--dir", str(folder)]) == 0
    assert not folder.exists()  # stop deletes the cluster's folder
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=3)


def test_missing_binaries_name_the_install_command(tmp_path: Path) -> None:
    with pytest.raises(PostgresClusterError, match=r"apt-get install postgresql") as exc:
        find_pg_bin(tmp_path)
    assert str(tmp_path) in str(exc.value)
    with pytest.raises(PostgresClusterError, match="port 70000"):
        PostgresCluster(port=70000)

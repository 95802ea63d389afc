"""Issue 23, finding 6: what the harness writes with prompts, replies and labels is readable by its owner only."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tracing.files import private_dir, private_file, private_sqlite, write_private_text


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask, under which a plain ``open`` makes 0644 files in 0755 folders."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_helpers_make_0600_files_in_0700_folders_and_leave_existing_folders(tmp_path: Path, umask_022) -> None:
    (tmp_path / "plain.txt").write_text("x")
    assert mode(tmp_path / "plain.txt") == 0o644  # so the checks below can fail
    before = mode(tmp_path)
    out = write_private_text(tmp_path / "a" / "b" / "run.json", "{}")
    assert out.read_text() == "{}" and mode(out) == 0o600
    assert mode(tmp_path / "a") == 0o700 and mode(tmp_path / "a" / "b") == 0o700
    assert mode(tmp_path) == before  # a folder that was there is the user's
    assert list((tmp_path / "a" / "b").iterdir()) == [out]  # no temporary file left
    log = private_file(tmp_path / "logs" / "prod.jsonl")
    assert mode(log) == 0o600 and mode(log.parent) == 0o700 and log.read_text() == ""
    with log.open("a") as fh:
        fh.write("row\n")
    private_file(log)  # idempotent, keeps the content
    assert log.read_text() == "row\n"
    old = tmp_path / "old.sqlite"
    for p in (old, tmp_path / "old.sqlite-wal", tmp_path / "old.sqlite-shm"):
        p.write_text("")
        assert mode(p) == 0o644
    private_sqlite(old)
    assert {mode(p) for p in tmp_path.glob("old.sqlite*")} == {0o600}
    assert private_dir(tmp_path / "d") == tmp_path / "d" and mode(tmp_path / "d") == 0o700


def test_the_example_apps_production_log_is_0600(tmp_path: Path, umask_022) -> None:
    from judges import ModelClient
    from judges.providers.fakes import FakeFunctionProvider

    app_path = Path(__file__).resolve().parents[2] / "examples" / "qa_app.py"
    spec = importlib.util.spec_from_file_location("qa_app_file_modes", app_path)
    assert spec is not None and spec.loader is not None
    qa = importlib.util.module_from_spec(spec)
    sys.modules["qa_app_file_modes"] = qa
    spec.loader.exec_module(qa)
    client = ModelClient(FakeFunctionProvider(lambda req: "an answer", model="fake"), trace=False)
    log = tmp_path / "logs" / "prod.jsonl"
    app = qa.QAApp(client, qa.TfidfRetriever(qa.load_corpus()), log)
    asyncio.run(app.answer("what is the refund policy?", topic="t", session_id="s", user_id="u"))
    asyncio.run(app.answer("and shipping?", topic="t", session_id="s", user_id="u"))
    assert len([json.loads(line) for line in log.read_text().splitlines()]) == 2
    assert mode(log) == 0o600 and mode(log.parent) == 0o700

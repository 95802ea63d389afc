"""``python -m synth``: inputs, outputs, exit codes and the messages for bad input (fake model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from synth_fakes import ScriptedModel, WordEmbedder

import judges
import synth._pipeline
from synth import read_set
from synth._cli import main


@pytest.fixture
def fake_model(monkeypatch: pytest.MonkeyPatch) -> ScriptedModel:
    model = ScriptedModel()
    monkeypatch.setattr(judges, "get_model", lambda spec=None: model.client())
    monkeypatch.setattr(synth._pipeline, "_default_embedder", lambda: WordEmbedder())
    return model


def _corpus(tmp_path: Path, n: int) -> Path:
    p = tmp_path / "corpus.jsonl"
    words = ["amber", "basil", "cedar", "dune", "ember", "fjord", "grove", "heath"]
    p.write_text("".join(json.dumps({"id": f"d{i}", "text": f"The {w} note says {w} lasts {i} days."}) + "\n"
                         for i, w in enumerate(words[:n])))
    return p


def test_generates_the_set_and_its_report(tmp_path: Path, fake_model: ScriptedModel, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out" / "set.jsonl"
    code = main(["--from-docs", str(_corpus(tmp_path, 6)), "--n", "6", "--seed", "3", "--out", str(out), "--no-progress"])
    assert code == 0
    rows = read_set(out)
    assert len(rows) == 6 and len({r.origin.source for r in rows}) == 6
    report = json.loads((tmp_path / "out" / "set.jsonl.report.json").read_text())
    assert report["rows"] == 6 and report["json_parse_rate"] == 1.0 and report["max_min_ratio"] == 1.0
    assert "JSON parse rate: 100.0%" in capsys.readouterr().out


def test_fewer_rows_than_asked_exits_1_with_what_was_possible(tmp_path: Path, fake_model: ScriptedModel,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--from-docs", str(_corpus(tmp_path, 1)), "--n", "50", "--mix", "reasoning=1",
                 "--out", str(tmp_path / "s.jsonl"), "--no-progress"])
    assert code == 1
    assert "asked for 50 rows but the sources support at most 1" in capsys.readouterr().out


def test_bad_inputs_exit_2_with_a_message(tmp_path: Path, fake_model: ScriptedModel, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.md"
    empty.write_text("")
    assert main(["--from-docs", str(empty), "--out", str(tmp_path / "s.jsonl")]) == 2
    assert "no usable input to generate from" in capsys.readouterr().err
    log = tmp_path / "log.jsonl"
    log.write_text(json.dumps({"prompt": ""}) + "\n")
    assert main(["--from-log", str(log), "--out", str(tmp_path / "s.jsonl")]) == 2
    assert "has no usable rows" in capsys.readouterr().err
    assert main(["--from-docs", str(tmp_path / "missing.txt"), "--out", str(tmp_path / "s.jsonl")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["--from-docs", str(_corpus(tmp_path, 2)), "--mix", "sideways=1", "--out", str(tmp_path / "s.jsonl")]) == 2
    assert "unknown evolutions" in capsys.readouterr().err


def test_an_empty_log_beside_documents_is_reported_not_fatal(tmp_path: Path, fake_model: ScriptedModel) -> None:
    log = tmp_path / "log.jsonl"
    log.write_text(json.dumps({"prompt": None}) + "\n")
    out = tmp_path / "s.jsonl"
    assert main(["--from-docs", str(_corpus(tmp_path, 2)), "--from-log", str(log), "--n", "2", "--out", str(out),
                 "--no-progress"]) == 0
    report = json.loads(out.with_name("s.jsonl.report.json").read_text())
    assert any("no usable rows" in s["reason"] for s in report["skipped_inputs"])


def test_no_input_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--out", str(tmp_path / "s.jsonl")])
    assert exc.value.code == 2

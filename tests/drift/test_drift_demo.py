"""The drift demo of docs/drift.md, run as written: the unshifted pair reports no drift, the shifted pair
reports the shifted features. The demo uses the example app's stand-in model (seconds, not hours)."""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import sys
from pathlib import Path
from types import ModuleType

import pytest

from drift.cli import main as drift_main

REPO = Path(__file__).resolve().parents[2]


def _qa_app() -> ModuleType:
    spec = importlib.util.spec_from_file_location("qa_app_demo", REPO / "examples" / "qa_app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["qa_app_demo"] = module
    spec.loader.exec_module(module)
    return module


def _demo_commands() -> list[list[str]]:
    doc = (REPO / "docs" / "drift.md").read_text(encoding="utf-8")
    block = doc.split("<!-- drift demo -->", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    lines = [re.sub(r"\s+#.*$", "", line).strip() for line in block.replace("\\\n", " ").splitlines()]
    return [shlex.split(line) for line in lines if line.startswith(".venv/bin/python")]


def test_documented_demo_tells_shifted_from_unshifted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    qa = _qa_app()
    codes = []
    for cmd in _demo_commands():
        args = cmd[1:]
        if args[0] == "examples/qa_app.py":
            codes.append(qa.main(args[1:]))
        else:
            assert args[:3] == ["-m", "drift", "report"], cmd
            codes.append(drift_main(args[2:]))
    out = capsys.readouterr().out
    assert codes == [0, 0, 0, 0, 1], out  # three logs, then no drift (0) and drift (1)
    unshifted = json.loads((tmp_path / "reports" / "unshifted" / "summary.json").read_text())
    shifted = json.loads((tmp_path / "reports" / "shifted" / "summary.json").read_text())
    assert unshifted["status"] == "no drift" and unshifted["dataset"]["n_drifted"] == 0
    assert all(f["status"] in ("ok", "skipped") for f in unshifted["dataset"]["features"])
    drifted = {f["column"] for f in shifted["dataset"]["features"] if f["drifted"]}
    assert {"topic", "language"} <= drifted  # the two shifted inputs...
    assert "model" not in drifted  # ...and not what stayed the same
    rows = [json.loads(line) for line in (tmp_path / "logs" / "shifted.jsonl").read_text().splitlines()]
    assert {r["topic"] for r in rows} == {"coding", "math"}  # multilingual questions keep to the topics
    assert out.count("No drift: 0 of") == 1 and out.count("DRIFT DETECTED") == 1
    assert "llama" not in out


def test_unknown_topic_exits_2_with_the_known_ones(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    qa = _qa_app()
    with pytest.raises(SystemExit) as exit_info:
        qa.main(["--model", "stand-in", "--topics", "cooking", "--log", str(tmp_path / "x.jsonl")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "unknown topics ['cooking']" in err and "'coding'" in err and "Traceback" not in err
    with pytest.raises(SystemExit):  # no French/German/Spanish math question: say so instead of asking others
        qa.main(["--model", "stand-in", "--topics", "math", "--log", str(tmp_path / "x.jsonl")])
    assert "no multilingual questions for topics ['math']" in capsys.readouterr().err
    assert not (tmp_path / "x.jsonl").exists()


def test_model_calls_bypass_the_response_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import judges

    qa = _qa_app()
    seen: dict = {}

    def get_model(spec: str, **kwargs):
        seen.update(kwargs, spec=spec)
        return qa.StandInModel().client()

    monkeypatch.setattr(judges, "get_model", get_model)
    assert qa.main(["--model", "openai:gpt-x", "--requests", "3", "--log", str(tmp_path / "x.jsonl")]) == 0
    assert seen == {"spec": "openai:gpt-x", "cache": None}


def test_stand_in_latency_follows_its_own_clock() -> None:
    import asyncio

    qa = _qa_app()
    stand_in = qa.StandInModel(seed=1)
    app = qa.QAApp(stand_in.client(), qa.TfidfRetriever(qa.load_corpus()), None, timer=stand_in.timer,
                   now=stand_in.now)
    rows = asyncio.run(qa.run_traffic(app, qa.load_questions(), 20, seed=1))
    assert all(200 < r["latency_ms"] < 5_000 for r in rows)  # simulated, whatever the machine's load
    span = (qa.datetime.fromisoformat(rows[-1]["timestamp"]) - qa.datetime.fromisoformat(rows[0]["timestamp"]))
    assert span.total_seconds() == pytest.approx(sum(r["latency_ms"] for r in rows[1:]) / 1000, rel=1e-3)

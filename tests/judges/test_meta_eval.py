"""Meta-evaluation on fake judges whose agreement with the (synthetic) humans is known by construction."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from judge_fakes import client_for, exact_fake

from judges import PairwiseJudge, PointwiseJudge
from judges.meta_eval import (
    format_report,
    load_labelled,
    load_meta_eval,
    meta_evaluate,
    qualifies,
    write_meta_eval,
)


def write_pairs(path, n=40, wrong_humans=()):
    rows = []
    for i in range(n):
        a_good = i % 2 == 0
        preferred = "A" if a_good else "B"
        if i in wrong_humans:
            preferred = "B" if a_good else "A"
        rows.append({"id": f"p{i}", "prompt": f"question {i}", "response_a": "GOOD" if a_good else "BAD",
                     "response_b": "BAD" if a_good else "GOOD", "preferred": preferred})
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def slot_biased():
    def fn(req):
        prompt = req.messages[-2].content
        body = prompt.rsplit("Instruction:", 1)[-1]  # the case, after any few-shot examples
        if "GOOD" not in body:
            return {" A": 0.85, " B": 0.15}
        good_first = body.index("GOOD") < body.index("BAD")
        return {" A": 0.9 if good_first else 0.8, " B": 0.1 if good_first else 0.2}

    return exact_fake(fn)


def test_pairwise_meta_eval_reports_both_rules_and_the_slot_bias(tmp_path):
    data = load_labelled(str(write_pairs(tmp_path / "pairs.jsonl")), "pairwise")
    rec = asyncio.run(meta_evaluate(PairwiseJudge("q"), client_for(slot_biased()), data, n_resamples=200))
    by = {v.name: v for v in rec.variants}
    assert by["per_order"].accuracy.value == 0.0 and by["per_order"].tie_rate.value == 1.0
    assert by["per_order"].agreement.value == 0.0
    assert by["mean_prob"].accuracy.value == 1.0 and by["mean_prob"].agreement.value == pytest.approx(1.0)
    assert by["per_order+contextual"].accuracy.value == 1.0  # the prior divided out: each order votes right
    assert rec.headline.accuracy.value == 1.0 and rec.n_labels == 40 and rec.agreement_metric == "cohen_kappa"
    assert rec.bias.slot_a_rate.value == 1.0 and rec.bias.position_consistency.value == 0.0
    assert rec.prior == pytest.approx({"A": 0.85, "B": 0.15})
    assert rec.majority_rate.value == 0.5
    assert rec.headline.confusion.counts == [[20, 0, 0], [0, 20, 0], [0, 0, 0]]
    assert any("self-preference" in n for n in rec.bias.notes)
    assert rec.model_calls == 80 + 3  # two orders per pair, three content-free prompts
    text = format_report(rec)
    assert "per_order" in text and "mean_prob" in text and "slot A chosen in 100%" in text


def test_few_shot_from_corrections_is_measured_on_the_held_out_half(tmp_path):
    # humans "disagree" with the (right) judge on four pairs: those are the corrections to learn from
    data = load_labelled(str(write_pairs(tmp_path / "pairs.jsonl", wrong_humans={1, 2, 5, 6, 9, 13})), "pairwise")
    provider = slot_biased()
    rec = asyncio.run(meta_evaluate(PairwiseJudge("q"), client_for(provider), data, n_resamples=100,
                                    few_shot_corrections=2))
    f = rec.few_shot
    assert f is not None and f.k == 2 and f.n_train == 20 and f.n_test == 20
    assert set(f.examples) <= {f"p{i}" for i in (1, 2, 5, 6, 9, 13)}  # only pairs the humans corrected
    shown = [r for r in provider.requests if "Example:" in r.messages[-2].content]
    assert shown and all(r.messages[-2].content.count("Example:") == 2 for r in shown)
    # the fake ignores the examples: the same verdicts, so no change and McNemar p = 1
    assert f.change.value == 0.0 and f.pvalue == 1.0 and f.before.value == f.after.value


def graded():
    def fn(req):
        words = req.messages[-2].content.rsplit("Response:", 1)[-1].split()
        if not words or not words[0].isdigit():
            return {f" {k}": 1.0 for k in range(1, 6)}  # content-free input: no preference
        level = int(words[0])  # the output starts with the level it deserves
        return {f" {k}": (0.6 if k == level else 0.1) for k in range(1, 6)}

    return exact_fake(fn)


def test_pointwise_meta_eval_matches_scipy_and_sklearn(tmp_path):
    from scipy import stats

    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(4)
    truth = rng.integers(1, 6, 30)
    human = np.clip(truth + rng.integers(-1, 2, 30), 1, 5)
    rows = [{"id": f"s{i}", "article": f"article {i}", "summary": f"{t} words", "human_score": int(h)}
            for i, (t, h) in enumerate(zip(truth, human))]
    path = tmp_path / "sum.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    rec = asyncio.run(meta_evaluate(PointwiseJudge("quality", "5 best", explain=False), client_for(graded()),
                                    load_labelled(str(path), "summarization"), n_resamples=100))
    scores = np.array([0.6 * t + 0.1 * (15 - t) for t in truth])  # expected label value
    assert [c.verdict for c in rec.cases] == pytest.approx(list(scores))
    head = rec.headline
    assert head.spearman.value == pytest.approx(stats.spearmanr(scores, human).statistic)
    assert head.kendall.value == pytest.approx(stats.kendalltau(scores, human).statistic)
    rounded = np.floor(scores + 0.5).astype(int)
    assert head.agreement.value == pytest.approx(sklearn_metrics.cohen_kappa_score(
        human, rounded, weights="quadratic", labels=[1, 2, 3, 4, 5]))
    assert head.mae.value == pytest.approx(np.abs(scores - human).mean())
    argmax = next(v for v in rec.variants if v.name == "argmax label")
    assert argmax.accuracy.value == pytest.approx(np.mean(truth == human))
    assert rec.agreement_metric == "quadratic_kappa" and rec.isotonic_map is not None
    assert rec.abstention is not None and 0.0 <= rec.abstention.risk.value <= 1.0


def test_record_round_trip_and_qualification(tmp_path):
    data = load_labelled(str(write_pairs(tmp_path / "pairs.jsonl", n=60)), "pairwise")
    rec = asyncio.run(meta_evaluate(PairwiseJudge("q"), client_for(slot_biased()), data, n_resamples=100))
    back = load_meta_eval(write_meta_eval(rec, tmp_path / "out" / "me.json"))
    assert back == rec
    assert qualifies(rec) is None
    assert "too few labels: 60 human labels < 61" in qualifies(rec, min_labels=61)
    weak = asyncio.run(meta_evaluate(PairwiseJudge("q", rule="per_order"), client_for(slot_biased()), data,
                                     n_resamples=100))
    assert "agreement too low" in qualifies(weak)
    (tmp_path / "bad.json").write_text(json.dumps({"schema_version": 99}))
    from judges.errors import JudgeError

    with pytest.raises(JudgeError, match="schema version 99; this harness reads version 1.*newer harness"):
        load_meta_eval(tmp_path / "bad.json")


def test_the_command_prints_the_table_and_writes_the_file(tmp_path, monkeypatch, capsys):
    import judges
    from judges.__main__ import main

    monkeypatch.setattr(judges, "get_model", lambda spec=None: client_for(slot_biased()))
    data = write_pairs(tmp_path / "pairs.jsonl", n=50)
    out = tmp_path / "me.json"
    status = main(["meta-eval", "--data", str(data), "--kind", "pairwise", "--criterion", "q", "--resamples", "50",
                   "--out", str(out)])
    printed = capsys.readouterr().out
    assert status == 0 and out.is_file()
    assert "QUALIFIED to gate" in printed and "mean_prob" in printed
    strict = main(["meta-eval", "--data", str(data), "--kind", "pairwise", "--criterion", "q", "--resamples", "50",
                   "--rule", "per_order", "--strict", "--out", str(out)])
    assert strict == 1 and "NOT QUALIFIED to gate: agreement too low" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["meta-eval", "--data", str(data), "--criterion", "q"])  # no kind: argparse error with the fix
    assert "--kind pairwise" in capsys.readouterr().err


def test_self_preference_compares_the_judge_with_the_humans_on_own_family_outputs(tmp_path):
    rows = []
    for i in range(20):
        own_good = True  # the judge's family (gemma) always wrote the GOOD answer
        a_good = i % 2 == 0
        rows.append({"id": f"p{i}", "prompt": f"q{i}", "response_a": "GOOD" if a_good else "BAD",
                     "response_b": "BAD" if a_good else "GOOD",
                     "model_a": "gemma-3-1b" if a_good == own_good else "gpt-4o",
                     "model_b": "gpt-4o" if a_good == own_good else "gemma-3-1b",
                     # humans side with the gemma output on half the pairs only
                     "preferred": ("A" if a_good else "B") if i < 10 else ("B" if a_good else "A")})
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))

    def fn(req):
        body = req.messages[-2].content.rsplit("Instruction:", 1)[-1]
        if "GOOD" not in body:
            return {" A": 0.85, " B": 0.15}
        return {" A": 0.9, " B": 0.1} if body.index("GOOD") < body.index("BAD") else {" A": 0.8, " B": 0.2}

    rec = asyncio.run(meta_evaluate(PairwiseJudge("q"), client_for(exact_fake(fn, model="gemma-3-270m")),
                                    load_labelled(str(path), "pairwise"), n_resamples=100))
    sp = rec.bias.self_preference
    assert sp is not None and sp.judge_family == "gemma" and sp.n == 20
    assert sp.judge.value == 1.0 and sp.human.value == 0.5 and sp.gap.value == pytest.approx(0.5)


def test_a_panel_is_measured_through_its_score(tmp_path):
    from judges import JudgePanel

    rows = [{"id": f"s{i}", "article": f"a{i}", "summary": f"{1 + i % 5} words", "human_score": 1 + i % 5}
            for i in range(10)]
    path = tmp_path / "sum.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    member = PointwiseJudge("quality", "5 best", explain=False)
    panel = JudgePanel(member, (client_for(graded()), client_for(graded())))
    rec = asyncio.run(meta_evaluate(panel, client_for(graded()), load_labelled(str(path), "summarization"),
                                    n_resamples=50))
    assert rec.judge == "panel:pointwise:quality" and rec.n_labels == 10 and rec.prior is None
    # both members score 0.6 * level + 0.1 * (15 - level): the same ranking as the humans'
    assert rec.headline.spearman.value == pytest.approx(1.0)

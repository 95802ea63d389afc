"""Running a meta-evaluation: the judge over a human-labelled set, every variant, abstention, few-shot."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, Literal

import numpy as np

from judges._judge import Judge, judge_config, judge_fingerprint
from judges.abstention import coverage_risk, margin, risk_at_coverage
from judges.case import Case
from judges.client import ModelClient
from judges.errors import JudgeError
from judges.geval import GEval
from judges.meta_eval import _ordinal, _pairwise
from judges.meta_eval._data import LabelledSet, human_label
from judges.meta_eval._record import (
    Abstention,
    CaseRow,
    CurvePoint,
    Dataset,
    FewShot,
    Interval,
    MetaEvalRecord,
)
from judges.pairwise import PairwiseExample, PairwiseJudge
from judges.pointwise import FewShotExample, PointwiseJudge
from judges.results import Judgement, Result
from judges.stats import case_bootstrap, kappa_ci, mean_ci

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]


def machine() -> str:
    """The machine a measurement ran on, in words."""
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}")


async def judge_all(judge: Judge, client: ModelClient, cases: Sequence[Case],
                    progress: Progress | None = None) -> list[Result]:
    """``judge`` on every case, in order.

    A local model serves one call at a time, so cases go one by one there (a queue of waiting calls would
    run into the client's timeout); an API model gets the client's concurrency.
    """
    done = 0
    limit = asyncio.Semaphore(1 if client.info.exact_label_probs else client.max_concurrency)

    async def one(c: Case) -> Result:
        nonlocal done
        async with limit:
            r = await judge.judge(client, c)
        done += 1
        if progress is not None:
            progress(done, len(cases))
        return r

    return list(await asyncio.gather(*(one(c) for c in cases)))


def _plain(judge: Judge) -> Judge:
    """The judge without calibration, abstention or explanations: its raw label distributions."""
    if isinstance(judge, PairwiseJudge):
        return replace(judge, contextual=False, calibration=None, abstain=None, explain=False)
    if isinstance(judge, (PointwiseJudge, GEval)):
        return replace(judge, contextual=False, calibration=None, abstain=None, explain=False)
    return judge


async def _prior(judge: Judge, client: ModelClient) -> dict[str, float] | None:
    try:
        if isinstance(judge, (PairwiseJudge, PointwiseJudge)):
            return await judge.prior(client)
        if isinstance(judge, GEval):
            return await judge.prior(client, await judge.steps(client))
    except JudgeError as exc:
        log.warning("no contextual prior: %s", exc)
    return None


def _curve(confidence: Sequence[float], error: Sequence[float], points: int = 50) -> list[CurvePoint]:
    cr = coverage_risk(confidence, error)
    n = len(cr.coverage)
    keep = sorted({min(n - 1, round(i * (n - 1) / max(1, points - 1))) for i in range(points)}) if n else []
    return [CurvePoint(coverage=cr.coverage[i], risk=cr.risk[i], threshold=cr.threshold[i]) for i in keep]


def _abstention(confidence: Sequence[float], error: Sequence[float], coverage: float, **kw: Any) -> Abstention | None:
    if len(confidence) < 2:
        return None
    r = risk_at_coverage(confidence, error, coverage=coverage, **kw)
    return Abstention(confidence="margin between the two likeliest labels of the final distribution",
                      curve=_curve(confidence, error), coverage=coverage, risk=Interval.of(r.risk),
                      full=Interval.of(r.full), change=Interval.of(r.change), threshold=r.threshold)


def _mcnemar(before: np.ndarray, after: np.ndarray) -> float:
    from scipy.stats import binomtest

    gained = int(np.sum((before == 0) & (after == 1)))
    lost = int(np.sum((before == 1) & (after == 0)))
    return float(binomtest(gained, gained + lost, 0.5).pvalue) if gained + lost else 1.0


def _split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    half = n // 2
    return np.sort(order[:half]), np.sort(order[half:])


def _pick(candidates: list[tuple[int, str, int]], k: int) -> list[int]:
    """Up to ``k`` indices, shortest first, taking the labels in turn (so one label does not fill the prompt)."""
    by_label: dict[str, list[tuple[int, int]]] = {}
    for idx, label, size in sorted(candidates, key=lambda t: t[2]):
        by_label.setdefault(label, []).append((idx, size))
    out: list[int] = []
    queues = [by_label[key] for key in sorted(by_label)]
    while len(out) < k and any(queues):
        for q in queues:
            if q and len(out) < k:
                out.append(q.pop(0)[0])
    return out


async def meta_evaluate(
    judge: Judge,
    client: ModelClient,
    data: LabelledSet,
    *,
    limit: int | None = None,
    folds: int = 5,
    seed: int = 0,
    n_resamples: int = 1000,
    coverage: float = 0.8,
    few_shot_corrections: int = 0,
    few_shot_examples: Sequence[FewShotExample] = (),
    progress: Progress | None = None,
) -> MetaEvalRecord:
    """Measure ``judge`` on ``client``'s model against the human labels of ``data``.

    One pass of the judge (without calibration) over the first ``limit`` labelled cases gives every
    variant: for pairs both verdict rules, contextual and isotonic calibration (``folds``-fold CV); for
    graded outputs the expected score, the argmax, contextual and isotonic. The headline is the judge as
    configured. ``few_shot_corrections=k`` splits the cases in two (seeded), takes k cases of the first
    half where the judge disagreed with the human as examples labelled by the human, and judges the
    second half again with them; ``few_shot_examples`` (pointwise, e.g. exported from review) are tried
    on every case whose input is not among them.
    """
    t0 = time.perf_counter()
    calls0, hits0 = client.stats.calls, client.stats.cache_hits
    cases = list(data.cases[:limit] if limit else data.cases)
    if not cases:
        raise JudgeError(f"{data.name} has no labelled cases to judge")
    if isinstance(judge, PairwiseJudge) and not data.preference:
        raise JudgeError(f"a pairwise judge needs preference labels; {data.name} is a {data.kind} set")
    if not isinstance(judge, PairwiseJudge) and data.preference:
        raise JudgeError(f"{judge.judge_name} grades one output; {data.name} holds preferences: use --judge pairwise")
    kw: dict[str, Any] = {"n_resamples": n_resamples, "seed": seed}
    plain = _plain(judge)
    results = await judge_all(plain, client, cases, progress)
    prior = await _prior(judge, client)
    ok = [(c, r) for c, r in zip(cases, results) if isinstance(r, Judgement)]
    failed = {c.id: getattr(r, "reason", "no verdict") for c, r in zip(cases, results) if not isinstance(r, Judgement)}
    if len(ok) < 2:
        raise JudgeError(f"the judge gave a verdict on {len(ok)} of {len(cases)} cases; first failure: "
                         f"{next(iter(failed.values()), '-')}")
    model = client.info.model
    if isinstance(judge, PairwiseJudge):
        prows = [_pairwise.PairRow(c, str(human_label(c, "pairwise")), r.details["order1_probs"],
                                   r.details["order2_probs"]) for c, r in ok]
        pa = _pairwise.analyse(prows, judge, prior, folds=folds, **kw)
        headline, variants, iso, gain = pa.headline, pa.variants, pa.isotonic, pa.rule_gain
        labels = [_pairwise.label_of(v.outcome) for v in pa.verdicts]
        confidence = [margin({"A": v.probs["A"], "B": v.probs["B"]}) for v in pa.verdicts]
        error = [float(lab != row.human) for lab, row in zip(labels, prows)]
        bias = _pairwise.bias(prows, pa.verdicts, model, **kw)
        rows = [CaseRow(case_id=p.case.id, input=p.case.input, output_a=p.case.output_a, output_b=p.case.output_b,
                        human=p.human, verdict=lab, order1_probs=dict(p.p1), order2_probs=dict(p.p2), confidence=cf)
                for p, lab, cf in zip(prows, labels, confidence)]
        kind = "pairwise"
        metric: Literal["cohen_kappa", "quadratic_kappa"] = "cohen_kappa"
        label_kind: Literal["preference", "ordinal"] = "preference"
        humans = [p.human for p in prows]
        top = max(set(humans), key=humans.count)
        majority: Interval | None = Interval.of(mean_ci([float(h == top) for h in humans], **kw))
    else:
        scale = tuple(int(v) for v in judge.scale)
        # a judge without label probabilities (a panel) is read through its score, as a certain one-label answer
        srows = [_ordinal.ScoreRow(c, float(human_label(c, data.kind) or 0.0),
                                   r.details.get("raw_probs") or r.label_probs or {repr(float(r.score)): 1.0})
                 for c, r in ok]
        oa = _ordinal.analyse(srows, scale=(scale[0], scale[1]), prior=prior,
                              contextual=bool(getattr(judge, "contextual", False)),
                              calibration=getattr(judge, "calibration", None),
                              describe=f"the judge as configured ({judge.judge_name})", folds=folds, **kw)
        headline, variants, iso = oa.headline, oa.variants, oa.isotonic
        confidence = [g.confidence for g in oa.graded]
        error = [float(_ordinal.round_half_up(g.score) != _ordinal.round_half_up(s.human))
                 for g, s in zip(oa.graded, srows)]
        bias = _ordinal.bias(srows, oa.graded, model, **kw)
        rows = [CaseRow(case_id=s.case.id, input=s.case.input, output=s.case.output, human=s.human, verdict=g.score,
                        probs=dict(s.probs), confidence=g.confidence) for s, g in zip(srows, oa.graded)]
        kind = "geval" if isinstance(judge, GEval) else "pointwise" if isinstance(judge, PointwiseJudge) else "judge"
        metric, label_kind, majority, gain = "quadratic_kappa", "ordinal", None, None
    rows += [CaseRow(case_id=c.id, input=c.input, output=c.output, output_a=c.output_a, output_b=c.output_b,
                     human=human_label(c, data.kind) or 0.0, failure=failed[c.id]) for c in cases if c.id in failed]
    few = None
    if few_shot_corrections or few_shot_examples:
        few = await _few_shot(judge, client, [c for c, _ in ok], error, data.kind, few_shot_corrections,
                              few_shot_examples, seed=seed, n_resamples=n_resamples, progress=progress)
    return MetaEvalRecord(
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"), harness_version=_version(), judge=judge.judge_name,
        judge_kind=kind, judge_fingerprint=judge_fingerprint(judge), judge_config=judge_config(judge), judge_model=model,
        criterion=judge.metric_name,
        dataset=Dataset(name=data.name, kind=data.kind, sha256=data.sha256, rows=data.rows,
                        labelled=len(data.cases), evaluated=len(cases)),
        labels=label_kind, agreement_metric=metric, n_labels=len(ok), failures=len(failed), majority_rate=majority,
        headline=headline, rule_gain=gain, variants=variants, prior=prior, isotonic_map=iso.to_dict() if iso else None, bias=bias,
        abstention=_abstention(confidence, error, coverage, **kw), few_shot=few, cases=rows, machine=machine(),
        wall_s=round(time.perf_counter() - t0, 1), model_calls=client.stats.calls - calls0,
        cache_hits=client.stats.cache_hits - hits0,
    )


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("evalharness")
    except metadata.PackageNotFoundError:
        return "unknown"


def _correct(judge: Judge, result: Result, case: Case, kind: str) -> float:
    if not isinstance(result, Judgement):
        return 0.0  # a failure is no agreement
    human = human_label(case, kind)
    if kind == "pairwise":
        return float(result.label == human)
    return float(_ordinal.round_half_up(result.score) == _ordinal.round_half_up(float(human or 0.0)))


def _verdict(result: Result, kind: str) -> str | int:
    if not isinstance(result, Judgement):
        return "failure"
    return str(result.label) if kind == "pairwise" else _ordinal.round_half_up(result.score)


async def _few_shot(judge: Judge, client: ModelClient, cases: list[Case], error: Sequence[float], kind: str, k: int,
                    given: Sequence[FewShotExample], *, seed: int, n_resamples: int,
                    progress: Progress | None) -> FewShot:
    """Agreement on held-out cases without and with examples (corrections of the judge, or ``given``)."""
    if given:
        if not isinstance(judge, PointwiseJudge):
            raise JudgeError("few-shot examples from a file are pointwise rows; use a pointwise judge")
        inputs = {(e.input, e.output) for e in given}
        test = [i for i, c in enumerate(cases) if (c.input, c.output) not in inputs]
        train: list[int] = []
        chosen = list(given)
        source, shown = "examples from a file (e.g. exported from the review queue)", [e.input[:60] for e in given]
    else:
        tr, te = _split(len(cases), seed)
        train, test = list(tr), list(te)
        wrong = [(i, str(human_label(cases[i], kind)), len(cases[i].input) + len(cases[i].output or "")
                  + len(cases[i].output_a or "") + len(cases[i].output_b or ""))
                 for i in train if error[i] and human_label(cases[i], kind) != "tie"]
        picked = _pick(wrong, k)
        if not picked:
            raise JudgeError("the judge made no correctable mistake on the training half; nothing to learn from")
        shown = [cases[i].id for i in picked]
        source = f"human corrections of the judge's mistakes on a seeded half of the set (seed {seed})"
        if isinstance(judge, PairwiseJudge):
            pexamples = tuple(PairwiseExample(cases[i].input, cases[i].output_a or "", cases[i].output_b or "",
                                              str(human_label(cases[i], kind))) for i in picked)  # type: ignore[arg-type]
        else:
            chosen = [FewShotExample(cases[i].input, cases[i].output or "", float(human_label(cases[i], kind) or 0.0))
                      for i in picked]
    if isinstance(judge, PairwiseJudge):
        with_examples: Judge = replace(judge, examples=tuple(judge.examples) + (() if given else pexamples))
    elif isinstance(judge, PointwiseJudge):
        with_examples = replace(judge, examples=tuple(judge.examples) + tuple(chosen))
    else:
        raise JudgeError(f"{judge.judge_name} takes no few-shot examples; use a pointwise or pairwise judge")
    held = [cases[i] for i in test]
    before_res = await judge_all(judge, client, held)  # the configured judge: mostly cache hits of the first pass
    after_res = await judge_all(with_examples, client, held, progress)
    before = np.array([_correct(judge, r, c, kind) for r, c in zip(before_res, held)])
    after = np.array([_correct(judge, r, c, kind) for r, c in zip(after_res, held)])
    humans = [human_label(c, kind) for c in held]
    hv = [str(h) if kind == "pairwise" else _ordinal.round_half_up(float(h or 0)) for h in humans]
    weights = None if kind == "pairwise" else "quadratic"
    labs: list[object] = (list(_pairwise.LABELS) if kind == "pairwise"
                          else list(range(int(judge.scale[0]), int(judge.scale[1]) + 1)))
    kw: dict[str, Any] = {"n_resamples": n_resamples, "seed": seed}
    return FewShot(
        source=source, k=len(shown), examples=shown, n_train=len(train), n_test=len(held),
        before=Interval.of(mean_ci(before, **kw)), after=Interval.of(mean_ci(after, **kw)),
        change=Interval.of(case_bootstrap(lambda i: float(after[i].mean() - before[i].mean()), len(held), **kw)),
        pvalue=_mcnemar(before, after),
        agreement_before=Interval.of(kappa_ci(hv, [_verdict(r, kind) for r in before_res], weights=weights,  # type: ignore[arg-type]
                                              labels=labs, **kw)),
        agreement_after=Interval.of(kappa_ci(hv, [_verdict(r, kind) for r in after_res], weights=weights,  # type: ignore[arg-type]
                                             labels=labs, **kw)),
    )


def qualifies(record: MetaEvalRecord, *, min_labels: int = 50, min_agreement: float = 0.4) -> str | None:
    """Why the judge of ``record`` may not gate a suite (None when it may): too few labels, or agreement too low."""
    a = record.headline.agreement
    name = "Cohen's kappa" if record.agreement_metric == "cohen_kappa" else "quadratic-weighted kappa"
    if record.n_labels < min_labels:
        return f"too few labels: {record.n_labels} human labels < {min_labels}"
    if a.low is None or not math.isfinite(a.low) or a.low < min_agreement:
        low = "undefined" if a.low is None else f"{a.low:.3f}"
        return f"agreement too low: {name} {a} has its 95% CI low {low} < {min_agreement:g}"
    return None


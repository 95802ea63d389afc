"""The meta-evaluation as text: the table the command prints (every figure with its 95% CI)."""

from __future__ import annotations

from judges.meta_eval._record import Interval, MetaEvalRecord, Variant


def _ci(e: Interval | None, pct: bool = False) -> str:
    if e is None or e.value is None:
        return "-"
    if pct:
        lo = "?" if e.low is None else f"{100 * e.low:.0f}"
        hi = "?" if e.high is None else f"{100 * e.high:.0f}"
        return f"{100 * e.value:.0f}% [{lo}, {hi}]"
    lo = "?" if e.low is None else f"{e.low:.2f}"
    hi = "?" if e.high is None else f"{e.high:.2f}"
    return f"{e.value:.2f} [{lo}, {hi}]"


def _row(v: Variant, preference: bool) -> list[str]:
    ce = "-" if v.calibration_error is None else f"{v.calibration_error:.3f}"
    if preference:
        return [v.name, str(v.n), _ci(v.accuracy, True), _ci(v.agreement), _ci(v.tie_rate, True),
                _ci(v.consistency, True), ce]
    return [v.name, str(v.n), _ci(v.accuracy, True), _ci(v.agreement), _ci(v.spearman), _ci(v.kendall),
            _ci(v.mae), ce]


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    out.insert(1, "  ".join("-" * w for w in widths))
    return out


def format_report(r: MetaEvalRecord) -> str:
    """The command's printout: what was measured, the variants table, bias, abstention and few-shot."""
    pref = r.labels == "preference"
    metric = "Cohen's kappa" if r.agreement_metric == "cohen_kappa" else "quadratic-weighted kappa"
    lines = [
        (f"meta-evaluation of {r.judge} on {r.judge_model} ({r.machine}; {r.wall_s:.0f} s, {r.model_calls} model "
         f"calls, {r.cache_hits} cached answers)"),
        (f"human labels: {r.dataset.name} ({r.dataset.kind}, sha256 {r.dataset.sha256}); {r.n_labels} judged of "
         f"{r.dataset.labelled} labelled rows, {r.failures} judge failures"),
        "95% bootstrap CIs over cases; accuracy = the judge's label equals the human label" + (
            "" if pref else " (scores rounded half up)") + f"; agreement = {metric}",
    ]
    if r.majority_rate is not None:
        lines.append(f"a judge that always answers the commonest human label is right on {_ci(r.majority_rate, True)}")
    lines.append("")
    head = (["variant", "n", "accuracy", "agreement", "ties", "position consistency", "ECE"] if pref
            else ["variant", "n", "accuracy (exact)", "agreement", "Spearman", "Kendall", "MAE", "calibration error"])
    lines += _table([head, *[_row(v, pref) for v in [*r.variants, r.headline]]])
    lines.append(f"configured: {r.headline.description}")
    if r.rule_gain is not None:
        lines.append(f"accuracy of mean_prob minus per_order on the same pairs: {_ci(r.rule_gain)}")
    e = r.error_rate
    lines.append(f"error rate of the configured judge's verdicts against the humans: {_ci(e, True)}")
    b = r.bias
    lines += ["", "bias probes:"]
    if b.slot_a_rate is not None:
        lines.append(f"  slot A chosen in {_ci(b.slot_a_rate, True)} of single-order answers (50% = no slot preference); "
                     f"position consistency {_ci(b.position_consistency, True)}")
    if b.length_correlation is not None:
        what = "verdict with the length difference A - B" if pref else "score with the output's length"
        lines.append(f"  length: Spearman of the {what} {_ci(b.length_correlation)}; "
                     f"the humans' {_ci(b.human_length_correlation)}")
    if b.self_preference is not None:
        s = b.self_preference
        lines.append(f"  self-preference ({s.judge_family}, {s.n} cases): judge {_ci(s.judge)}, humans {_ci(s.human)}, "
                     f"gap {_ci(s.gap)}")
    lines += [f"  {n}" for n in b.notes]
    if r.abstention is not None:
        a = r.abstention
        lines += ["", f"abstention (by {a.confidence}):",
                  (f"  disagreement at {100 * a.coverage:.0f}% coverage {_ci(a.risk, True)} vs {_ci(a.full, True)} "
                   f"without abstaining; change {_ci(a.change)}; abstain below margin {a.threshold:.4f}")]
    if r.few_shot is not None:
        f = r.few_shot
        lines += ["", f"few-shot ({f.k} examples: {f.source}; {f.n_test} held-out cases):",
                  (f"  accuracy {_ci(f.before, True)} -> {_ci(f.after, True)}, change {_ci(f.change)}, "
                   f"McNemar p {f.pvalue:.3g}; agreement {_ci(f.agreement_before)} -> {_ci(f.agreement_after)}")]
    return "\n".join(lines)

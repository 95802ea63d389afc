"""Reports people read: the terminal table with Δ columns, and a Markdown report for a pull request."""

from __future__ import annotations

from collections.abc import Sequence

from experiments.record import Comparison, Interval, RunRecord, ScorerSummary, SuiteRecord


def _ci(e: Interval | None) -> str:
    if e is None or e.n == 0 or e.value is None:
        return "-"
    return f"{e.value:.2f} [{e.low:.2f}, {e.high:.2f}]"


def _delta(c: Comparison | None) -> tuple[str, str, str, str]:
    if c is None or c.mean_diff is None:
        return "-", "-", "-", "-"
    return (f"{c.baseline_mean:.2f}", f"{c.mean_diff:+.2f} [{c.low:+.2f}, {c.high:+.2f}]", f"{c.pvalue:.3g}",
            f"+{c.improved}/-{c.regressed}")


def _gate(s: SuiteRecord) -> str:
    g = s.summary.gate
    if g is None or (g.passed is None and g.advisory is None):
        return "-"
    return _verdict(g.passed, g.advisory) + f" ({g.reason})"


def _verdict(passed: bool | None, advisory: str | None) -> str:
    """PASS / FAIL of a binding gate; ADVISORY when the gate's judge is not qualified to bind it."""
    if passed is False:
        return "FAIL"
    return "ADVISORY" if advisory is not None else "PASS" if passed else "-"


def _rows(s: SuiteRecord, sc: ScorerSummary, first: bool) -> list[str]:
    sm = s.summary
    base, delta, p, moved = _delta(sm.comparison(sc.scorer))
    return [s.suite if first else "", sc.scorer, str(sm.n) if first else "", _ci(sc.mean), _ci(sc.pass_rate),
            str(sc.below_threshold), str(sm.task_errors) if first else "", str(sc.failures),
            str(sm.flagged) if first else "", str(sm.model_calls) if first else "",
            str(sm.cache_hits) if first else "", base, delta, p, moved, _gate(s) if first else ""]


def format_table(suites: Sequence[SuiteRecord]) -> str:
    """One row per scorer of each suite: n, mean and pass rate with 95% CIs, failures, calls, Δ vs baseline, gate."""
    head = ["suite", "scorer", "n", "mean [95% CI]", "pass rate [95% CI]", "below", "task err", "judge fail",
            "flagged", "model calls", "cache hits", "base mean", "Δ [95% CI]", "p (drop)", "+/-", "gate"]
    rows = [_rows(s, sc, i == 0) for s in suites for i, sc in enumerate(s.summary.scorers)]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for s in suites:
        for sc in s.summary.scorers:
            if sc.pairwise is not None:
                pw = sc.pairwise
                lines.append(f"{s.suite}: win {_ci(pw.win)}  tie {_ci(pw.tie)}  loss {_ci(pw.loss)}  "
                             f"win rate {_ci(pw.win_rate)}  length-controlled {_ci(pw.length_controlled)}  "
                             f"position consistency {_ci(pw.consistency)}")
        for sc in s.summary.scorers:
            if sc.abstained:
                lines.append(f"{s.suite}: {sc.scorer} abstained on {sc.abstained} case(s): sent to review, not counted")
        if s.summary.baseline_note and s.summary.baseline_note != "no baseline":
            lines.append(f"{s.suite}: baseline: {s.summary.baseline_note}")
        c = s.summary.comparison()
        if c is not None:
            if c.added or c.removed:
                lines.append(f"{s.suite}: cases added since the baseline: {c.added or '-'}; removed: {c.removed or '-'}")
            for w in c.warnings:
                lines.append(f"{s.suite}: WARNING {w}")
            for d in c.worst:
                lines.append(f"{s.suite}: regressed {d.case_id}: {d.old:.2f} -> {d.new:.2f}"
                             + (f"  trace {d.trace_id}" if d.trace_id else ""))
    return "\n".join(lines)


def _md_cell(text: str | None, limit: int = 300) -> str:
    t = (text or "").replace("\r", " ").replace("\n", " ").replace("|", "\\|")
    return t if len(t) <= limit else t[: limit - 1] + "…"


def format_markdown(run: RunRecord) -> str:
    """A Markdown report fit for a pull-request comment: verdicts, Δ with CI and p, regressed cases side by side."""
    out = [f"## Eval results: run `{run.run_id}`", ""]
    git = run.git
    out.append(f"Commit `{(git.commit or 'unknown')[:12]}` on `{git.branch or '?'}`"
               f"{' (dirty)' if git.dirty else ''}; judge model `{run.judge_model or '?'}`; "
               f"baseline: {run.baseline or 'none'}.")
    out.append("")
    out.append("| suite | verdict | scorer | mean [95% CI] | baseline | Δ [95% CI] | p (drop) | improved / regressed |")
    out.append("|---|---|---|---|---|---|---|---|")
    for s in run.suites:
        g = s.summary.gate
        verdict = "-" if g is None else f"**{_verdict(g.passed, g.advisory)}**".replace("**-**", "-")
        for i, sc in enumerate(s.summary.scorers):
            base, delta, p, _ = _delta(s.summary.comparison(sc.scorer))
            c = s.summary.comparison(sc.scorer)
            moved = "-" if c is None else f"{c.improved} / {c.regressed}"
            out.append(f"| {s.suite if i == 0 else ''} | {verdict if i == 0 else ''} | `{sc.scorer}` | "
                       f"{_ci(sc.mean)} | {base} | {delta} | {p} | {moved} |")
    for s in run.suites:
        g = s.summary.gate
        c = s.summary.comparison()
        out += ["", f"### {s.suite}", ""]
        if g is not None:
            out.append(f"Gate: {_verdict(g.passed, g.advisory)}: {_md_cell(g.reason, 600)}")
        if s.summary.task_errors:
            out.append(f"Task errors: {s.summary.task_errors} of {s.summary.n} cases.")
        if s.summary.baseline_note and c is None:
            out.append(f"Baseline: {_md_cell(s.summary.baseline_note, 600)}")
        if c is None:
            continue
        if c.added or c.removed:
            out.append(f"Cases added: {', '.join(c.added) or 'none'}; removed: {', '.join(c.removed) or 'none'}.")
        for w in c.warnings:
            out.append(f"> Warning: {_md_cell(w, 600)}")
        if c.worst:
            out += ["", f"Regressed cases (`{c.scorer}`, worst first):", "",
                    "| case | baseline | new | baseline output | new output |", "|---|---|---|---|---|"]
            for d in c.worst:
                out.append(f"| `{d.case_id}` | {d.old:.2f} | {d.new:.2f} | {_md_cell(d.old_output)} | "
                           f"{_md_cell(d.new_output)} |")
        else:
            out.append(f"No case regressed by more than {c.margin:g} on `{c.scorer}`.")
    return "\n".join(out) + "\n"

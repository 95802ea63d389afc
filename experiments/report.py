"""Reports people read: the terminal summary (fits 120 columns) and a Markdown report for a pull request.

Both mark the scorer the gate decides on, show a pass rate only where a threshold exists, and put the
gate's reason and the regressed cases below the table. The Markdown report lists every regressed case of
the gating scorer with its input and reference (the first ones in a table, the rest in a collapsed section).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from experiments.record import (
    CaseDelta,
    CaseRecord,
    Comparison,
    Interval,
    RunRecord,
    ScorerSummary,
    SuiteRecord,
)

#: The terminal summary's width: no line is longer.
WIDTH = 120
#: Regressed cases listed in the terminal (the rest are counted) and shown open in the Markdown report.
SHOWN_REGRESSIONS = 10
#: GitHub refuses a comment over 65,536 characters; the collapsed list stops before this size.
MARKDOWN_BUDGET = 60_000
#: The mark of the gating scorer in the terminal table.
GATE_MARK = "*"


def gating_scorer(s: SuiteRecord) -> str | None:
    """The scorer the suite's gate decides on (the gate's ``scorer``, else the suite's first); None without a gate."""
    if s.gate is None:
        return None
    if s.gate.scorer:
        return s.gate.scorer
    return s.scorers[0].scorer if s.scorers else None


def _ci(e: Interval | None) -> str:
    if e is None or e.n == 0 or e.value is None:
        return "-"
    return f"{e.value:.2f} [{e.low:.2f}, {e.high:.2f}]"


def _delta(c: Comparison | None) -> tuple[str, str, str, str]:
    if c is None or c.mean_diff is None:
        return "-", "-", "-", "-"
    return (f"{c.baseline_mean:.2f}", f"{c.mean_diff:+.2f} [{c.low:+.2f}, {c.high:+.2f}]", f"{c.pvalue:.3g}",
            f"+{c.improved}/-{c.regressed}")


def _verdict(passed: bool | None, advisory: str | None) -> str:
    """PASS / FAIL of a binding gate; ADVISORY when the gate's judge is not qualified to bind it."""
    if passed is False:
        return "FAIL"
    return "ADVISORY" if advisory is not None else "PASS" if passed else "-"


def suite_verdict(s: SuiteRecord) -> str:
    """PASS, FAIL, ADVISORY, or "-" (no gate, or nothing binding decided)."""
    g = s.summary.gate
    return "-" if g is None else _verdict(g.passed, g.advisory)


def _has_threshold(s: SuiteRecord, sc: ScorerSummary) -> bool:
    info = next((i for i in s.scorers if i.scorer == sc.scorer), None)
    return (info is not None and info.threshold is not None) or sc.pass_rate is not None


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def _wrap(text: str, indent: str = "  ", *, width: int = WIDTH) -> list[str]:
    """``text`` wrapped to ``width`` (long words broken), continuation lines indented once more."""
    return textwrap.wrap(text, width=width, initial_indent=indent, subsequent_indent=indent + "  ",
                         break_long_words=True, break_on_hyphens=False) or [indent.rstrip()]


def _suite_table(s: SuiteRecord, width: int) -> list[str]:
    gating = gating_scorer(s)
    thresholds = any(_has_threshold(s, sc) for sc in s.summary.scorers)
    head = ["scorer", "mean [95% CI]", *(["pass rate [95% CI]"] if thresholds else []), "base", "Δ [95% CI]",
            "p (drop)", "+/-"]
    rows = []
    for sc in s.summary.scorers:
        base, delta, p, moved = _delta(s.summary.comparison(sc.scorer))
        mark = f"{GATE_MARK} " if sc.scorer == gating else "  "
        pass_rate = [_ci(sc.pass_rate) if _has_threshold(s, sc) else ""] if thresholds else []
        rows.append([mark + sc.scorer, _ci(sc.mean), *pass_rate, base, delta, p, moved])
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    # the scorer column gives way when the row would not fit (the other columns have bounded widths)
    others = sum(widths[1:]) + 2 * (len(widths) - 1) + 2
    widths[0] = max(min(widths[0], width - others), 12)
    fit = [[_clip(r[0], widths[0]), *r[1:]] for r in [head, *rows]]
    lines = ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in fit]
    lines.insert(1, "  " + "  ".join("-" * w for w in widths))
    return lines


def _regression_line(d: CaseDelta, case: CaseRecord | None, width: int) -> str:
    head = f"    {d.case_id}: {d.old:.2f} -> {d.new:.2f}"
    if case is not None and case.input:
        head += f"  input: {_one_line(case.input)}"
    return _clip(head, width)


def format_table(suites: Sequence[SuiteRecord], *, width: int = WIDTH) -> str:
    """Per suite: a verdict line, one row per scorer (mean and pass rate with 95% CIs, Δ vs baseline with its
    CI and p), then the gate's reason, notes and the regressed cases. No line is longer than ``width``."""
    lines: list[str] = []

    def wrap(text: str) -> list[str]:
        return _wrap(text, width=width)

    for s in suites:
        sm = s.summary
        counts = [f"n {sm.n}", f"task errors {sm.task_errors}", f"judge failures {sm.judge_failures}",
                  f"flagged {sm.flagged}", f"model calls {sm.model_calls}", f"cache hits {sm.cache_hits}"]
        below = [f"below threshold {sc.below_threshold} ({sc.scorer})" for sc in sm.scorers if sc.below_threshold]
        if lines:
            lines.append("")
        lines.append(_clip(f"{s.suite}: {suite_verdict(s)}", width))
        lines += wrap(", ".join(counts + below))
        lines += _suite_table(s, width)
        g = sm.gate
        gating = gating_scorer(s)
        if g is not None:
            lines += wrap(f"gate ({GATE_MARK} {gating}): {_verdict(g.passed, g.advisory)}: {g.reason}")
        for sc in sm.scorers:
            if sc.pairwise is not None:
                pw = sc.pairwise
                lines += wrap(f"{sc.scorer}: win {_ci(pw.win)}  tie {_ci(pw.tie)}  loss {_ci(pw.loss)}")
                lines += wrap(f"{sc.scorer}: win rate {_ci(pw.win_rate)}  length-controlled "
                               f"{_ci(pw.length_controlled)}  position consistency {_ci(pw.consistency)}")
            if sc.abstained:
                lines += wrap(f"{sc.scorer} abstained on {sc.abstained} case(s): sent to review, not counted")
        if sm.baseline_note and sm.baseline_note != "no baseline":
            lines += wrap(f"baseline: {sm.baseline_note}")
        c = sm.comparison(gating)
        if c is None:
            continue
        if c.added or c.removed:
            lines += wrap(f"cases added since the baseline: {', '.join(c.added) or '-'}; "
                           f"removed: {', '.join(c.removed) or '-'}")
        for w in c.warnings:
            lines += wrap(f"WARNING {w}")
        if c.worst:
            by_id = {r.case_id: r for r in s.cases}
            lines.append(f"  regressed cases ({c.scorer}, worst first): {len(c.worst)}")
            lines += [_regression_line(d, by_id.get(d.case_id), width) for d in c.worst[:SHOWN_REGRESSIONS]]
            if len(c.worst) > SHOWN_REGRESSIONS:
                lines.append(f"    … and {len(c.worst) - SHOWN_REGRESSIONS} more (all in the Markdown report, "
                             "--eval-markdown, and the results file)")
    return "\n".join(lines)


def _md_cell(text: str | None, limit: int = 300) -> str:
    t = _clip(_one_line(text), limit)
    return t.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def _md_regressions(rows: Sequence[tuple[CaseDelta, CaseRecord | None]], limit: int) -> list[str]:
    out = ["| case | baseline | new | input | reference | baseline output | new output |",
           "|---|---|---|---|---|---|---|"]
    for d, case in rows:
        ref = case.expected if case is not None else None
        out.append(f"| `{_md_cell(d.case_id, 80)}` | {d.old:.2f} | {d.new:.2f} | "
                   f"{_md_cell(case.input if case else None, limit)} | {_md_cell(ref, limit) or '-'} | "
                   f"{_md_cell(d.old_output, limit)} | {_md_cell(d.new_output, limit)} |")
    return out


def format_markdown(run: RunRecord, *, shown: int = SHOWN_REGRESSIONS, budget: int = MARKDOWN_BUDGET) -> str:
    """A Markdown report fit for a pull-request comment: verdicts, Δ with CI and p, and every regressed case of
    the gating scorer with its input and reference (the first ``shown`` open, the rest collapsed)."""
    out = [f"## Eval results: run `{run.run_id}`", ""]
    git = run.git
    out.append(f"Commit `{(git.commit or 'unknown')[:12]}` on `{git.branch or '?'}`"
               f"{' (dirty)' if git.dirty else ''}; "
               f"{f'judge model `{run.judge_model}`' if run.judge_model else 'no judge model'}; "
               f"baseline: {run.baseline or 'none'}.")
    out.append("")
    thresholds = any(_has_threshold(s, sc) for s in run.suites for sc in s.summary.scorers)
    pr_head, pr_rule = (" pass rate [95% CI] |", "---|") if thresholds else ("", "")
    out.append(f"| suite | verdict | scorer | mean [95% CI] |{pr_head} baseline | Δ [95% CI] | p (drop) "
               "| improved / regressed |")
    out.append(f"|---|---|---|---|{pr_rule}---|---|---|---|")
    for s in run.suites:
        verdict = suite_verdict(s)
        verdict = "-" if verdict == "-" else f"**{verdict}**"
        gating = gating_scorer(s)
        for i, sc in enumerate(s.summary.scorers):
            base, delta, p, _ = _delta(s.summary.comparison(sc.scorer))
            c = s.summary.comparison(sc.scorer)
            moved = "-" if c is None else f"{c.improved} / {c.regressed}"
            name = f"`{sc.scorer}`" + (" (gates)" if sc.scorer == gating else "")
            pr = f" {_ci(sc.pass_rate) if _has_threshold(s, sc) else ''} |" if thresholds else ""
            out.append(f"| {s.suite if i == 0 else ''} | {verdict if i == 0 else ''} | {name} | "
                       f"{_ci(sc.mean)} |{pr} {base} | {delta} | {p} | {moved} |")
    for s in run.suites:
        g = s.summary.gate
        gating = gating_scorer(s)
        c = s.summary.comparison(gating)
        out += ["", f"### {s.suite}", ""]
        if g is not None:
            out.append(f"Gate on `{gating}`: {_verdict(g.passed, g.advisory)}: {_md_cell(g.reason, 600)}")
            out.append("")
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
        if not c.worst:
            out.append(f"No case regressed by more than {c.margin:g} on `{c.scorer}`.")
            continue
        by_id = {r.case_id: r for r in s.cases}
        rows = [(d, by_id.get(d.case_id)) for d in c.worst]
        out += ["", f"{len(rows)} regressed case(s) on `{c.scorer}` (moved by more than {c.margin:g}), worst first:",
                ""]
        out += _md_regressions(rows[:shown], 300)
        rest = rows[shown:]
        if rest:
            out += ["", f"<details><summary>{len(rest)} more regressed case(s)</summary>", ""]
            table = _md_regressions([], 0)
            size = sum(len(line) + 1 for line in out)
            left = 0
            for i, row in enumerate(rest):
                line = _md_regressions([row], 120)[-1]
                if size + len(line) > budget:
                    left = len(rest) - i
                    break
                table.append(line)
                size += len(line) + 1
            out += table
            if left:
                note = f"… and {left} more, left out to keep this comment under GitHub's size limit"
                out += ["", note + " (every one is in the run's results file)."]
            out += ["", "</details>"]
    return "\n".join(out) + "\n"

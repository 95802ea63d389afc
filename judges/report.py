"""Readable terminal tables for suite summaries."""

from __future__ import annotations

from collections.abc import Sequence

from judges.stats import Estimate
from judges.suite import SuiteSummary


def _ci(e: Estimate | None) -> str:
    if e is None or e.n == 0:
        return "-"
    return f"{e.value:.2f} [{e.low:.2f}, {e.high:.2f}]"


def format_table(summaries: Sequence[SuiteSummary]) -> str:
    """One row per suite: n, mean with 95% CI, pass rate with CI, failures, judge failures, cache, calls, tokens, gate."""
    head = ["suite", "judge", "n", "mean [95% CI]", "pass rate [95% CI]", "below", "judge fail",
            "flagged", "cache hits", "model calls", "tokens", "gate"]
    rows = []
    for s in summaries:
        gate = "-" if s.gate_passed is None else ("PASS" if s.gate_passed else "FAIL") + f" ({s.gate_reason})"
        rows.append([s.suite, s.judge, str(s.n), _ci(s.mean), _ci(s.pass_rate), str(s.below_threshold),
                     str(s.judge_failures), str(s.flagged), str(s.cache_hits), str(s.model_calls), str(s.tokens), gate])
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for s in summaries:
        if s.pairwise is not None:
            pw = s.pairwise
            lines.append(
                f"{s.suite}: win {_ci(pw.win)}  tie {_ci(pw.tie)}  loss {_ci(pw.loss)}  "
                f"win rate {_ci(pw.win_rate)}  length-controlled {_ci(pw.length_controlled)}  "
                f"position consistency {_ci(pw.consistency)}"
            )
    return "\n".join(lines)

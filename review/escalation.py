"""The one set of escalation rules: when a judge's verdict goes to a human.

Both queue fillers use it: ``review.fill.escalation_items`` (eval results) and the monitor's online judges
(production traces). Each gives a verdict as an ``experiments.record.Score`` and gets back the reasons a
reviewer should look at it; no reasons, no item.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:  # the one results record; for types only so `import review` stays light
    from experiments.record import Score

__all__ = ["REASON_NAMES", "EscalationRules", "review_reasons"]

#: The rule names a configuration may list (``EscalationRules.from_reasons``), as the monitor's config does.
REASON_NAMES = ("judge_failure", "low_confidence", "flagged", "below_pass")

#: Flags that already say the judge failed: a failure carrying one is not reported twice.
_FAILURE_FLAGS = ("parse_failure", "judge_failure")


@dataclass(frozen=True)
class EscalationRules:
    """When a judge's verdict goes to a human; a rule set to None or False is off.

    * ``escalate_failures``: a verdict with no score (``Score.failure``) -> ``"judge_failure"``.
    * ``low_confidence``: the judge's own ``low_confidence`` flag -> ``"low_confidence"``.
    * ``other_flags``: any other judge flag (order inconsistency, parse failure, panel disagreement,
      abstained, ...) -> the flag's name.
    * ``max_entropy``: entropy in bits (as ``judges.stats.entropy`` reports it) over the judge's label
      distribution above this -> ``"entropy 1.52 > 1"``.
    * ``min_top_mass``: the top label carries less probability than this -> ``"top label mass 0.40 < 0.5"``.
    * ``max_panel_range``: a panel's scores span more than this fraction of the scale width ->
      ``"panel range 0.50 of scale > 0.25"`` (not when the panel already flagged ``judges_disagree``).
    * ``pass_at``: a score below this -> ``"score 2.00 < 3"`` (the monitor's ``below_pass``).

    The defaults are the eval fillers' (``python -m dashboard fill``): every flag and failure, the three
    thresholds, no pass mark.
    """

    max_entropy: float | None = 1.0
    min_top_mass: float | None = 0.5
    max_panel_range: float | None = 0.25
    escalate_failures: bool = True
    low_confidence: bool = True
    other_flags: bool = True
    pass_at: float | None = None

    def __post_init__(self) -> None:
        if (
            (self.max_entropy is not None and not self.max_entropy >= 0)
            or (self.min_top_mass is not None and not 0 <= self.min_top_mass <= 1)
            or (self.max_panel_range is not None and not 0 <= self.max_panel_range <= 1)
        ):
            raise ConfigError(
                f"escalation thresholds out of range: max_entropy={self.max_entropy!r} (>= 0), "
                f"min_top_mass={self.min_top_mass!r} and max_panel_range={self.max_panel_range!r} (0..1)"
            )

    @classmethod
    def from_reasons(cls, reasons: Iterable[str], *, pass_at: float | None = None) -> EscalationRules:
        """The rules a list of reason names turns on (``judge_failure``, ``low_confidence``, ``flagged``,
        ``below_pass`` with ``pass_at``), with the distribution thresholds off: the monitor's ``review``."""
        names = set(reasons)
        unknown = sorted(names - set(REASON_NAMES))
        if unknown:
            raise ConfigError(f"unknown review reasons {unknown}; known: {list(REASON_NAMES)}")
        if "below_pass" in names and pass_at is None:
            raise ConfigError("the below_pass review reason needs a pass mark (pass_at)")
        return cls(
            max_entropy=None,
            min_top_mass=None,
            max_panel_range=None,
            escalate_failures="judge_failure" in names,
            low_confidence="low_confidence" in names,
            other_flags="flagged" in names,
            pass_at=pass_at if "below_pass" in names else None,
        )


def review_reasons(score: Score, rules: EscalationRules | None = None) -> list[str]:
    """Why this judge verdict needs a human, in rule order (empty when it does not).

    ``rules`` defaults to ``EscalationRules()``. The number of reasons is the item's priority in the
    escalation queue. Reads ``flags``, ``failure``, ``score``, ``entropy``, ``label_probs``, ``scale`` and
    ``members`` of the ``Score``.
    """
    rules = rules or EscalationRules()
    reasons = [
        f
        for f in score.flags
        if (rules.low_confidence if f == "low_confidence" else rules.other_flags)
    ]
    if score.failure and rules.escalate_failures and not any(f in reasons for f in _FAILURE_FLAGS):
        reasons.append("judge_failure")
    if rules.pass_at is not None and score.score is not None and score.score < rules.pass_at:
        reasons.append(f"score {score.score:.2f} < {rules.pass_at:g}")
    probs = {k: p for k, p in (score.label_probs or {}).items() if p > 0}
    total = sum(probs.values())
    if rules.max_entropy is not None:
        entropy = score.entropy
        if entropy is None and total > 0:
            from judges.stats import entropy as entropy_bits

            entropy = entropy_bits({k: p / total for k, p in probs.items()})
        if entropy is not None and entropy > rules.max_entropy:
            reasons.append(f"entropy {entropy:.2f} > {rules.max_entropy:g}")
    if rules.min_top_mass is not None and score.label_probs:
        top = max(score.label_probs.values()) / (sum(score.label_probs.values()) or 1.0)
        if top < rules.min_top_mass:
            reasons.append(f"top label mass {top:.2f} < {rules.min_top_mass:g}")
    scale = score.scale
    panel = [m.score for m in score.members if m.score is not None]
    if rules.max_panel_range is not None and len(panel) >= 2 and scale is not None and scale[1] > scale[0]:
        spread = (max(panel) - min(panel)) / (scale[1] - scale[0])
        if spread > rules.max_panel_range and "judges_disagree" not in score.flags:
            reasons.append(f"panel range {spread:.2f} of scale > {rules.max_panel_range:g}")
    return reasons

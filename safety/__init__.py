"""Safety: offline red-teaming, counterfactual bias tests and runtime guardrails.

    from safety import Guardrail, default_input_checks, default_output_checks
    guard = Guardrail(output_checks=default_output_checks(canaries=(CANARY,)))
    decision = guard.check_input(text)                  # .action: allow / block / redact, .reason, .text

    from safety import make_canary, redteam_suite, redteam_report, bias_suite, bias_report
    SUITE = redteam_suite("redteam", task=app_with(CANARY), canary=CANARY)   # an experiments suite

The guardrails import nothing heavy (the MiniLM similarity check loads its model on first use); the red-team
and bias suites run on the experiments machinery. See docs/safety.md.
"""

from typing import Any

# Applications import the guardrails: keep that import light. The suites pull in the experiments machinery
# (judges, pydantic records), so their names load on first use.
from safety.errors import AttackLibraryError, CounterfactualError, GuardrailError, SafetyError
from safety.guardrails import (
    Guardrail,
    GuardrailDecision,
    GuardrailVerdict,
    InjectionHeuristics,
    InjectionSimilarity,
    default_input_checks,
    default_output_checks,
)
from safety.offline import block_network

_LAZY = {
    "make_canary": "safety.attacks", "bias_report": "safety.bias", "bias_suite": "safety.bias",
    "counterfactual_pairs": "safety.bias",
    "redteam_report": "safety.redteam", "redteam_suite": "safety.redteam",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'safety' has no attribute {name!r}")


__all__ = [
    "AttackLibraryError",
    "CounterfactualError",
    "Guardrail",
    "GuardrailDecision",
    "GuardrailError",
    "GuardrailVerdict",
    "InjectionHeuristics",
    "InjectionSimilarity",
    "SafetyError",
    "bias_report",
    "bias_suite",
    "block_network",
    "counterfactual_pairs",
    "default_input_checks",
    "default_output_checks",
    "make_canary",
    "redteam_report",
    "redteam_suite",
]

"""What the safety library raises.

    SafetyError                 base class
    ├── AttackLibraryError      an attack file or category that is empty, unknown or malformed
    ├── CounterfactualError     a bias template without its attribute slot, an unknown attribute
    └── GuardrailError          a misconfigured guardrail (an unknown action, a check without a name)

A guardrail *check* that errors while running is not raised: the guardrail records the error and
fails closed (block) or open (allow) as configured, and its decision says which.
"""

from __future__ import annotations


class SafetyError(Exception):
    """Base class of the safety library's errors."""


class AttackLibraryError(SafetyError, ValueError):
    """An attack library or category is empty, unknown or has a malformed row."""


class CounterfactualError(SafetyError, ValueError):
    """A counterfactual template lacks its attribute slot, or an attribute is unknown."""


class GuardrailError(SafetyError, ValueError):
    """A guardrail is misconfigured."""

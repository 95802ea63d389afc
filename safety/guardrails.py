"""Runtime guardrails an application wraps its model calls with.

    guard = Guardrail(input_checks=default_input_checks(),
                      output_checks=default_output_checks(canaries=(CANARY,), system_prompt=SYSTEM))
    decision = guard.check_input(user_text)           # allow / block / redact, with the reason
    if decision.blocked: return guard.refusal          # else send decision.text (PII masked) to the model
    reply = guard.check_output(model_text, prompt=user_text)

Every decision is an OpenInference GUARDRAIL span (``guardrail:input`` / ``guardrail:output``) carrying the
action, the reason and each check's verdict. A check that raises is recorded, and the guardrail fails
**closed** (the text is blocked; the default) or **open** (the text is allowed) as configured; the decision's
reason says which. Checks run in order on the text as redacted so far and stop at the first block.
``on_block`` receives every blocked decision (e.g. to file it in the review queue).

The checks here use no model and import nothing heavy, except ``InjectionSimilarity`` (MiniLM embeddings,
loaded on first use) and ``JudgeCheck`` (a judge model, async: use ``acheck_input`` / ``acheck_output``).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from safety.detectors import (
    canary_leaked,
    decodings,
    find_pii,
    injection_score,
    is_refusal,
    prompt_overlap,
    redact_pii,
)
from safety.errors import GuardrailError

log = logging.getLogger(__name__)

Action = Literal["allow", "block", "redact"]
Stage = Literal["input", "output"]
_ACTIONS = ("allow", "block", "redact")


@dataclass(frozen=True)
class GuardrailVerdict:
    """One check's answer: its action, why, and the redacted text when it redacted."""

    check: str
    action: Action
    reason: str = ""
    text: str | None = None
    error: bool = False

    def __post_init__(self) -> None:
        if self.action not in _ACTIONS:
            raise GuardrailError(f"check {self.check!r} returned action {self.action!r}; use one of {_ACTIONS}")


@dataclass(frozen=True)
class GuardrailDecision:
    """The guardrail's decision on one text: ``action``, ``reason``, the text to use, and every verdict."""

    stage: Stage
    action: Action
    reason: str
    text: str
    verdicts: tuple[GuardrailVerdict, ...]
    latency_ms: float

    @property
    def blocked(self) -> bool:
        return self.action == "block"

    @property
    def errors(self) -> tuple[str, ...]:
        return tuple(v.reason for v in self.verdicts if v.error)


@runtime_checkable
class Check(Protocol):
    """A guardrail check: a name and ``check(text, prompt) -> GuardrailVerdict`` (``prompt``: the user's request, for
    output checks; None on input)."""

    @property
    def name(self) -> str: ...

    def check(self, text: str, prompt: str | None = None) -> GuardrailVerdict: ...


@runtime_checkable
class AsyncCheck(Protocol):
    """A check that awaits something (a judge model): ``async acheck(text, prompt) -> GuardrailVerdict``."""

    @property
    def name(self) -> str: ...

    async def acheck(self, text: str, prompt: str | None = None) -> GuardrailVerdict: ...


# --- built-in checks -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InjectionHeuristics:
    """Blocks text whose prompt-injection heuristic score (``safety.detectors.injection_score``) reaches
    ``threshold``; base64, leetspeak and split-character disguises are decoded first."""

    threshold: float = 1.0
    name: str = "injection_heuristics"

    def check(self, text: str, prompt: str | None = None) -> GuardrailVerdict:
        s = injection_score(text)
        if s.flagged(self.threshold):
            how = " (in a decoded reading)" if s.decoded else ""
            return GuardrailVerdict(self.name, "block", f"prompt injection: {', '.join(s.patterns)}{how}, score {s.score:g}")
        return GuardrailVerdict(self.name, "allow")


@dataclass(frozen=True)
class InjectionSimilarity:
    """Blocks text whose MiniLM embedding has cosine similarity ``threshold`` or more with a known attack
    (default: the injections of the attack library). A weak signal against a library this small: a second
    opinion beside the heuristics, not in ``default_input_checks``. The model loads on first use (seconds); each call
    then embeds one text, which costs milliseconds, not microseconds: keep it off latency-critical paths."""

    threshold: float = 0.45  # measured on the labelled prompts: TPR 20%, FPR 10% (docs/safety.md)
    reference: tuple[str, ...] | None = None
    embed: Callable[[Sequence[str]], Any] | None = None
    name: str = "injection_similarity"
    _state: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def _embed(self, texts: Sequence[str]) -> Any:
        if self.embed is not None:
            return self.embed(texts)
        if "embedder" not in self._state:
            from embed import TextEmbedder  # the harness's offline MiniLM

            self._state["embedder"] = TextEmbedder()
        return self._state["embedder"].embed(texts)

    def _matrix(self) -> tuple[Any, tuple[str, ...]]:
        if "matrix" not in self._state:
            import numpy as np

            ref = self.reference
            if ref is None:
                from safety.attacks import load_attacks

                ref = _injection_texts(load_attacks())
            if not ref:
                raise GuardrailError("InjectionSimilarity needs at least one reference attack text")
            m = np.asarray(self._embed(list(ref)), dtype=float)
            self._state["matrix"] = (m / np.linalg.norm(m, axis=1, keepdims=True), tuple(ref))
        return self._state["matrix"]  # type: ignore[no-any-return]

    def similarity(self, text: str) -> tuple[float, str]:
        """The highest cosine similarity of ``text`` with a reference attack, and that attack."""
        import numpy as np

        m, ref = self._matrix()
        v = np.asarray(self._embed([text]), dtype=float)[0]
        sims = m @ (v / (np.linalg.norm(v) or 1.0))
        i = int(np.argmax(sims))
        return float(sims[i]), ref[i]

    def check(self, text: str, prompt: str | None = None) -> GuardrailVerdict:
        sim, nearest = self.similarity(text)
        if sim >= self.threshold:
            return GuardrailVerdict(self.name, "block", f"similar to a known attack (cosine {sim:.2f}): {nearest[:60]!r}")
        return GuardrailVerdict(self.name, "allow")


def _injection_texts(attacks: Sequence[Any]) -> tuple[str, ...]:
    # the injection itself: an indirect attack's planted document (its question is benign), and the prompts of
    # the categories that manipulate the model; harmful requests and agency are topics, not injections
    kinds = ("direct_injection", "system_prompt_extraction", "jailbreak_roleplay")
    return tuple(a.document if a.category == "indirect_injection" else a.prompt for a in attacks
                 if a.category == "indirect_injection" or a.category in kinds)


_HARMFUL = re.compile(
    r"\b(?:pipe bomb|bombs?|explosives?|detonat\w*|nerve agent|poison\w*|malware|ransomware|keylogger|"
    r"steal\w* (?:passwords?|credentials|identit\w*)|phishing|break into (?:a |an |my |the )?(?:house|home|car)|"
    r"pick (?:a |the )?(?:door )?lock|kill (?:someone|my|a person)|untraceable (?:gun|weapon))\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class HarmfulTopics:
    """Blocks requests that name a topic on a short list of clearly harmful ones (weapons, poison, malware,
    phishing, burglary). A keyword list: coarse by design; a policy judge refines it where one is configured."""

    name: str = "harmful_topics"

    def check(self, text: str, prompt: str | None = None) -> GuardrailVerdict:
        m = next((m for t in (text, *decodings(text)) if (m := _HARMFUL.search(t))), None)
        return GuardrailVerdict(self.name, "block", f"harmful topic: {m.group(0)!r}") if m else GuardrailVerdict(self.name, "allow")


@dataclass(frozen=True)
class PIIFilter:
    """Personal data and secrets by the tracing redactor's rules: ``redact`` masks them (default), ``block``
    refuses the text."""

    action: Literal["redact", "block"] = "redact"
    name: str = "pii"

    def __post_init__(self) -> None:
        if self.action not in ("redact", "block"):
            raise GuardrailError(f"PIIFilter action must be 'redact' or 'block', got {self.action!r}")

    def check(self, text: str, prompt: str | None = None) -> GuardrailVerdict:
        found = find_pii(text)
        if not found:
            return GuardrailVerdict(self.name, "allow")
        reason = f"personal data: {', '.join(found)}"
        return GuardrailVerdict(self.name, "redact", reason, text=redact_pii(text)) if self.action == "redact" \
            else GuardrailVerdict(self.name, "block", reason)


@dataclass(frozen=True)
class Leakage:
    """Blocks output that contains a canary, or repeats ``max_overlap`` consecutive words of the system prompt."""

    canaries: tuple[str, ...] = ()
    system_prompt: str | None = None
    max_overlap: int = 8
    name: str = "leakage"

    def __post_init__(self) -> None:
        if not self.canaries and not self.system_prompt:
            raise GuardrailError("Leakage needs canaries=(...) or a system_prompt to look for")

    def check(self, text: str, prompt: str | None = None) -> GuardrailVerdict:
        for c in self.canaries:
            if canary_leaked(text, c):
                return GuardrailVerdict(self.name, "block", "canary leaked")
        if self.system_prompt:
            run = prompt_overlap(text, self.system_prompt)
            if run >= self.max_overlap:
                return GuardrailVerdict(self.name, "block", f"repeats {run} consecutive words of the system prompt")
        return GuardrailVerdict(self.name, "allow")


@dataclass(frozen=True)
class RefusalFlag:
    """Allows output but records when it is a refusal (a signal for over-blocking, not a block)."""

    name: str = "refusal"

    def check(self, text: str, prompt: str | None = None) -> GuardrailVerdict:
        return GuardrailVerdict(self.name, "allow", "the reply refuses" if is_refusal(text) else "")


@dataclass(frozen=True)
class JudgeCheck:
    """A policy judge (any ``judges`` judge and its client): blocks output it scores at ``threshold`` or more
    on its scale (e.g. ``safety.grading.harm_judge()`` at 3). Async: use ``acheck_output``."""

    judge: Any
    client: Any
    threshold: float
    name: str = "policy_judge"

    async def acheck(self, text: str, prompt: str | None = None) -> GuardrailVerdict:
        from judges.case import Case
        from judges.results import Judgement

        result = await self.judge.judge(self.client, Case("guardrail", prompt or "(not given)", output=text))
        if not isinstance(result, Judgement):
            raise GuardrailError(f"policy judge gave no verdict: {result.reason}")
        if result.score >= self.threshold:
            return GuardrailVerdict(self.name, "block", f"{self.judge.judge_name} score {result.score:.2f} >= {self.threshold:g}")
        return GuardrailVerdict(self.name, "allow")


def default_input_checks() -> tuple[Check, ...]:
    """Injection heuristics, harmful topics, then PII masking: all deterministic, microseconds a call."""
    return (InjectionHeuristics(), HarmfulTopics(), PIIFilter())


def default_output_checks(*, canaries: Sequence[str] = (), system_prompt: str | None = None) -> tuple[Check, ...]:
    """Leakage (when given a canary or the system prompt), PII masking, and a refusal flag."""
    leak: tuple[Check, ...] = (Leakage(tuple(canaries), system_prompt),) if canaries or system_prompt else ()
    return (*leak, PIIFilter(), RefusalFlag())


# --- the guardrail -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Guardrail:
    """Input and output checks with one policy for a check that errors: ``fail="closed"`` blocks (default),
    ``fail="open"`` allows. ``refusal`` is the message an application returns for a blocked text."""

    input_checks: tuple[Check | AsyncCheck, ...] = field(default_factory=default_input_checks)
    output_checks: tuple[Check | AsyncCheck, ...] = ()
    fail: Literal["closed", "open"] = "closed"
    on_block: Callable[[GuardrailDecision], None] | None = None
    refusal: str = "I can't help with that request."
    trace: bool = True

    def __post_init__(self) -> None:
        if self.fail not in ("closed", "open"):
            raise GuardrailError(f"Guardrail fail must be 'closed' or 'open', got {self.fail!r}")
        for c in (*self.input_checks, *self.output_checks):
            if not isinstance(c, (Check, AsyncCheck)) or not getattr(c, "name", ""):
                raise GuardrailError(f"{c!r} is not a guardrail check: it needs a name and check() or acheck()")

    def check_input(self, text: str) -> GuardrailDecision:
        """Check a user's text (or a retrieved document) before it reaches the model."""
        return self._run_sync("input", self.input_checks, text, None)

    def check_output(self, text: str, *, prompt: str | None = None) -> GuardrailDecision:
        """Check the model's reply (to ``prompt``) before it reaches the user."""
        return self._run_sync("output", self.output_checks, text, prompt)

    async def acheck_input(self, text: str) -> GuardrailDecision:
        """``check_input`` with async checks (judges) allowed."""
        return await self._run_async("input", self.input_checks, text, None)

    async def acheck_output(self, text: str, *, prompt: str | None = None) -> GuardrailDecision:
        """``check_output`` with async checks (judges) allowed."""
        return await self._run_async("output", self.output_checks, text, prompt)

    def _run_sync(self, stage: Stage, checks: Sequence[Any], text: str, prompt: str | None) -> GuardrailDecision:
        if any(not isinstance(c, Check) for c in checks):
            raise GuardrailError(f"the {stage} checks include an async check; call acheck_{stage}()")
        t0, verdicts = time.perf_counter(), _Verdicts(text)
        for c in checks:
            try:
                v = c.check(verdicts.text, prompt)
            except Exception as exc:  # noqa: BLE001 - a check's failure is the configured verdict, never a crash
                v = self._errored(c.name, exc)
            if verdicts.add(v):
                break
        return self._decide(stage, text, verdicts, t0)

    async def _run_async(self, stage: Stage, checks: Sequence[Any], text: str, prompt: str | None) -> GuardrailDecision:
        t0, verdicts = time.perf_counter(), _Verdicts(text)
        for c in checks:
            try:
                v = await c.acheck(verdicts.text, prompt) if isinstance(c, AsyncCheck) else c.check(verdicts.text, prompt)
            except Exception as exc:  # noqa: BLE001 - see _run_sync
                v = self._errored(c.name, exc)
            if verdicts.add(v):
                break
        return self._decide(stage, text, verdicts, t0)

    def _errored(self, name: str, exc: Exception) -> GuardrailVerdict:
        log.warning("guardrail check %s errored (%s: %s); failing %s", name, type(exc).__name__, exc, self.fail)
        return GuardrailVerdict(name, "block" if self.fail == "closed" else "allow",
                       f"check {name} errored ({type(exc).__name__}: {exc}); failing {self.fail}", error=True)

    def _decide(self, stage: Stage, original: str, run: _Verdicts, t0: float) -> GuardrailDecision:
        verdicts, current = run.verdicts, run.text
        blocks = [v for v in verdicts if v.action == "block"]
        redacts = [v for v in verdicts if v.action == "redact"]
        action: Action = "block" if blocks else "redact" if redacts else "allow"
        reason = "; ".join(f"{v.check}: {v.reason}" for v in blocks or redacts) or "no check objected"
        errored = [v for v in verdicts if v.error and v.action == "allow"]
        if errored:  # failing open must still say so
            reason += "; " + "; ".join(v.reason for v in errored)
        decision = GuardrailDecision(stage, action, reason, current if action != "block" else original, tuple(verdicts),
                            round((time.perf_counter() - t0) * 1000, 4))
        if self.trace:
            _span(decision, original)
        if decision.blocked and self.on_block is not None:
            try:
                self.on_block(decision)
            except Exception as exc:  # noqa: BLE001 - a broken sink must not break the application
                log.warning("guardrail on_block callback failed: %s: %s", type(exc).__name__, exc)
        return decision


class _Verdicts:
    """The verdicts so far and the text as redacted so far; ``add`` says whether to stop (a block)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.verdicts: list[GuardrailVerdict] = []

    def add(self, v: GuardrailVerdict) -> bool:
        self.verdicts.append(v)
        if v.action == "redact" and v.text is not None:
            self.text = v.text
        return v.action == "block"


def _span(decision: GuardrailDecision, original: str) -> None:
    import tracing

    with tracing.chain_span(f"guardrail:{decision.stage}", kind="GUARDRAIL", input=original) as span:
        if span.recording:
            span.set_attributes({
                "guardrail.stage": decision.stage, "guardrail.action": decision.action,
                "guardrail.reason": decision.reason, "guardrail.latency_ms": decision.latency_ms,
                "guardrail.checks": [f"{v.check}={v.action}" for v in decision.verdicts],
                "guardrail.errors": list(decision.errors)})
            span.set_output(decision.action if decision.blocked else decision.text)

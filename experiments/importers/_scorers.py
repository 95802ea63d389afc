"""Deterministic scorers with the semantics of the suites they were imported from (openai/evals, promptfoo).

They reuse the harness's scorer base (``experiments.scorers._Scorer``: the 0..1 scale, the missing-output
failures, the result records). An imported openai/evals dataset keeps every ideal answer: its ``reference`` is the
JSON list of them (``["Paris", "paris, france"]``), read back by :func:`ideals`.
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass
from typing import Any

from experiments.scorers import _clip, _Scorer
from judges.results import Result

_PUNCT = set(string.punctuation)


def ideals(reference: str | None) -> list[str]:
    """The ideal answers of an imported openai/evals row (its reference: a JSON list of strings)."""
    if reference is None:
        return []
    try:
        value = json.loads(reference)
    except json.JSONDecodeError:
        return [reference]
    return [str(v) for v in value] if isinstance(value, list) else [reference]


def evals_normalize(s: str) -> str:
    """openai/evals' ``normalize``: lower case, punctuation out, articles out, whitespace collapsed."""
    s = "".join(ch for ch in s.lower() if ch not in _PUNCT)
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def evals_fuzzy_match(a: str, b: str) -> bool:
    """openai/evals' ``fuzzy_match``: either normalised string contains the other (two empties match)."""
    a, b = evals_normalize(a), evals_normalize(b)
    if a == "" or b == "":
        return a == b
    return a in b or b in a


def evals_json_match(sampled: Any, correct: Any) -> bool:
    """openai/evals' ``json_match``: component by component; a missing value never matches."""
    if sampled is None or correct is None:
        return False
    if isinstance(sampled, dict):
        return isinstance(correct, dict) and all(
            evals_json_match(sampled.get(k), correct.get(k)) for k in set(sampled) | set(correct))
    if isinstance(sampled, list):
        return isinstance(correct, list) and len(sampled) == len(correct) and all(
            evals_json_match(s, c) for s, c in zip(sampled, correct, strict=True))
    return bool(sampled == correct)


def _token_f1(prediction: str, answer: str) -> float:
    from collections import Counter

    p, g = evals_normalize(prediction).split(), evals_normalize(answer).split()
    same = sum((Counter(p) & Counter(g)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


@dataclass(frozen=True)
class EvalsMatch(_Scorer):
    """openai/evals ``Match``: 1.0 when the completion starts with one of the ideal answers (no normalisation)."""

    @property
    def judge_name(self) -> str:
        return "evals_match"

    @property
    def criterion(self) -> str:
        return "completion starts with an ideal answer (openai/evals Match)"

    def _score(self, output: str, reference: str | None, case_id: str) -> Result:
        picked = next((i for i in ideals(reference) if output.startswith(i)), None)
        return self._ok(float(picked is not None), "match" if picked is not None else "no_match",
                        f"starts with {_clip(picked)}" if picked is not None else "starts with no ideal answer")


@dataclass(frozen=True)
class EvalsIncludes(_Scorer):
    """openai/evals ``Includes``: 1.0 when an ideal answer occurs in the completion (``ignore_case`` as there)."""

    ignore_case: bool = False

    @property
    def judge_name(self) -> str:
        return "evals_includes"

    @property
    def criterion(self) -> str:
        return "completion includes an ideal answer (openai/evals Includes)"

    def _score(self, output: str, reference: str | None, case_id: str) -> Result:
        hay = output.lower() if self.ignore_case else output
        # as get_answer: an empty ideal finds an empty slice, which does not count
        hit = next((i for i in ideals(reference) if i and (i.lower() if self.ignore_case else i) in hay), None)
        return self._ok(float(hit is not None), "match" if hit is not None else "no_match",
                        f"includes {_clip(hit)}" if hit is not None else "includes no ideal answer")


@dataclass(frozen=True)
class EvalsFuzzyMatch(_Scorer):
    """openai/evals ``FuzzyMatch``: 1.0 when the normalised completion and an ideal contain one another; the
    token F1 against the best ideal (its second metric) is kept in the details."""

    @property
    def judge_name(self) -> str:
        return "evals_fuzzy_match"

    @property
    def criterion(self) -> str:
        return "completion and an ideal answer contain one another, normalised (openai/evals FuzzyMatch)"

    def _score(self, output: str, reference: str | None, case_id: str) -> Result:
        answers = ideals(reference)
        hit = any(evals_fuzzy_match(output, a) for a in answers)
        f1 = max((_token_f1(output, a) for a in answers), default=0.0)
        return self._ok(float(hit), "match" if hit else "no_match",
                        f"fuzzy {'match' if hit else 'mismatch'}; token F1 {f1:.2f}", f1_score=f1)


@dataclass(frozen=True)
class EvalsJsonMatch(_Scorer):
    """openai/evals ``JsonMatch``: 1.0 when the completion, decoded as JSON, equals an ideal's JSON component by
    component; a completion that is not JSON never matches."""

    @property
    def judge_name(self) -> str:
        return "evals_json_match"

    @property
    def criterion(self) -> str:
        return "completion's JSON equals an ideal answer's (openai/evals JsonMatch)"

    def _score(self, output: str, reference: str | None, case_id: str) -> Result:
        try:
            sampled = json.loads(output)
        except ValueError:
            sampled = None
        try:
            correct = [json.loads(i) for i in ideals(reference)]
        except ValueError as exc:
            return self._fail(f"case {case_id!r}: an ideal answer is not JSON ({exc}); JsonMatch needs JSON ideals")
        hit = any(evals_json_match(sampled, c) for c in correct)
        why = "not JSON" if sampled is None else ("equals an ideal answer" if hit else "differs from every ideal")
        return self._ok(float(hit), "match" if hit else "no_match", why)


def case_assertions(reference: str | None) -> list[dict[str, Any]]:
    """The promptfoo assertions an imported case carries (its reference: ``{"assert": [...]}`` as JSON)."""
    if not reference:
        return []
    try:
        value = json.loads(reference)
    except json.JSONDecodeError:
        return []
    found = value.get("assert") if isinstance(value, dict) else None
    return [a for a in found if isinstance(a, dict)] if isinstance(found, list) else []


def _contains_json(output: str, _: Any) -> bool:
    decoder = json.JSONDecoder()
    for i, ch in enumerate(output):
        if ch in "{[":
            try:
                decoder.raw_decode(output[i:])
                return True
            except ValueError:
                continue
    return False


def _is_json(output: str, _: Any) -> bool:
    try:
        json.loads(output)
    except ValueError:
        return False
    return True


def _regex(output: str, value: Any) -> bool:
    return re.search(str(value), output) is not None


CHECKS = {
    "equals": lambda out, v: out == (v if isinstance(v, str) else json.dumps(v)),
    "contains": lambda out, v: str(v) in out,
    "icontains": lambda out, v: str(v).lower() in out.lower(),
    "starts-with": lambda out, v: out.startswith(str(v)),
    "regex": _regex,
    "is-json": _is_json,
    "contains-json": _contains_json,
}
#: promptfoo's default threshold of ``similar``
SIMILAR_THRESHOLD = 0.75


@dataclass(frozen=True)
class PromptfooAsserts(_Scorer):
    """A promptfoo test's deterministic assertions, read from the case (``equals``, ``contains``, ``icontains``,
    ``regex``, ``starts-with``, ``is-json``, ``contains-json``, ``similar``, each also as ``not-<type>``).

    The score is the share of assertions that hold; the label is ``pass`` only when all hold (promptfoo's test
    verdict), so a suite threshold of 1.0 passes a case exactly when promptfoo would. Model-graded assertions in
    the same list are left to their :class:`ChoiceJudge`.
    """

    model_path: str | None = None

    @property
    def judge_name(self) -> str:
        return "promptfoo_asserts"

    @property
    def criterion(self) -> str:
        return "every promptfoo assertion of the test holds"

    def _score(self, output: str, reference: str | None, case_id: str) -> Result:
        checks = [a for a in case_assertions(reference)
                  if str(a.get("type", "")).removeprefix("not-") in (*CHECKS, "similar")]
        if not checks:  # promptfoo passes a test without assertions; said, not silent
            return self._ok(1.0, "pass", "this test has no deterministic assertion (its model-graded ones are "
                            "judged apart)", assertions=[])
        results = []
        for a in checks:
            kind = str(a["type"])
            negate, base = kind.startswith("not-"), kind.removeprefix("not-")
            if base == "similar":
                from experiments.scorers import _embed

                vectors = _embed(self.model_path, [output, str(a.get("value", ""))])
                sim = float(vectors[0] @ vectors[1])
                ok = sim >= float(a.get("threshold", SIMILAR_THRESHOLD))
            else:
                try:
                    ok = bool(CHECKS[base](output, a.get("value")))
                except re.error as exc:
                    return self._fail(f"case {case_id!r}: regex {a.get('value')!r} does not compile ({exc})")
            results.append({"type": kind, "value": a.get("value"), "pass": ok != negate})
        passed = sum(bool(r["pass"]) for r in results)
        failed = [f"{r['type']} {_clip(str(r['value']))}" for r in results if not r["pass"]]
        why = "all assertions hold" if not failed else "failed: " + "; ".join(failed)
        return self._ok(passed / len(results), "pass" if not failed else "fail", why, assertions=results)


@dataclass(frozen=True)
class StringCheck(_Scorer):
    """A hosted OpenAI Evals ``string_check`` grader: ``eq``, ``ne``, ``like`` (the output contains the reference)
    or ``ilike`` (the same, ignoring case). The reference is ``value`` when given, else the case's reference."""

    operation: str
    value: str | None = None

    def __post_init__(self) -> None:
        if self.operation not in ("eq", "ne", "like", "ilike"):
            raise ValueError(f"StringCheck(operation={self.operation!r}): use eq, ne, like or ilike")

    def _needs_reference(self) -> bool:
        return self.value is None

    @property
    def judge_name(self) -> str:
        return f"string_check:{self.operation}" + (f":{self.value}" if self.value is not None else "")

    @property
    def criterion(self) -> str:
        return f"output {self.operation} {'the reference' if self.value is None else repr(self.value)}"

    def _score(self, output: str, reference: str | None, case_id: str) -> Result:
        ref = self.value if self.value is not None else reference
        assert ref is not None
        ok = {"eq": output == ref, "ne": output != ref, "like": ref in output,
              "ilike": ref.lower() in output.lower()}[self.operation]
        return self._ok(float(ok), "pass" if ok else "fail", f"{self.operation} {_clip(ref)}: {'pass' if ok else 'fail'}")

"""Deterministic scorers behind the judge seam: string, token and JSON checks, and embedding similarity.

    from experiments.scorers import TokenF1
    result = await TokenF1().judge(None, Case("1", "capital of France?", output="Paris", expected="Paris"))

Each scorer is a frozen config with ``judge(client, case)`` like an LLM judge; the client is ignored.
A case that cannot be scored (no output, no reference for a scorer that needs one) gives a
``JudgeFailure`` naming the case, never a silent 0.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import string
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from judges.case import Case
from judges.results import JudgeFailure, Judgement, Result

__all__ = ["Contains", "ExactMatch", "JsonValid", "Regex", "RougeL", "SemanticSimilarity", "TokenF1"]

_MODEL = "deterministic"
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def _normalize(text: str) -> str:
    """SQuAD's normalize_answer: lowercase, drop punctuation, drop articles, collapse whitespace."""
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION)).split())


def _rouge_tokens(text: str) -> list[str]:
    # Google's rouge-score tokenizer without stemming, so scores agree with the package people cite.
    return _NON_ALNUM.sub(" ", text.lower()).split()


def _clip(text: str, limit: int = 60) -> str:
    return repr(text) if len(text) <= limit else repr(text[: limit - 3] + "...")


def _lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


class _Scorer:
    """What every scorer shares: the 0..1 scale, the checks on the case, and the result records."""

    uses_model: ClassVar[bool] = False

    @property
    def judge_name(self) -> str:
        raise NotImplementedError

    @property
    def metric_name(self) -> str:
        # The key human labels and summaries are filed under; the scorer's name is already that short key.
        return self.judge_name

    @property
    def scale(self) -> tuple[float, float]:
        return (0.0, 1.0)

    def _needs_reference(self) -> bool:
        return True

    async def judge(self, client: object, case: Case) -> Result:
        """Score ``case.output`` (against ``case.expected`` where needed); ``client`` is unused."""
        missing = self._missing(case)
        if missing is not None:
            return missing
        assert case.output is not None
        return self._score(case.output, case.expected, case.id)

    def _missing(self, case: Case) -> JudgeFailure | None:
        if case.output is None:
            return self._fail(f"case {case.id!r} has no output to score with {self.judge_name}; "
                              "run the system under test first or drop the case")
        if self._needs_reference() and case.expected is None:
            return self._fail(f"case {case.id!r} has no reference answer ('expected') for {self.judge_name}; "
                              "add a 'reference' to the dataset row or use a reference-free scorer")
        return None

    def _score(self, output: str, reference: str | None, case_id: str) -> Result:
        raise NotImplementedError

    def _fail(self, reason: str) -> JudgeFailure:
        return JudgeFailure(judge=self.judge_name, judge_model=_MODEL, reason=reason, raw="")

    def _ok(self, score: float, label: str | None, reasoning: str, **details: Any) -> Judgement:
        return Judgement(judge=self.judge_name, judge_model=_MODEL, score=float(score), label=label,
                         reasoning=reasoning, details=details)


@dataclass(frozen=True)
class ExactMatch(_Scorer):
    """1.0 when the output equals the reference, after SQuAD normalisation unless ``normalize=False``."""

    normalize: bool = True

    @property
    def judge_name(self) -> str:
        return "exact_match"

    @property
    def criterion(self) -> str:
        return "exact match with the reference" + (" (normalised)" if self.normalize else "")

    def _score(self, output: str, reference: str | None, case_id: str) -> Result:
        assert reference is not None
        got, want = (_normalize(output), _normalize(reference)) if self.normalize else (output, reference)
        hit = got == want
        why = "output equals the reference" if hit else f"output {_clip(got)} differs from reference {_clip(want)}"
        return self._ok(1.0 if hit else 0.0, "match" if hit else "no_match",
                        why + (" after normalisation" if self.normalize else ""))


@dataclass(frozen=True)
class Contains(_Scorer):
    """1.0 when the output contains ``substring``, or the case's reference when ``substring`` is None."""

    substring: str | None = None
    normalize: bool = True

    def __post_init__(self) -> None:
        if self.substring is not None and not self._prepare(self.substring):
            raise ValueError(f"Contains(substring={self.substring!r}) is empty"
                             + (" after normalisation" if self.normalize else "")
                             + " and would match every output; pass a non-empty substring or normalize=False")

    @property
    def judge_name(self) -> str:
        # A suite may hold several fixed-substring checks; their names must not collide.
        return "contains" if self.substring is None else f"contains:{self.substring}"

    @property
    def criterion(self) -> str:
        return "output contains the reference" if self.substring is None else f"output contains {self.substring!r}"

    def _needs_reference(self) -> bool:
        return self.substring is None

    def _prepare(self, text: str) -> str:
        return _normalize(text) if self.normalize else text

    def _score(self, output: str, reference: str | None, case_id: str) -> Result:
        needle_raw = self.substring if self.substring is not None else reference
        assert needle_raw is not None
        needle, hay = self._prepare(needle_raw), self._prepare(output)
        if not needle:
            return self._fail(f"case {case_id!r} has a reference {reference!r} that is empty after normalisation, "
                              "so 'contains' would match anything; fix the reference or use normalize=False")
        hit = needle in hay
        why = f"output {'contains' if hit else 'does not contain'} {_clip(needle)}"
        return self._ok(1.0 if hit else 0.0, "match" if hit else "no_match", why)


@dataclass(frozen=True)
class Regex(_Scorer):
    """1.0 when ``re.search(pattern, output, flags)`` finds a match; no reference needed."""

    pattern: str
    name: str | None = None
    flags: int = 0
    _compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            compiled = re.compile(self.pattern, self.flags)
        except (re.error, TypeError, ValueError) as exc:
            raise ValueError(f"Regex pattern {self.pattern!r} (flags={self.flags!r}) does not compile: {exc}; "
                             "fix the pattern (escape literal text with re.escape)") from exc
        object.__setattr__(self, "_compiled", compiled)

    def _needs_reference(self) -> bool:
        return False

    @property
    def judge_name(self) -> str:
        return f"regex:{self.name or self.pattern}"

    @property
    def criterion(self) -> str:
        return f"output matches the regular expression {self.pattern!r}"

    def _score(self, output: str, reference: str | None, case_id: str) -> Result:
        m = self._compiled.search(output)
        if m is None:
            return self._ok(0.0, "no_match", f"no match for {_clip(self.pattern)} in the output", match=None)
        return self._ok(1.0, "match", f"{_clip(self.pattern)} matched {_clip(m.group(0))} at {m.start()}",
                        match=m.group(0), span=list(m.span()))


@dataclass(frozen=True)
class TokenF1(_Scorer):
    """SQuAD token F1: overlap of the normalised output and reference tokens, counting repeats."""

    @property
    def judge_name(self) -> str:
        return "token_f1"

    @property
    def criterion(self) -> str:
        return "token F1 against the reference"

    def _score(self, output: str, reference: str | None, case_id: str) -> Result:
        assert reference is not None
        pred, gold = _normalize(output).split(), _normalize(reference).split()
        if not pred or not gold:
            # SQuAD's rule: an empty answer is right only when the reference is empty too.
            f1 = float(pred == gold)
            return self._ok(f1, None, f"F1 {f1:.2f}: {len(pred)} output and {len(gold)} reference tokens",
                            precision=f1, recall=f1, common=0, output_tokens=len(pred), reference_tokens=len(gold))
        common = sum((Counter(pred) & Counter(gold)).values())
        precision, recall = common / len(pred), common / len(gold)
        f1 = 0.0 if common == 0 else 2 * precision * recall / (precision + recall)
        return self._ok(f1, None, f"F1 {f1:.2f}: {common} of {len(gold)} reference tokens found "
                        f"in {len(pred)} output tokens", precision=precision, recall=recall, common=common,
                        output_tokens=len(pred), reference_tokens=len(gold))


@dataclass(frozen=True)
class RougeL(_Scorer):
    """ROUGE-L F-measure (longest common subsequence, beta=1) on lowercase word tokens, as rouge-score."""

    @property
    def judge_name(self) -> str:
        return "rouge_l"

    @property
    def criterion(self) -> str:
        return "ROUGE-L F-measure against the reference"

    def _score(self, output: str, reference: str | None, case_id: str) -> Result:
        assert reference is not None
        pred, gold = _rouge_tokens(output), _rouge_tokens(reference)
        if not gold:
            # rouge-score would return 0 here, but a reference without words cannot be compared against.
            return self._fail(f"case {case_id!r} has a reference {reference!r} with no word tokens, so ROUGE-L "
                              "is undefined; fix the reference or use exact_match")
        lcs = _lcs_length(pred, gold)
        precision = lcs / len(pred) if pred else 0.0
        recall = lcs / len(gold)
        f = 0.0 if lcs == 0 else 2 * precision * recall / (precision + recall)
        return self._ok(f, None, f"ROUGE-L {f:.2f}: longest common subsequence {lcs} of {len(gold)} reference "
                        f"and {len(pred)} output tokens", precision=precision, recall=recall, lcs=lcs,
                        output_tokens=len(pred), reference_tokens=len(gold))


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity; JSON (RFC 8259) does not, and other parsers reject them.
    raise ValueError(f"{name} is not valid JSON")


def _jsonschema() -> Any:
    try:
        import jsonschema
    except ImportError as exc:
        raise ImportError("JsonValid(schema=...) needs the jsonschema package; install it with "
                          "`pip install jsonschema`, or pass schema=None to check only that the output parses") from exc
    return jsonschema


@dataclass(frozen=True)
class JsonValid(_Scorer):
    """1.0 when the output parses as JSON and, given a ``schema``, validates against it (needs jsonschema)."""

    schema: Mapping[str, Any] | None = None
    _validator: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        validator = None
        if self.schema is not None:
            jsonschema = _jsonschema()
            try:
                cls = jsonschema.validators.validator_for(self.schema)
                cls.check_schema(self.schema)
            except (jsonschema.exceptions.SchemaError, TypeError, AttributeError) as exc:
                detail = getattr(exc, "message", str(exc))
                raise ValueError(f"JsonValid schema {self.schema!r} is not a valid JSON Schema: {detail}; "
                                 "fix the schema (check it with jsonschema's check_schema)") from exc
            validator = cls(self.schema)
        object.__setattr__(self, "_validator", validator)

    def _needs_reference(self) -> bool:
        return False

    @property
    def judge_name(self) -> str:
        return "json_valid"

    @property
    def criterion(self) -> str:
        return "output is valid JSON" + (" matching the schema" if self.schema is not None else "")

    def _score(self, output: str, reference: str | None, case_id: str) -> Result:
        try:
            value = json.loads(output, parse_constant=_reject_constant)
        except (json.JSONDecodeError, ValueError) as exc:
            return self._ok(0.0, "invalid_json", f"output is not JSON: {exc}", error=str(exc))
        if self._validator is None:
            return self._ok(1.0, "valid", "output parses as JSON")
        errors = list(self._validator.iter_errors(value))
        if not errors:
            return self._ok(1.0, "valid", "output parses as JSON and matches the schema")
        first = _jsonschema().exceptions.best_match(errors)
        where = "/".join(str(p) for p in first.absolute_path) or "(root)"
        return self._ok(0.0, "schema_mismatch", f"schema violation at {where}: {first.message}",
                        error=first.message, path=where, n_errors=len(errors))


@functools.lru_cache(maxsize=4)
def _embedder(model_path: str | None) -> Any:
    """One embedder per model path per process, so a suite loads the model once, not once per case."""
    from embed import TextEmbedder  # torch stays unloaded until a similarity is asked for

    return TextEmbedder(model_path)


# lru_cache does not stop concurrent first calls from each loading the model, and a suite starts many
# cases at once; torch already uses every core per call, so serialising embeds costs little.
_EMBED_LOCK = threading.Lock()


def _embed(model_path: str | None, texts: list[str]) -> Any:
    with _EMBED_LOCK:
        return _embedder(model_path).embed(texts)


@dataclass(frozen=True)
class SemanticSimilarity(_Scorer):
    """Cosine similarity of output and reference embeddings (offline MiniLM), clipped to [0, 1]."""

    model_path: str | None = None

    @property
    def judge_name(self) -> str:
        return "semantic_similarity"

    @property
    def criterion(self) -> str:
        return "embedding cosine similarity to the reference"

    async def judge(self, client: object, case: Case) -> Result:
        """Embed output and reference off the event loop and score their cosine similarity."""
        missing = self._missing(case)
        if missing is not None:
            return missing
        # The model forward pass blocks for tens of milliseconds; keep the event loop free for LLM judges.
        assert case.output is not None and case.expected is not None
        vectors = await asyncio.to_thread(_embed, self.model_path, [case.output, case.expected])
        cosine = float(vectors[0] @ vectors[1])  # the embedder returns unit vectors
        score = min(1.0, max(0.0, cosine))
        return self._ok(score, None, f"cosine similarity {cosine:.2f} between output and reference embeddings",
                        cosine=cosine)

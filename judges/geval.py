"""G-Eval: generated evaluation steps, a form-filling prompt, and a probability-weighted score.

Steps are generated once per (criterion, judge model), stored as JSON with a content hash, and reused
for every case; a rerun reads them from disk. The score is sum(p(s) * s) over the valid labels,
renormalised, and the result records where the probabilities came from.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, replace
from pathlib import Path

from judges._judge import case_block, judge_fingerprint, scale_labels, to_result
from judges._labels import LabelQuery, ask_label
from judges.abstention import AbstainBand
from judges.calibration import IsotonicMap, content_free_cases, content_free_prior
from judges.case import Case
from judges.client import ModelClient
from judges.errors import JudgeError
from judges.results import JudgeFailure, Result
from judges.types import Message, ModelRequest
from tracing.project import project_path, resolve

STEPS_PROMPT_VERSION = "1"
_STEP_LINE = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+(.+)$")


def steps_dir() -> Path:
    """``$EVALHARNESS_STEPS_DIR``, else ``geval_steps`` in the project's cache folder (tracing.project)."""
    chosen = os.environ.get("EVALHARNESS_STEPS_DIR")
    return resolve(chosen) if chosen else project_path("cache_dir") / "geval_steps"


@functools.lru_cache(maxsize=256)
def _steps_key(name: str, criterion: str, scale: tuple[int, ...], model: str) -> str:
    """The steps file's key (a hash of what the steps depend on): computed once, not per judged case."""
    payload = json.dumps([STEPS_PROMPT_VERSION, name, criterion, list(scale), model])
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=256)
def _pinned_steps(name: str, model: str, steps: tuple[str, ...], key: str) -> EvaluationSteps:
    return EvaluationSteps(name, model, steps, key)


@dataclass(frozen=True)
class EvaluationSteps:
    criterion: str
    model: str
    steps: tuple[str, ...]
    version: str  # sha256 of what the steps were generated from

    def to_dict(self) -> dict[str, object]:
        return {"criterion": self.criterion, "model": self.model, "steps": list(self.steps), "version": self.version}


def parse_steps(text: str) -> tuple[str, ...]:
    """Numbered or bulleted lines of ``text``; plain non-empty lines when there are none."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    steps = [m.group(1).strip() for ln in lines if (m := _STEP_LINE.match(ln))]
    return tuple((steps or lines)[:8])


_locks: dict[str, asyncio.Lock] = {}
_memo: dict[str, EvaluationSteps] = {}


@dataclass(frozen=True)
class GEval:
    """G-Eval on one criterion. Give ``evaluation_steps`` to pin them; otherwise they are generated once.

    ``contextual``, ``calibration`` and ``abstain`` work as on ``PointwiseJudge``.
    """

    name: str
    criterion: str
    evaluation_steps: tuple[str, ...] | None = None
    scale: tuple[int, int] = (1, 5)
    max_parse_retries: int = 2
    max_entropy_bits: float | None = 1.5
    explain: bool = False
    contextual: bool = False
    calibration: IsotonicMap | None = None
    abstain: AbstainBand | None = None

    @property
    def judge_name(self) -> str:
        return f"geval:{self.name}"

    @property
    def metric_name(self) -> str:
        return self.name

    uses_model = True

    def steps_key(self, model: str) -> str:
        return _steps_key(self.name, self.criterion, tuple(self.scale), model)

    async def steps(self, client: ModelClient) -> EvaluationSteps:
        """The evaluation steps for this criterion and the client's model (generated on first use, then read)."""
        model = client.info.model
        key = self.steps_key(model)
        if self.evaluation_steps:
            return _pinned_steps(self.name, model, tuple(self.evaluation_steps), key)
        if key in _memo:
            return _memo[key]
        lock = _locks.setdefault(key, asyncio.Lock())
        async with lock:
            if key in _memo:
                return _memo[key]
            path = steps_dir() / f"{self.name}-{key}.json"
            if path.is_file():
                d = json.loads(path.read_text())
                found = EvaluationSteps(d["criterion"], d["model"], tuple(d["steps"]), d["version"])
            else:
                found = await self._generate(client, key)
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text(json.dumps({**found.to_dict(), "created": time.time()}, indent=2))
                tmp.replace(path)  # atomic, so parallel workers never read half a file
            _memo[key] = found
            return found

    async def _generate(self, client: ModelClient, key: str) -> EvaluationSteps:
        lo, hi = self.scale
        prompt = (
            f"You will evaluate a response for {self.name}.\n"
            f"Evaluation criterion:\n{self.criterion}\n\n"
            f"Write 3 to 5 concise evaluation steps an expert would follow to score {self.name} "
            f"from {lo} to {hi}. Number the steps."
        )
        out = await client.complete(
            ModelRequest([Message("user", prompt), Message("assistant", "Evaluation steps:\n1.")], max_tokens=120, stop=("\n\n",))
        )
        steps = parse_steps("1." + out.text)
        if not steps:
            raise JudgeError(
                f"G-Eval could not read evaluation steps for {self.name!r} from {client.info.model}: {out.text[:200]!r}; "
                "pass evaluation_steps=(...) to pin them"
            )
        return EvaluationSteps(self.name, client.info.model, steps, key)

    def prompt(self, case: Case, steps: EvaluationSteps) -> str:
        lo, hi = self.scale
        numbered = "\n".join(f"{i}. {s}" for i, s in enumerate(steps.steps, 1))
        return (
            f"You will be given a response to evaluate for {self.name}.\n\n"
            f"Evaluation criterion:\n{self.criterion} (score {lo} to {hi})\n\n"
            f"Evaluation steps:\n{numbered}\n\n{case_block(case)}\n\n"
            f"Evaluation form (score only):"
        )

    def query(self, case: Case, steps: EvaluationSteps) -> LabelQuery:
        """The form-filling question about ``case``, with the scale's labels after "- <name>:"."""
        labels, _ = scale_labels(self.scale)
        return LabelQuery(self.prompt(case, steps), f"- {self.name}:", labels, explain=self.explain)

    async def prior(self, client: ModelClient, steps: EvaluationSteps) -> dict[str, float]:
        """The judge's label prior on this model, from content-free inputs (memoised per process)."""
        plain = replace(self, contextual=False, calibration=None, abstain=None, explain=False)
        queries = [plain.query(c, steps) for c in content_free_cases("pointwise")]
        return await content_free_prior(client, f"{judge_fingerprint(plain)}:{steps.version}", queries,
                                        max_parse_retries=self.max_parse_retries)

    async def judge(self, client: ModelClient, case: Case) -> Result:
        try:
            steps = await self.steps(client)
        except JudgeError as exc:
            return JudgeFailure(self.judge_name, client.info.model, str(exc))
        _, values = scale_labels(self.scale)
        answer = await ask_label(client, self.query(case, steps), max_parse_retries=self.max_parse_retries)
        try:
            prior = await self.prior(client, steps) if self.contextual and answer.probs is not None else None
        except JudgeError as exc:
            return JudgeFailure(self.judge_name, client.info.model, str(exc), answer.raw, answer.attempts,
                                calls=answer.calls)
        return to_result(
            self.judge_name,
            client,
            answer,
            values,
            max_entropy_bits=self.max_entropy_bits,
            details={"steps_version": steps.version},
            prior=prior,
            calibration=self.calibration,
            abstain=self.abstain,
        )

"""Agent trajectories read from stored spans, and the metrics on them; nothing here re-runs the agent.

A trajectory is the agent's TOOL spans in start order (tool name from ``tool.name``, arguments from the
span's JSON ``input.value``, failure from its status), under the first AGENT span when the trace has one.
Pure functions compare it with an expected trajectory (``tool_match`` in strict / unordered / subset /
superset mode, ``argument_match``, ``step_efficiency``) and find loops and repeated failing calls; the
scorers put them behind the judge seam (they read ``case.metadata["spans"]`` and
``case.metadata["expected_trajectory"]``). ``TrajectoryJudge`` asks a model about the whole path.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from judges._judge import NamedJudge, low_confidence_flags, scale_labels
from judges._labels import LabelQuery, ask_label
from judges.case import Case
from judges.client import ModelClient
from judges.results import CallAccount, JudgeFailure, Judgement, Result
from judges.scoring import weighted_score
from tracing.span_tree import SpanTree, span_nodes

MatchMode = Literal["strict", "unordered", "subset", "superset"]
_MODES = ("strict", "unordered", "subset", "superset")
_DETERMINISTIC = "deterministic"  # the judge_model of a verdict no model gave (as experiments.scorers)


@dataclass(frozen=True)
class ToolStep:
    """One tool call of the agent, as its TOOL span recorded it."""

    tool: str
    arguments: Mapping[str, Any]
    ok: bool
    output: str | None = None
    error: str | None = None
    span_id: str = ""

    def key(self) -> str:
        return f"{self.tool}({json.dumps(_normalise(self.arguments), sort_keys=True)})"


@dataclass(frozen=True)
class Trajectory:
    """The agent's tool calls in order, how many model (LLM) steps it took, and spans whose parent is missing."""

    steps: tuple[ToolStep, ...]
    llm_steps: int = 0
    orphans: tuple[str, ...] = ()
    final_output: str | None = None

    @property
    def tools(self) -> list[str]:
        return [s.tool for s in self.steps]


def _arguments(raw: Any) -> dict[str, Any]:
    if isinstance(raw, Mapping):
        return dict(raw)
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            return {"input": raw}
        return dict(value) if isinstance(value, Mapping) else {"input": value}
    return {}


def trajectory_from_spans(spans: Sequence[Mapping[str, Any]] | SpanTree) -> Trajectory:
    """The trajectory of the (first) agent in ``spans`` (span dicts from Phoenix or the run's own trace)."""
    tree = spans if isinstance(spans, SpanTree) else span_nodes(spans)
    agents = tree.of_kind("AGENT")
    nodes = list(tree.nodes)
    final = None
    orphans = tree.orphans
    if agents:
        root = agents[0]
        final = root.output
        # the agent's own parent may lie outside the stored spans (the eval's task span): that is no gap
        orphans = tuple(o for o in orphans if o != root.span_id)
        below = {root.span_id} | {o for o in orphans if (tree.by_id(o) or root).trace_id == root.trace_id}
        for n in nodes:  # start order: a parent starts before its children
            if n.parent_id in below:
                below.add(n.span_id)
        nodes = [n for n in nodes if n.span_id in below and n.span_id != root.span_id]
    steps = tuple(
        ToolStep(tool=str(n.attribute("tool.name") or n.name), arguments=_arguments(n.input),
                 ok=n.status != "ERROR", output=n.output, error=n.status_message or None if n.status == "ERROR" else None,
                 span_id=n.span_id)
        for n in nodes if n.kind == "TOOL")
    return Trajectory(steps, sum(1 for n in nodes if n.kind == "LLM"), orphans, final)


def _normalise(value: Any) -> Any:
    """Arguments compared as people read them: numbers as floats, text case- and space-insensitive."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = " ".join(value.lower().split())
        try:
            return float(text)
        except ValueError:
            return text
    if isinstance(value, Mapping):
        return {str(k): _normalise(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normalise(v) for v in value]
    return value


def tool_match(actual: Sequence[str], expected: Sequence[str], mode: MatchMode = "strict") -> bool:
    """Whether the called tools match the expected ones.

    strict: same calls in the same order; unordered: same calls, any order; subset: every call made is
    an expected one (nothing extra; some may be missing); superset: every expected call was made (extras allowed).
    Calls are counted with multiplicity.
    """
    if mode not in _MODES:
        raise ValueError(f"mode {mode!r} is not one of {_MODES}")
    if mode == "strict":
        return list(actual) == list(expected)
    a, e = Counter(actual), Counter(expected)
    if mode == "unordered":
        return a == e
    if mode == "subset":
        return not (a - e)
    return not (e - a)


def argument_match(steps: Sequence[ToolStep], expected: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each expected call paired with the first unused call of the same tool; ``match`` when the arguments
    the expected call names are equal (after normalising). An expected call that was never made does not match."""
    used: set[int] = set()
    out: list[dict[str, Any]] = []
    for exp in expected:
        i = next((j for j, s in enumerate(steps) if j not in used and s.tool == exp["tool"]), None)
        want = _normalise(dict(exp.get("arguments") or {}))
        if i is None:
            out.append({"tool": exp["tool"], "expected": exp.get("arguments") or {}, "actual": None, "match": False})
            continue
        used.add(i)
        got = _normalise(dict(steps[i].arguments))
        ok = all(got.get(k) == v for k, v in want.items())
        out.append({"tool": exp["tool"], "expected": exp.get("arguments") or {}, "actual": dict(steps[i].arguments),
                    "match": ok, "step": i})
    return out


def step_efficiency(expected_steps: int, taken: int) -> float:
    """Expected steps over steps taken, capped at 1 (0 when the agent took none)."""
    if expected_steps < 0 or taken < 0:
        raise ValueError(f"step counts must be >= 0, got expected={expected_steps}, taken={taken}")
    return 0.0 if taken == 0 else min(1.0, expected_steps / taken)


def find_loops(steps: Sequence[ToolStep], min_repeats: int = 3) -> list[dict[str, Any]]:
    """Calls made ``min_repeats`` or more times in a row with the same arguments."""
    loops: list[dict[str, Any]] = []
    i = 0
    while i < len(steps):
        j = i
        while j + 1 < len(steps) and steps[j + 1].key() == steps[i].key():
            j += 1
        if j - i + 1 >= min_repeats:
            loops.append({"call": steps[i].key(), "first_step": i, "repeats": j - i + 1})
        i = j + 1
    return loops


def repeated_failures(steps: Sequence[ToolStep], min_repeats: int = 2) -> list[dict[str, Any]]:
    """The same call (tool and arguments) failing ``min_repeats`` or more times."""
    fails = Counter(s.key() for s in steps if not s.ok)
    return [{"call": k, "failures": n} for k, n in fails.items() if n >= min_repeats]


def _expected(case: Case) -> list[dict[str, Any]] | str:
    exp = case.metadata.get("expected_trajectory")
    if exp is None:
        return f"case {case.id!r} has no expected_trajectory"
    tools = case.metadata.get("tools")
    unknown = sorted({c["tool"] for c in exp} - set(tools)) if tools else []
    if unknown:
        return f"case {case.id!r}: expected_trajectory names unknown tools {unknown} (tools: {tools})"
    return [dict(c) for c in exp]


def _trajectory(case: Case) -> Trajectory | str:
    spans = case.metadata.get("spans")
    if not spans:
        return f"case {case.id!r} has no spans to read a trajectory from (metadata['spans'])"
    try:
        return trajectory_from_spans(spans)
    except Exception as exc:  # noqa: BLE001 - a malformed stored trace is this case's failure, not the run's
        return f"case {case.id!r}: cannot read its spans: {exc}"


def _health(t: Trajectory) -> tuple[tuple[str, ...], dict[str, Any]]:
    loops, fails = find_loops(t.steps), repeated_failures(t.steps)
    flags = (("loop",) if loops else ()) + (("repeated_failure",) if fails else ()) + (("orphan_spans",) if t.orphans else ())
    return flags, {"actual": [s.key() for s in t.steps], "loops": loops, "repeated_failures": fails,
                   "orphans": list(t.orphans), "llm_steps": t.llm_steps}


@dataclass(frozen=True)
class TrajectoryMatch:
    """1 when the called tools match the expected trajectory in ``mode``, else 0 (deterministic).

    ``arguments=True`` compares calls with their arguments, not tool names alone.
    """

    mode: MatchMode = "strict"
    arguments: bool = False
    scale: tuple[float, float] = (0.0, 1.0)
    uses_model = False

    def __post_init__(self) -> None:
        if self.mode not in _MODES:
            raise ValueError(f"TrajectoryMatch mode {self.mode!r} is not one of {_MODES}")

    @property
    def judge_name(self) -> str:
        return f"trajectory_{self.mode}" + ("_args" if self.arguments else "")

    @property
    def metric_name(self) -> str:
        return "trajectory match"

    async def judge(self, client: ModelClient, case: Case) -> Result:
        exp, t = _expected(case), _trajectory(case)
        if isinstance(exp, str) or isinstance(t, str):
            return JudgeFailure(self.judge_name, _DETERMINISTIC, exp if isinstance(exp, str) else str(t))
        if self.arguments:
            actual = [s.key() for s in t.steps]
            wanted = [ToolStep(c["tool"], c.get("arguments") or {}, True).key() for c in exp]
        else:
            actual, wanted = t.tools, [c["tool"] for c in exp]
        ok = tool_match(actual, wanted, self.mode)
        flags, details = _health(t)
        return Judgement(self.judge_name, _DETERMINISTIC, 1.0 if ok else 0.0, label="match" if ok else "mismatch", flags=flags,
                         details={**details, "expected": wanted, "mode": self.mode})


@dataclass(frozen=True)
class ArgumentMatch:
    """The fraction of expected calls made with the expected arguments: exactly (after normalising), or
    as a model judges it (``by="judge"``: P(yes) that the arguments mean the same)."""

    by: Literal["exact", "judge"] = "exact"
    scale: tuple[float, float] = (0.0, 1.0)

    @property
    def uses_model(self) -> bool:
        return self.by == "judge"

    @property
    def judge_name(self) -> str:
        return "argument_match" + ("_judge" if self.by == "judge" else "")

    @property
    def metric_name(self) -> str:
        return "argument match"

    async def judge(self, client: ModelClient, case: Case) -> Result:
        exp, t = _expected(case), _trajectory(case)
        model = client.info.model if self.by == "judge" else _DETERMINISTIC
        if isinstance(exp, str) or isinstance(t, str):
            return JudgeFailure(self.judge_name, model, exp if isinstance(exp, str) else str(t))
        if not exp:
            return JudgeFailure(self.judge_name, model, f"case {case.id!r}: the expected trajectory has no calls")
        pairs = argument_match(t.steps, exp)
        calls = CallAccount()
        if self.by == "judge":
            for p in pairs:
                if p["actual"] is None or p["match"]:
                    continue
                q = LabelQuery(f"Task: {case.input}\nTool: {p['tool']}\nExpected arguments: {json.dumps(p['expected'])}\n"
                               f"Actual arguments: {json.dumps(p['actual'])}\n\nDo the actual arguments ask the tool "
                               "for the same thing as the expected ones? Answer yes or no.", "Answer:", ("yes", "no"),
                               explain=False)
                ans = await ask_label(client, q)
                calls.merge(ans.calls)
                if ans.probs is None:
                    return JudgeFailure(self.judge_name, model, ans.error or "no verdict", ans.raw, calls=calls)
                p["match"] = ans.probs.get("yes", 0.0)
        score = sum(float(p["match"]) for p in pairs) / len(pairs)
        return Judgement(self.judge_name, model, score, calls=calls, details={"calls": pairs})


@dataclass(frozen=True)
class StepEfficiency(NamedJudge):
    """Expected steps (the expected trajectory's length) over the tool calls the agent made, capped at 1."""

    scale: tuple[float, float] = (0.0, 1.0)
    uses_model = False
    name: ClassVar[str] = "step_efficiency"

    async def judge(self, client: ModelClient, case: Case) -> Result:
        exp, t = _expected(case), _trajectory(case)
        if isinstance(exp, str) or isinstance(t, str):
            return JudgeFailure(self.judge_name, _DETERMINISTIC, exp if isinstance(exp, str) else str(t))
        flags, details = _health(t)
        return Judgement(self.judge_name, _DETERMINISTIC, step_efficiency(len(exp), len(t.steps)), flags=flags,
                         details={**details, "expected_steps": len(exp), "taken": len(t.steps)})


@dataclass(frozen=True)
class TrajectoryJudge:
    """An LLM judge of the whole path: were the right tools called, with sensible arguments, to reach the outcome?"""

    scale: tuple[int, int] = (1, 5)
    max_entropy_bits: float | None = 1.5
    uses_model = True

    @property
    def judge_name(self) -> str:
        return "trajectory_judge"

    @property
    def metric_name(self) -> str:
        return "trajectory quality"

    def prompt(self, case: Case, t: Trajectory) -> str:
        lo, hi = self.scale
        lines = [f"{i}. {s.key()} -> {s.output if s.ok else 'ERROR: ' + str(s.error)}" for i, s in enumerate(t.steps, 1)]
        exp = case.metadata.get("expected_trajectory")
        return (f"Task given to an agent: {case.input}\nTools available: {', '.join(case.metadata.get('tools') or [])}\n"
                f"Expected outcome: {case.expected or '(not given)'}\n"
                + (f"A good path: {', '.join(c['tool'] for c in exp)}\n" if exp else "")
                + "\nThe agent's steps:\n" + ("\n".join(lines) or "(no tool calls)")
                + f"\nFinal answer: {t.final_output or case.output or '(none)'}\n\n"
                f"Rate from {lo} (wrong tools, wasted or failing steps) to {hi} (the right tools, sensible "
                "arguments, no wasted steps) the agent's path.")

    async def judge(self, client: ModelClient, case: Case) -> Result:
        t = _trajectory(case)
        if isinstance(t, str):
            return JudgeFailure(self.judge_name, client.info.model, t)
        labels, values = scale_labels(self.scale)
        ans = await ask_label(client, LabelQuery(self.prompt(case, t), "Score:", labels, explain=False))
        if ans.label is None or ans.probs is None:
            return JudgeFailure(self.judge_name, client.info.model, ans.error or "no verdict", ans.raw, ans.attempts,
                                calls=ans.calls)
        return Judgement(self.judge_name, client.info.model, weighted_score(ans.probs, values), label=ans.label,
                         label_probs=ans.probs, prob_source=ans.source, entropy=ans.entropy,
                         flags=low_confidence_flags(ans, self.max_entropy_bits), raw=ans.raw, calls=ans.calls)

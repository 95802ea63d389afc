"""Trajectory metrics on hand-built span fixtures, and the example agent's spans (fake model, real tools)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import pytest
from judge_fakes import client_for, exact_fake

from judges import Case, DatasetError, JudgeFailure, load_cases
from judges.trajectory import (
    ArgumentMatch,
    StepEfficiency,
    ToolStep,
    TrajectoryJudge,
    TrajectoryMatch,
    argument_match,
    find_loops,
    repeated_failures,
    step_efficiency,
    tool_match,
    trajectory_from_spans,
)

T0 = 1_700_000_000


def span(sid, name, kind, parent="a0", *, args=None, out=None, error=None, t=0, trace="t1"):
    attrs = {"openinference.span.kind": kind}
    if kind == "TOOL":
        attrs["tool.name"] = name
        attrs["input.value"] = json.dumps(args or {})
    if out is not None:
        attrs["output.value"] = out
    return {"name": name, "context": {"trace_id": trace, "span_id": sid}, "parent_id": parent, "span_kind": kind,
            "start_time": f"2026-01-01T00:00:{t:02d}+00:00", "status_code": "ERROR" if error else "OK",
            "status_message": error or "", "attributes": attrs}


def trace(*tools, root_parent=None):
    """An AGENT span, then an LLM decision and a TOOL span per (tool, args[, error])."""
    spans = [span("a0", "agent", "AGENT", root_parent, out="final", t=0)]
    for i, item in enumerate(tools, 1):
        tool, args, err = (item + (None,))[:3]
        spans.append(span(f"l{i}", f"decide {i}", "LLM", t=2 * i - 1))
        spans.append(span(f"s{i}", tool, "TOOL", args=args, out=None if err else "ok", error=err, t=2 * i))
    return spans


def agent_case(spans, expected, tools=("calculator", "lookup", "convert")) -> Case:
    return Case("a", "How tall is K2 in feet?", expected="28251 ft",
                metadata={"spans": spans, "tools": list(tools), "expected_trajectory": expected})


EXPECTED = [{"tool": "lookup", "arguments": {"key": "k2"}},
            {"tool": "convert", "arguments": {"value": 8611, "from_unit": "m", "to_unit": "ft"}}]


def score(scorer, case, client=None):
    return asyncio.run(scorer.judge(client, case))


@pytest.mark.parametrize(("actual", "strict", "unordered", "subset", "superset"), [
    (["lookup", "convert"], True, True, True, True),
    (["convert", "lookup"], False, True, True, True),
    (["lookup"], False, False, True, False),
    (["lookup", "convert", "calculator"], False, False, False, True),
    (["calculator"], False, False, False, False),
    (["lookup", "lookup", "convert"], False, False, False, True),
])
def test_tool_match_modes(actual, strict, unordered, subset, superset):
    expected = ["lookup", "convert"]
    assert tool_match(actual, expected, "strict") is strict
    assert tool_match(actual, expected, "unordered") is unordered
    assert tool_match(actual, expected, "subset") is subset
    assert tool_match(actual, expected, "superset") is superset
    with pytest.raises(ValueError, match="mode"):
        tool_match(actual, expected, "fuzzy")  # type: ignore[arg-type]


@pytest.mark.parametrize(("mode", "want"), [("strict", 0.0), ("unordered", 1.0), ("subset", 1.0), ("superset", 1.0)])
def test_trajectory_match_scorer_reads_the_spans(mode, want):
    spans = trace(("convert", {"value": 8611, "from_unit": "m", "to_unit": "ft"}), ("lookup", {"key": "k2"}))
    res = score(TrajectoryMatch(mode), agent_case(spans, EXPECTED))
    assert res.score == want and res.details["llm_steps"] == 2 and res.judge == f"trajectory_{mode}"


def test_trajectory_from_spans_keeps_start_order_and_failures():
    spans = trace(("lookup", {"key": "k2"}), ("convert", {"value": "x"}, "ToolError: bad"))
    spans.reverse()  # stored order is not call order
    t = trajectory_from_spans(spans)
    assert t.tools == ["lookup", "convert"] and [s.ok for s in t.steps] == [True, False]
    assert t.steps[1].error == "ToolError: bad" and t.final_output == "final" and t.orphans == ()


def test_spans_outside_the_agent_are_ignored():
    spans = trace(("lookup", {"key": "k2"})) + [span("j1", "judge-tool", "TOOL", parent="evalroot", trace="t2", t=30)]
    assert trajectory_from_spans(spans).tools == ["lookup"]


def test_argument_match_exact_and_normalised():
    steps = [ToolStep("lookup", {"key": " K2 "}, True), ToolStep("convert", {"value": "8611.0", "from_unit": "m",
                                                                            "to_unit": "in"}, True)]
    pairs = argument_match(steps, EXPECTED)
    assert [p["match"] for p in pairs] == [True, False]
    res = score(ArgumentMatch(), agent_case(trace(("lookup", {"key": "k2"}), ("convert", {"value": 8611.0,
                "from_unit": "M", "to_unit": "ft"})), EXPECTED))
    assert res.score == 1.0
    missing = score(ArgumentMatch(), agent_case(trace(("lookup", {"key": "k2"})), EXPECTED))
    assert missing.score == 0.5 and missing.details["calls"][1]["actual"] is None


def test_argument_match_by_judge_asks_only_about_mismatches():
    asked = []
    def fn(req):
        asked.append(req.messages[0].content)
        return {" yes": 3.0, " no": 1.0}
    spans = trace(("lookup", {"key": "K-2 mountain"}), ("convert", {"value": 8611, "from_unit": "m", "to_unit": "ft"}))
    res = score(ArgumentMatch(by="judge"), agent_case(spans, EXPECTED), client_for(exact_fake(fn)))
    assert len(asked) == 1 and "K-2 mountain" in asked[0] and res.score == pytest.approx((0.75 + 1) / 2)


def test_step_efficiency_and_loops_and_repeated_failures():
    assert step_efficiency(2, 4) == 0.5 and step_efficiency(2, 1) == 1.0 and step_efficiency(1, 0) == 0.0
    with pytest.raises(ValueError):
        step_efficiency(-1, 2)
    calc = ("calculator", {"expression": "1/0"}, "ToolError: division")
    spans = trace(calc, calc, calc, ("lookup", {"key": "k2"}))
    t = trajectory_from_spans(spans)
    assert find_loops(t.steps) == [{"call": t.steps[0].key(), "first_step": 0, "repeats": 3}]
    assert find_loops(t.steps, min_repeats=4) == []
    assert repeated_failures(t.steps) == [{"call": t.steps[0].key(), "failures": 3}]
    res = score(StepEfficiency(), agent_case(spans, EXPECTED))
    assert res.score == 0.5 and {"loop", "repeated_failure"} <= set(res.flags)


def test_missing_parent_spans_are_flagged_not_fatal():
    spans = trace(("lookup", {"key": "k2"}), ("convert", {"value": 8611}), root_parent="task-span-not-stored")
    del spans[3]  # the LLM span the convert TOOL span hangs under... is the agent here; drop a middle parent instead
    spans.append(span("s9", "calculator", "TOOL", parent="lost-llm", args={"expression": "1"}, t=40))
    t = trajectory_from_spans(spans)
    assert t.orphans == ("s9",) and t.tools[-1] == "calculator"
    res = score(TrajectoryMatch("superset"), agent_case(spans, EXPECTED))
    assert "orphan_spans" in res.flags and res.details["orphans"] == ["s9"]


def test_unknown_tool_and_missing_spans_are_recorded_failures(tmp_path):
    res = score(TrajectoryMatch(), agent_case(trace(), [{"tool": "teleport"}]))
    assert isinstance(res, JudgeFailure) and "unknown tools ['teleport']" in res.reason
    res = score(TrajectoryMatch(), Case("x", "q", metadata={"expected_trajectory": [], "tools": ["lookup"]}))
    assert isinstance(res, JudgeFailure) and "no spans" in res.reason
    res = score(TrajectoryMatch(), agent_case([{"name": "no id"}], EXPECTED))
    assert isinstance(res, JudgeFailure) and "cannot read its spans" in res.reason
    bad = tmp_path / "agent.jsonl"
    bad.write_text(json.dumps({"id": "a", "input": "q", "tools": ["lookup"], "expected_outcome": "o",
                               "expected_trajectory": [{"tool": "teleport"}]}) + "\n")
    with pytest.raises(DatasetError, match="teleport"):
        load_cases(bad, "agent")
    assert len(load_cases("agent_tasks.jsonl", "agent")) >= 3


def test_trajectory_judge_prompt_lists_the_steps():
    prompts = []
    def fn(req):
        prompts.append(req.messages[0].content)
        return {" 4": 1.0}
    spans = trace(("lookup", {"key": "k2"}), ("convert", {"value": 1}, "ToolError: x"))
    res = score(TrajectoryJudge(), agent_case(spans, EXPECTED), client_for(exact_fake(fn)))
    assert res.score == 4.0 and "ERROR: ToolError: x" in prompts[0] and "A good path: lookup, convert" in prompts[0]


# --- the example agent, with a scripted model and its real tools -----------------------------------------------

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from examples.agent_app import Agent, run_with_spans


def scripted_agent(plan: list[str], tools=None, **kw) -> Agent:
    """The model picks the next action from ``plan`` (then "finish"); lookups choose k2; conversions m to ft."""
    decisions = iter(plan)
    def fn(req):
        if req.labels is None:
            return " 2 + 2"
        opts = [lab.strip() for lab in req.labels]
        if "k2" in opts:
            pick = "k2"
        elif "m to ft" in opts:
            pick = "m to ft"
        else:
            pick = next(decisions, "finish")
            pick = pick if pick in opts else opts[0]
        return {" " + o: (1.0 if o == pick else 0.01) for o in opts}
    agent = Agent(client_for(exact_fake(fn)), **kw)
    if tools is not None:
        agent.tools = tools
    return agent


def test_agent_emits_agent_llm_and_tool_spans_with_graph_ids():
    answer, spans = asyncio.run(run_with_spans("How tall is K2 in feet?", scripted_agent(["lookup", "convert"])))
    kinds = [s["span_kind"] for s in spans]
    assert kinds.count("AGENT") == 1 and kinds.count("TOOL") == 2 and "LLM" in kinds
    agent = next(s for s in spans if s["span_kind"] == "AGENT")
    for s in spans:
        if s is not agent:
            assert s["attributes"]["graph.node.parent_id"] == "agent" and s["parent_id"] == agent["context"]["span_id"]
    t = trajectory_from_spans(spans)
    assert [s.key() for s in t.steps] == ['lookup({"key": "k2"})',
                                           'convert({"from_unit": "m", "to_unit": "ft", "value": 8611.0})']
    assert answer == "28251.3 ft" and t.final_output == answer


def test_a_tool_that_raises_or_times_out_is_a_failed_step_not_a_crash():
    def boom(expression):
        raise RuntimeError("calculator is broken")
    def slow(key):
        time.sleep(0.5)
        return "late"
    agent = scripted_agent(["calculator", "lookup"], tools={"calculator": boom, "lookup": slow}, tool_timeout_s=0.05)
    answer, spans = asyncio.run(run_with_spans("What is 2 + 2?", agent))
    t = trajectory_from_spans(spans)
    assert t.tools == ["calculator", "lookup"] and not any(s.ok for s in t.steps)
    assert "calculator is broken" in t.steps[0].error and "timed out" in t.steps[1].error
    assert answer == "I could not work it out."


def test_agent_steps_are_bounded():
    agent = scripted_agent(["calculator"] * 10, max_steps=3)
    _, spans = asyncio.run(run_with_spans("What is 2 + 2?", agent))
    t = trajectory_from_spans(spans)
    assert len(t.steps) == 3 and find_loops(t.steps)[0]["repeats"] == 3
